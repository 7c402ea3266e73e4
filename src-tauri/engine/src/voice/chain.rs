//! The three stages in order, on 480-sample mono frames: denoise (clean
//! only), automatic gain, limiter. A voice is one channel: the chain mixes
//! the first two channels to mono and sends the result on every channel.
//!
//! Delay: RNNoise's frame (10 ms, clean only) plus the limiter's look-ahead
//! (2 ms): 12 ms for clean, 2 ms for light. Every source delivers 10 ms
//! chunks, so no frame waits for the next chunk (other chunk sizes would
//! wait up to one frame more, and still be stamped right). The capture
//! times of the output are moved back by the delay, so a sound keeps the
//! instant it was captured and A/V sync holds.

use std::sync::Arc;

use super::denoise::{self, Denoiser};
use super::gain::AutoGain;
use super::limiter::{self, Limiter};
use super::{VoiceMode, FRAME, RATE};
use crate::media::AudioChunk;

pub struct VoiceChain {
    mode: VoiceMode,
    denoiser: Option<Denoiser>,
    gain: AutoGain,
    limiter: Limiter,
    /// Mono samples waiting to fill a frame.
    pending: Vec<f32>,
    frame: [f32; FRAME],
}

impl VoiceChain {
    /// The chain for a setting; `None` for `off` (the audio passes as it is).
    pub fn new(mode: VoiceMode) -> Option<VoiceChain> {
        let denoiser = match mode {
            VoiceMode::Off => return None,
            VoiceMode::Light => None,
            VoiceMode::Clean => Some(Denoiser::new()),
        };
        Some(VoiceChain {
            mode,
            denoiser,
            gain: AutoGain::new(),
            limiter: Limiter::new(),
            pending: Vec::with_capacity(2 * FRAME),
            frame: [0.0; FRAME],
        })
    }

    pub fn mode(&self) -> VoiceMode {
        self.mode
    }

    /// The delay the stages add, in samples at 48 kHz.
    pub fn latency_samples(&self) -> usize {
        let denoise = if self.denoiser.is_some() {
            denoise::DELAY_SAMPLES
        } else {
            0
        };
        denoise + limiter::LOOKAHEAD_SAMPLES
    }

    pub fn latency_us(&self) -> u64 {
        samples_to_us(self.latency_samples())
    }

    /// Mono in, mono out: appends to `out` every whole frame the input
    /// completes (the output lags the input by `latency_samples`).
    pub fn process_mono(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.pending.extend_from_slice(input);
        let whole = self.pending.len() / FRAME * FRAME;
        for block in self.pending[..whole].chunks_exact(FRAME) {
            self.frame.copy_from_slice(block);
            let voice = self.denoiser.as_mut().map(|d| d.process(&mut self.frame));
            self.gain.process(&mut self.frame, voice);
            self.limiter.process(&mut self.frame);
            out.extend_from_slice(&self.frame);
        }
        self.pending.drain(..whole);
    }

    /// A captured chunk in; the processed audio out, on the same channels,
    /// once a whole frame is there. Its capture time is that of the input
    /// it came from: the input's end, less what the chain still holds.
    pub fn process(&mut self, chunk: &AudioChunk) -> Option<AudioChunk> {
        if chunk.rate != RATE || chunk.channels == 0 {
            // Every source delivers 48 kHz; anything else passes untouched
            // rather than being mangled.
            return Some(chunk.clone());
        }
        let channels = chunk.channels as usize;
        let mono: Vec<f32> = chunk
            .samples
            .chunks_exact(channels)
            .map(|frame| match frame {
                [only] => *only,
                [left, right, ..] => 0.5 * (left + right),
                [] => 0.0,
            })
            .collect();
        let mut out = Vec::with_capacity(mono.len() + FRAME);
        self.process_mono(&mono, &mut out);
        if out.is_empty() {
            return None;
        }
        let input_end_us = chunk.capture_us + samples_to_us(chunk.frames());
        let behind = self.latency_samples() + self.pending.len() + out.len();
        let samples = out
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, channels))
            .collect();
        Some(AudioChunk {
            rate: RATE,
            channels: chunk.channels,
            samples: Arc::new(samples),
            capture_us: input_end_us.saturating_sub(samples_to_us(behind)),
        })
    }

    /// The limiter's largest gain reduction since the last call, in dB.
    pub fn take_limiter_db(&mut self) -> f32 {
        self.limiter.take_reduction_db()
    }

    /// The automatic gain now, in dB.
    pub fn gain_db(&self) -> f32 {
        self.gain.gain_db()
    }
}

fn samples_to_us(samples: usize) -> u64 {
    samples as u64 * 1_000_000 / RATE as u64
}

#[cfg(test)]
mod tests {
    use super::super::signals::{noise, peak, rms_db, syllables, true_peak};
    use super::super::{db_to_amplitude, gain::TARGET_DBFS, limiter::true_peak_ceiling};
    use super::*;

    fn stereo_chunk(mono: &[f32], capture_us: u64) -> AudioChunk {
        AudioChunk {
            rate: RATE,
            channels: 2,
            samples: Arc::new(mono.iter().flat_map(|&s| [s, s]).collect()),
            capture_us,
        }
    }

    #[test]
    fn off_is_no_chain_and_the_latencies_are_stated_and_under_20_ms() {
        assert!(VoiceChain::new(VoiceMode::Off).is_none());
        let light = VoiceChain::new(VoiceMode::Light).unwrap();
        let clean = VoiceChain::new(VoiceMode::Clean).unwrap();
        assert_eq!(light.latency_us(), 2_000);
        assert_eq!(clean.latency_us(), 12_000);
        assert!(clean.latency_us() < 20_000);
    }

    #[test]
    fn the_stated_latency_is_the_measured_delay_of_an_impulse() {
        // Light: an impulse below the ceiling passes unchanged but for the gain.
        let mut chain = VoiceChain::new(VoiceMode::Light).unwrap();
        let mut input = vec![0.0; 4_800];
        input[1_000] = 0.3;
        let mut out = Vec::new();
        chain.process_mono(&input, &mut out);
        let at = out.iter().position(|&s| s != 0.0).unwrap();
        assert_eq!(at - 1_000, chain.latency_samples());

        // Clean: RNNoise keeps an impulse's timing (it is not a voice, so
        // it comes out quieter): the loudest output sample is where the
        // stated delay puts it.
        let mut chain = VoiceChain::new(VoiceMode::Clean).unwrap();
        let mut input = vec![0.0; 9_600];
        input[4_000] = 0.5;
        let mut out = Vec::new();
        chain.process_mono(&input, &mut out);
        let loudest = (0..out.len())
            .max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs()))
            .unwrap();
        assert_eq!(loudest - 4_000, chain.latency_samples());
    }

    #[test]
    fn capture_times_move_back_by_the_delay() {
        for mode in [VoiceMode::Light, VoiceMode::Clean] {
            let mut chain = VoiceChain::new(mode).unwrap();
            // 10 ms chunks: each comes out at once, its time moved by the delay.
            for k in 0..5u64 {
                let at = 1_000_000 + k * 10_000;
                let out = chain.process(&stereo_chunk(&[0.1; FRAME], at)).unwrap();
                assert_eq!(out.capture_us, at - chain.latency_us());
                assert_eq!(out.frames(), FRAME);
                assert_eq!(out.channels, 2);
            }
            // 7.5 ms chunks: output waits for whole frames; its time is still
            // its input's, less the delay.
            let mut chain = VoiceChain::new(mode).unwrap();
            let mut next_out_us = None;
            for k in 0..8u64 {
                let at = 1_000_000 + k * 7_500;
                if let Some(out) = chain.process(&stereo_chunk(&[0.1; 360], at)) {
                    let expected = *next_out_us.get_or_insert(1_000_000 - chain.latency_us());
                    assert_eq!(out.capture_us, expected, "{mode:?} chunk {k}");
                    next_out_us = Some(expected + samples_to_us(out.frames()));
                }
            }
            assert!(next_out_us.is_some());
        }
    }

    #[test]
    fn clean_lowers_noise_and_brings_speech_to_the_target_below_the_ceiling() {
        let n = 48_000 * 10;
        let speech = syllables(db_to_amplitude(-26.0), n);
        let hiss = noise(db_to_amplitude(-40.0) * 3f32.sqrt(), n, 5);
        let input: Vec<f32> = speech.iter().zip(&hiss).map(|(s, h)| s + h).collect();
        let mut chain = VoiceChain::new(VoiceMode::Clean).unwrap();
        let mut out = Vec::new();
        chain.process_mono(&input, &mut out);
        let delay = chain.latency_samples();
        let aligned = &out[delay..];
        let tail = 48_000 * 6;
        let (mut voiced, mut pauses) = (Vec::new(), Vec::new());
        // Inside syllables and inside gaps, 20 ms from their edges.
        for (i, s) in aligned.iter().enumerate().skip(tail) {
            let phase = i % 14_400;
            if (960..9_600 - 960).contains(&phase) {
                voiced.push(*s);
            } else if (9_600 + 960..14_400 - 960).contains(&phase) {
                pauses.push(*s);
            }
        }
        let pause_in: Vec<f32> = (tail..n - delay)
            .filter(|i| (9_600 + 960..14_400 - 960).contains(&(i % 14_400)))
            .map(|i| input[i])
            .collect();
        let (noise_in, noise_out) = (rms_db(&pause_in), rms_db(&pauses));
        assert!(
            noise_out < noise_in - 15.0,
            "pauses {noise_in:.1} -> {noise_out:.1} dBFS"
        );
        let level = rms_db(&voiced);
        assert!(
            (level - TARGET_DBFS).abs() < 3.0,
            "speech at {level:.1} dBFS"
        );
        assert!(peak(&out) <= true_peak_ceiling());
    }

    #[test]
    fn light_keeps_a_clipping_input_under_the_ceiling() {
        let loud: Vec<f32> = syllables(0.7, 48_000 * 3)
            .iter()
            .map(|s| (s * 4.0).clamp(-1.0, 1.0))
            .collect();
        let mut chain = VoiceChain::new(VoiceMode::Light).unwrap();
        let out = chain.process(&stereo_chunk(&loud, 0)).unwrap();
        assert!(peak(&out.samples) <= true_peak_ceiling());
        let left: Vec<f32> = out.samples.iter().step_by(2).copied().collect();
        assert!(true_peak(&left) <= true_peak_ceiling() * 1.0023);
        assert!(chain.take_limiter_db() > 0.0);
    }
}
