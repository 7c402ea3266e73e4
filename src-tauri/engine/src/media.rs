//! Raw and encoded media as they flow through the pipeline.

use std::sync::Arc;

use crate::colour::Colour;

/// An I420 picture: Y plane, then U, then V, without padding.
#[derive(Debug, Clone)]
pub struct VideoFrame {
    pub width: u32,
    pub height: u32,
    pub data: Arc<Vec<u8>>,
    /// Capture time on the media clock.
    pub capture_us: u64,
}

impl VideoFrame {
    pub fn i420_len(width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        w * h + 2 * (w.div_ceil(2) * h.div_ceil(2))
    }

    pub fn planes(&self) -> (&[u8], &[u8], &[u8]) {
        let (w, h) = (self.width as usize, self.height as usize);
        let chroma = w.div_ceil(2) * h.div_ceil(2);
        let (y, rest) = self.data.split_at(w * h);
        let (u, v) = rest.split_at(chroma);
        (y, u, v)
    }

    /// A small RGB copy for a preview: at most `max_width` wide, scaled down
    /// by a whole step (nearest sample), read back with the colour space the
    /// picture was made in. Returns (width, height, RGB bytes).
    pub fn preview_rgb(&self, max_width: u32) -> (u32, u32, Vec<u8>) {
        let step = self.width.div_ceil(max_width.max(1)).max(1) as usize;
        let (w, h) = (self.width as usize / step, self.height as usize / step);
        let (y_plane, u_plane, v_plane) = self.planes();
        let (fw, cw) = (self.width as usize, (self.width as usize).div_ceil(2));
        let [gain, vr, ug, vg, ub] =
            Colour::for_size(self.width, self.height).to_rgb_coefficients();
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            let (luma_row, chroma_row) = (row * step * fw, (row * step / 2) * cw);
            for col in 0..w {
                let (sx, cx) = (col * step, col * step / 2);
                let y = (y_plane[luma_row + sx] as i32 - 16) * gain;
                let u = u_plane[chroma_row + cx] as i32 - 128;
                let v = v_plane[chroma_row + cx] as i32 - 128;
                rgb.push(((y + vr * v + 128) >> 8).clamp(0, 255) as u8);
                rgb.push(((y - ug * u - vg * v + 128) >> 8).clamp(0, 255) as u8);
                rgb.push(((y + ub * u + 128) >> 8).clamp(0, 255) as u8);
            }
        }
        (w as u32, h as u32, rgb)
    }
}

impl openh264::formats::YUVSource for VideoFrame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width as usize, self.height as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let cw = (self.width as usize).div_ceil(2);
        (self.width as usize, cw, cw)
    }

    fn y(&self) -> &[u8] {
        self.planes().0
    }

    fn u(&self) -> &[u8] {
        self.planes().1
    }

    fn v(&self) -> &[u8] {
        self.planes().2
    }
}

/// Interleaved f32 samples at `rate`. The capture time is that of the first sample.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    pub rate: u32,
    pub channels: u16,
    pub samples: Arc<Vec<f32>>,
    pub capture_us: u64,
}

impl AudioChunk {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Opus,
}

/// One H.264 access unit in Annex B form, parameter sets included on keyframes.
#[derive(Debug, Clone)]
pub struct EncodedVideo {
    pub data: Arc<Vec<u8>>,
    pub keyframe: bool,
    /// Presentation time on the session timeline (0 = Go Live).
    pub pts_us: i64,
    /// Decode time: before `pts_us` when an encoder reorders pictures for
    /// B-frames (x264 for RTMP and files), the same otherwise.
    pub dts_us: i64,
    /// Simulcast layer, 0 = full size (the only layer without simulcast).
    pub layer: u8,
}

/// One raw AAC frame (no ADTS header).
#[derive(Debug, Clone)]
pub struct EncodedAudio {
    pub data: Arc<Vec<u8>>,
    /// Presentation time on the session timeline. Negative for the encoder's
    /// priming frames, so that decoded samples line up with their capture time.
    pub pts_us: i64,
}

#[derive(Debug, Clone)]
pub enum Packet {
    Video(EncodedVideo),
    Audio(EncodedAudio),
}

/// What a sink needs to know about the streams before the first packet.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio: Option<AudioInfo>,
}

#[derive(Debug, Clone)]
pub struct AudioInfo {
    pub codec: AudioCodec,
    pub rate: u32,
    pub channels: u16,
    pub kbps: u32,
    /// AudioSpecificConfig for AAC.
    pub config: Vec<u8>,
    /// How far before 0 the first packet's pts may lie (encoder priming).
    /// Container sinks shift every timestamp by this so none is negative.
    pub lead_us: i64,
}
