//! Counters the encoder threads bump and the session turns into stats events.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::events::{AudioStats, DropCauses, VideoStats};

#[derive(Default)]
pub struct PipelineCounters {
    pub video_encoded: AtomicU32,
    /// Frames the capture queue lost because encoding fell behind.
    pub capture_dropped: AtomicU32,
    /// Frames the encoder produced nothing for.
    pub encoder_dropped: AtomicU32,
    /// Frames skipped on purpose by an overload step-down.
    pub overload_dropped: AtomicU32,
    pub video_bytes: AtomicU64,
    pub encode_ns: AtomicU64,
    pub audio_bytes: AtomicU64,
}

impl PipelineCounters {
    pub fn dropped_total(&self) -> u32 {
        self.capture_dropped.load(Ordering::Relaxed)
            + self.encoder_dropped.load(Ordering::Relaxed)
            + self.overload_dropped.load(Ordering::Relaxed)
    }
}

#[derive(Default, Clone, Copy)]
struct Snapshot {
    encoded: u32,
    video_bytes: u64,
    encode_ns: u64,
    audio_bytes: u64,
    at_us: u64,
}

/// Turns cumulative counters into per-interval rates.
#[derive(Default)]
pub struct StatsMeter {
    last: Snapshot,
}

impl StatsMeter {
    pub fn sample(
        &mut self,
        c: &PipelineCounters,
        dropped_elsewhere: u32,
        now_us: u64,
    ) -> (VideoStats, AudioStats) {
        let now = Snapshot {
            encoded: c.video_encoded.load(Ordering::Relaxed),
            video_bytes: c.video_bytes.load(Ordering::Relaxed),
            encode_ns: c.encode_ns.load(Ordering::Relaxed),
            audio_bytes: c.audio_bytes.load(Ordering::Relaxed),
            at_us: now_us,
        };
        let secs = ((now.at_us - self.last.at_us) as f64 / 1e6).max(1e-3);
        let frames = now.encoded - self.last.encoded;
        let video = VideoStats {
            fps: frames as f64 / secs,
            kbps: (now.video_bytes - self.last.video_bytes) as f64 * 8.0 / 1000.0 / secs,
            encoded: now.encoded,
            dropped: c.dropped_total() + dropped_elsewhere,
            dropped_by: DropCauses {
                capture: c.capture_dropped.load(Ordering::Relaxed),
                encoder: c.encoder_dropped.load(Ordering::Relaxed),
                overload: c.overload_dropped.load(Ordering::Relaxed),
                sink: dropped_elsewhere,
            },
            encode_ms: if frames > 0 {
                (now.encode_ns - self.last.encode_ns) as f64 / frames as f64 / 1e6
            } else {
                0.0
            },
        };
        let audio = AudioStats {
            kbps: (now.audio_bytes - self.last.audio_bytes) as f64 * 8.0 / 1000.0 / secs,
        };
        self.last = now;
        (video, audio)
    }
}
