//! The built-in audio source: a quiet 440 Hz tone with a loud 1 kHz beep for
//! the first 100 ms of every whole second of the media clock, in step with the
//! test pattern's white flash.

use std::f32::consts::TAU;
use std::sync::Arc;

use super::{AudioSource, SourceError};
use crate::clock::MediaClock;
use crate::media::AudioChunk;

pub const RATE: u32 = 48_000;
pub const CHANNELS: u16 = 2;
pub const BEEP_HZ: f32 = 1000.0;
pub const BEEP_AMPLITUDE: f32 = 0.5;
pub const BEEP_SAMPLES: u64 = RATE as u64 / 10;
pub const TONE_HZ: f32 = 440.0;
pub const TONE_AMPLITUDE: f32 = 0.1;
/// 10 ms, the period a sound card typically delivers.
const CHUNK_FRAMES: u64 = RATE as u64 / 100;

pub struct TestTone {
    clock: MediaClock,
    next_sample: u64,
}

impl TestTone {
    /// Sample `k` is due at `k / RATE` seconds on the clock, like the pattern's frames.
    pub fn new(clock: MediaClock) -> Self {
        let now = (clock.now_us() * RATE as u64).div_ceil(1_000_000);
        TestTone {
            clock,
            next_sample: now.div_ceil(CHUNK_FRAMES) * CHUNK_FRAMES,
        }
    }

    pub fn sample(k: u64) -> f32 {
        let t = (k % RATE as u64) as f32 / RATE as f32;
        if k % (RATE as u64) < BEEP_SAMPLES {
            BEEP_AMPLITUDE * (TAU * BEEP_HZ * t).sin()
        } else {
            TONE_AMPLITUDE * (TAU * TONE_HZ * t).sin()
        }
    }

    fn sample_time_us(k: u64) -> u64 {
        k * 1_000_000 / RATE as u64
    }
}

impl AudioSource for TestTone {
    fn describe(&self) -> String {
        "test tone (440 Hz, 1 kHz beep every second)".into()
    }

    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError> {
        let first = self.next_sample;
        self.next_sample += CHUNK_FRAMES;
        // Like a sound card, a chunk is delivered once its last sample is captured.
        self.clock
            .sleep_until(Self::sample_time_us(self.next_sample));
        let mut samples = Vec::with_capacity((CHUNK_FRAMES * CHANNELS as u64) as usize);
        for k in first..first + CHUNK_FRAMES {
            let s = Self::sample(k);
            samples.extend(std::iter::repeat_n(s, CHANNELS as usize));
        }
        Ok(AudioChunk {
            rate: RATE,
            channels: CHANNELS,
            samples: Arc::new(samples),
            capture_us: Self::sample_time_us(first),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beeps_loud_at_each_second_and_hums_quietly_between() {
        let peak = |range: std::ops::Range<u64>| {
            range.map(|k| TestTone::sample(k).abs()).fold(0.0, f32::max)
        };
        assert!(peak(0..BEEP_SAMPLES) > 0.49);
        assert!(peak(RATE as u64..RATE as u64 + BEEP_SAMPLES) > 0.49);
        let between = peak(BEEP_SAMPLES..RATE as u64);
        assert!(between > 0.09 && between <= TONE_AMPLITUDE);
    }
}
