//! Encoder overload: when encoding a frame takes longer than the time between
//! frames, the stream falls behind and frames pile up. The governor steps the
//! work down (frame rate first, since viewers forgive that more than a blurry
//! picture, then size) and back up once load has fallen. Pure: the video
//! thread feeds it one sample a second and applies what it says.
//!
//! Two signals count as overload: the frame work (scaling plus encoding)
//! filling the frame interval, and the capture queue losing frames. The
//! second catches what timing alone misses: a machine so busy that the
//! video thread waits for the CPU between frames.

/// One rung of the ladder: a share of the capture frame rate and a scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// Keep `keep` of every `of` frames.
    pub keep: u32,
    pub of: u32,
    /// Picture size relative to the capture size.
    pub scale: f64,
}

const LADDER: [Level; 5] = [
    Level {
        keep: 1,
        of: 1,
        scale: 1.0,
    },
    Level {
        keep: 2,
        of: 3,
        scale: 1.0,
    },
    Level {
        keep: 1,
        of: 2,
        scale: 1.0,
    },
    Level {
        keep: 1,
        of: 2,
        scale: 0.75,
    },
    Level {
        keep: 1,
        of: 2,
        scale: 0.5,
    },
];

/// Seconds over budget before stepping down: one slow second is a hiccup.
const DOWN_AFTER: u32 = 2;
/// Seconds of headroom before stepping up: cautious, so it does not flap.
const UP_AFTER: u32 = 10;
/// Stepping up needs the encoder to fit in this share of the next level's
/// frame interval (a level up costs up to 1.8× the work).
const UP_HEADROOM: f64 = 0.4;
/// Encoding that fills more than this share of the frame interval is
/// overload already: with no slack, every slow frame costs a captured one.
const DOWN_LOAD: f64 = 0.9;
/// Capture frames lost in one second that still count as a hiccup.
const LOST_TOLERANCE: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Down(Level),
    Up(Level),
}

#[derive(Debug)]
pub struct OverloadGovernor {
    capture_fps: f64,
    level: usize,
    over: u32,
    under: u32,
}

impl OverloadGovernor {
    pub fn new(capture_fps: u32) -> Self {
        OverloadGovernor {
            capture_fps: capture_fps.max(1) as f64,
            level: 0,
            over: 0,
            under: 0,
        }
    }

    /// A governor that has not yet seen the capture rate: stays at full rate.
    pub fn unknown_rate() -> Self {
        OverloadGovernor {
            capture_fps: 0.0,
            ..Self::new(1)
        }
    }

    pub fn knows_capture_rate(&self) -> bool {
        self.capture_fps > 0.0
    }

    pub fn level(&self) -> Level {
        LADDER[self.level]
    }

    fn interval_ms(&self, level: Level) -> f64 {
        1000.0 / (self.capture_fps * level.keep as f64 / level.of as f64)
    }

    /// Feeds one second's mean work per frame and the capture frames lost
    /// meanwhile; says when to change level.
    pub fn sample(&mut self, mean_encode_ms: f64, captures_lost: u32) -> Option<Step> {
        let current = self.level();
        if mean_encode_ms > DOWN_LOAD * self.interval_ms(current) || captures_lost > LOST_TOLERANCE
        {
            self.over += 1;
            self.under = 0;
        } else if self.level > 0 {
            // Encode time scales with pixels and frames: predict the level above.
            let above = LADDER[self.level - 1];
            let predicted = mean_encode_ms * (above.scale / current.scale).powi(2);
            if predicted < UP_HEADROOM * self.interval_ms(above) && captures_lost == 0 {
                self.under += 1;
            } else {
                self.under = 0;
            }
            self.over = 0;
        } else {
            self.over = 0;
        }
        if self.over >= DOWN_AFTER && self.level + 1 < LADDER.len() {
            self.level += 1;
            self.over = 0;
            return Some(Step::Down(self.level()));
        }
        if self.under >= UP_AFTER {
            self.level -= 1;
            self.under = 0;
            return Some(Step::Up(self.level()));
        }
        None
    }
}

/// Decides frame by frame which frames a level keeps (evenly spaced).
#[derive(Debug, Default)]
pub struct FrameGate {
    count: u64,
}

impl FrameGate {
    pub fn keep(&mut self, level: Level) -> bool {
        let n = self.count;
        self.count += 1;
        // Frame n is kept when the running share crosses a whole number.
        (n * level.keep as u64) / level.of as u64 != ((n + 1) * level.keep as u64) / level.of as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustained_overload_steps_down_frame_rate_first_then_size() {
        let mut g = OverloadGovernor::new(30);
        assert_eq!(g.sample(40.0, 0), None, "one slow second is a hiccup");
        assert_eq!(g.sample(40.0, 0), Some(Step::Down(LADDER[1])));
        assert_eq!(g.level().scale, 1.0, "frame rate goes first");
        // 20 fps: 50 ms budget. Still over at 60 ms.
        g.sample(60.0, 0);
        assert_eq!(g.sample(60.0, 0), Some(Step::Down(LADDER[2])));
        g.sample(80.0, 0);
        assert_eq!(g.sample(80.0, 0), Some(Step::Down(LADDER[3])));
        assert!(g.level().scale < 1.0, "then size");
        g.sample(200.0, 0);
        g.sample(200.0, 0);
        g.sample(200.0, 0);
        g.sample(200.0, 0);
        assert_eq!(g.level(), LADDER[4], "the ladder ends");
    }

    #[test]
    fn load_falling_steps_back_up_without_flapping() {
        let mut g = OverloadGovernor::new(30);
        g.sample(40.0, 0);
        g.sample(40.0, 0);
        assert_eq!(g.level(), LADDER[1]);
        // 8 ms at 20 fps: the full rate (33 ms budget) would fit easily.
        for _ in 0..UP_AFTER - 1 {
            assert_eq!(g.sample(8.0, 0), None);
        }
        assert_eq!(g.sample(8.0, 0), Some(Step::Up(LADDER[0])));
        // Just under budget at the top level is not overload.
        for _ in 0..20 {
            assert_eq!(g.sample(30.0, 0), None);
        }
    }

    #[test]
    fn a_capture_queue_losing_frames_is_overload_even_when_encoding_looks_fast() {
        let mut g = OverloadGovernor::new(30);
        assert_eq!(g.sample(10.0, 1), None, "one lost frame is a hiccup");
        g.sample(10.0, 12);
        assert_eq!(g.sample(10.0, 12), Some(Step::Down(LADDER[1])));
        // Fast again but still losing frames: no step back up.
        for _ in 0..UP_AFTER {
            assert_ne!(g.sample(5.0, 1), Some(Step::Up(LADDER[0])));
        }
    }

    #[test]
    fn the_gate_keeps_evenly_spaced_frames() {
        let mut gate = FrameGate::default();
        let kept: Vec<bool> = (0..6).map(|_| gate.keep(LADDER[1])).collect();
        assert_eq!(kept.iter().filter(|k| **k).count(), 4, "{kept:?}");
        let mut gate = FrameGate::default();
        let kept: Vec<bool> = (0..6).map(|_| gate.keep(LADDER[2])).collect();
        assert_eq!(kept, vec![false, true, false, true, false, true]);
    }
}
