//! Keeps a sound card's sample count in step with the system clock.
//!
//! Each device block compares where the sample count says its end is with
//! when the sound system says it was captured, on the system clock. Single
//! readings are noisy (blocks split and batched, latency reports that move
//! in a sawtooth), so each one-second window is summed up by its lower
//! quartile, and the drift is how that moves against a reference measured
//! once the sound system has settled. The drift, smoothed over a few
//! windows, nudges the resampler's ratio so a card a few hundred ppm off
//! never walks away from the video.
//!
//! A count that jumps far from the reference and stays there for two windows
//! has lost samples (an overrun under load): the gap is filled with silence
//! at once. One that jumps as far ahead had a gap filled that was not one,
//! and the surplus is dropped. Both are measured against the same reference,
//! so a wrong step is undone instead of adding up. (Each step measured from
//! the window before, and taken on a single window's smallest reading,
//! ratcheted and jittered: a ten-minute microphone recording on a loaded
//! machine slipped 1.6 ms a second, and then sat up to 118 ms off.)

/// The largest ratio change: 0.1 % (1000 ppm), twice the worst sound card
/// clock, and a pitch shift (under half a hertz at 440 Hz) nobody hears.
pub const MAX_CORRECTION: f64 = 0.001;
/// Ratio change per microsecond of drift: 2 ms → 0.1 %.
const GAIN_PER_US: f64 = 0.001 / 2_000.0;
const WINDOW_US: u64 = 1_000_000;
/// A count this far from the reference in two windows in a row, on the same
/// side, has lost samples (behind) or had a gap filled that was not one
/// (ahead). Window readings of capture stamps wander by up to ±8 ms on their
/// own (PulseAudio's source latency moves in a sawtooth); a real clock drift
/// never gets this far, the ratio takes it first.
const STEP_US: f64 = 12_000.0;
/// Sound servers settle in the first seconds; the reference is taken after.
const WARM_UP_WINDOWS: u32 = 2;
/// The reference is the mean of this many windows, not one window that may
/// sit at the edge of the stamps' wander.
const REFERENCE_WINDOWS: u32 = 3;
/// Weight of the newest window in the drift the ratio follows: a few
/// windows' memory, so the ratio tracks drift and not stamp noise.
const SMOOTHING: f64 = 0.3;

#[derive(Debug, Default)]
pub struct DriftTracker {
    window_start_us: Option<u64>,
    readings: Vec<f64>,
    windows: u32,
    reference_sum_us: f64,
    /// The offset that counts as no drift, once measured.
    reference_us: Option<f64>,
    smoothed_us: f64,
    /// The last window's drift, when it was beyond a step.
    pending_step_us: Option<f64>,
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
            ratio: 1.0,
            ..Default::default()
        }
    }

    /// `error_us` is counted time minus capture time of a block's end
    /// (positive: the count runs ahead); `now_us` is the arrival time.
    pub fn update(&mut self, error_us: f64, now_us: u64) -> Correction {
        let start = *self.window_start_us.get_or_insert(now_us);
        self.readings.push(error_us);
        let mut step_us = 0.0;
        if now_us.saturating_sub(start) >= WINDOW_US {
            self.window_start_us = Some(now_us);
            let typical = lower_quartile(&mut self.readings);
            self.readings.clear();
            step_us = self.close_window(typical);
        }
        Correction {
            ratio: self.ratio,
            step_us,
        }
    }

    fn close_window(&mut self, typical_us: f64) -> f64 {
        self.windows += 1;
        if self.windows <= WARM_UP_WINDOWS {
            return 0.0;
        }
        let Some(reference) = self.reference_us else {
            self.reference_sum_us += typical_us;
            if self.windows == WARM_UP_WINDOWS + REFERENCE_WINDOWS {
                self.reference_us = Some(self.reference_sum_us / REFERENCE_WINDOWS as f64);
            }
            return 0.0;
        };
        let drift = typical_us - reference;
        let mut step_us = 0.0;
        if drift.abs() > STEP_US {
            // A jump is a loss or an outlier, not drift: the ratio ignores it.
            match self.pending_step_us.take() {
                // The window before may have caught the jump halfway: this
                // one measures it whole. Only the jump is undone; the drift
                // the ratio was already following stays its business.
                Some(before) if before.signum() == drift.signum() => {
                    step_us = self.smoothed_us - drift;
                }
                _ => self.pending_step_us = Some(drift),
            }
        } else {
            self.pending_step_us = None;
            self.smoothed_us += SMOOTHING * (drift - self.smoothed_us);
        }
        self.ratio = 1.0 - (self.smoothed_us * GAIN_PER_US).clamp(-MAX_CORRECTION, MAX_CORRECTION);
        step_us
    }
}

/// A quarter of the readings are lower: above the odd outlier, and below
/// the half of a window's blocks that carry an earlier block's stamp.
fn lower_quartile(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A card whose clock runs `ppm` fast delivers 10 ms blocks (by its own
    /// clock). Every other block is the second half of a split and carries
    /// its first half's timestamp; 16 times it loses 20 to 47 ms of samples
    /// in an overrun, once 300 ms in a stall. Returns the worst drift of the
    /// count against the true capture time over ten minutes, after the first
    /// ten seconds and outside the four seconds (up to three windows) in
    /// which a loss is confirmed.
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
                n if n % 3_700 == 0 => 0.020 + (n % 28) as f64 * 0.001,
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
            let noticing = losses.iter().any(|&l| (l..l + 400).contains(&n));
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

    /// One reading a second, so each is its window's quartile.
    fn settled() -> DriftTracker {
        let mut tracker = DriftTracker::new();
        for n in 0..=(WARM_UP_WINDOWS + REFERENCE_WINDOWS) as u64 {
            tracker.update(0.0, n * 1_000_000); // warm-up, then the reference
        }
        tracker
    }

    #[test]
    fn the_correction_is_bounded_and_steps_are_measured_from_the_reference() {
        let mut tracker = settled();
        let second = 1_000_000;
        // Drift builds up slowly; the correction follows it, bounded.
        let mut ratio = 1.0;
        for n in 6..36 {
            ratio = tracker.update((n - 5) as f64 * 300.0, n * second).ratio;
        }
        assert_eq!(ratio, 1.0 - MAX_CORRECTION);
        let mut tracker = settled();
        // Samples lost in an overrun: once a second window confirms it, the
        // gap is filled, not slewed.
        assert_eq!(tracker.update(-20_000.0, 6 * second).step_us, 0.0);
        assert_eq!(tracker.update(-20_000.0, 7 * second).step_us, 20_000.0);
        // A stamp that jumped makes a false gap: once the count reads ahead
        // of the reference by as much, the surplus goes again.
        assert_eq!(tracker.update(20_000.0, 8 * second).step_us, 0.0);
        assert_eq!(tracker.update(20_000.0, 9 * second).step_us, -20_000.0);
        // One window off on its own is noise, not a loss.
        assert_eq!(tracker.update(-30_000.0, 10 * second).step_us, 0.0);
        assert_eq!(tracker.update(0.0, 11 * second).step_us, 0.0);
        // Within the stamps' own wander: the ratio's business.
        assert_eq!(tracker.update(8_000.0, 12 * second).step_us, 0.0);
        assert_eq!(tracker.update(8_000.0, 13 * second).step_us, 0.0);
    }

    /// Capture stamps through a loaded sound server: every window's reading
    /// lands up to 30 ms either side of the truth, at random, with no
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
        assert!(worst <= 45_000.0, "the count wandered {worst} µs away");
        assert!(counted_us.abs() <= 45_000.0);
    }

    /// Window readings in a sawtooth of ±7 ms, as PulseAudio's source latency
    /// reports move: no step, and the ratio stays near 1.
    #[test]
    fn a_sawtooth_in_the_stamps_is_left_to_the_ratio() {
        let mut tracker = DriftTracker::new();
        let mut counted_us = 0.0;
        for n in 0..600u64 {
            let sawtooth = -((n % 14) as f64) * 1_000.0 + 7_000.0;
            let correction = tracker.update(counted_us + sawtooth, n * 1_000_000);
            assert_eq!(correction.step_us, 0.0, "stepped at {n} s");
            counted_us += (1.0 - correction.ratio) * -1e6;
            assert!(counted_us.abs() < 8_000.0, "{counted_us} µs at {n} s");
        }
    }
}
