//! Counters the encoder threads bump and the session turns into stats events.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::events::{AudioStats, DropCauses, QueueDepth, VideoStats};

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

/// The depth of one bounded channel, noted by whoever pushes or pops. The
/// stats thread cannot hold the channel itself: a spare sender or receiver
/// would keep it from ever disconnecting.
#[derive(Debug)]
pub struct QueueGauge {
    now: AtomicU32,
    peak: AtomicU32,
    capacity: u32,
}

impl QueueGauge {
    pub fn new(capacity: usize) -> Self {
        QueueGauge {
            now: AtomicU32::new(0),
            peak: AtomicU32::new(0),
            capacity: capacity as u32,
        }
    }

    /// Notes `len` items waiting (read with the channel's `len()`).
    pub fn observe(&self, len: usize) {
        let len = len.min(u32::MAX as usize) as u32;
        self.now.store(len, Ordering::Relaxed);
        self.peak.fetch_max(len, Ordering::Relaxed);
    }

    /// The depth now and the peak since the last take; the next interval's
    /// peak starts from the depth now.
    pub fn take(&self) -> QueueDepth {
        let now = self.now.load(Ordering::Relaxed);
        let peak = self.peak.swap(now, Ordering::Relaxed).max(now);
        QueueDepth {
            now,
            peak,
            capacity: self.capacity,
        }
    }

    /// The deepest of several queues (one per sink): the slowest one matters.
    pub fn take_deepest<'a>(gauges: impl IntoIterator<Item = &'a QueueGauge>) -> QueueDepth {
        gauges
            .into_iter()
            .map(QueueGauge::take)
            .fold(QueueDepth::default(), |a, b| QueueDepth {
                now: a.now.max(b.now),
                peak: a.peak.max(b.peak),
                capacity: a.capacity.max(b.capacity),
            })
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
            capture_queue: QueueDepth::default(),
            encode_ms: if frames > 0 {
                (now.encode_ns - self.last.encode_ns) as f64 / frames as f64 / 1e6
            } else {
                0.0
            },
        };
        let audio = AudioStats {
            kbps: (now.audio_bytes - self.last.audio_bytes) as f64 * 8.0 / 1000.0 / secs,
            capture_queue: QueueDepth::default(),
        };
        self.last = now;
        (video, audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gauge_reports_the_depth_now_and_the_peak_of_the_interval() {
        let g = QueueGauge::new(8);
        g.observe(1);
        g.observe(5);
        g.observe(2);
        assert_eq!(
            g.take(),
            QueueDepth {
                now: 2,
                peak: 5,
                capacity: 8
            }
        );
        // Nothing moved since: the queue still holds 2.
        assert_eq!(g.take().peak, 2);
        g.observe(0);
        assert_eq!((g.take().now, g.take().peak), (0, 0));
    }

    #[test]
    fn the_deepest_of_several_sinks_is_reported() {
        let (fast, slow) = (QueueGauge::new(256), QueueGauge::new(256));
        fast.observe(1);
        slow.observe(40);
        slow.observe(30);
        let d = QueueGauge::take_deepest([&fast, &slow]);
        assert_eq!((d.now, d.peak, d.capacity), (30, 40, 256));
    }
}
