//! Congestion control for a TCP push: the only signal is our own send
//! backlog (bytes handed to the connection but not yet written). Sustained
//! backlog steps the encoder's bitrate down; a clear link for a while steps
//! it back up toward the target. Decisions only, no I/O and no clock.

use std::time::Duration;

/// One decision the sink acts on and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitrateStep {
    Down { kbps: u32 },
    Up { kbps: u32 },
}

#[derive(Debug, Clone)]
pub struct Congestion {
    target_kbps: u32,
    floor_kbps: u32,
    current_kbps: u32,
    /// When the last step was taken (session time).
    last_step: Option<Duration>,
    /// Since when the backlog has been low.
    clear_since: Option<Duration>,
}

/// Backlog above this many milliseconds of media at the current rate is congestion.
const CONGESTED_MS: u64 = 400;
/// Backlog below this is a clear link.
const CLEAR_MS: u64 = 80;
/// Give the encoder and TCP time to react before the next step down.
const DOWN_HOLD: Duration = Duration::from_secs(2);
/// Be slow to believe the link recovered.
const UP_AFTER_CLEAR: Duration = Duration::from_secs(6);
const DOWN_FACTOR: f64 = 0.7;
const UP_FACTOR: f64 = 1.15;
/// After congestion, aim this far below what the link delivered, to drain the backlog.
const LINK_SHARE: f64 = 0.85;

impl Congestion {
    pub fn new(target_kbps: u32) -> Self {
        Congestion {
            target_kbps,
            floor_kbps: (target_kbps / 20).max(100).min(target_kbps),
            current_kbps: target_kbps,
            last_step: None,
            clear_since: None,
        }
    }

    pub fn current_kbps(&self) -> u32 {
        self.current_kbps
    }

    /// The backlog as the time it takes to drain: at the rate the link
    /// delivered lately when that is known, else at the current bitrate.
    pub fn backlog_ms(&self, backlog_bytes: usize, audio_kbps: u32, delivered_kbps: f64) -> u64 {
        let kbps = if delivered_kbps >= 50.0 {
            delivered_kbps as u64
        } else {
            (self.current_kbps + audio_kbps).max(1) as u64
        };
        backlog_bytes as u64 * 8 / kbps
    }

    /// Called a few times a second with the backlog in milliseconds and, when
    /// known, the video bitrate the link actually delivered lately. An encoder
    /// may undershoot its target by far (a simple picture), so a step down
    /// goes below what the link carried, not just below the old target.
    pub fn observe(
        &mut self,
        now: Duration,
        backlog_ms: u64,
        delivered_video_kbps: Option<u32>,
    ) -> Option<BitrateStep> {
        let held = |hold: Duration, last: Option<Duration>| {
            last.is_none_or(|t| now.saturating_sub(t) >= hold)
        };
        if backlog_ms >= CONGESTED_MS {
            self.clear_since = None;
            if self.current_kbps > self.floor_kbps && held(DOWN_HOLD, self.last_step) {
                let mut next = (self.current_kbps as f64 * DOWN_FACTOR) as u32;
                if let Some(delivered) = delivered_video_kbps.filter(|k| *k > 0) {
                    next = next.min((delivered as f64 * LINK_SHARE) as u32);
                }
                let next = next.max(self.floor_kbps);
                self.current_kbps = next;
                self.last_step = Some(now);
                return Some(BitrateStep::Down { kbps: next });
            }
            return None;
        }
        if backlog_ms > CLEAR_MS {
            self.clear_since = None;
            return None;
        }
        let since = *self.clear_since.get_or_insert(now);
        if self.current_kbps < self.target_kbps
            && now.saturating_sub(since) >= UP_AFTER_CLEAR
            && held(UP_AFTER_CLEAR, self.last_step)
        {
            let next = ((self.current_kbps as f64 * UP_FACTOR) as u32).min(self.target_kbps);
            self.current_kbps = next;
            self.last_step = Some(now);
            self.clear_since = Some(now);
            return Some(BitrateStep::Up { kbps: next });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn sustained_backlog_steps_down_with_a_hold_and_a_floor() {
        let mut c = Congestion::new(2500);
        assert_eq!(
            c.observe(at(0), 500, None),
            Some(BitrateStep::Down { kbps: 1750 })
        );
        assert_eq!(c.observe(at(500), 900, None), None, "hold between steps");
        assert_eq!(
            c.observe(at(2000), 900, None),
            Some(BitrateStep::Down { kbps: 1225 })
        );
        let mut t = 2000;
        let mut last = 1225;
        while let Some(BitrateStep::Down { kbps }) = {
            t += 2000;
            c.observe(at(t), 2000, None)
        } {
            last = kbps;
        }
        assert_eq!(last, 125, "floor is a twentieth of the target");
        assert_eq!(c.current_kbps(), 125);
    }

    #[test]
    fn a_clear_link_steps_back_up_slowly_to_the_target() {
        let mut c = Congestion::new(2000);
        c.observe(at(0), 1000, None);
        assert_eq!(c.current_kbps(), 1400);
        assert_eq!(
            c.observe(at(1000), 200, None),
            None,
            "between the marks: no change"
        );
        assert_eq!(c.observe(at(2000), 10, None), None);
        assert_eq!(c.observe(at(7000), 10, None), None, "clear for only 5 s");
        assert_eq!(
            c.observe(at(8000), 10, None),
            Some(BitrateStep::Up { kbps: 1609 })
        );
        assert_eq!(c.observe(at(9000), 10, None), None);
        let mut t = 8000;
        while c.current_kbps() < 2000 {
            t += 6000;
            c.observe(at(t), 0, None);
        }
        assert_eq!(c.current_kbps(), 2000, "never above the target");
        assert_eq!(c.observe(at(t + 60_000), 0, None), None);
    }

    #[test]
    fn a_step_down_goes_below_what_the_link_delivered() {
        // Target 2500, but the encoder only made 300 and the link carried 200.
        let mut c = Congestion::new(2500);
        assert_eq!(
            c.observe(at(0), 800, Some(200)),
            Some(BitrateStep::Down { kbps: 170 })
        );
        let mut c = Congestion::new(2500);
        assert_eq!(
            c.observe(at(0), 800, Some(50)),
            Some(BitrateStep::Down { kbps: 125 }),
            "never under the floor"
        );
        let mut c = Congestion::new(5000);
        assert_eq!(
            c.observe(at(0), 800, Some(1000)),
            Some(BitrateStep::Down { kbps: 850 })
        );
    }

    #[test]
    fn backlog_is_measured_in_media_time() {
        let c = Congestion::new(2000);
        // 2000 + 128 kbps: 266 000 bytes is about a second.
        assert_eq!(c.backlog_ms(266_000, 128, 0.0), 1000);
        // A link that carried 400 kbps lately drains 50 kB in a second.
        assert_eq!(c.backlog_ms(50_000, 128, 400.0), 1000);
    }
}
