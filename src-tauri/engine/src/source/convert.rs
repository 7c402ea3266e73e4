//! Camera pixel formats into I420 (our `VideoFrame` layout), and I420 scaled
//! to the session's size. Packed and RGB conversions use yuvutils-rs (SIMD);
//! MJPEG is decoded by zune-jpeg first; scaling is libyuv's. RGB leaves in
//! the session's colour space (`Colour`), limited range, like the test
//! pattern; a camera's own YUV passes through as the camera made it.

use serde::Serialize;
use yuvutils_rs::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::colour::Colour;
use crate::media::VideoFrame;

/// The native formats Onair can take from a camera, by their usual fourcc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "UPPERCASE")]
pub enum PixelFormat {
    /// Packed 4:2:2, Y0 U Y1 V (also called YUY2).
    Yuyv,
    /// Packed 4:2:2, U Y0 V Y1.
    Uyvy,
    /// Planar Y, then interleaved U/V at 4:2:0.
    Nv12,
    /// One JPEG per frame.
    Mjpeg,
    /// Packed R G B, 8 bits each.
    Rgb24,
    /// Packed B G R, 8 bits each.
    Bgr24,
}

impl PixelFormat {
    pub fn fourcc(self) -> &'static str {
        match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Uyvy => "UYVY",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::Rgb24 => "RGB24",
            PixelFormat::Bgr24 => "BGR24",
        }
    }

    /// Relative CPU cost of turning one frame into I420: used to prefer a
    /// cheap native format when several give the same size and rate.
    pub fn conversion_cost(self) -> u32 {
        match self {
            PixelFormat::Nv12 => 0,
            PixelFormat::Yuyv | PixelFormat::Uyvy => 1,
            PixelFormat::Rgb24 | PixelFormat::Bgr24 => 2,
            PixelFormat::Mjpeg => 3,
        }
    }

    /// Bytes one raw frame takes; `None` for MJPEG, whose size varies.
    pub fn frame_len(self, width: u32, height: u32) -> Option<usize> {
        let (w, h) = (width as usize, height as usize);
        match self {
            PixelFormat::Yuyv | PixelFormat::Uyvy => Some(w.div_ceil(2) * 4 * h),
            PixelFormat::Nv12 => Some(w * h + w.div_ceil(2) * 2 * h.div_ceil(2)),
            PixelFormat::Rgb24 | PixelFormat::Bgr24 => Some(w * h * 3),
            PixelFormat::Mjpeg => None,
        }
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.fourcc())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("a {format} frame of {width}x{height} needs {expected} bytes, got {got}")]
    WrongLength {
        format: PixelFormat,
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
    #[error("corrupt MJPEG frame: {0}")]
    CorruptJpeg(String),
    #[error("the picture has no pixels ({0}x{1})")]
    Empty(u32, u32),
    #[error("pixel conversion failed: {0}")]
    Conversion(String),
    #[error("scaling failed: {0}")]
    Scaling(String),
}

/// An I420 picture without padding, the layout of `VideoFrame`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420 {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl I420 {
    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        split_planes(&self.data, self.width, self.height)
    }

    pub fn into_frame(self, capture_us: u64) -> VideoFrame {
        VideoFrame {
            width: self.width,
            height: self.height,
            data: std::sync::Arc::new(self.data),
            capture_us,
        }
    }
}

fn chroma_size(width: u32, height: u32) -> (usize, usize) {
    ((width as usize).div_ceil(2), (height as usize).div_ceil(2))
}

fn split_planes(data: &[u8], width: u32, height: u32) -> (&[u8], &[u8], &[u8]) {
    let (cw, ch) = chroma_size(width, height);
    let (y, rest) = data.split_at(width as usize * height as usize);
    let (u, v) = rest.split_at(cw * ch);
    (y, u, v)
}

/// A planar I420 target over `data` for yuvutils-rs to write into.
fn planar_target(data: &mut [u8], width: u32, height: u32) -> YuvPlanarImageMut<'_, u8> {
    let (cw, ch) = chroma_size(width, height);
    let (y, rest) = data.split_at_mut(width as usize * height as usize);
    let (u, v) = rest.split_at_mut(cw * ch);
    YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: cw as u32,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: cw as u32,
        width,
        height,
    }
}

/// One native camera frame as I420 at its own size. MJPEG frames take the
/// size their JPEG header gives; the others must match `width`x`height`.
pub fn to_i420(
    format: PixelFormat,
    width: u32,
    height: u32,
    raw: &[u8],
    colour: Colour,
) -> Result<I420, ConvertError> {
    if format == PixelFormat::Mjpeg {
        return mjpeg_to_i420(raw, colour);
    }
    if width == 0 || height == 0 {
        return Err(ConvertError::Empty(width, height));
    }
    let expected = format.frame_len(width, height).expect("fixed-size format");
    // Drivers may pad the buffer past the picture; too short is corrupt.
    if raw.len() < expected {
        return Err(ConvertError::WrongLength {
            format,
            width,
            height,
            expected,
            got: raw.len(),
        });
    }
    let raw = &raw[..expected];
    let mut data = vec![0u8; VideoFrame::i420_len(width, height)];
    let mut target = planar_target(&mut data, width, height);
    let done = match format {
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            drop(target);
            packed422_to_i420(raw, width, height, format == PixelFormat::Uyvy, &mut data);
            Ok(())
        }
        PixelFormat::Rgb24 => yuvutils_rs::rgb_to_yuv420(
            &mut target,
            raw,
            width * 3,
            YuvRange::Limited,
            colour.matrix(),
            YuvConversionMode::Balanced,
        ),
        PixelFormat::Bgr24 => yuvutils_rs::bgr_to_yuv420(
            &mut target,
            raw,
            width * 3,
            YuvRange::Limited,
            colour.matrix(),
            YuvConversionMode::Balanced,
        ),
        PixelFormat::Nv12 => {
            drop(target);
            nv12_to_i420(raw, width, height, &mut data);
            Ok(())
        }
        PixelFormat::Mjpeg => unreachable!("handled above"),
    };
    done.map_err(|e| ConvertError::Conversion(e.to_string()))?;
    Ok(I420 {
        width,
        height,
        data,
    })
}

/// YUYV or UYVY to I420: luma copied out, chroma averaged over each pair of
/// rows. Written here because yuvutils-rs 0.8.3's 4:2:0 path leaves the last
/// `width % 32` columns unwritten (seen on 112-pixel-wide frames).
fn packed422_to_i420(raw: &[u8], width: u32, height: u32, uyvy: bool, out: &mut [u8]) {
    let (w, h) = (width as usize, height as usize);
    let (cw, _) = chroma_size(width, height);
    let stride = cw * 4;
    let (y_off, u_off, v_off) = if uyvy { (1, 0, 2) } else { (0, 1, 3) };
    let (y_out, chroma_out) = out.split_at_mut(w * h);
    let (u_out, v_out) = chroma_out.split_at_mut(chroma_out.len() / 2);
    for (row, y_row) in raw.chunks_exact(stride).zip(y_out.chunks_exact_mut(w)) {
        for (x, y) in y_row.iter_mut().enumerate() {
            *y = row[(x / 2) * 4 + y_off + (x % 2) * 2];
        }
    }
    for (cy, (u_row, v_row)) in u_out
        .chunks_exact_mut(cw)
        .zip(v_out.chunks_exact_mut(cw))
        .enumerate()
    {
        let top = &raw[cy * 2 * stride..][..stride];
        // An odd height's last chroma row has one picture row only.
        let bottom = if cy * 2 + 1 < h {
            &raw[(cy * 2 + 1) * stride..][..stride]
        } else {
            top
        };
        for (cx, (u, v)) in u_row.iter_mut().zip(v_row.iter_mut()).enumerate() {
            let at = cx * 4;
            *u = (top[at + u_off] as u16 + bottom[at + u_off] as u16).div_ceil(2) as u8;
            *v = (top[at + v_off] as u16 + bottom[at + v_off] as u16).div_ceil(2) as u8;
        }
    }
}

/// NV12 and I420 share the luma plane; only the chroma is de-interleaved.
fn nv12_to_i420(raw: &[u8], width: u32, height: u32, out: &mut [u8]) {
    let luma = width as usize * height as usize;
    let (cw, _) = chroma_size(width, height);
    let (y_out, chroma_out) = out.split_at_mut(luma);
    y_out.copy_from_slice(&raw[..luma]);
    let (u_out, v_out) = chroma_out.split_at_mut(chroma_out.len() / 2);
    let uv_rows = raw[luma..].chunks_exact(cw * 2);
    for ((uv, u), v) in uv_rows
        .zip(u_out.chunks_exact_mut(cw))
        .zip(v_out.chunks_exact_mut(cw))
    {
        for ((pair, u), v) in uv.chunks_exact(2).zip(u.iter_mut()).zip(v.iter_mut()) {
            *u = pair[0];
            *v = pair[1];
        }
    }
}

/// Decodes one JPEG (a camera's MJPEG frame, or the slate) to I420.
pub fn mjpeg_to_i420(jpeg: &[u8], colour: Colour) -> Result<I420, ConvertError> {
    let corrupt = |e: &dyn std::fmt::Display| ConvertError::CorruptJpeg(e.to_string());
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder.decode_headers().map_err(|e| corrupt(&e))?;
    let info = decoder
        .info()
        .ok_or_else(|| ConvertError::CorruptJpeg("no header".into()))?;
    let (width, height) = (info.width as u32, info.height as u32);
    if width == 0 || height == 0 {
        return Err(ConvertError::Empty(width, height));
    }
    let rgb = decoder.decode().map_err(|e| corrupt(&e))?;
    // A grey picture decodes to one channel whatever was asked: refuse it
    // rather than read past its end.
    to_i420(PixelFormat::Rgb24, width, height, &rgb, colour).map_err(|e| match e {
        ConvertError::WrongLength { .. } => ConvertError::CorruptJpeg(e.to_string()),
        other => other,
    })
}

/// Scales I420 pictures with libyuv, the scaler libwebrtc uses for its own
/// simulcast layers: a box filter when shrinking (an exact half is each 2x2
/// block's mean, about 0.02 ms a 720p luma plane here, where a general
/// resampler took 0.4 ms) and bilinear when growing. A source of another
/// aspect ratio is cropped around its centre rather than stretched.
pub fn scale(picture: I420, width: u32, height: u32) -> Result<I420, ConvertError> {
    if picture.width == width && picture.height == height {
        return Ok(picture);
    }
    let data = scale_planes(&picture.data, picture.width, picture.height, width, height)?;
    Ok(I420 {
        width,
        height,
        data,
    })
}

/// A pipeline frame at `width`x`height` (simulcast layers, overload
/// step-down); the capture time is kept.
pub fn scale_frame(
    frame: &VideoFrame,
    width: u32,
    height: u32,
) -> Result<VideoFrame, ConvertError> {
    if (frame.width, frame.height) == (width, height) {
        return Ok(frame.clone());
    }
    let data = scale_planes(&frame.data, frame.width, frame.height, width, height)?;
    Ok(VideoFrame {
        width,
        height,
        data: std::sync::Arc::new(data),
        capture_us: frame.capture_us,
    })
}

/// The centred part of a `src_w`x`src_h` picture with the aspect ratio of
/// `dst_w`x`dst_h`: (x, y, width, height), offsets even so the chroma planes
/// crop at the same place as luma.
fn centred_crop(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> (u32, u32, u32, u32) {
    let (sw, sh, dw, dh) = (src_w as u64, src_h as u64, dst_w as u64, dst_h as u64);
    let (crop_w, crop_h) = if sw * dh > dw * sh {
        (((sh * dw + dh / 2) / dh).clamp(1, sw), sh)
    } else {
        (sw, ((sw * dh + dw / 2) / dw).clamp(1, sh))
    };
    let x = ((sw - crop_w) / 2) & !1;
    let y = ((sh - crop_h) / 2) & !1;
    (x as u32, y as u32, crop_w as u32, crop_h as u32)
}

/// Far beyond any camera or stream size, and small enough that every byte
/// offset and stride fits libyuv's `int`.
const MAX_SIDE: u32 = 16_384;

/// I420 `src` (unpadded, `src_w`x`src_h`) into a new buffer at `width`x`height`.
fn scale_planes(
    src: &[u8],
    src_w: u32,
    src_h: u32,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, ConvertError> {
    for (w, h) in [(width, height), (src_w, src_h)] {
        if w == 0 || h == 0 {
            return Err(ConvertError::Empty(w, h));
        }
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(ConvertError::Scaling(format!(
                "{w}x{h} is larger than Onair scales"
            )));
        }
    }
    let expected = VideoFrame::i420_len(src_w, src_h);
    if src.len() != expected {
        return Err(ConvertError::Scaling(format!(
            "a {src_w}x{src_h} I420 picture has {expected} bytes, not {}",
            src.len()
        )));
    }
    let (src_cw, _) = chroma_size(src_w, src_h);
    let (dst_cw, dst_ch) = chroma_size(width, height);
    let (src_y, src_u, src_v) = split_planes(src, src_w, src_h);
    let mut data = vec![0u8; VideoFrame::i420_len(width, height)];
    let (dst_y, rest) = data.split_at_mut(width as usize * height as usize);
    let (dst_u, dst_v) = rest.split_at_mut(dst_cw * dst_ch);
    let (x, y, crop_w, crop_h) = centred_crop(src_w, src_h, width, height);
    let luma_at = y as usize * src_w as usize + x as usize;
    let chroma_at = (y / 2) as usize * src_cw + (x / 2) as usize;
    // SAFETY: every plane pointer and stride describes a buffer of the size
    // I420 at its dimensions needs (the source's length was checked above, the
    // destination was allocated for it); the crop rectangle lies inside the
    // source, with even offsets so its chroma rectangle does too; libyuv only
    // reads the source and writes the destination planes.
    let status = unsafe {
        yuv_sys::rs_I420Scale(
            src_y[luma_at..].as_ptr(),
            src_w as i32,
            src_u[chroma_at..].as_ptr(),
            src_cw as i32,
            src_v[chroma_at..].as_ptr(),
            src_cw as i32,
            crop_w as i32,
            crop_h as i32,
            dst_y.as_mut_ptr(),
            width as i32,
            dst_u.as_mut_ptr(),
            dst_cw as i32,
            dst_v.as_mut_ptr(),
            dst_cw as i32,
            width as i32,
            height as i32,
            yuv_sys::FilterMode_kFilterBox,
        )
    };
    if status != 0 {
        return Err(ConvertError::Scaling(format!(
            "libyuv could not scale {src_w}x{src_h} to {width}x{height} ({status})"
        )));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    const W: u32 = 112;
    const H: u32 = 84;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{FIXTURES}/{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let sum: u64 = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (x as i32 - y as i32).unsigned_abs() as u64)
            .sum();
        sum as f64 / a.len() as f64
    }

    /// Mean absolute difference of the Y, U and V planes.
    fn plane_diffs(got: &I420, reference: &[u8]) -> [f64; 3] {
        let (y, u, v) = got.planes();
        let (ry, ru, rv) = split_planes(reference, got.width, got.height);
        [
            mean_abs_diff(y, ry),
            mean_abs_diff(u, ru),
            mean_abs_diff(v, rv),
        ]
    }

    fn assert_close(format: &str, got: &I420, reference: &[u8], tolerance: f64) {
        let diffs = plane_diffs(got, reference);
        eprintln!("{format}: mean abs diff Y/U/V = {diffs:.2?}");
        for (plane, diff) in ["Y", "U", "V"].iter().zip(diffs) {
            assert!(
                diff <= tolerance,
                "{format} {plane} plane differs from ffmpeg by {diff:.2} on average"
            );
        }
    }

    #[test]
    fn packed_and_semi_planar_frames_match_ffmpeg() {
        let reference = fixture("testsrc2_112x84.yuv420p");
        for (format, file) in [
            (PixelFormat::Yuyv, "testsrc2_112x84.yuyv"),
            (PixelFormat::Uyvy, "testsrc2_112x84.uyvy"),
            (PixelFormat::Nv12, "testsrc2_112x84.nv12"),
        ] {
            let got = to_i420(format, W, H, &fixture(file), Colour::Bt601).unwrap();
            assert_eq!((got.width, got.height), (W, H));
            assert_eq!(got.data.len(), reference.len());
            assert_close(file, &got, &reference, 2.0);
        }
    }

    #[test]
    fn mjpeg_frames_match_ffmpeg() {
        let got = mjpeg_to_i420(&fixture("testsrc2_112x84.jpg"), Colour::Bt601).unwrap();
        assert_eq!((got.width, got.height), (W, H));
        assert_close("mjpeg", &got, &fixture("testsrc2_112x84.yuv420p"), 4.0);
    }

    #[test]
    fn rgb_and_bgr_frames_match_ffmpeg() {
        let rgb = fixture("testsrc2_48x36.rgb");
        let reference = fixture("testsrc2_48x36.yuv420p");
        let got = to_i420(PixelFormat::Rgb24, 48, 36, &rgb, Colour::Bt601).unwrap();
        assert_close("rgb24", &got, &reference, 2.0);
        let bgr: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0]])
            .collect();
        let got = to_i420(PixelFormat::Bgr24, 48, 36, &bgr, Colour::Bt601).unwrap();
        assert_close("bgr24", &got, &reference, 2.0);
    }

    #[test]
    fn odd_sizes_convert_without_losing_the_last_row_or_column() {
        let yuyv = fixture("testsrc2_112x84.yuyv");
        let reference = fixture("testsrc2_112x84.yuv420p");
        let ref_luma = &reference[..(W * H) as usize];
        // Odd height: the same rows, one fewer.
        let got = to_i420(
            PixelFormat::Yuyv,
            W,
            H - 1,
            &yuyv[..(W * 2 * (H - 1)) as usize],
            Colour::Bt601,
        )
        .unwrap();
        assert_eq!(got.data.len(), VideoFrame::i420_len(W, H - 1));
        assert!(got.planes().0 == &ref_luma[..(W * (H - 1)) as usize]);
        // Odd width: each row still holds whole pixel pairs; the last luma sample is dropped.
        let got = to_i420(PixelFormat::Yuyv, W - 1, H, &yuyv, Colour::Bt601).unwrap();
        assert_eq!(got.data.len(), VideoFrame::i420_len(W - 1, H));
        let cropped: Vec<u8> = ref_luma
            .chunks_exact(W as usize)
            .flat_map(|row| &row[..W as usize - 1])
            .copied()
            .collect();
        assert!(got.planes().0 == cropped.as_slice());
        // NV12 at an odd size keeps its rounded-up chroma plane.
        let nv12 = vec![100u8; PixelFormat::Nv12.frame_len(33, 17).unwrap()];
        let got = to_i420(PixelFormat::Nv12, 33, 17, &nv12, Colour::Bt601).unwrap();
        assert!(got.data.iter().all(|&b| b == 100));
    }

    #[test]
    fn short_and_corrupt_frames_are_errors_not_panics() {
        let yuyv = fixture("testsrc2_112x84.yuyv");
        assert!(matches!(
            to_i420(PixelFormat::Yuyv, W, H, &yuyv[..100], Colour::Bt601),
            Err(ConvertError::WrongLength {
                expected: 18816,
                got: 100,
                ..
            })
        ));
        assert!(matches!(
            mjpeg_to_i420(b"definitely not a jpeg", Colour::Bt601),
            Err(ConvertError::CorruptJpeg(_))
        ));
        let jpeg = fixture("testsrc2_112x84.jpg");
        assert!(matches!(
            mjpeg_to_i420(&jpeg[..200], Colour::Bt601),
            Err(ConvertError::CorruptJpeg(_))
        ));
        assert!(matches!(
            to_i420(PixelFormat::Nv12, 0, 10, &[], Colour::Bt601),
            Err(ConvertError::Empty(0, 10))
        ));
    }

    #[test]
    fn scaling_keeps_the_picture_and_crops_to_the_aspect_ratio() {
        let reference = fixture("testsrc2_112x84.yuv420p");
        let picture = I420 {
            width: W,
            height: H,
            data: reference.clone(),
        };
        let same = scale(picture.clone(), W, H).unwrap();
        assert_eq!(same, picture);
        // Down to half and back: the picture survives (testsrc2's sharp
        // edges and small digits blur, about 9 levels on average).
        let half = scale(picture.clone(), W / 2, H / 2).unwrap();
        assert_eq!(half.data.len(), VideoFrame::i420_len(W / 2, H / 2));
        // An exact half is each 2x2 block's mean, rounded (a box filter).
        let (w, h) = (W as usize, H as usize);
        let block_means: Vec<u8> = (0..h / 2)
            .flat_map(|y| (0..w / 2).map(move |x| (x, y)))
            .map(|(x, y)| {
                let at = |dx: usize, dy: usize| reference[(2 * y + dy) * w + 2 * x + dx] as u32;
                ((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8
            })
            .collect();
        assert!(half.data[..w * h / 4] == block_means[..]);
        let back = scale(half, W, H).unwrap();
        let diffs = plane_diffs(&back, &reference);
        assert!(diffs.iter().all(|&d| d < 16.0), "{diffs:?}");
        // 4:3 into 16:9 at an odd size.
        let wide = scale(picture.clone(), 65, 37).unwrap();
        assert_eq!(wide.data.len(), VideoFrame::i420_len(65, 37));
        // 4:3 into 16:9 at the same width: the middle rows, not a squash.
        let middle = scale(picture, W, 63).unwrap();
        let rows = 10 * w..73 * w;
        assert!(middle.planes().0 == &reference[rows]);
    }

    #[test]
    fn centred_crops_keep_chroma_aligned() {
        assert_eq!(centred_crop(1280, 720, 640, 360), (0, 0, 1280, 720));
        assert_eq!(centred_crop(640, 480, 1280, 720), (0, 60, 640, 360));
        assert_eq!(centred_crop(1280, 720, 480, 480), (280, 0, 720, 720));
        // An odd margin starts on an even pixel.
        assert_eq!(centred_crop(101, 50, 50, 50), (24, 0, 50, 50));
    }

    #[test]
    fn scaling_a_short_or_huge_picture_is_an_error() {
        let short = I420 {
            width: 64,
            height: 48,
            data: vec![0; 100],
        };
        assert!(matches!(
            scale(short, 32, 24),
            Err(ConvertError::Scaling(_))
        ));
        let picture = I420 {
            width: 2,
            height: 2,
            data: vec![0; 6],
        };
        assert!(matches!(
            scale(picture.clone(), 100_000, 2),
            Err(ConvertError::Scaling(_))
        ));
        assert!(matches!(
            scale(picture, 0, 2),
            Err(ConvertError::Empty(0, 2))
        ));
    }

    /// Not a pass/fail test: prints what one 720p frame costs here
    /// (`cargo test -p onair-engine --release convert_cost -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn convert_cost_at_720p() {
        let (w, h) = (1280u32, 720u32);
        let small = I420 {
            width: W,
            height: H,
            data: fixture("testsrc2_112x84.yuv420p"),
        };
        let picture = scale(small, w, h).unwrap();
        let (y, u, v) = picture.planes();
        let yuyv: Vec<u8> = y
            .chunks_exact(2)
            .enumerate()
            .flat_map(|(i, pair)| {
                let (row, col) = (i * 2 / w as usize, (i * 2) % w as usize);
                let c = (row / 2) * (w as usize / 2) + col / 2;
                [pair[0], u[c], pair[1], v[c]]
            })
            .collect();
        let rounds = 50;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            to_i420(PixelFormat::Yuyv, w, h, &yuyv, Colour::Bt601).unwrap();
        }
        let yuyv_ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
        let jpeg = include_bytes!("../../../../assets/slate.jpg");
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            mjpeg_to_i420(jpeg, Colour::Bt601).unwrap();
        }
        let mjpeg_ms = started.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
        eprintln!("1280x720 to I420: YUYV {yuyv_ms:.2} ms, MJPEG {mjpeg_ms:.2} ms per frame");
    }
}
