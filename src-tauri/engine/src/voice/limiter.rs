//! A look-ahead true-peak limiter, the chain's last stage: what leaves it,
//! and what a decoder rebuilds from the encoded stream, stays under
//! `CEILING_DBFS`.
//!
//! Why true peak: a decoder (or a player's resampler) rebuilds the waveform
//! between the samples, and its peaks can sit up to 3 dB above the largest
//! sample (a 12 kHz tone sampled 45 degrees off its crests). A sample-peak
//! limiter holds the samples and lets those peaks through; lossy encoders
//! then put them back. So the level that counts is the true peak (ITU-R
//! BS.1770-4, Annex 2: the signal 4x oversampled), and the limiter holds it,
//! as broadcast and streaming loudness rules do (EBU R128, AES TD1008: at
//! most -1 dBTP at the encoder's input, lower where the codec overshoots).
//!
//! Why below -1: on top of the rebuilt peaks, the encoders' quantisation
//! noise adds its own; `ENCODER_HEADROOM_DB` is what was measured to keep
//! decoded AAC (recordings, RTMP) under -1 dBFS (see its comment).
//!
//! How the gain each sample needs is found `LOOKAHEAD_SAMPLES` before the
//! sample leaves, so the gain comes down smoothly ahead of a peak instead of
//! clipping it:
//!
//! - `peak[m]`: the true peak around sample m (4x oversampled, both sides);
//!   known once sample m + `DETECT_DELAY` is in;
//! - `need[m]`: the gain that puts `peak[m]` at the ceiling (1 below it);
//! - `held[m]`: the least `need` over the last R+1 samples (a sliding
//!   minimum, R = `RAMP`);
//! - `released[m]`: `held`, recovering towards 1 with `RELEASE_SECONDS`;
//! - the gain applied to sample m-R: the mean of `released` over the last
//!   R+1 samples.
//!
//! Every value in that mean is at most `need[m-R]` (each window contains
//! sample m-R), so no true peak leaves above the ceiling, and the mean ramps
//! over R samples, so the gain has no steps.

use std::collections::VecDeque;

use super::{db_to_amplitude, RATE};

/// The most a decoded stream may hold.
pub const CEILING_DBFS: f32 = -1.0;
/// Room left for the encoders' own overshoot: true peaks leave the limiter
/// at most at `CEILING_DBFS - ENCODER_HEADROOM_DB`, -2.5 dBTP. Measured with
/// hot speech, sibilant noise, pink and white noise and a 12 kHz tone, all
/// clipped at the input, through gain and limiter into AAC at 128 kbit/s
/// and decoded (docs/BENCHMARKS.md): held at -2.5 dBTP the decoded samples
/// reached at most -1.32 dBFS (pink noise); at -2 dBTP -0.79 dBFS (pink)
/// and -0.97 dBFS (a hiss, in tests/test_voice.py); at -1 dBTP -0.06 dBFS.
/// AES TD1008 asks for at most -1 dBTP at the encoder's input and a lower
/// threshold where the codec overshoots more, as AAC does on noise. Opus at
/// 64 kbit/s rebuilds noisy bands by their energy, not their waveform, and
/// overshoots by 1 to 3 dB at any of these ceilings; libopus's 16-bit
/// output (what WebRTC plays) soft-clips instead of clipping.
pub const ENCODER_HEADROOM_DB: f32 = 1.5;
/// 2 ms at 48 kHz: long enough that the gain ramps instead of stepping
/// (a step would be a click), short against the 20 ms latency budget.
pub const LOOKAHEAD_SAMPLES: usize = 96;
/// The true-peak estimate: the points between samples at 4x the rate...
const OVERSAMPLING: usize = 4;
/// ...each interpolated from this many samples either side (a Kaiser-
/// windowed sinc, within 0.01 dB of the true value up to 18 kHz; above
/// that it reads low, and the encoders drop that band).
const HALF_TAPS: usize = 8;
const TAPS: usize = 2 * HALF_TAPS;
const KAISER_BETA: f64 = 6.0;
/// A sample's true peak is known this many samples after it came in...
const DETECT_DELAY: usize = HALF_TAPS;
/// ...which leaves the rest of the look-ahead for the gain's ramp.
const RAMP: usize = LOOKAHEAD_SAMPLES - DETECT_DELAY;
const WINDOW: usize = RAMP + 1;
/// How fast the gain recovers after a peak.
const RELEASE_SECONDS: f32 = 0.08;

pub struct Limiter {
    /// The true-peak ceiling, a hair under `true_peak_ceiling()` so
    /// rounding cannot cross it.
    ceiling: f32,
    release: f32,
    /// One interpolation kernel per point between two samples.
    kernels: [[f32; TAPS]; OVERSAMPLING - 1],
    /// The last `TAPS` input samples, written twice so that the newest
    /// `TAPS` are always one contiguous slice.
    recent: [f32; 2 * TAPS],
    /// The true peak between the previous two samples.
    last_interval: f32,
    /// The last L input samples: the output is the oldest.
    delay: [f32; LOOKAHEAD_SAMPLES],
    /// (sample index, need) with needs rising from front to back: the front
    /// is the least need of the window.
    minimum: VecDeque<(u64, f32)>,
    released: f32,
    /// The last R+1 `released` values and their sum.
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
        Self::with_ceiling(CEILING_DBFS - ENCODER_HEADROOM_DB)
    }

    /// A limiter holding true peaks at `ceiling_dbtp`.
    pub fn with_ceiling(ceiling_dbtp: f32) -> Self {
        Limiter {
            ceiling: db_to_amplitude(ceiling_dbtp) * (1.0 - 1e-5),
            release: 1.0 - (-1.0 / (RELEASE_SECONDS * RATE as f32)).exp(),
            kernels: interpolation_kernels(),
            recent: [0.0; 2 * TAPS],
            last_interval: 0.0,
            delay: [0.0; LOOKAHEAD_SAMPLES],
            minimum: VecDeque::with_capacity(WINDOW + 1),
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
            let peak = self.true_peak(x);
            let need = if peak > self.ceiling {
                self.ceiling / peak
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

    /// Takes in sample n; returns the true peak around sample
    /// n - `DETECT_DELAY` (between it and each neighbour).
    fn true_peak(&mut self, x: f32) -> f32 {
        let slot = (self.n % TAPS as u64) as usize;
        self.recent[slot] = x;
        self.recent[slot + TAPS] = x;
        // Oldest first: window[HALF_TAPS - 1] is the sample m, window[HALF_TAPS] is m+1.
        let window = &self.recent[slot + 1..slot + 1 + TAPS];
        let (this, next) = (window[HALF_TAPS - 1], window[HALF_TAPS]);
        let mut interval = this.abs().max(next.abs());
        for kernel in &self.kernels {
            let between: f32 = window.iter().zip(kernel).map(|(a, b)| a * b).sum();
            interval = interval.max(between.abs());
        }
        std::mem::replace(&mut self.last_interval, interval).max(interval)
    }

    /// The most the limiter took off since the last call, in dB (0 when it
    /// did not act).
    pub fn take_reduction_db(&mut self) -> f32 {
        let least = std::mem::replace(&mut self.least_gain, 1.0);
        (-20.0 * least.log10()).max(0.0)
    }
}

/// The most a true peak leaving the limiter can be (`CEILING_DBFS` less the
/// encoders' headroom).
pub fn true_peak_ceiling() -> f32 {
    db_to_amplitude(CEILING_DBFS - ENCODER_HEADROOM_DB)
}

/// Kaiser-windowed sinc kernels for the points 1/4, 2/4 and 3/4 of the way
/// from sample m to m+1, over samples m-7 ..= m+8; each sums to 1 so a
/// steady level reads as itself.
fn interpolation_kernels() -> [[f32; TAPS]; OVERSAMPLING - 1] {
    let mut kernels = [[0.0; TAPS]; OVERSAMPLING - 1];
    for (k, kernel) in kernels.iter_mut().enumerate() {
        let fraction = (k + 1) as f64 / OVERSAMPLING as f64;
        let taps: Vec<f64> = (0..TAPS)
            .map(|i| {
                let t = i as f64 - (HALF_TAPS - 1) as f64 - fraction;
                let sinc = if t == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * t).sin() / (std::f64::consts::PI * t)
                };
                let edge = (1.0 - (t / HALF_TAPS as f64).powi(2)).max(0.0);
                sinc * bessel_i0(KAISER_BETA * edge.sqrt()) / bessel_i0(KAISER_BETA)
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        for (out, tap) in kernel.iter_mut().zip(&taps) {
            *out = (tap / sum) as f32;
        }
    }
    kernels
}

/// The modified Bessel function I0 (its power series), for the Kaiser window.
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::super::signals::{peak, sine, square, true_peak};
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
        true_peak_ceiling()
    }

    /// The limiter's 4x estimate may read a true peak a hair low; what
    /// leaves stays within this of the ceiling (0.02 dB).
    const ESTIMATE: f32 = 1.0023;

    #[test]
    fn a_12_khz_tone_clipped_between_its_crests_leaves_under_the_true_peak_ceiling() {
        // A 12 kHz tone sampled 45 degrees off its crests, as a clipped
        // microphone gives it: every sample at full scale, the waveform
        // between them 3 dB higher. Holding the samples at the ceiling
        // would send +1 dBTP; the true peak is what must be held.
        let input: Vec<f32> = (0..48_000)
            .map(|i| {
                let phase = std::f32::consts::TAU * 12_000.0 * i as f32 / 48_000.0;
                (2f32.sqrt() * (phase + std::f32::consts::FRAC_PI_4).sin()).clamp(-1.0, 1.0)
            })
            .collect();
        assert!(true_peak(&input) > 1.4);
        let out = run(&input, 480);
        let (sample, truly) = (peak(&out), true_peak(&out[4_800..]));
        assert!(
            truly <= ceiling() * ESTIMATE,
            "true peak {truly} over {}",
            ceiling()
        );
        assert!(truly > ceiling() * 0.97, "limited, not silenced: {truly}");
        assert!(
            sample < ceiling() * 0.75,
            "the samples sit 3 dB under it: {sample}"
        );
    }

    #[test]
    fn sines_driven_12_db_over_full_scale_never_exceed_the_ceiling() {
        for hz in [50.0, 440.0, 3_000.0, 9_000.0, 15_000.0] {
            let out = run(&sine(hz, 4.0, 24_000), 480);
            assert!(peak(&out) <= ceiling(), "{hz} Hz: peak {}", peak(&out));
            let truly = true_peak(&out[4_800..]);
            assert!(truly <= ceiling() * ESTIMATE, "{hz} Hz: true peak {truly}");
            // And it is limited, not silenced: the peaks reach the ceiling.
            assert!(truly > ceiling() * 0.95, "{hz} Hz: {truly}");
        }
    }

    #[test]
    fn a_full_scale_square_never_exceeds_the_ceiling() {
        for amplitude in [1.0, 8.0] {
            for hz in [100.0, 1_000.0] {
                // A naive square's edges reach up to 24 kHz, where no 4x
                // estimate is exact (BS.1770's neither); the samples are held,
                // and the true peak within 0.2 dB (the encoders cut that band).
                let out = run(&square(hz, amplitude, 24_000), 480);
                assert!(
                    peak(&out) <= ceiling(),
                    "{amplitude} {hz} Hz: {}",
                    peak(&out)
                );
                let truly = true_peak(&out);
                assert!(truly <= ceiling() * 1.023, "{amplitude} {hz} Hz: {truly}");
            }
        }
    }

    #[test]
    fn the_true_peak_estimate_reads_sines_to_within_a_tenth_of_a_db() {
        // Every frequency a voice or an encoder keeps, at phases that put
        // the crest anywhere between two samples.
        for hz in [100.0, 1_000.0, 5_000.0, 10_000.0, 14_000.0, 17_000.0] {
            for step in 0..8 {
                let phase = step as f32 * std::f32::consts::PI / 8.0;
                let tone: Vec<f32> = (0..2_000)
                    .map(|i| (std::f32::consts::TAU * hz * i as f32 / 48_000.0 + phase).sin() * 0.5)
                    .collect();
                let mut limiter = Limiter::new();
                let mut estimate = 0.0f32;
                for (i, &x) in tone.iter().enumerate() {
                    let around = limiter.true_peak(x);
                    limiter.n += 1;
                    // Not the tone's abrupt start.
                    if i > 2 * TAPS {
                        estimate = estimate.max(around);
                    }
                }
                let error_db = 20.0 * (estimate / 0.5).log10();
                assert!(
                    error_db.abs() < 0.1,
                    "{hz} Hz, phase {step}/8: {error_db:.3} dB"
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
        let input = sine(440.0, 0.7, 4_800);
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
        let truly = true_peak(&out[3_000..5_000]);
        assert!(truly <= ceiling() * ESTIMATE, "{truly}");
        assert!(truly > ceiling() * 0.98, "{truly}");
        // The click's true peak is a little over the sample: a little
        // more than what brings the sample to the ceiling comes off.
        let reduction = limiter.take_reduction_db();
        let to_ceiling = -(CEILING_DBFS - ENCODER_HEADROOM_DB);
        assert!(
            (to_ceiling..to_ceiling + 0.5).contains(&reduction),
            "{reduction}"
        );
        assert_eq!(limiter.take_reduction_db(), 0.0);
        // The gain (output over delayed input) changes by at most 1/89 of
        // the reduction per sample: a ramp, no step.
        let gains: Vec<f32> = (LOOKAHEAD_SAMPLES..9_600)
            .filter(|&i| input[i - LOOKAHEAD_SAMPLES].abs() > 0.05)
            .map(|i| out[i] / input[i - LOOKAHEAD_SAMPLES])
            .collect();
        let most = 1.0 - ceiling() / 1.1;
        for pair in gains.windows(2) {
            assert!((pair[1] - pair[0]).abs() <= most / WINDOW as f32 * 2.0 + 1e-5);
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
