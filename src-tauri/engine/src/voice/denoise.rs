//! Noise suppression: RNNoise (Xiph's recurrent network, through the pure
//! Rust `nnnoiseless`), with its weights built in. It works on 480-sample
//! frames in 16-bit scale and answers each frame with the probability that it
//! holds a voice, which the automatic gain uses to know when to listen.

use nnnoiseless::DenoiseState;

use super::FRAME;

/// RNNoise's overlap-add puts each output frame one frame behind its input.
pub const DELAY_SAMPLES: usize = FRAME;

/// 16-bit full scale: the scale RNNoise was trained on.
const SCALE: f32 = 32_768.0;

pub struct Denoiser {
    state: Box<DenoiseState<'static>>,
    input: [f32; FRAME],
    output: [f32; FRAME],
}

impl Default for Denoiser {
    fn default() -> Self {
        Self::new()
    }
}

impl Denoiser {
    pub fn new() -> Self {
        Denoiser {
            state: DenoiseState::new(),
            input: [0.0; FRAME],
            output: [0.0; FRAME],
        }
    }

    /// Denoises one frame in place (delayed by `DELAY_SAMPLES`); returns the
    /// probability, 0 to 1, that the frame holds a voice.
    pub fn process(&mut self, frame: &mut [f32; FRAME]) -> f32 {
        for (scaled, s) in self.input.iter_mut().zip(frame.iter()) {
            // Beyond 16-bit full scale the network has never been; a clipped
            // microphone is at most full scale anyway.
            *scaled = (s * SCALE).clamp(-SCALE, SCALE - 1.0);
        }
        let voice = self.state.process_frame(&mut self.output, &self.input);
        for (s, out) in frame.iter_mut().zip(self.output.iter()) {
            *s = out / SCALE;
        }
        voice
    }
}

#[cfg(test)]
mod tests {
    use super::super::signals::{noise, rms_db, syllables};
    use super::*;

    fn run(denoiser: &mut Denoiser, input: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut out = Vec::with_capacity(input.len());
        let mut voice = Vec::new();
        for block in input.chunks_exact(FRAME) {
            let mut frame: [f32; FRAME] = block.try_into().unwrap();
            voice.push(denoiser.process(&mut frame));
            out.extend_from_slice(&frame);
        }
        (out, voice)
    }

    #[test]
    fn steady_noise_alone_is_lowered_by_more_than_15_db() {
        // Brown-ish noise (white, leakily integrated), like a fan or a room.
        let mut sum = 0.0;
        let input: Vec<f32> = noise(0.05, 48_000 * 4, 7)
            .iter()
            .map(|x| {
                sum = sum * 0.995 + x;
                sum * 0.1
            })
            .collect();
        let (out, _) = run(&mut Denoiser::new(), &input);
        let (before, after) = (rms_db(&input[96_000..]), rms_db(&out[96_000..]));
        assert!(after < before - 15.0, "{before:.1} dB -> {after:.1} dB");
    }

    #[test]
    fn output_lags_input_by_one_frame() {
        // Voiced syllables without noise pass nearly unchanged: the lag that
        // lines them up best is the stated delay.
        let input = syllables(0.1, 48_000 * 3);
        let (out, _) = run(&mut Denoiser::new(), &input);
        let best = (0..2 * FRAME)
            .max_by(|&a, &b| {
                let corr = |lag: usize| -> f64 {
                    (48_000..input.len() - 2 * FRAME)
                        .map(|i| input[i] as f64 * out[i + lag] as f64)
                        .sum()
                };
                corr(a).total_cmp(&corr(b))
            })
            .unwrap();
        assert_eq!(best, DELAY_SAMPLES);
    }
}
