//! The built-in video source and measuring instrument: moving colour bars, the
//! stamp on top, and an all-white frame at every whole second of the media
//! clock (when the test tone beeps). The busy variant adds fresh grain to the
//! lower half of every frame: bars alone cost a tenth of a typical bitrate,
//! grain makes the encoder spend what it is given, as a camera does (rate
//! control and congestion tests need that).

use std::sync::Arc;

use super::stamp::{self, Stamp};
use super::{SourceError, VideoSource};
use crate::clock::MediaClock;
use crate::colour::Colour;
use crate::media::VideoFrame;

/// 75 % colour bars (R'G'B'): white, yellow, cyan, green, magenta, red,
/// blue, black; drawn in the colour space of the picture's size.
pub const BARS_RGB: [[f64; 3]; 8] = [
    [0.75, 0.75, 0.75],
    [0.75, 0.75, 0.0],
    [0.0, 0.75, 0.75],
    [0.0, 0.75, 0.0],
    [0.75, 0.0, 0.75],
    [0.75, 0.0, 0.0],
    [0.0, 0.0, 0.75],
    [0.0, 0.0, 0.0],
];
const FLASH_LUMA: u8 = 235;
/// Pixels the bars move per frame.
const SPEED: u64 = 4;
/// Grain amplitude in luma steps either side: enough to cost bits at a
/// camera-like quantiser, little enough that rate control can still meet a
/// low target by quantising it away.
const GRAIN: u8 = 12;

pub struct TestPattern {
    width: u32,
    height: u32,
    fps: u32,
    clock: MediaClock,
    next_frame: u64,
    busy: bool,
    bars: [(u8, u8, u8); 8],
}

impl TestPattern {
    /// Frames are numbered from the clock's epoch: frame `n` is due at `n / fps`
    /// seconds, so the flash (n % fps == 0) meets the tone's beep exactly.
    pub fn new(width: u32, height: u32, fps: u32, clock: MediaClock) -> Self {
        let next_frame = (clock.now_us() * fps as u64).div_ceil(1_000_000);
        TestPattern {
            width: width & !1,
            height: height & !1,
            fps,
            clock,
            next_frame,
            busy: false,
            bars: BARS_RGB.map(|rgb| Colour::for_size(width, height).rgb_to_yuv(rgb)),
        }
    }

    /// The same pattern with fresh grain on its lower half in every frame.
    pub fn busy(width: u32, height: u32, fps: u32, clock: MediaClock) -> Self {
        TestPattern {
            busy: true,
            ..Self::new(width, height, fps, clock)
        }
    }

    pub fn frame_time_us(&self, n: u64) -> u64 {
        n * 1_000_000 / self.fps as u64
    }

    /// Draws frame `n` as captured at `capture_us`.
    pub fn render(&self, n: u64, capture_us: u64) -> VideoFrame {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = vec![0u8; VideoFrame::i420_len(self.width, self.height)];
        let (y, rest) = data.split_at_mut(w * h);
        let (u, v) = rest.split_at_mut(rest.len() / 2);
        let cw = w.div_ceil(2);
        let flash = n.is_multiple_of(self.fps as u64);

        // Every row of the picture is the same, so draw one row per plane and copy it.
        let offset = (n * SPEED) as usize % w;
        let bar_at = |x: usize| self.bars[((x + offset) % w) * self.bars.len() / w];
        let luma_row: Vec<u8> = (0..w)
            .map(|x| if flash { FLASH_LUMA } else { bar_at(x).0 })
            .collect();
        let u_row: Vec<u8> = (0..cw)
            .map(|cx| if flash { 128 } else { bar_at(cx * 2).1 })
            .collect();
        let v_row: Vec<u8> = (0..cw)
            .map(|cx| if flash { 128 } else { bar_at(cx * 2).2 })
            .collect();
        y.chunks_exact_mut(w)
            .for_each(|r| r.copy_from_slice(&luma_row));
        u.chunks_exact_mut(cw)
            .for_each(|r| r.copy_from_slice(&u_row));
        v.chunks_exact_mut(cw)
            .for_each(|r| r.copy_from_slice(&v_row));
        if self.busy && !flash {
            add_grain(&mut y[w * (h / 2)..], n);
        }

        let time_ms = self.clock.unix_ms_at(capture_us) as u32;
        stamp::draw(
            y,
            u,
            v,
            self.width,
            Stamp {
                frame: n as u32,
                time_ms,
            },
        );

        VideoFrame {
            width: self.width,
            height: self.height,
            data: Arc::new(data),
            capture_us,
        }
    }
}

/// Adds fresh noise (different in every frame, so no motion search can
/// predict it) of ±GRAIN to the luma, from a xorshift generator.
fn add_grain(luma: &mut [u8], frame: u64) {
    let mut state = frame.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in luma.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for (pixel, byte) in chunk.iter_mut().zip(state.to_le_bytes()) {
            let offset = (byte % (2 * GRAIN + 1)) as i16 - GRAIN as i16;
            *pixel = (*pixel as i16 + offset).clamp(16, 235) as u8;
        }
    }
}

impl VideoSource for TestPattern {
    fn describe(&self) -> String {
        format!(
            "{}test pattern {}x{} at {} fps",
            if self.busy { "busy " } else { "" },
            self.width,
            self.height,
            self.fps
        )
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let n = self.next_frame;
        self.next_frame += 1;
        let due = self.frame_time_us(n);
        self.clock.sleep_until(due);
        Ok(self.render(n, due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_stamp_and_flash_once_a_second() {
        let clock = MediaClock::start();
        let pattern = TestPattern::new(640, 360, 30, clock);
        for n in [29u64, 30, 31] {
            let frame = pattern.render(n, pattern.frame_time_us(n));
            let (y, _, _) = frame.planes();
            let read = stamp::read(y, 640).expect("stamp readable");
            assert_eq!(read.frame, n as u32);
            let below_stamp = &y[stamp::height(640) as usize * 640..];
            let mean =
                below_stamp.iter().map(|&p| p as u64).sum::<u64>() / below_stamp.len() as u64;
            assert_eq!(mean == FLASH_LUMA as u64, n == 30, "frame {n} mean {mean}");
        }
    }

    #[test]
    fn the_busy_pattern_has_fresh_grain_below_and_a_clean_stamp() {
        // One clock for both patterns: the stamp carries wall time, and two
        // clocks started a millisecond apart would stamp different times.
        let clock = MediaClock::start();
        let pattern = TestPattern::busy(320, 180, 30, clock);
        let (a, b) = (pattern.render(1, 0), pattern.render(2, 0));
        let (ya, yb) = (a.planes().0, b.planes().0);
        assert_eq!(stamp::read(ya, 320).map(|s| s.frame), Some(1));
        let lower = 90 * 320;
        let differing = ya[lower..]
            .iter()
            .zip(&yb[lower..])
            .filter(|(p, q)| p != q)
            .count();
        assert!(differing > (ya.len() - lower) * 3 / 4, "{differing}");
        let plain = TestPattern::new(320, 180, 30, clock).render(1, 0);
        assert_eq!(
            ya[..lower],
            plain.planes().0[..lower],
            "upper half untouched"
        );
    }

    #[test]
    fn bars_are_drawn_in_the_colour_space_of_the_size() {
        let clock = MediaClock::start();
        // Yellow, the second bar: BT.601 and BT.709 differ most in luma there.
        for (w, h, yellow) in [(640, 360, (162, 44, 142)), (1280, 720, (168, 44, 136))] {
            let frame = TestPattern::new(w, h, 30, clock).render(1, 0);
            let (y, u, v) = frame.planes();
            let (x, row) = (w as usize * 3 / 16 - SPEED as usize, h as usize / 2);
            let (cw, crow) = (w as usize / 2, row / 2);
            let got = (
                y[row * w as usize + x],
                u[crow * cw + x / 2],
                v[crow * cw + x / 2],
            );
            assert_eq!(got, yellow, "{w}x{h}");
        }
    }

    #[test]
    fn bars_move_between_frames() {
        let pattern = TestPattern::new(320, 180, 30, MediaClock::start());
        let a = pattern.render(1, 0);
        let b = pattern.render(2, 0);
        let row = stamp::height(320) as usize * 320;
        assert_ne!(a.planes().0[row..row + 320], b.planes().0[row..row + 320]);
    }
}
