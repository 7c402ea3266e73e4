//! The microphone's voice chain: noise suppression (RNNoise), a slow
//! automatic gain towards a speech level, and a look-ahead true-peak
//! limiter (-2.5 dBTP) that keeps the decoded stream under -1 dBFS, in that
//! order. It runs on the audio capture thread between the source and
//! everything downstream (meter, encoders), so what a creator hears in the
//! meter is what is sent.
//!
//! Each stage is a pure DSP unit on 48 kHz mono blocks of 480 samples (10 ms,
//! RNNoise's frame and the period the sources deliver); `chain` strings them
//! together, keeps the stereo layout and moves capture timestamps by the
//! chain's delay so A/V sync holds.

pub mod chain;
pub mod denoise;
pub mod gain;
pub mod limiter;

use serde::{Deserialize, Serialize};

use crate::source::AudioChoice;

pub use chain::VoiceChain;

/// The chain works at the rate every source delivers.
pub const RATE: u32 = 48_000;
/// RNNoise's frame: 10 ms at 48 kHz. The gain and limiter step in it too.
pub const FRAME: usize = 480;

/// The one control a creator has over the voice chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum VoiceMode {
    /// The microphone as it comes.
    Off,
    /// Automatic gain and the limiter, no noise suppression.
    Light,
    /// Noise suppression, automatic gain and the limiter.
    Clean,
}

impl VoiceMode {
    /// `clean` for a microphone; `off` for the test tone, whose beep and
    /// tone are reference signals that must reach the stream untouched.
    pub fn default_for(audio: &AudioChoice) -> VoiceMode {
        match audio {
            AudioChoice::Microphone(_) => VoiceMode::Clean,
            AudioChoice::TestTone | AudioChoice::None => VoiceMode::Off,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VoiceMode::Off => "off",
            VoiceMode::Light => "light",
            VoiceMode::Clean => "clean",
        }
    }

    pub fn parse(s: &str) -> Option<VoiceMode> {
        match s {
            "off" => Some(VoiceMode::Off),
            "light" => Some(VoiceMode::Light),
            "clean" => Some(VoiceMode::Clean),
            _ => None,
        }
    }
}

/// Amplitude of `db` decibels.
pub(crate) fn db_to_amplitude(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Decibels of a power (mean square); -100 for silence.
pub(crate) fn power_to_db(power: f64) -> f32 {
    if power <= 1e-10 {
        -100.0
    } else {
        (10.0 * power.log10()) as f32
    }
}

#[cfg(test)]
pub(crate) mod signals {
    //! Generated test signals at 48 kHz.
    use std::f32::consts::TAU;

    pub fn sine(hz: f32, amplitude: f32, samples: usize) -> Vec<f32> {
        (0..samples)
            .map(|i| amplitude * (TAU * hz * i as f32 / 48_000.0).sin())
            .collect()
    }

    pub fn square(hz: f32, amplitude: f32, samples: usize) -> Vec<f32> {
        let period = 48_000.0 / hz;
        (0..samples)
            .map(|i| {
                if (i as f32 % period) < period / 2.0 {
                    amplitude
                } else {
                    -amplitude
                }
            })
            .collect()
    }

    /// A speech-like signal: a 120 Hz glottal pulse train through two
    /// resonances, in syllables of 200 ms with 100 ms gaps.
    pub fn syllables(rms: f32, samples: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(samples);
        let (mut y1, mut y2) = (0.0f32, 0.0f32);
        let (mut z1, mut z2) = (0.0f32, 0.0f32);
        let resonator = |f: f32, bw: f32| {
            let r = (-std::f32::consts::PI * bw / 48_000.0).exp();
            (2.0 * r * (TAU * f / 48_000.0).cos(), -r * r)
        };
        let (a1, a2) = resonator(700.0, 120.0);
        let (b1, b2) = resonator(1200.0, 150.0);
        for i in 0..samples {
            let pulse = if i % 400 == 0 { 1.0 } else { 0.0 };
            let y = pulse + a1 * y1 + a2 * y2;
            y2 = y1;
            y1 = y;
            let z = y + b1 * z1 + b2 * z2;
            z2 = z1;
            z1 = z;
            let in_syllable = (i % 14_400) < 9_600;
            out.push(if in_syllable { z } else { 0.0 });
        }
        let voiced: Vec<f32> = out.iter().copied().filter(|s| *s != 0.0).collect();
        let now = (voiced.iter().map(|s| s * s).sum::<f32>() / voiced.len() as f32).sqrt();
        out.iter().map(|s| s * rms / now).collect()
    }

    /// Deterministic white noise in [-amplitude, amplitude].
    pub fn noise(amplitude: f32, samples: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.max(1);
        (0..samples)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                amplitude * (state as f32 / u32::MAX as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    pub fn rms_db(samples: &[f32]) -> f32 {
        let power = samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64;
        super::power_to_db(power)
    }

    pub fn peak(samples: &[f32]) -> f32 {
        samples.iter().fold(0.0, |m, s| m.max(s.abs()))
    }

    /// The true peak, measured independently of the limiter's own
    /// estimate: 16 points per sample interval, each a Blackman-windowed
    /// sinc over 64 samples either side.
    pub fn true_peak(samples: &[f32]) -> f32 {
        const POINTS: usize = 16;
        const HALF: isize = 64;
        let kernels: Vec<Vec<f64>> = (1..POINTS)
            .map(|k| {
                let fraction = k as f64 / POINTS as f64;
                (-HALF + 1..=HALF)
                    .map(|j| {
                        let t = j as f64 - fraction;
                        let x = std::f64::consts::PI * t;
                        let phase = std::f64::consts::PI * (t / HALF as f64 + 1.0);
                        let blackman = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
                        x.sin() / x * blackman
                    })
                    .collect()
            })
            .collect();
        // Where the kernel would reach past either end, only the samples
        // count: a cut kernel would invent peaks.
        let mut most = peak(samples) as f64;
        for m in HALF as usize..samples.len().saturating_sub(HALF as usize) {
            let around = &samples[m + 1 - HALF as usize..=m + HALF as usize];
            for kernel in &kernels {
                let value: f64 = around.iter().zip(kernel).map(|(s, k)| *s as f64 * k).sum();
                most = most.max(value.abs());
            }
        }
        most as f32
    }
}
