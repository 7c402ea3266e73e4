//! Audio meter values: peak and RMS of the loudest channel over a window,
//! in dBFS, for the UI's meters and `onair live --json`.

use crate::media::AudioChunk;

const FLOOR_DBFS: f32 = -100.0;

pub fn to_dbfs(amplitude: f32) -> f32 {
    if amplitude <= 0.0 {
        FLOOR_DBFS
    } else {
        (20.0 * amplitude.log10()).max(FLOOR_DBFS)
    }
}

pub struct LevelMeter {
    window_frames: usize,
    frames: usize,
    peak: [f32; 2],
    sum_squares: [f64; 2],
}

impl LevelMeter {
    pub fn new(window_frames: usize) -> Self {
        LevelMeter {
            window_frames,
            frames: 0,
            peak: [0.0; 2],
            sum_squares: [0.0; 2],
        }
    }

    /// Adds a chunk; returns (peak, RMS) in dBFS each time a window is full.
    pub fn add(&mut self, chunk: &AudioChunk) -> Option<(f32, f32)> {
        let channels = chunk.channels.max(1) as usize;
        for frame in chunk.samples.chunks_exact(channels) {
            for (c, &s) in frame.iter().take(2).enumerate() {
                self.peak[c] = self.peak[c].max(s.abs());
                self.sum_squares[c] += (s as f64) * (s as f64);
            }
        }
        self.frames += chunk.frames();
        if self.frames < self.window_frames {
            return None;
        }
        let peak = self.peak[0].max(self.peak[1]);
        let rms = self
            .sum_squares
            .iter()
            .map(|sum| (sum / self.frames as f64).sqrt() as f32)
            .fold(0.0, f32::max);
        *self = LevelMeter::new(self.window_frames);
        Some((to_dbfs(peak), to_dbfs(rms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_half_scale_sine_reads_minus_6_peak_and_minus_9_rms() {
        let samples: Vec<f32> = (0..2400)
            .flat_map(|i| {
                let s = 0.5 * (std::f32::consts::TAU * 440.0 * i as f32 / 48_000.0).sin();
                [s, s]
            })
            .collect();
        let chunk = AudioChunk {
            rate: 48_000,
            channels: 2,
            samples: Arc::new(samples),
            capture_us: 0,
        };
        let mut meter = LevelMeter::new(2400);
        let (peak, rms) = meter.add(&chunk).expect("a full window");
        assert!((peak - -6.02).abs() < 0.05, "{peak}");
        assert!((rms - -9.03).abs() < 0.05, "{rms}");
    }

    #[test]
    fn silence_is_the_floor() {
        assert_eq!(to_dbfs(0.0), FLOOR_DBFS);
    }
}
