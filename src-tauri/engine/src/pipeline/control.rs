//! The pipeline's one back-edge: sinks ask the video encoder for a keyframe
//! (a reconnect, a WebRTC PLI) or a new target bitrate (congestion). The
//! encoder thread reads the requests before each frame; nothing else flows
//! upstream.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[derive(Debug)]
pub struct EncoderControl {
    keyframe: AtomicBool,
    target_kbps: AtomicU32,
    bitrate_changed: AtomicBool,
    /// Simulcast layers someone watches, a bit per layer (top = bit 0).
    active_layers: AtomicU32,
    /// Layers encoded whether or not anyone watches: the full size while a
    /// recording takes it.
    kept_layers: AtomicU32,
}

impl EncoderControl {
    pub fn new(target_kbps: u32) -> Self {
        EncoderControl {
            keyframe: AtomicBool::new(false),
            target_kbps: AtomicU32::new(target_kbps),
            bitrate_changed: AtomicBool::new(false),
            active_layers: AtomicU32::new(u32::MAX),
            kept_layers: AtomicU32::new(0),
        }
    }

    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::Relaxed);
    }

    pub fn set_target_kbps(&self, kbps: u32) {
        if self.target_kbps.swap(kbps, Ordering::Relaxed) != kbps {
            self.bitrate_changed.store(true, Ordering::Release);
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.target_kbps.load(Ordering::Relaxed)
    }

    /// True once per request.
    /// A layer nobody watches is not encoded; one that comes back starts
    /// with a keyframe (the encoder side sees the bit flip).
    pub fn set_active_layers(&self, mask: u32) {
        self.active_layers.store(mask, Ordering::Relaxed);
    }

    pub fn keep_layers(&self, mask: u32) {
        self.kept_layers.store(mask, Ordering::Relaxed);
    }

    pub fn active_layers(&self) -> u32 {
        self.active_layers.load(Ordering::Relaxed) | self.kept_layers.load(Ordering::Relaxed)
    }

    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe.swap(false, Ordering::Relaxed)
    }

    /// The new target once per change.
    pub fn take_bitrate_change(&self) -> Option<u32> {
        self.bitrate_changed
            .swap(false, Ordering::Acquire)
            .then(|| self.target_kbps())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_taken_once() {
        let control = EncoderControl::new(2500);
        assert!(!control.take_keyframe_request());
        control.request_keyframe();
        control.request_keyframe();
        assert!(control.take_keyframe_request());
        assert!(!control.take_keyframe_request());

        control.set_target_kbps(2500);
        assert_eq!(control.take_bitrate_change(), None, "no change, no request");
        control.set_target_kbps(1800);
        assert_eq!(control.take_bitrate_change(), Some(1800));
        assert_eq!(control.take_bitrate_change(), None);
    }

    #[test]
    fn kept_layers_are_encoded_whoever_watches() {
        let control = EncoderControl::new(2500);
        control.keep_layers(0b001);
        control.set_active_layers(0b100);
        assert_eq!(control.active_layers(), 0b101);
        control.set_active_layers(0);
        assert_eq!(control.active_layers(), 0b001);
    }
}
