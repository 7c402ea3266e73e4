//! A look-ahead peak limiter that keeps the stream under -1 dBFS. The
//! encoders overshoot what they are given (AAC at 128 kbit/s put samples
//! held at -1 dBFS back up to -0.59 dBFS in tests/test_voice.py), so the
//! samples are held `ENCODER_HEADROOM_DB` lower, at -2 dBFS. The gain each sample
//! needs is known `LOOKAHEAD_SAMPLES` before the sample leaves, so the gain
//! comes down smoothly ahead of a peak instead of clipping it:
//!
//! - `need[n]`: the gain that puts sample n at the sample ceiling (1 below it);
//! - `held[n]`: the least `need` over the last L+1 samples (a sliding minimum);
//! - `released[n]`: `held`, recovering towards 1 with `RELEASE_SECONDS`;
//! - the gain applied to sample n-L: the mean of `released` over the last
//!   L+1 samples.
//!
//! Every value in that mean is at most `need[n-L]` (each window contains
//! sample n-L), so the output never exceeds the ceiling, and the mean ramps
//! over L samples, so the gain has no steps.

use super::db_to_amplitude;

/// The most a decoded stream may hold.
pub const CEILING_DBFS: f32 = -1.0;
/// Room left for the encoder's overshoot: samples leave the limiter at most
/// at `CEILING_DBFS - ENCODER_HEADROOM_DB`.
pub const ENCODER_HEADROOM_DB: f32 = 1.0;
/// 2 ms at 48 kHz: long enough that the gain ramps instead of stepping
/// (a step would be a click), short against the 20 ms latency budget.
pub const LOOKAHEAD_SAMPLES: usize = 96;
const WINDOW: usize = LOOKAHEAD_SAMPLES + 1;
/// How fast the gain recovers after a peak.
const RELEASE_SECONDS: f32 = 0.08;

pub struct Limiter {
    /// The sample ceiling, a hair under -2 dBFS so rounding cannot cross it.
    ceiling: f32,
    release: f32,
    /// The last L input samples: the output is the oldest.
    delay: [f32; LOOKAHEAD_SAMPLES],
    /// (sample index, need) with needs rising from front to back: the front
    /// is the least need of the window.
    minimum: std::collections::VecDeque<(u64, f32)>,
    released: f32,
    /// The last L+1 `released` values and their sum.
    smoothing: [f32; WINDOW],
    sum: f64,
    n: u64,
    /// The least gain applied since `take_reduction_db`.
    least_gain: f32,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    pub fn new() -> Self {
        Limiter {
            ceiling: sample_ceiling() * (1.0 - 1e-5),
            release: 1.0 - (-1.0 / (RELEASE_SECONDS * super::RATE as f32)).exp(),
            delay: [0.0; LOOKAHEAD_SAMPLES],
            minimum: std::collections::VecDeque::with_capacity(WINDOW + 1),
            released: 1.0,
            smoothing: [1.0; WINDOW],
            sum: WINDOW as f64,
            n: 0,
            least_gain: 1.0,
        }
    }

    /// Limits `samples` in place; the output is the input of
    /// `LOOKAHEAD_SAMPLES` earlier. Any length: the state carries over.
    pub fn process(&mut self, samples: &mut [f32]) {
        // Resum once per call so rounding in the running sum cannot build up.
        self.sum = self.smoothing.iter().map(|&g| g as f64).sum();
        for s in samples.iter_mut() {
            let x = *s;
            let magnitude = x.abs();
            let need = if magnitude > self.ceiling {
                self.ceiling / magnitude
            } else {
                1.0
            };
            while self.minimum.back().is_some_and(|&(_, v)| v >= need) {
                self.minimum.pop_back();
            }
            self.minimum.push_back((self.n, need));
            while self
                .minimum
                .front()
                .is_some_and(|&(i, _)| i + (WINDOW as u64) <= self.n)
            {
                self.minimum.pop_front();
            }
            let held = self.minimum.front().map_or(1.0, |&(_, v)| v);
            self.released = held.min(self.released + (1.0 - self.released) * self.release);
            let slot = (self.n % WINDOW as u64) as usize;
            self.sum += self.released as f64 - self.smoothing[slot] as f64;
            self.smoothing[slot] = self.released;
            let gain = ((self.sum / WINDOW as f64) as f32).min(1.0);
            let tap = (self.n % LOOKAHEAD_SAMPLES as u64) as usize;
            let delayed = std::mem::replace(&mut self.delay[tap], x);
            *s = delayed * gain;
            self.least_gain = self.least_gain.min(gain);
            self.n += 1;
        }
    }

    /// The most the limiter took off since the last call, in dB (0 when it
    /// did not act).
    pub fn take_reduction_db(&mut self) -> f32 {
        let least = std::mem::replace(&mut self.least_gain, 1.0);
        (-20.0 * least.log10()).max(0.0)
    }
}

/// The most a sample leaving the limiter can be (-2 dBFS).
pub fn sample_ceiling() -> f32 {
    db_to_amplitude(CEILING_DBFS - ENCODER_HEADROOM_DB)
}

#[cfg(test)]
mod tests {
    use super::super::signals::{peak, sine, square};
    use super::*;

    fn run(input: &[f32], block: usize) -> Vec<f32> {
        let mut limiter = Limiter::new();
        let mut out = input.to_vec();
        for chunk in out.chunks_mut(block) {
            limiter.process(chunk);
        }
        out
    }

    fn ceiling() -> f32 {
        sample_ceiling()
    }

    #[test]
    fn a_sine_driven_12_db_over_full_scale_never_exceeds_the_ceiling() {
        for hz in [50.0, 440.0, 3_000.0, 15_000.0] {
            let out = run(&sine(hz, 4.0, 48_000), 480);
            assert!(peak(&out) <= ceiling(), "{hz} Hz: peak {}", peak(&out));
            // And it is limited, not silenced: the peaks reach the ceiling.
            assert!(peak(&out[4_800..]) > ceiling() * 0.9, "{hz} Hz");
        }
    }

    #[test]
    fn a_full_scale_square_never_exceeds_the_ceiling() {
        for amplitude in [1.0, 8.0] {
            for hz in [100.0, 1_000.0] {
                let out = run(&square(hz, amplitude, 48_000), 480);
                assert!(
                    peak(&out) <= ceiling(),
                    "{amplitude} {hz} Hz: {}",
                    peak(&out)
                );
            }
        }
    }

    #[test]
    fn quiet_signals_pass_untouched_and_the_reported_delay_is_the_impulses() {
        let mut impulse = vec![0.0; 2_000];
        impulse[500] = 0.5;
        let out = run(&impulse, 480);
        let at = out.iter().position(|&s| s != 0.0).unwrap();
        assert_eq!(at, 500 + LOOKAHEAD_SAMPLES);
        assert_eq!(out[at], 0.5);
        let input = sine(440.0, 0.75, 4_800);
        let out = run(&input, 480);
        assert_eq!(
            &out[LOOKAHEAD_SAMPLES..],
            &input[..4_800 - LOOKAHEAD_SAMPLES]
        );
    }

    #[test]
    fn a_lone_peak_is_brought_to_the_ceiling_with_a_smooth_gain() {
        let mut input = sine(1_000.0, 0.5, 9_600);
        input[4_000] = 1.0;
        let mut limiter = Limiter::new();
        let mut out = input.clone();
        limiter.process(&mut out);
        let peak_out = out[4_000 + LOOKAHEAD_SAMPLES];
        assert!((peak_out - ceiling()).abs() < 1e-4, "{peak_out}");
        let expected = -(CEILING_DBFS - ENCODER_HEADROOM_DB);
        assert!((limiter.take_reduction_db() - expected).abs() < 0.01);
        assert_eq!(limiter.take_reduction_db(), 0.0);
        // The gain (output over delayed input) changes by at most 1/97 of
        // the reduction per sample: a ramp, no step.
        let gains: Vec<f32> = (LOOKAHEAD_SAMPLES..9_600)
            .filter(|&i| input[i - LOOKAHEAD_SAMPLES].abs() > 0.05)
            .map(|i| out[i] / input[i - LOOKAHEAD_SAMPLES])
            .collect();
        let reduction = 1.0 - ceiling();
        for pair in gains.windows(2) {
            assert!((pair[1] - pair[0]).abs() <= reduction / WINDOW as f32 * 2.0 + 1e-5);
        }
    }

    #[test]
    fn frame_edges_change_nothing() {
        // Driven speech-band signal processed in one go, in RNNoise frames and
        // in odd blocks: the same samples.
        let input: Vec<f32> = sine(220.0, 2.0, 24_000)
            .iter()
            .zip(sine(3_100.0, 1.0, 24_000))
            .map(|(a, b)| a + b)
            .collect();
        let whole = run(&input, input.len());
        for block in [480, 37] {
            let cut = run(&input, block);
            let worst = whole
                .iter()
                .zip(&cut)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-6, "blocks of {block}: {worst}");
        }
    }
}
