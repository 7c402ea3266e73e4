//! Keeps a sound card's sample count in step with the system clock. Each
//! device block compares where the count says the audio is with when it was
//! actually captured; the smoothed difference nudges the resampler's ratio,
//! so a card a few hundred ppm off never walks away from the video.

/// The largest ratio change: 0.5 %, inaudible, and far beyond real drift.
pub const MAX_CORRECTION: f64 = 0.005;
/// Ratio change per microsecond of error: 2 ms ahead → 0.1 % fewer samples,
/// so even a card 500 ppm off settles within about a millisecond.
const GAIN_PER_US: f64 = 0.001 / 2_000.0;
/// Callback times jitter by milliseconds; average over about a hundred blocks.
const SMOOTHING: f64 = 0.01;

#[derive(Debug, Default)]
pub struct DriftTracker {
    smoothed_us: Option<f64>,
}

impl DriftTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// `error_us` is counted time minus captured time (positive: the count
    /// runs ahead). Returns the resampler's relative ratio for the next block.
    pub fn update(&mut self, error_us: f64) -> f64 {
        let smoothed = match self.smoothed_us {
            None => error_us,
            Some(s) => s + SMOOTHING * (error_us - s),
        };
        self.smoothed_us = Some(smoothed);
        1.0 - (smoothed * GAIN_PER_US).clamp(-MAX_CORRECTION, MAX_CORRECTION)
    }

    pub fn smoothed_error_us(&self) -> f64 {
        self.smoothed_us.unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card whose clock runs `ppm` fast delivers 10 ms blocks (by its own
    /// clock) with up to 2 ms of callback jitter. After ten simulated minutes
    /// the counted time must still match the captured time.
    fn simulate(ppm: f64) -> f64 {
        let mut tracker = DriftTracker::new();
        let block_device_s = 0.010;
        let block_real_s = block_device_s / (1.0 + ppm * 1e-6);
        let mut counted_s = 0.0;
        let mut ratio = 1.0;
        let mut worst: f64 = 0.0;
        for n in 0..60_000u64 {
            let captured_s = n as f64 * block_real_s;
            let jitter = ((n * 7919) % 2000) as f64 * 1e-6;
            let error_us = (counted_s - (captured_s + jitter)) * 1e6;
            if n > 3_000 {
                worst = worst.max(error_us.abs());
            }
            ratio = tracker.update(error_us);
            // The block's samples, resampled, advance the count by this much.
            counted_s += block_device_s * ratio;
        }
        let _ = ratio;
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
    fn the_correction_is_bounded() {
        let mut tracker = DriftTracker::new();
        assert_eq!(tracker.update(10_000_000.0), 1.0 - MAX_CORRECTION);
        let mut tracker = DriftTracker::new();
        assert_eq!(tracker.update(-10_000_000.0), 1.0 + MAX_CORRECTION);
    }
}
