//! Drawing a layout: pictures scaled (libyuv) straight into their rectangle
//! of one I420 frame, black around them. A picture that fills the frame
//! alone is passed on without a copy.

use std::sync::Arc;

use super::layout::{Placement, Rect};
use crate::media::VideoFrame;
use crate::source::convert::ConvertError;

/// BT.601 limited-range black.
const BLACK: (u8, u8, u8) = (16, 128, 128);

/// A `width`x`height` I420 buffer, black.
pub fn black(width: u32, height: u32) -> Vec<u8> {
    let luma = width as usize * height as usize;
    let mut data = vec![BLACK.1; VideoFrame::i420_len(width, height)];
    data[..luma].fill(BLACK.0);
    data
}

/// The frame the layout shows, stamped with `capture_us`. `main` may be
/// missing (not captured yet): black stands in for it.
pub fn compose(
    placement: Placement,
    main: Option<&VideoFrame>,
    overlay: &VideoFrame,
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, ConvertError> {
    let full = Rect::full(width, height);
    let passes = |frame: &VideoFrame| (frame.width, frame.height) == (width, height);
    // Whole-frame pictures go out as they are: no copy, no scaling.
    match (placement.main, placement.overlay) {
        (None, Some(r)) if r == full && passes(overlay) => {
            return Ok(VideoFrame {
                capture_us,
                ..overlay.clone()
            })
        }
        (Some(r), None) if r == full => {
            if let Some(main) = main.filter(|m| passes(m)) {
                return Ok(VideoFrame {
                    capture_us,
                    ..main.clone()
                });
            }
        }
        _ => {}
    }
    let mut data = match (placement.main, main) {
        (Some(r), Some(m)) if r == full && passes(m) => m.data.as_ref().clone(),
        _ => black(width, height),
    };
    if let (Some(rect), Some(main)) = (placement.main, main) {
        if !(rect == full && passes(main)) {
            scale_into(main, &mut data, width, height, rect)?;
        }
    }
    if let Some(rect) = placement.overlay {
        scale_into(overlay, &mut data, width, height, rect)?;
    }
    Ok(VideoFrame {
        width,
        height,
        data: Arc::new(data),
        capture_us,
    })
}

/// Scales the whole of `src` into `rect` of the `width`x`height` I420 `dst`.
pub fn scale_into(
    src: &VideoFrame,
    dst: &mut [u8],
    width: u32,
    height: u32,
    rect: Rect,
) -> Result<(), ConvertError> {
    let fits = rect.x.is_multiple_of(2)
        && rect.y.is_multiple_of(2)
        && rect.width >= 2
        && rect.height >= 2
        && rect.x + rect.width <= width
        && rect.y + rect.height <= height
        && dst.len() == VideoFrame::i420_len(width, height)
        && src.data.len() == VideoFrame::i420_len(src.width, src.height)
        && src.width > 0
        && src.height > 0;
    if !fits {
        return Err(ConvertError::Scaling(format!(
            "a {}x{} picture cannot be drawn at {rect:?} of {width}x{height}",
            src.width, src.height
        )));
    }
    let (src_y, src_u, src_v) = src.planes();
    let src_cw = src.width.div_ceil(2) as usize;
    let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
    let (dst_y, rest) = dst.split_at_mut(width as usize * height as usize);
    let (dst_u, dst_v) = rest.split_at_mut(cw * ch);
    let luma_at = rect.y as usize * width as usize + rect.x as usize;
    let chroma_at = (rect.y / 2) as usize * cw + (rect.x / 2) as usize;
    // SAFETY: the source planes are a whole I420 picture of its size (its
    // length was checked); the destination rectangle lies inside the
    // destination picture with even offsets and sizes (checked above), so
    // with the destination's strides every row libyuv writes, luma and
    // chroma, stays inside `dst`. libyuv reads only the source.
    let status = unsafe {
        yuv_sys::rs_I420Scale(
            src_y.as_ptr(),
            src.width as i32,
            src_u.as_ptr(),
            src_cw as i32,
            src_v.as_ptr(),
            src_cw as i32,
            src.width as i32,
            src.height as i32,
            dst_y[luma_at..].as_mut_ptr(),
            width as i32,
            dst_u[chroma_at..].as_mut_ptr(),
            cw as i32,
            dst_v[chroma_at..].as_mut_ptr(),
            cw as i32,
            rect.width as i32,
            rect.height as i32,
            yuv_sys::FilterMode_kFilterBox,
        )
    };
    if status != 0 {
        return Err(ConvertError::Scaling(format!(
            "libyuv could not draw {}x{} into {rect:?} ({status})",
            src.width, src.height
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::layout::{place, Layout};
    use super::*;

    fn solid(width: u32, height: u32, y: u8, capture_us: u64) -> VideoFrame {
        let mut data = vec![128u8; VideoFrame::i420_len(width, height)];
        data[..(width * height) as usize].fill(y);
        VideoFrame {
            width,
            height,
            data: Arc::new(data),
            capture_us,
        }
    }

    fn luma_at(frame: &VideoFrame, x: u32, y: u32) -> u8 {
        frame.data[(y * frame.width + x) as usize]
    }

    #[test]
    fn the_corner_shows_the_overlay_and_the_rest_the_screen() {
        let (w, h) = (320, 180);
        let screen = solid(w, h, 200, 1);
        let camera = solid(w, h, 50, 2);
        let p = place(Layout::PipBr, w, h, 25);
        let r = p.overlay.unwrap();
        let out = compose(p, Some(&screen), &camera, w, h, 99).unwrap();
        assert_eq!(out.capture_us, 99, "stamped with the pacing source's time");
        assert_eq!(luma_at(&out, r.x + 1, r.y + 1), 50);
        assert_eq!(luma_at(&out, r.x + r.width - 1, r.y + r.height - 1), 50);
        assert_eq!(luma_at(&out, r.x - 1, r.y), 200, "left of the corner");
        assert_eq!(luma_at(&out, 0, 0), 200);
        assert_eq!(screen.data[0], 200, "the screen frame itself is untouched");
    }

    #[test]
    fn a_whole_frame_picture_is_passed_on_without_a_copy() {
        let screen = solid(64, 36, 200, 1);
        let camera = solid(64, 36, 50, 2);
        let out = compose(
            place(Layout::Screen, 64, 36, 25),
            Some(&screen),
            &camera,
            64,
            36,
            7,
        )
        .unwrap();
        assert!(Arc::ptr_eq(&out.data, &screen.data));
        let out = compose(
            place(Layout::Camera, 64, 36, 25),
            Some(&screen),
            &camera,
            64,
            36,
            7,
        )
        .unwrap();
        assert!(Arc::ptr_eq(&out.data, &camera.data));
        assert_eq!(out.capture_us, 7);
    }

    #[test]
    fn side_by_side_has_black_bars_and_a_missing_screen_is_black() {
        let (w, h) = (128, 72);
        let screen = solid(w, h, 200, 1);
        let camera = solid(w, h, 50, 2);
        let p = place(Layout::Side, w, h, 25);
        let out = compose(p, Some(&screen), &camera, w, h, 3).unwrap();
        let (m, o) = (p.main.unwrap(), p.overlay.unwrap());
        assert_eq!(luma_at(&out, m.x + 2, m.y + 2), 200);
        assert_eq!(luma_at(&out, o.x + 2, o.y + 2), 50);
        assert_eq!(luma_at(&out, 2, 1), 16, "bar above");
        assert_eq!(
            out.data[out.data.len() - 1],
            128,
            "neutral chroma in the bars"
        );
        let out = compose(p, None, &camera, w, h, 3).unwrap();
        assert_eq!(luma_at(&out, m.x + 2, m.y + 2), 16);
    }

    #[test]
    fn a_rectangle_outside_the_frame_is_an_error_not_a_write() {
        let src = solid(64, 36, 1, 0);
        let mut dst = black(64, 36);
        for rect in [
            Rect {
                x: 40,
                y: 0,
                width: 32,
                height: 18,
            },
            Rect {
                x: 1,
                y: 0,
                width: 16,
                height: 8,
            },
        ] {
            assert!(
                scale_into(&src, &mut dst, 64, 36, rect).is_err(),
                "{rect:?}"
            );
        }
    }
}
