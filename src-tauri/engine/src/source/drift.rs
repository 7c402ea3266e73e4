//! Keeps a sound card's sample count in step with the system clock.
//!
//! Each device block compares where the sample count says its last sample
//! is with when the block arrived. Arrival is late by a latency that jitters
//! and can step (sound servers split and batch blocks), so a single reading
//! says little; the best (largest) reading over a one-second window is the
//! block that came with the least latency, and how that best reading moves
//! from window to window is the drift. The drift nudges the resampler's ratio
//! so a card a few hundred ppm off never walks away from the video.

/// The largest ratio change: 0.1 % (1000 ppm), twice the worst sound card
/// clock, and a pitch shift (under half a hertz at 440 Hz) nobody hears.
pub const MAX_CORRECTION: f64 = 0.001;
/// Ratio change per microsecond of drift: 2 ms → 0.1 %.
const GAIN_PER_US: f64 = 0.001 / 2_000.0;
const WINDOW_US: u64 = 1_000_000;
/// The count falling this far behind in one window means samples were lost
/// (a stall the device recovered from): made up with silence at once.
const GAP_US: f64 = 200_000.0;
/// A jump smaller than a gap but larger than any clock drifts in a window is
/// the sound server changing its latency: taken as the new normal.
const STEP_US: f64 = 10_000.0;
/// Sound servers settle their latency in the first seconds; the reference
/// is taken after that.
const WARM_UP_WINDOWS: u32 = 2;

#[derive(Debug, Default)]
pub struct DriftTracker {
    window_start_us: Option<u64>,
    window_best_us: f64,
    windows: u32,
    previous_best_us: Option<f64>,
    /// The first window's best reading: the offset that counts as no drift.
    reference_us: Option<f64>,
    drift_us: f64,
    ratio: f64,
}

/// What the caller should do after a reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correction {
    /// The resampler's relative ratio from now on.
    pub ratio: f64,
    /// Silence to add now, in microseconds, to close a gap.
    pub fill_us: f64,
}

impl DriftTracker {
    pub fn new() -> Self {
        DriftTracker {
            window_best_us: f64::NEG_INFINITY,
            ratio: 1.0,
            ..Default::default()
        }
    }

    /// `error_us` is counted time minus arrival time of a block's end
    /// (positive: the count runs ahead); `now_us` is the arrival time.
    pub fn update(&mut self, error_us: f64, now_us: u64) -> Correction {
        let start = *self.window_start_us.get_or_insert(now_us);
        self.window_best_us = self.window_best_us.max(error_us);
        let mut fill_us = 0.0;
        if now_us.saturating_sub(start) >= WINDOW_US {
            let best = self.window_best_us;
            self.windows += 1;
            self.window_start_us = Some(now_us);
            self.window_best_us = f64::NEG_INFINITY;
            let jump = best - self.previous_best_us.unwrap_or(best);
            self.previous_best_us = Some(best);
            if self.windows <= WARM_UP_WINDOWS {
                return Correction {
                    ratio: self.ratio,
                    fill_us,
                };
            }
            let reference = self.reference_us.get_or_insert(best);
            if jump < -GAP_US {
                fill_us = -jump;
                self.previous_best_us = Some(best + fill_us);
            } else if jump.abs() > STEP_US {
                *reference += jump;
            }
            self.drift_us = best + fill_us - *reference;
            self.ratio = 1.0 - (self.drift_us * GAIN_PER_US).clamp(-MAX_CORRECTION, MAX_CORRECTION);
        }
        Correction {
            ratio: self.ratio,
            fill_us,
        }
    }

    /// The latest drift estimate (positive: the count runs ahead).
    pub fn drift_us(&self) -> f64 {
        self.drift_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card whose clock runs `ppm` fast delivers 10 ms blocks (by its own
    /// clock) late by 1-20 ms of varying latency, and once steps its latency
    /// up by 50 ms for good and once loses 300 ms of samples in a stall. Returns the worst drift of the count against the
    /// true capture time after the first ten seconds of ten minutes.
    fn simulate(ppm: f64) -> f64 {
        let mut tracker = DriftTracker::new();
        let block_device_s = 0.010;
        let block_real_s = block_device_s / (1.0 + ppm * 1e-6);
        let mut counted_s = 0.0;
        let mut ratio = 1.0;
        let mut worst: f64 = 0.0;
        for n in 1..60_000u64 {
            let captured_s = n as f64 * block_real_s;
            let step = if n > 30_000 { 0.050 } else { 0.0 };
            let latency = 0.001 + ((n * 7919) % 19_000) as f64 * 1e-6 + step;
            let arrived_s = captured_s + latency;
            if n != 45_000 {
                counted_s += block_device_s * ratio;
            } else {
                counted_s -= 0.3 - block_device_s; // 30 blocks never arrive
            }
            let correction =
                tracker.update((counted_s - arrived_s) * 1e6, (arrived_s * 1e6) as u64);
            ratio = correction.ratio;
            counted_s += correction.fill_us / 1e6;
            // Skip the settling second at the start and the window of the stall.
            if n > 1_000 && !(45_000..45_200).contains(&n) {
                worst = worst.max(((counted_s - captured_s) * 1e6).abs());
            }
        }
        worst
    }

    #[test]
    fn a_fast_or_slow_card_stays_within_a_few_milliseconds_for_ten_minutes() {
        for ppm in [-500.0, -100.0, 0.0, 100.0, 500.0] {
            let worst_us = simulate(ppm);
            assert!(worst_us < 5_000.0, "{ppm} ppm: {worst_us} µs");
        }
    }

    #[test]
    fn the_correction_is_bounded_and_a_long_stall_is_filled() {
        let mut tracker = DriftTracker::new();
        let second = 1_000_000;
        for n in 0..=3 {
            tracker.update(0.0, n * second); // warm-up, then the reference
        }
        // Drift builds up slowly; the correction follows it, bounded.
        let mut ratio = 1.0;
        for n in 4..40 {
            ratio = tracker.update(n as f64 * 5_000.0, n * second).ratio;
        }
        assert_eq!(ratio, 1.0 - MAX_CORRECTION);
        // Samples lost in a stall: the gap is filled, not slewed.
        let last = 39.0 * 5_000.0;
        let behind = tracker.update(last - 300_000.0, 40 * second);
        assert_eq!(behind.fill_us, 300_000.0);
    }
}
