//! Where the two pictures of a layout go: pure rectangles, so every layout
//! is tested without a pixel. Both pictures arrive at the stream's size;
//! every rectangle has even coordinates and sides so that the half-size
//! chroma planes of I420 land exactly under the luma.

use serde::{Deserialize, Serialize};

/// How the main picture (the screen, `--video`) and the overlay (the
/// camera, `--overlay`) share the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// The overlay alone.
    Camera,
    /// The main picture alone.
    Screen,
    /// The main picture with the overlay in the bottom-right corner.
    PipBr,
    PipBl,
    PipTr,
    PipTl,
    /// Both side by side, main on the left.
    Side,
}

impl Layout {
    pub const ALL: [Layout; 7] = [
        Layout::Camera,
        Layout::Screen,
        Layout::PipBr,
        Layout::PipBl,
        Layout::PipTr,
        Layout::PipTl,
        Layout::Side,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Camera => "camera",
            Layout::Screen => "screen",
            Layout::PipBr => "pip-br",
            Layout::PipBl => "pip-bl",
            Layout::PipTr => "pip-tr",
            Layout::PipTl => "pip-tl",
            Layout::Side => "side",
        }
    }

    pub fn parse(s: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Index for an atomic; `from_index` undoes it.
    pub(crate) fn index(self) -> u8 {
        Layout::ALL.iter().position(|l| *l == self).expect("listed") as u8
    }

    pub(crate) fn from_index(i: u8) -> Layout {
        Layout::ALL[i as usize % Layout::ALL.len()]
    }
}

/// An overlay without a layout is the camera in the bottom-right corner.
impl Default for Layout {
    fn default() -> Self {
        Layout::PipBr
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn full(width: u32, height: u32) -> Rect {
        Rect {
            x: 0,
            y: 0,
            width,
            height,
        }
    }
}

/// Where each picture goes; `None` is not drawn. The overlay is drawn last,
/// over the main picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub main: Option<Rect>,
    pub overlay: Option<Rect>,
}

/// The picture-in-picture's width as a share of the stream's, unless asked otherwise.
pub const DEFAULT_PIP_PERCENT: u32 = 25;
/// Smaller is unreadable at 720p, larger hides too much of the screen.
pub const PIP_PERCENT_RANGE: std::ops::RangeInclusive<u32> = 10..=50;

fn even_down(v: u64) -> u32 {
    (v as u32) & !1
}

/// Placement of both pictures in a `width`x`height` stream. The corner
/// picture keeps the stream's aspect ratio (the overlay arrives at the
/// stream's size) and sits a small margin (1/30 of the height) from the
/// edges; side by side, each picture is letter-boxed in its half.
pub fn place(layout: Layout, width: u32, height: u32, pip_percent: u32) -> Placement {
    let full = Rect::full(width, height);
    let pip = |right: bool, bottom: bool| {
        let percent = pip_percent.clamp(*PIP_PERCENT_RANGE.start(), *PIP_PERCENT_RANGE.end());
        let w = even_down(width as u64 * percent as u64 / 100).max(2);
        let h = even_down(w as u64 * height as u64 / width as u64).max(2);
        let margin = even_down(height as u64 / 30);
        let x = if right {
            width.saturating_sub(w + margin) & !1
        } else {
            margin
        };
        let y = if bottom {
            height.saturating_sub(h + margin) & !1
        } else {
            margin
        };
        Placement {
            main: Some(full),
            overlay: Some(Rect {
                x,
                y,
                width: w,
                height: h,
            }),
        }
    };
    match layout {
        Layout::Camera => Placement {
            main: None,
            overlay: Some(full),
        },
        Layout::Screen => Placement {
            main: Some(full),
            overlay: None,
        },
        Layout::PipBr => pip(true, true),
        Layout::PipBl => pip(false, true),
        Layout::PipTr => pip(true, false),
        Layout::PipTl => pip(false, false),
        Layout::Side => {
            let half = even_down(width as u64 / 2);
            let left = Rect {
                x: 0,
                y: 0,
                width: half,
                height,
            };
            let right = Rect {
                x: half,
                y: 0,
                width: width - half,
                height,
            };
            Placement {
                main: Some(fit(width, height, left)),
                overlay: Some(fit(width, height, right)),
            }
        }
    }
}

/// The largest rectangle with the aspect ratio of `src_w`x`src_h` inside
/// `area`, centred: a letter-box (bars above and below) or pillar-box (bars
/// at the sides), never a stretch. Even coordinates and sides.
pub fn fit(src_w: u32, src_h: u32, area: Rect) -> Rect {
    let (sw, sh) = (src_w.max(1) as u64, src_h.max(1) as u64);
    let (aw, ah) = (area.width as u64, area.height as u64);
    let (w, h) = if sw * ah > aw * sh {
        // Wider than the area: full width, bars above and below.
        (aw, (aw * sh + sw / 2) / sw)
    } else {
        ((ah * sw + sh / 2) / sh, ah)
    };
    let (w, h) = (even_down(w.min(aw)).max(2), even_down(h.min(ah)).max(2));
    Rect {
        x: area.x + ((area.width.saturating_sub(w) / 2) & !1),
        y: area.y + ((area.height.saturating_sub(h) / 2) & !1),
        width: w.min(area.width.max(2)),
        height: h.min(area.height.max(2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(r: Rect, w: u32, h: u32) -> bool {
        r.x + r.width <= w && r.y + r.height <= h
    }

    fn even(r: Rect) -> bool {
        [r.x, r.y, r.width, r.height].iter().all(|v| v % 2 == 0)
    }

    #[test]
    fn names_round_trip_and_an_overlay_alone_means_bottom_right() {
        for layout in Layout::ALL {
            assert_eq!(Layout::parse(layout.as_str()), Some(layout));
            assert_eq!(Layout::from_index(layout.index()), layout);
            let json = serde_json::to_string(&layout).unwrap();
            assert_eq!(json, format!("\"{}\"", layout.as_str()));
        }
        assert_eq!(Layout::parse("pip"), None);
        assert_eq!(Layout::default(), Layout::PipBr);
    }

    #[test]
    fn single_pictures_fill_the_stream() {
        let full = Rect::full(1280, 720);
        assert_eq!(
            place(Layout::Camera, 1280, 720, 25),
            Placement {
                main: None,
                overlay: Some(full)
            }
        );
        assert_eq!(
            place(Layout::Screen, 1280, 720, 25),
            Placement {
                main: Some(full),
                overlay: None
            }
        );
    }

    #[test]
    fn corners_keep_the_aspect_ratio_and_a_margin() {
        let at = |layout| place(layout, 1280, 720, 25).overlay.unwrap();
        // 25 % of 1280 is 320, at 16:9 that is 180; the margin is 720/30 = 24.
        assert_eq!(
            at(Layout::PipBr),
            Rect {
                x: 1280 - 320 - 24,
                y: 720 - 180 - 24,
                width: 320,
                height: 180
            }
        );
        assert_eq!(
            at(Layout::PipTl),
            Rect {
                x: 24,
                y: 24,
                width: 320,
                height: 180
            }
        );
        assert_eq!((at(Layout::PipBl).x, at(Layout::PipBl).y), (24, 516));
        assert_eq!((at(Layout::PipTr).x, at(Layout::PipTr).y), (936, 24));
        for layout in [Layout::PipBr, Layout::PipBl, Layout::PipTr, Layout::PipTl] {
            let p = place(layout, 1280, 720, 25);
            assert_eq!(
                p.main,
                Some(Rect::full(1280, 720)),
                "the screen stays whole"
            );
        }
    }

    #[test]
    fn corner_size_is_clamped_and_odd_sizes_stay_even_and_inside() {
        let small = place(Layout::PipBr, 1280, 720, 1).overlay.unwrap();
        assert_eq!(small.width, 128, "no smaller than 10 %");
        let large = place(Layout::PipBr, 1280, 720, 90).overlay.unwrap();
        assert_eq!(large.width, 640, "no larger than 50 %");
        for (w, h) in [
            (1278, 718),
            (642, 362),
            (16, 16),
            (3840, 2160),
            (1080, 1920),
        ] {
            for layout in Layout::ALL {
                let p = place(layout, w, h, 33);
                for r in [p.main, p.overlay].into_iter().flatten() {
                    assert!(inside(r, w, h), "{layout:?} {r:?} in {w}x{h}");
                    assert!(even(r), "{layout:?} {r:?}");
                }
            }
        }
    }

    #[test]
    fn side_by_side_letterboxes_each_half() {
        let p = place(Layout::Side, 1280, 720, 25);
        // A 16:9 picture in a 640x720 half: 640x360, centred vertically.
        assert_eq!(
            p.main,
            Some(Rect {
                x: 0,
                y: 180,
                width: 640,
                height: 360
            })
        );
        assert_eq!(
            p.overlay,
            Some(Rect {
                x: 640,
                y: 180,
                width: 640,
                height: 360
            })
        );
    }

    #[test]
    fn fitting_never_stretches() {
        let area = Rect::full(1280, 720);
        // 4:3 into 16:9: pillar-boxed.
        assert_eq!(
            fit(1024, 768, area),
            Rect {
                x: 160,
                y: 0,
                width: 960,
                height: 720
            }
        );
        // 21:9 into 16:9: letter-boxed.
        let r = fit(2560, 1080, area);
        assert_eq!((r.width, r.x), (1280, 0));
        assert!((r.height as i64 - 540).abs() <= 2, "{r:?}");
        assert_eq!(r.y, ((720 - r.height) / 2) & !1);
        // The same shape fills the area exactly.
        assert_eq!(fit(1920, 1080, area), area);
        // A portrait screen in a landscape stream.
        let r = fit(1080, 1920, area);
        assert_eq!(r.height, 720);
        assert!((r.width as f64 / 720.0 - 1080.0 / 1920.0).abs() < 0.01);
        assert!(even(r));
    }
}
