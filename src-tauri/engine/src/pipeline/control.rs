//! The pipeline's one back-edge: sinks ask the video encoder for a keyframe
//! (a reconnect, a WebRTC PLI) or a new target bitrate (congestion). The
//! encoder thread reads the requests before each frame; nothing else flows
//! upstream.
//!
//! Several destinations share one encoder, so each speaks through its own
//! `ControlPort`: its bitrate is a vote, and the encoder follows the most
//! capable destination (the highest vote). When every destination is
//! congested (the creator's own uplink is the bottleneck) the encoder steps
//! down; when one alone falls behind, the others keep their quality and the
//! slow one drops to keyframes in its own queue (see `fanout`).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

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
    /// The bitrate asked for at Go Live: no vote ever goes above it.
    base_kbps: u32,
    /// One per destination, in the order their ports were made.
    votes: Mutex<Vec<Vote>>,
}

#[derive(Debug, Clone, Copy)]
struct Vote {
    /// None once the destination has failed or ended.
    kbps: Option<u32>,
    /// The simulcast layers this destination takes and someone watches.
    layers: u32,
}

impl EncoderControl {
    pub fn new(target_kbps: u32) -> Self {
        EncoderControl {
            keyframe: AtomicBool::new(false),
            target_kbps: AtomicU32::new(target_kbps),
            bitrate_changed: AtomicBool::new(false),
            active_layers: AtomicU32::new(u32::MAX),
            kept_layers: AtomicU32::new(0),
            base_kbps: target_kbps,
            votes: Mutex::new(Vec::new()),
        }
    }

    /// A destination's own handle; `layers` are the simulcast layers it takes
    /// (all for WebRTC, the full size for RTMP).
    pub fn port(self: &Arc<Self>, layers: u32) -> ControlPort {
        let mut votes = self.votes.lock().unwrap();
        votes.push(Vote {
            kbps: Some(self.base_kbps),
            layers,
        });
        let slot = votes.len() - 1;
        drop(votes);
        self.settle();
        ControlPort {
            shared: self.clone(),
            slot,
        }
    }

    fn with_vote(&self, slot: usize, change: impl FnOnce(&mut Vote)) {
        change(&mut self.votes.lock().unwrap()[slot]);
        self.settle();
    }

    /// The encoder follows the highest vote and encodes the layers anyone takes.
    fn settle(&self) {
        let votes = self.votes.lock().unwrap();
        if votes.is_empty() {
            return;
        }
        let kbps = votes.iter().filter_map(|v| v.kbps).max();
        let layers = votes
            .iter()
            .filter(|v| v.kbps.is_some())
            .fold(0, |mask, v| mask | v.layers);
        drop(votes);
        if let Some(kbps) = kbps {
            self.set_target_kbps(kbps);
        }
        self.active_layers.store(layers, Ordering::Relaxed);
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

/// One destination's side of the back-edge.
#[derive(Debug, Clone)]
pub struct ControlPort {
    shared: Arc<EncoderControl>,
    slot: usize,
}

impl ControlPort {
    /// A port onto an encoder of its own (tests, benchmarks).
    pub fn alone(target_kbps: u32) -> Self {
        Arc::new(EncoderControl::new(target_kbps)).port(u32::MAX)
    }

    pub fn request_keyframe(&self) {
        self.shared.request_keyframe();
    }

    /// This destination's bitrate vote (congestion control's target).
    pub fn set_target_kbps(&self, kbps: u32) {
        let kbps = kbps.min(self.shared.base_kbps);
        self.shared.with_vote(self.slot, |v| {
            if v.kbps.is_some() {
                v.kbps = Some(kbps)
            }
        });
    }

    /// This destination's own target (the encoder may run higher for others).
    pub fn target_kbps(&self) -> u32 {
        self.shared.votes.lock().unwrap()[self.slot]
            .kbps
            .unwrap_or(self.shared.base_kbps)
    }

    /// The layers this destination's viewers watch. A layer nobody watches is
    /// not encoded; one that comes back starts with a keyframe (the encoder
    /// side sees the bit flip).
    pub fn set_active_layers(&self, mask: u32) {
        self.shared.with_vote(self.slot, |v| v.layers = mask);
    }

    /// The destination failed or ended: it no longer holds the encoder up.
    pub fn withdraw(&self) {
        self.shared.with_vote(self.slot, |v| v.kbps = None);
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
        let control = Arc::new(EncoderControl::new(2500));
        let room = control.port(u32::MAX);
        control.keep_layers(0b001);
        room.set_active_layers(0b100);
        assert_eq!(control.active_layers(), 0b101);
        room.set_active_layers(0);
        assert_eq!(control.active_layers(), 0b001);
    }

    #[test]
    fn the_encoder_follows_the_most_capable_destination() {
        let control = Arc::new(EncoderControl::new(2500));
        let rtmp = control.port(0b1);
        let room = control.port(u32::MAX);
        control.take_bitrate_change();
        rtmp.set_target_kbps(800);
        assert_eq!(
            control.take_bitrate_change(),
            None,
            "one slow destination drops alone"
        );
        assert_eq!(rtmp.target_kbps(), 800);
        room.set_target_kbps(1200);
        assert_eq!(
            control.take_bitrate_change(),
            Some(1200),
            "every destination congested"
        );
        rtmp.set_target_kbps(9000);
        assert_eq!(
            control.take_bitrate_change(),
            Some(2500),
            "never above Go Live's bitrate"
        );
        rtmp.withdraw();
        assert_eq!(
            control.take_bitrate_change(),
            Some(1200),
            "a failed destination holds nothing up"
        );
    }

    #[test]
    fn the_encoder_encodes_the_layers_any_destination_takes() {
        let control = Arc::new(EncoderControl::new(2500));
        let rtmp = control.port(0b001);
        let room = control.port(u32::MAX);
        room.set_active_layers(0b100);
        assert_eq!(control.active_layers(), 0b101);
        rtmp.withdraw();
        assert_eq!(control.active_layers(), 0b100);
    }
}
