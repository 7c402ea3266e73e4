//! Picture scaling for simulcast layers and encoder step-down: each I420
//! plane through fast_image_resize's SIMD convolution (bilinear: sharp
//! enough for a downscale by 2 or 4, and cheap).

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::encode::EncodeError;
use crate::media::VideoFrame;

pub struct Scaler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl Default for Scaler {
    fn default() -> Self {
        Scaler {
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        }
    }
}

impl Scaler {
    /// `frame` at `width`x`height` (both even); the capture time is kept.
    pub fn scale(
        &mut self,
        frame: &VideoFrame,
        width: u32,
        height: u32,
    ) -> Result<VideoFrame, EncodeError> {
        if (frame.width, frame.height) == (width, height) {
            return Ok(frame.clone());
        }
        let (y, u, v) = frame.planes();
        let (cw, ch) = (frame.width.div_ceil(2), frame.height.div_ceil(2));
        let (dcw, dch) = (width.div_ceil(2), height.div_ceil(2));
        let mut data = Vec::with_capacity(VideoFrame::i420_len(width, height));
        for (plane, w, h, dw, dh) in [
            (y, frame.width, frame.height, width, height),
            (u, cw, ch, dcw, dch),
            (v, cw, ch, dcw, dch),
        ] {
            let src = ImageRef::new(w, h, plane, PixelType::U8)
                .map_err(|e| EncodeError::Scale(e.to_string()))?;
            let mut dst = Image::new(dw, dh, PixelType::U8);
            self.resizer
                .resize(&src, &mut dst, &self.options)
                .map_err(|e| EncodeError::Scale(e.to_string()))?;
            data.extend_from_slice(dst.buffer());
        }
        Ok(VideoFrame {
            width,
            height,
            data: std::sync::Arc::new(data),
            capture_us: frame.capture_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn halves_a_picture_and_keeps_flat_areas_flat() {
        let (w, h) = (64u32, 48u32);
        let mut data = vec![200u8; (w * h) as usize];
        data.extend(vec![90u8; ((w / 2) * (h / 2)) as usize]);
        data.extend(vec![160u8; ((w / 2) * (h / 2)) as usize]);
        let frame = VideoFrame {
            width: w,
            height: h,
            data: Arc::new(data),
            capture_us: 7,
        };
        let half = Scaler::default().scale(&frame, 32, 24).unwrap();
        assert_eq!(half.data.len(), VideoFrame::i420_len(32, 24));
        assert_eq!(half.capture_us, 7);
        let (y, u, v) = half.planes();
        assert!(y.iter().all(|&p| p == 200));
        assert!(u.iter().all(|&p| p == 90));
        assert!(v.iter().all(|&p| p == 160));
    }
}
