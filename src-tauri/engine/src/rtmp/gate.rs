//! Which media a connection may send, packet by packet: a new connection
//! starts on a keyframe (with its sequence headers) and never with audio from
//! before it; a congested one skips video to the next keyframe instead of
//! queueing it, and sheds audio only when the link is hopeless.

/// Backlog beyond which video waits for the next keyframe.
pub const DROP_VIDEO_MS: u64 = 1500;
/// Backlog beyond which even audio is dropped.
pub const DROP_AUDIO_MS: u64 = 4000;
/// Backlog under which a keyframe is requested after skipping.
pub const RESUME_MS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoVerdict {
    Drop,
    /// The connection's first picture: send the sequence headers first.
    StartWithHeaders,
    Send,
}

#[derive(Debug, Clone)]
pub struct MediaGate {
    /// This connection has sent no keyframe yet.
    fresh: bool,
    /// Skipping video until the next keyframe.
    skipping: bool,
    /// Ask the encoder for a keyframe once the backlog clears.
    keyframe_wanted: bool,
    /// Where this connection's media starts.
    start_ms: u32,
}

impl Default for MediaGate {
    fn default() -> Self {
        Self::new()
    }
}

impl MediaGate {
    pub fn new() -> Self {
        MediaGate {
            fresh: true,
            skipping: false,
            keyframe_wanted: false,
            start_ms: 0,
        }
    }

    /// A new connection: wait for a keyframe again.
    pub fn restart(&mut self) {
        *self = Self::new();
    }

    /// The verdict for a video frame, and whether to ask the encoder for a
    /// keyframe now.
    pub fn video(&mut self, keyframe: bool, ts_ms: u32, backlog_ms: u64) -> (VideoVerdict, bool) {
        let mut request_keyframe = false;
        if self.keyframe_wanted && backlog_ms <= RESUME_MS {
            self.keyframe_wanted = false;
            request_keyframe = true;
        }
        if !self.fresh && !self.skipping && backlog_ms > DROP_VIDEO_MS {
            self.skipping = true;
            self.keyframe_wanted = true;
        }
        if (self.fresh || self.skipping) && (!keyframe || backlog_ms > DROP_VIDEO_MS) {
            return (VideoVerdict::Drop, request_keyframe);
        }
        self.skipping = false;
        if self.fresh {
            self.fresh = false;
            self.start_ms = ts_ms;
            return (VideoVerdict::StartWithHeaders, request_keyframe);
        }
        (VideoVerdict::Send, request_keyframe)
    }

    /// Whether an audio frame goes out. Servers clamp timestamps from
    /// before the stream's start to 0, which would shift audio against video.
    pub fn audio(&self, ts_ms: u32, backlog_ms: u64) -> bool {
        !self.fresh && ts_ms >= self.start_ms && backlog_ms <= DROP_AUDIO_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VideoVerdict::*;

    #[test]
    fn a_connection_starts_on_a_keyframe_and_drops_earlier_audio() {
        let mut gate = MediaGate::new();
        assert!(!gate.audio(0, 0), "no audio before the first picture");
        assert_eq!(gate.video(false, 0, 0), (Drop, false));
        assert_eq!(gate.video(true, 66, 0), (StartWithHeaders, false));
        assert!(!gate.audio(50, 0), "queued audio from before the start");
        assert!(gate.audio(70, 0));
        assert_eq!(gate.video(false, 100, 0), (Send, false));
        gate.restart();
        assert_eq!(gate.video(false, 133, 0), (Drop, false));
        assert_eq!(gate.video(true, 166, 0), (StartWithHeaders, false));
    }

    #[test]
    fn congestion_skips_to_a_keyframe_requested_once_the_backlog_clears() {
        let mut gate = MediaGate::new();
        gate.video(true, 0, 0);
        assert_eq!(gate.video(false, 33, 2000), (Drop, false));
        assert_eq!(
            gate.video(true, 66, 1800),
            (Drop, false),
            "a keyframe into a full pipe is wasted"
        );
        assert!(gate.audio(70, 1800), "audio keeps the stream alive");
        assert!(!gate.audio(80, 5000), "until the link is hopeless");
        assert_eq!(
            gate.video(false, 100, 200),
            (Drop, true),
            "clear: ask for a keyframe"
        );
        assert_eq!(
            gate.video(false, 133, 100),
            (Drop, false),
            "asked only once"
        );
        assert_eq!(gate.video(true, 166, 100), (Send, false));
        assert_eq!(gate.video(false, 200, 100), (Send, false));
    }
}
