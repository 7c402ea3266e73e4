//! A captured screen (32-bit BGRX, as X11 and PipeWire deliver it) drawn
//! into an I420 frame of the stream's size: the pointer blended in, scaled
//! and letter-boxed with libyuv (whose "ARGB" is BGRA in memory order),
//! never stretched.

use yuvutils_rs::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange};

use crate::colour::Colour;
use crate::compose::blit::black;
use crate::compose::layout::{fit, Rect};
use crate::media::VideoFrame;
use crate::source::convert::ConvertError;

/// One captured screen: `stride` bytes a row, 4 bytes a pixel, B G R X.
pub struct Bgrx<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub data: &'a mut [u8],
}

/// The pointer's picture where it is on the captured area: top-left corner
/// (hot spot already subtracted), premultiplied ARGB pixels as XFixes gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub argb: Vec<u32>,
}

/// Blends the pointer over the screen (premultiplied alpha: out = src + dst
/// * (1 - a)); the parts off the captured area are skipped.
pub fn blend_cursor(screen: &mut Bgrx<'_>, cursor: &Cursor) {
    if cursor.argb.len() < cursor.width as usize * cursor.height as usize {
        return;
    }
    for cy in 0..cursor.height as i32 {
        let sy = cursor.y + cy;
        if sy < 0 || sy >= screen.height as i32 {
            continue;
        }
        for cx in 0..cursor.width as i32 {
            let sx = cursor.x + cx;
            if sx < 0 || sx >= screen.width as i32 {
                continue;
            }
            let p = cursor.argb[(cy as u32 * cursor.width + cx as u32) as usize];
            let a = p >> 24;
            if a == 0 {
                continue;
            }
            let at = sy as usize * screen.stride as usize + sx as usize * 4;
            let px = &mut screen.data[at..at + 3];
            for (i, dst) in px.iter_mut().enumerate() {
                // B, G, R from the low byte up.
                let src = (p >> (8 * i)) & 0xff;
                *dst = (src + (*dst as u32 * (255 - a) + 127) / 255).min(255) as u8;
            }
        }
    }
}

/// The screen in the stream's `width`x`height`, letter-boxed.
pub fn to_stream_frame(
    screen: &Bgrx<'_>,
    width: u32,
    height: u32,
    capture_us: u64,
) -> Result<VideoFrame, ConvertError> {
    let rows_ok = screen.stride >= screen.width * 4
        && screen.data.len() >= screen.stride as usize * screen.height as usize;
    if screen.width < 2 || screen.height < 2 || !rows_ok {
        return Err(ConvertError::Conversion(format!(
            "a {}x{} screen with {} bytes a row does not fit its {} bytes",
            screen.width,
            screen.height,
            screen.stride,
            screen.data.len()
        )));
    }
    let rect = fit(screen.width, screen.height, Rect::full(width, height));
    let scaled;
    let (src, src_stride) = if (rect.width, rect.height) == (screen.width, screen.height) {
        (&screen.data[..], screen.stride)
    } else {
        let mut out = vec![0u8; rect.width as usize * rect.height as usize * 4];
        // SAFETY: the source holds `height` rows of `stride` bytes, each
        // with at least `width` pixels (checked above); the destination was
        // allocated for the rectangle's size with a stride of 4 bytes a pixel.
        let status = unsafe {
            yuv_sys::rs_ARGBScale(
                screen.data.as_ptr(),
                screen.stride as i32,
                screen.width as i32,
                screen.height as i32,
                out.as_mut_ptr(),
                rect.width as i32 * 4,
                rect.width as i32,
                rect.height as i32,
                yuv_sys::FilterMode_kFilterBox,
            )
        };
        if status != 0 {
            return Err(ConvertError::Scaling(format!(
                "libyuv could not scale the {}x{} screen to {}x{} ({status})",
                screen.width, screen.height, rect.width, rect.height
            )));
        }
        scaled = out;
        (&scaled[..], rect.width * 4)
    };
    // In the stream's colour space (BT.709 for HD, as the VUI says): libyuv's
    // ARGBToI420 knows only BT.601.
    let colour = Colour::for_size(width, height);
    let mut picture = vec![0u8; VideoFrame::i420_len(rect.width, rect.height)];
    let (pw, ph) = (
        rect.width.div_ceil(2) as usize,
        rect.height.div_ceil(2) as usize,
    );
    {
        let (y, rest) = picture.split_at_mut(rect.width as usize * rect.height as usize);
        let (u, v) = rest.split_at_mut(pw * ph);
        let mut target = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(y),
            y_stride: rect.width,
            u_plane: BufferStoreMut::Borrowed(u),
            u_stride: pw as u32,
            v_plane: BufferStoreMut::Borrowed(v),
            v_stride: pw as u32,
            width: rect.width,
            height: rect.height,
        };
        yuvutils_rs::bgra_to_yuv420(
            &mut target,
            &src[..src_stride as usize * rect.height as usize],
            src_stride,
            YuvRange::Limited,
            colour.matrix(),
            YuvConversionMode::Balanced,
        )
        .map_err(|e| ConvertError::Conversion(format!("the screen's colours: {e}")))?;
    }
    let mut data = black(width, height);
    let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
    let (y_plane, rest) = data.split_at_mut(width as usize * height as usize);
    let (u_plane, v_plane) = rest.split_at_mut(cw * ch);
    let (from_y, from_rest) = picture.split_at(rect.width as usize * rect.height as usize);
    let (from_u, from_v) = from_rest.split_at(pw * ph);
    // The rectangle has even offsets and sizes (`fit`), so chroma rows line
    // up with luma rows two by two.
    let (rw, rx, ry) = (rect.width as usize, rect.x as usize, rect.y as usize);
    for row in 0..rect.height as usize {
        let at = (ry + row) * width as usize + rx;
        y_plane[at..at + rw].copy_from_slice(&from_y[row * rw..(row + 1) * rw]);
    }
    for row in 0..ph {
        let at = (ry / 2 + row) * cw + rx / 2;
        u_plane[at..at + pw].copy_from_slice(&from_u[row * pw..(row + 1) * pw]);
        v_plane[at..at + pw].copy_from_slice(&from_v[row * pw..(row + 1) * pw]);
    }
    Ok(VideoFrame {
        width,
        height,
        data: std::sync::Arc::new(data),
        capture_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(width: u32, height: u32, bgrx: [u8; 4]) -> Vec<u8> {
        bgrx.repeat((width * height) as usize)
    }

    fn luma(frame: &VideoFrame, x: u32, y: u32) -> u8 {
        frame.data[(y * frame.width + x) as usize]
    }

    #[test]
    fn a_4_3_screen_is_pillarboxed_in_a_16_9_stream() {
        let mut data = screen(400, 300, [255, 255, 255, 0]);
        let shot = Bgrx {
            width: 400,
            height: 300,
            stride: 1600,
            data: &mut data,
        };
        let frame = to_stream_frame(&shot, 320, 180, 5).unwrap();
        assert_eq!((frame.width, frame.height, frame.capture_us), (320, 180, 5));
        // 4:3 at 180 rows is 240 wide, centred: bars of 40 on each side.
        assert_eq!(luma(&frame, 20, 90), 16, "black bar");
        assert_eq!(luma(&frame, 300, 90), 16, "black bar");
        // White in limited range (libyuv's fixed point lands a step or two under 235).
        for (x, y) in [(41, 90), (278, 179)] {
            assert!(
                (232..=235).contains(&luma(&frame, x, y)),
                "{}",
                luma(&frame, x, y)
            );
        }
    }

    #[test]
    fn a_padded_screen_at_the_streams_size_converts_without_scaling() {
        // 8 bytes of padding a row, as a server may add.
        let (w, h, stride) = (64u32, 36u32, 64 * 4 + 8);
        let mut data = vec![0u8; (stride * h) as usize];
        for row in data.chunks_exact_mut(stride as usize) {
            for px in row[..(w * 4) as usize].chunks_exact_mut(4) {
                px.copy_from_slice(&[0, 0, 255, 0]); // red
            }
        }
        let shot = Bgrx {
            width: w,
            height: h,
            stride,
            data: &mut data,
        };
        let frame = to_stream_frame(&shot, w, h, 0).unwrap();
        let (y, u, v) = frame.planes();
        // BT.601 limited red: Y 81, U 90, V 240 (±1 for rounding).
        assert!((y[0] as i32 - 81).abs() <= 1, "{}", y[0]);
        assert!((u[0] as i32 - 90).abs() <= 1, "{}", u[0]);
        assert!((v[0] as i32 - 240).abs() <= 1, "{}", v[0]);
        assert_eq!(y[(w * h - 1) as usize], y[0], "the last pixel too");
    }

    #[test]
    fn too_short_a_buffer_is_an_error() {
        let mut data = vec![0u8; 100];
        let shot = Bgrx {
            width: 64,
            height: 36,
            stride: 256,
            data: &mut data,
        };
        assert!(to_stream_frame(&shot, 64, 36, 0).is_err());
    }

    #[test]
    fn the_pointer_is_blended_and_clipped_at_the_edges() {
        let mut data = screen(8, 8, [100, 100, 100, 0]);
        let mut shot = Bgrx {
            width: 8,
            height: 8,
            stride: 32,
            data: &mut data,
        };
        // 2x2 pointer at (-1, 6): one opaque black pixel, one half-transparent
        // white (premultiplied 0x80 alpha -> 0x80 colour), two off-screen.
        let cursor = Cursor {
            x: -1,
            y: 6,
            width: 2,
            height: 2,
            argb: vec![0xff00_0000, 0x8080_8080, 0xff00_0000, 0xff00_0000],
        };
        blend_cursor(&mut shot, &cursor);
        let px = |x: usize, y: usize| data[y * 32 + x * 4];
        assert_eq!(px(0, 6) as u32, 128 + (100 * 127 + 127) / 255);
        assert_eq!(px(0, 7), 0, "opaque black");
        assert_eq!(px(1, 6), 100, "untouched beside it");
    }
}
