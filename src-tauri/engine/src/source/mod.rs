//! Where raw media comes from. Cameras, microphones and the built-in test
//! sources sit behind the same two traits, so everything downstream (and every
//! test) treats them alike.

pub mod camera;
pub mod convert;
pub mod drift;
pub mod levels;
pub mod microphone;
#[cfg(target_os = "linux")]
mod pulse;
pub mod screen;
pub mod slate;
pub mod stamp;
pub mod test_pattern;
pub mod test_tone;
pub mod y4m;

use crate::error::{ErrorCode, OnairError};
use crate::media::{AudioChunk, VideoFrame};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0} is not available")]
    Unavailable(String),
    #[error("the source was stopped")]
    Stopped,
}

impl From<SourceError> for OnairError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Unavailable(what) => OnairError::new(
                ErrorCode::DeviceUnavailable,
                format!("{what} is not available. Choose another device, or use the test pattern (--video test)."),
            ),
            SourceError::Stopped => OnairError::internal("a capture source stopped unexpectedly"),
        }
    }
}

/// A video source paces itself: `next_frame` blocks until a frame is captured.
pub trait VideoSource: Send {
    fn describe(&self) -> String;
    fn next_frame(&mut self) -> Result<VideoFrame, SourceError>;
}

/// An audio source paces itself: `next_chunk` blocks until samples are captured.
pub trait AudioSource: Send {
    fn describe(&self) -> String;
    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError>;
}

/// Which video source a session or the preview should open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoChoice {
    TestPattern,
    /// The test pattern with fresh grain, which costs a camera's bitrate.
    BusyTestPattern,
    Camera(Option<u32>),
    /// The whole screen, or one monitor (by index or name).
    Screen(Option<String>),
    /// A raw YUV4MPEG2 clip, looped at its own frame rate.
    Y4mFile(std::path::PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioChoice {
    TestTone,
    Microphone(Option<String>),
    None,
}

/// Cameras this machine exposes, counted without opening any (cheap enough
/// for the UI to ask whenever it shows the device picker).
pub fn camera_count() -> usize {
    camera::count_cameras()
}
