//! Encoders behind small traits, each on its own OS thread in the pipeline.

pub mod aac;
pub mod h264;
pub mod openh264_raw;
pub mod opus;
pub mod simulcast;
#[cfg(feature = "x264")]
pub mod x264;

use crate::error::OnairError;
use crate::media::{EncodedAudio, EncodedVideo, VideoFrame};

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("the H.264 encoder failed: {0}")]
    H264(String),
    #[error("the AAC encoder failed: {0}")]
    Aac(String),
    #[error("the Opus encoder failed: {0}")]
    Opus(String),
    #[error("scaling a picture failed: {0}")]
    Scale(String),
}

impl From<EncodeError> for OnairError {
    fn from(e: EncodeError) -> Self {
        OnairError::internal(e.to_string())
    }
}

pub trait VideoEncoder: Send {
    /// Encodes one frame into every active layer (one, unless simulcasting);
    /// an empty result means the encoder produced nothing this time.
    fn encode(&mut self, frame: &VideoFrame, pts_us: i64)
        -> Result<Vec<EncodedVideo>, EncodeError>;
    /// The next frame of every layer is a keyframe.
    fn request_keyframe(&mut self);
    /// The target for the whole output (all layers together).
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError>;
    /// Which simulcast layers to encode, a bit per layer (top = bit 0).
    fn set_active_layers(&mut self, _mask: u32) {}
    /// Pictures taken in and not yet out: an encoder that reorders for
    /// B-frames holds a few (they are late, not lost).
    fn held(&self) -> usize {
        0
    }
    /// The pictures still held, at the end.
    fn flush(&mut self) -> Result<Vec<EncodedVideo>, EncodeError> {
        Ok(Vec::new())
    }
}

pub trait AudioEncoder: Send {
    /// Samples per channel in one encoded frame.
    fn frame_samples(&self) -> usize;
    /// Samples per channel the encoder holds back before its first output.
    fn delay_samples(&self) -> usize;
    /// Codec configuration a container needs (AudioSpecificConfig for AAC).
    fn config(&self) -> Vec<u8>;
    /// Encodes exactly `frame_samples()` interleaved samples.
    fn encode(&mut self, pcm: &[f32], pts_us: i64) -> Result<Option<EncodedAudio>, EncodeError>;
}
