//! Keeps a sound card's sample count in step with the system clock.
//!
//! Each device block compares where the sample count says its end is with
//! when the device says it captured it (the driver's capture timestamp, on
//! the system clock). Sound servers split and batch blocks, and a split
//! block's second part carries its first part's timestamp, so single readings
//! run ahead by up to a block; the smallest reading over a one-second window
//! is a block whose timestamp was its own, and how that reading moves from
//! window to window is the drift. The drift nudges the resampler's ratio so a
//! card a few hundred ppm off never walks away from the video.
//!
//! Capture timestamps do not move when the server changes its latency, so a
//! count that falls more than a few milliseconds behind the reference has
//! lost samples (an overrun under load) and the gap is filled with silence;
//! one that runs as far ahead had a gap filled that was not one (capture
//! stamps through a loaded sound server jump by tens of milliseconds) and the
//! surplus is dropped. Both are measured against the same reference, so a
//! wrong step is undone by the next window instead of adding up. (Filling
//! only, each step measured from the window before, ratcheted: a ten-minute
//! microphone recording on a loaded machine slipped 1.6 ms a second.)

/// The largest ratio change: 0.1 % (1000 ppm), twice the worst sound card
/// clock, and a pitch shift (under half a hertz at 440 Hz) nobody hears.
pub const MAX_CORRECTION: f64 = 0.001;
/// Ratio change per microsecond of drift: 2 ms → 0.1 %.
const GAIN_PER_US: f64 = 0.001 / 2_000.0;
const WINDOW_US: u64 = 1_000_000;
/// The count this far from the reference means samples were lost (behind)
/// or a gap was filled that was not one (ahead); the ratio's slow correction
/// never lets a real clock drift get there.
const STEP_US: f64 = 5_000.0;
/// Sound servers settle in the first seconds; the reference is taken after.
const WARM_UP_WINDOWS: u32 = 2;

#[derive(Debug, Default)]
pub struct DriftTracker {
    window_start_us: Option<u64>,
    window_best_us: f64,
    windows: u32,
    /// The first window's best reading: the offset that counts as no drift.
    reference_us: Option<f64>,
    ratio: f64,
}

/// What the caller should do after a reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correction {
    /// The resampler's relative ratio from now on.
    pub ratio: f64,
    /// Microseconds to put right now: silence to add (positive) to close a
    /// gap, or samples to drop (negative) after a gap that was not one.
    pub step_us: f64,
}

impl DriftTracker {
    pub fn new() -> Self {
        DriftTracker {
            window_best_us: f64::INFINITY,
            ratio: 1.0,
            ..Default::default()
        }
    }

    /// `error_us` is counted time minus capture time of a block's end
    /// (positive: the count runs ahead); `now_us` is the arrival time.
    pub fn update(&mut self, error_us: f64, now_us: u64) -> Correction {
        let start = *self.window_start_us.get_or_insert(now_us);
        self.window_best_us = self.window_best_us.min(error_us);
        let mut step_us = 0.0;
        if now_us.saturating_sub(start) >= WINDOW_US {
            let best = self.window_best_us;
            self.windows += 1;
            self.window_start_us = Some(now_us);
            self.window_best_us = f64::INFINITY;
            if self.windows > WARM_UP_WINDOWS {
                let reference = *self.reference_us.get_or_insert(best);
                let drift = best - reference;
                if drift.abs() > STEP_US {
                    step_us = -drift;
                }
                let left_us = drift + step_us;
                self.ratio = 1.0 - (left_us * GAIN_PER_US).clamp(-MAX_CORRECTION, MAX_CORRECTION);
            }
        }
        Correction {
            ratio: self.ratio,
            step_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card whose clock runs `ppm` fast delivers 10 ms blocks (by its own
    /// clock). Every other block is the second half of a split and carries
    /// its first half's timestamp; 16 times it loses 13 to 40 ms of samples
    /// in an overrun, once 300 ms in a stall. Returns the worst drift of the
    /// count against the true capture time over ten minutes, after the first
    /// ten seconds and outside the windows where a loss is being noticed.
    fn simulate(ppm: f64) -> f64 {
        let mut tracker = DriftTracker::new();
        let block_device_s = 0.010;
        let block_real_s = block_device_s / (1.0 + ppm * 1e-6);
        let mut counted_s = 0.0;
        let mut ratio = 1.0;
        let mut worst: f64 = 0.0;
        let mut losses = Vec::new();
        for n in 1..60_000u64 {
            let captured_end_s = n as f64 * block_real_s;
            let split = n % 2 == 0;
            let stamped_end_s = if split {
                captured_end_s - block_real_s
            } else {
                captured_end_s
            };
            let arrived_s = captured_end_s + 0.001 + ((n * 7919) % 19_000) as f64 * 1e-6;
            let lost_s = match n {
                45_000 => 0.3,
                n if n % 3_700 == 0 => 0.013 + (n % 28) as f64 * 0.001,
                _ => 0.0,
            };
            if lost_s > 0.0 {
                losses.push(n);
            }
            counted_s += block_device_s * ratio - lost_s;
            let correction =
                tracker.update((counted_s - stamped_end_s) * 1e6, (arrived_s * 1e6) as u64);
            ratio = correction.ratio;
            counted_s += correction.step_us / 1e6;
            let noticing = losses.iter().any(|&l| (l..l + 250).contains(&n));
            if n > 1_000 && !noticing {
                worst = worst.max(((counted_s - captured_end_s) * 1e6).abs());
            }
        }
        assert!(losses.len() > 10);
        worst
    }

    #[test]
    fn a_fast_or_slow_card_with_overruns_stays_within_a_few_milliseconds_for_ten_minutes() {
        for ppm in [-500.0, -100.0, 0.0, 100.0, 500.0] {
            let worst_us = simulate(ppm);
            assert!(worst_us < 5_000.0, "{ppm} ppm: {worst_us} µs");
        }
    }

    #[test]
    fn the_correction_is_bounded_and_steps_are_measured_from_the_reference() {
        let mut tracker = DriftTracker::new();
        let second = 1_000_000;
        for n in 0..=3 {
            tracker.update(0.0, n * second); // warm-up, then the reference
        }
        // Drift builds up slowly; the correction follows it, bounded.
        let mut ratio = 1.0;
        for n in 4..34 {
            ratio = tracker.update(n as f64 * 140.0, n * second).ratio;
        }
        assert_eq!(ratio, 1.0 - MAX_CORRECTION);
        // Samples lost in an overrun: the gap is filled, not slewed.
        let behind = tracker.update(-20_000.0, 34 * second);
        assert_eq!(behind.step_us, 20_000.0);
        // A stamp that jumped makes a false gap: once the count reads ahead
        // of the reference by as much, the surplus goes again.
        let ahead = tracker.update(20_000.0, 35 * second);
        assert_eq!(ahead.step_us, -20_000.0);
        // Within a few milliseconds of the reference: the ratio's business.
        assert_eq!(tracker.update(3_000.0, 36 * second).step_us, 0.0);
    }

    /// Capture stamps through a loaded sound server: every window's best
    /// reading lands up to 30 ms either side of the truth, at random, with no
    /// sample lost. The count must stay near the truth, not ratchet away.
    #[test]
    fn jumpy_capture_stamps_do_not_add_up() {
        let mut tracker = DriftTracker::new();
        let mut counted_us = 0.0; // the count's error against the true capture time
        let mut worst: f64 = 0.0;
        for n in 0..600u64 {
            let noise = ((n * 7919 % 61) as f64 - 30.0) * 1_000.0;
            let correction = tracker.update(counted_us + noise, n * 1_000_000);
            counted_us += correction.step_us;
            worst = worst.max(counted_us.abs());
        }
        assert!(worst <= 35_000.0, "the count wandered {worst} µs away");
        assert!(counted_us.abs() <= 35_000.0);
    }
}
