//! One monotonic media clock. Every frame and audio buffer carries its capture
//! time in microseconds since the clock's epoch; wall time is derived from the
//! same epoch so a receiver on this machine can measure latency from stamps.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
pub struct MediaClock {
    epoch: Instant,
    epoch_unix_us: u64,
}

impl MediaClock {
    pub fn start() -> Self {
        let epoch = Instant::now();
        let epoch_unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        MediaClock {
            epoch,
            epoch_unix_us,
        }
    }

    /// Microseconds since the epoch.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub fn instant_at(&self, us: u64) -> Instant {
        self.epoch + Duration::from_micros(us)
    }

    /// Milliseconds since the Unix epoch at media time `us`.
    pub fn unix_ms_at(&self, us: u64) -> u64 {
        (self.epoch_unix_us + us) / 1000
    }

    /// Sleeps until media time `us` (returns at once if it has passed).
    pub fn sleep_until(&self, us: u64) {
        let due = self.instant_at(us);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}
