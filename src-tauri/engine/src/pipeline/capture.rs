//! Capture runs for as long as the app shows a preview, independent of any
//! session: sources on their own threads, frames broadcast to the preview and
//! to whichever session is live.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::broadcast::{Broadcast, Subscription};
use crate::clock::MediaClock;
use crate::error::{ErrorCode, OnairError};
use crate::media::{AudioChunk, VideoFrame};
use crate::source::test_pattern::TestPattern;
use crate::source::test_tone::TestTone;
use crate::source::{AudioChoice, AudioSource, VideoChoice, VideoSource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSpec {
    pub video: VideoChoice,
    pub audio: AudioChoice,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for CaptureSpec {
    fn default() -> Self {
        CaptureSpec {
            video: VideoChoice::TestPattern,
            audio: AudioChoice::TestTone,
            width: 1280,
            height: 720,
            fps: 30,
        }
    }
}

pub struct Capture {
    spec: CaptureSpec,
    clock: MediaClock,
    video: Arc<Broadcast<VideoFrame>>,
    audio: Option<Arc<Broadcast<AudioChunk>>>,
    latest_frame: Arc<Mutex<Option<VideoFrame>>>,
    running: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    description: String,
}

impl Capture {
    pub fn open(spec: CaptureSpec, clock: MediaClock) -> Result<Self, OnairError> {
        let video_source: Box<dyn VideoSource> = match &spec.video {
            VideoChoice::TestPattern => Box::new(TestPattern::new(spec.width, spec.height, spec.fps, clock)),
            VideoChoice::Camera(_) => {
                return Err(OnairError::new(
                    ErrorCode::DeviceUnavailable,
                    "No camera is available to Onair on this machine. Use the test pattern (--video test).",
                ))
            }
        };
        let audio_source: Option<Box<dyn AudioSource>> = match &spec.audio {
            AudioChoice::TestTone => Some(Box::new(TestTone::new(clock))),
            AudioChoice::None => None,
            AudioChoice::Microphone(_) => {
                return Err(OnairError::new(
                    ErrorCode::DeviceUnavailable,
                    "No microphone is available to Onair on this machine. Use the test tone (--audio test) or no audio (--audio none).",
                ))
            }
        };
        let description = match &audio_source {
            Some(a) => format!("{} + {}", video_source.describe(), a.describe()),
            None => video_source.describe(),
        };

        let running = Arc::new(AtomicBool::new(true));
        let video = Arc::new(Broadcast::new());
        let latest_frame = Arc::new(Mutex::new(None));
        let mut threads = vec![spawn_video(
            video_source,
            video.clone(),
            latest_frame.clone(),
            running.clone(),
        )];
        let audio = audio_source.map(|source| {
            let broadcast = Arc::new(Broadcast::new());
            threads.push(spawn_audio(source, broadcast.clone(), running.clone()));
            broadcast
        });
        Ok(Capture {
            spec,
            clock,
            video,
            audio,
            latest_frame,
            running,
            threads,
            description,
        })
    }

    pub fn spec(&self) -> &CaptureSpec {
        &self.spec
    }

    pub fn clock(&self) -> MediaClock {
        self.clock
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    pub fn subscribe_video(&self, capacity: usize) -> Subscription<VideoFrame> {
        self.video.subscribe(capacity)
    }

    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    pub fn subscribe_audio(&self, capacity: usize) -> Option<Subscription<AudioChunk>> {
        self.audio.as_ref().map(|a| a.subscribe(capacity))
    }

    /// The newest captured frame, for the preview.
    pub fn latest_frame(&self) -> Option<VideoFrame> {
        self.latest_frame.lock().unwrap().clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.video.close();
        if let Some(a) = &self.audio {
            a.close();
        }
    }
}

fn spawn_video(
    mut source: Box<dyn VideoSource>,
    out: Arc<Broadcast<VideoFrame>>,
    latest: Arc<Mutex<Option<VideoFrame>>>,
    running: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("onair-video-capture".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                let Ok(frame) = source.next_frame() else {
                    break;
                };
                *latest.lock().unwrap() = Some(frame.clone());
                out.send(&frame);
            }
            out.close();
        })
        .expect("spawn video capture thread")
}

fn spawn_audio(
    mut source: Box<dyn AudioSource>,
    out: Arc<Broadcast<AudioChunk>>,
    running: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("onair-audio-capture".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                let Ok(chunk) = source.next_chunk() else {
                    break;
                };
                out.send(&chunk);
            }
            out.close();
        })
        .expect("spawn audio capture thread")
}
