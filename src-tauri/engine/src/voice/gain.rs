//! Slow automatic gain: brings speech towards `TARGET_DBFS` RMS. It listens
//! only while someone speaks (a level gate above the noise floor, and
//! RNNoise's voice probability when it ran), holds its gain through pauses
//! so noise is never pumped up, and moves at most `SLEW_DB_PER_S`, ramped
//! sample by sample, so it is heard as a level, not as an effect.
//!
//! The level gate holds with RNNoise too: a fan's hum looks like a voice's
//! pitch to it (it keeps the hum and calls it a voice), and alone in a quiet
//! room that hum would have been raised by up to `MAX_GAIN_DB`. A steady
//! sound never stands above its own floor.

use super::{db_to_amplitude, power_to_db, FRAME, RATE};

/// Speech RMS the gain aims at (measured over the frames that hold a voice):
/// loud enough beside game and music streams, with 16 dB of headroom below
/// the limiter's sample ceiling for the peaks of speech.
pub const TARGET_DBFS: f32 = -18.0;
/// A quiet microphone is raised by up to this much...
pub const MAX_GAIN_DB: f32 = 24.0;
/// ...and a hot one lowered by up to this much.
pub const MIN_GAIN_DB: f32 = -12.0;
/// How fast the gain may move.
pub const SLEW_DB_PER_S: f32 = 10.0;
/// The speech level is an average over about this long of speech.
const LEVEL_SECONDS: f32 = 1.0;
/// Frames quieter than this are never speech.
const QUIET_DBFS: f32 = -60.0;
/// Speech is this far above the noise floor...
const GATE_ABOVE_FLOOR_DB: f32 = 10.0;
/// ...the quietest frame of this long: speech dips between syllables and
/// words several times a second, a steady sound never does. Short, because
/// a steady sound that starts after silence counts as speech until then.
const FLOOR_SECONDS: f32 = 0.5;
const FLOOR_FRAMES: usize = (FLOOR_SECONDS * RATE as f32) as usize / FRAME;
/// RNNoise's probability above which a frame holds a voice.
const VOICE_PROBABILITY: f32 = 0.5;

const FRAME_S: f32 = FRAME as f32 / RATE as f32;

pub struct AutoGain {
    gain_db: f32,
    /// Mean square of the speech frames heard so far (power, not dB, so a
    /// loud syllable weighs as it sounds).
    speech_power: f64,
    speech_frames: u32,
    recent_levels: std::collections::VecDeque<f32>,
}

impl Default for AutoGain {
    fn default() -> Self {
        Self::new()
    }
}

impl AutoGain {
    pub fn new() -> Self {
        AutoGain {
            gain_db: 0.0,
            speech_power: 0.0,
            speech_frames: 0,
            recent_levels: std::collections::VecDeque::with_capacity(FLOOR_FRAMES),
        }
    }

    /// The gain now, in dB.
    pub fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// Applies the gain to one frame in place. `voice` is RNNoise's
    /// probability for this frame when the denoiser ran.
    pub fn process(&mut self, frame: &mut [f32; FRAME], voice: Option<f32>) {
        let power = frame.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / FRAME as f64;
        let level_db = power_to_db(power);
        let floor = self.track_floor(level_db);
        let speech = level_db > QUIET_DBFS
            && level_db > floor + GATE_ABOVE_FLOOR_DB
            && voice.is_none_or(|p| p >= VOICE_PROBABILITY);
        if speech {
            // A plain mean at first (the first words set the level at once),
            // then an exponential average over LEVEL_SECONDS.
            self.speech_frames = self.speech_frames.saturating_add(1);
            let weight = (1.0 / self.speech_frames as f64).max((FRAME_S / LEVEL_SECONDS) as f64);
            self.speech_power += (power - self.speech_power) * weight;
        }
        let before = self.gain_db;
        // Only while someone speaks: a pause, or a steady sound, holds it.
        if speech {
            let wanted =
                (TARGET_DBFS - power_to_db(self.speech_power)).clamp(MIN_GAIN_DB, MAX_GAIN_DB);
            let step = SLEW_DB_PER_S * FRAME_S;
            self.gain_db += (wanted - self.gain_db).clamp(-step, step);
        }
        // A ramp across the frame from the last gain to the new one: no step
        // at frame edges.
        let (from, to) = (db_to_amplitude(before), db_to_amplitude(self.gain_db));
        let slope = (to - from) / FRAME as f32;
        for (i, s) in frame.iter_mut().enumerate() {
            *s *= from + slope * (i + 1) as f32;
        }
    }

    /// The quietest frame of the last `FLOOR_SECONDS`, this one included.
    fn track_floor(&mut self, level_db: f32) -> f32 {
        if self.recent_levels.len() == FLOOR_FRAMES {
            self.recent_levels.pop_front();
        }
        self.recent_levels.push_back(level_db);
        self.recent_levels.iter().copied().fold(f32::MAX, f32::min)
    }
}

#[cfg(test)]
mod tests {
    use super::super::signals::{noise, rms_db, syllables};
    use super::*;

    fn run(gain: &mut AutoGain, input: &[f32], voice: Option<f32>) -> Vec<f32> {
        let mut out = Vec::with_capacity(input.len());
        for block in input.chunks_exact(FRAME) {
            let mut frame: [f32; FRAME] = block.try_into().unwrap();
            gain.process(&mut frame, voice);
            out.extend_from_slice(&frame);
        }
        out
    }

    /// RMS of the samples where the input is voiced (non-zero).
    fn speech_db(input: &[f32], output: &[f32]) -> f32 {
        let voiced: Vec<f32> = input
            .iter()
            .zip(output)
            .filter(|(i, _)| **i != 0.0)
            .map(|(_, o)| *o)
            .collect();
        rms_db(&voiced)
    }

    #[test]
    fn quiet_and_loud_speech_converge_to_the_target_within_a_db() {
        for start_db in [-40.0, -30.0, -18.0, -8.0] {
            let rms = db_to_amplitude(start_db);
            let input = syllables(rms, 48_000 * 8);
            let mut gain = AutoGain::new();
            let out = run(&mut gain, &input, None);
            let tail = 48_000 * 5;
            let level = speech_db(&input[tail..], &out[tail..]);
            assert!(
                (level - TARGET_DBFS).abs() < 1.0,
                "{start_db} dBFS speech ends at {level:.2} dBFS (gain {:.1} dB)",
                gain.gain_db()
            );
        }
    }

    #[test]
    fn the_voice_probability_decides_when_it_listens() {
        let speech = syllables(db_to_amplitude(-28.0), 48_000 * 6);
        let mut told = AutoGain::new();
        let out = run(&mut told, &speech, Some(0.9));
        let level = speech_db(&speech[48_000 * 4..], &out[48_000 * 4..]);
        assert!((level - TARGET_DBFS).abs() < 1.0, "{level}");
        let mut not_voice = AutoGain::new();
        run(&mut not_voice, &speech, Some(0.1));
        assert_eq!(not_voice.gain_db(), 0.0);
    }

    #[test]
    fn a_steady_hum_called_a_voice_is_not_raised() {
        // What RNNoise leaves of a fan in a quiet room: a 100 Hz hum at
        // -45 dBFS that it calls a voice. Six seconds of it: no gain.
        let hum: Vec<f32> = super::super::signals::sine(100.0, db_to_amplitude(-42.0), 48_000 * 6)
            .iter()
            .zip(noise(db_to_amplitude(-60.0), 48_000 * 6, 4))
            .map(|(h, n)| h + n)
            .collect();
        let mut gain = AutoGain::new();
        run(&mut gain, &hum, Some(0.9));
        assert_eq!(gain.gain_db(), 0.0);
        // Starting after a second of silence it counts as speech until the
        // floor has caught up: at most FLOOR_SECONDS of slew.
        let mut gain = AutoGain::new();
        run(&mut gain, &vec![0.0; 48_000], Some(0.9));
        run(&mut gain, &hum, Some(0.9));
        assert!(
            gain.gain_db() <= SLEW_DB_PER_S * FLOOR_SECONDS + 0.1,
            "{}",
            gain.gain_db()
        );
    }

    #[test]
    fn pauses_hold_the_gain_so_noise_is_not_pumped_up() {
        let speech = syllables(db_to_amplitude(-24.0), 48_000 * 4);
        let mut gain = AutoGain::new();
        run(&mut gain, &speech, None);
        let held = gain.gain_db();
        assert!(held > 4.0, "{held}");
        // Three seconds of quiet noise: the gain does not move.
        run(&mut gain, &noise(0.001, 48_000 * 3, 9), None);
        assert_eq!(gain.gain_db(), held);
    }

    #[test]
    fn the_gain_moves_without_steps_at_frame_edges() {
        // On a constant input every change is the gain's own. Stepped once a
        // frame, a 0.1 dB move would jump 1.2 % at the edge; ramped, no two
        // neighbouring samples differ by more than 0.01 %. (A near-silent
        // frame every 0.2 s, as between syllables, keeps the noise floor
        // low so the steady level counts as speech.)
        let mut gain = AutoGain::new();
        let input: Vec<f32> = (0..48_000 * 3)
            .map(|i| if i % 9_600 < FRAME { 0.000_05 } else { 0.01 })
            .collect();
        let out = run(&mut gain, &input, Some(1.0));
        assert!(gain.gain_db() > 20.0, "{}", gain.gain_db());
        let worst = (1..out.len())
            .filter(|&i| input[i] == 0.01 && input[i - 1] == 0.01)
            .map(|i| (out[i] - out[i - 1]).abs() / out[i - 1])
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{worst}");
    }
}
