//! Capture runs for as long as the app shows a preview, independent of any
//! session: sources on their own threads, frames broadcast to the preview and
//! to whichever session is live.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::broadcast::{Broadcast, Subscription};
use crate::clock::MediaClock;
use crate::compose::{Composite, Layout, LayoutSwitch, DEFAULT_PIP_PERCENT};
use crate::error::{ErrorCode, OnairError};
use crate::events::{Event, EventSink};
use crate::media::{AudioChunk, VideoFrame};
use crate::source::camera::{self, Camera};
use crate::source::levels::LevelMeter;
use crate::source::microphone::{self, Microphone};
use crate::source::screen::{self, Screen};
use crate::source::test_pattern::TestPattern;
use crate::source::test_tone::TestTone;
use crate::source::y4m::{self, Y4mSource};
use crate::source::{AudioChoice, AudioSource, SourceError, VideoChoice, VideoSource};
use crate::voice::{VoiceChain, VoiceMode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSpec {
    pub video: VideoChoice,
    /// A second picture over or beside the first (the camera over the
    /// screen), placed by `layout`.
    pub overlay: Option<VideoChoice>,
    /// How the two pictures share the stream; only with an overlay.
    pub layout: Layout,
    /// The corner picture's width, percent of the stream's.
    pub pip_percent: u32,
    pub audio: AudioChoice,
    /// The voice chain on the audio (see `voice`).
    pub voice: VoiceMode,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl Default for CaptureSpec {
    fn default() -> Self {
        CaptureSpec {
            video: VideoChoice::TestPattern,
            overlay: None,
            layout: Layout::default(),
            pip_percent: DEFAULT_PIP_PERCENT,
            audio: AudioChoice::TestTone,
            voice: VoiceMode::Off,
            width: 1280,
            height: 720,
            fps: 30,
        }
    }
}

impl CaptureSpec {
    /// What no source can make, whoever asks: every source divides by the
    /// frame rate and allocates by the size (the CLI and Settings keep
    /// narrower ranges of their own; this is the last guard).
    pub fn check(&self) -> Result<(), OnairError> {
        if !(1..=120).contains(&self.fps)
            || !(2..=3840).contains(&self.width)
            || !(2..=2160).contains(&self.height)
        {
            return Err(OnairError::new(
                ErrorCode::InvalidSettings,
                format!(
                    "{}x{} at {} frames a second cannot be captured: use up to 3840x2160 and 1 to 120 frames a second.",
                    self.width, self.height, self.fps
                ),
            ));
        }
        Ok(())
    }
}

pub struct Capture {
    spec: CaptureSpec,
    clock: MediaClock,
    video: Arc<Broadcast<VideoFrame>>,
    audio: Option<Arc<Broadcast<AudioChunk>>>,
    latest_frame: Arc<Mutex<Option<VideoFrame>>>,
    /// The live layout, when there is an overlay to lay out.
    layout: Option<LayoutSwitch>,
    running: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    description: String,
}

impl Capture {
    /// Opens the chosen sources. `events` hears what capture has to say
    /// (device lost or back, audio levels) for as long as it runs.
    pub fn open(
        spec: CaptureSpec,
        clock: MediaClock,
        events: Arc<dyn EventSink>,
    ) -> Result<Self, OnairError> {
        spec.check()?;
        let main = open_video(&spec.video, &spec, clock, &events)?;
        let (video_source, layout): (Box<dyn VideoSource>, _) = match &spec.overlay {
            None => (main, None),
            Some(choice) => {
                let overlay = open_video(choice, &spec, clock, &events)?;
                let switch = LayoutSwitch::new(spec.layout);
                let composite = Composite::new(
                    main,
                    overlay,
                    switch.clone(),
                    spec.width,
                    spec.height,
                    spec.pip_percent,
                );
                (Box::new(composite), Some(switch))
            }
        };
        let audio_source: Option<Box<dyn AudioSource>> = match &spec.audio {
            AudioChoice::TestTone => Some(Box::new(TestTone::new(clock))),
            AudioChoice::None => None,
            AudioChoice::Microphone(name) => Some(Box::new(
                Microphone::open(name.clone(), clock, events.clone())
                    .map_err(|e| microphone_unavailable(e, name.as_deref()))?,
            )),
        };
        let voice = VoiceChain::new(spec.voice);
        let description = match (&audio_source, &voice) {
            (Some(a), Some(chain)) => format!(
                "{} + {}, voice {} ({} ms)",
                video_source.describe(),
                a.describe(),
                chain.mode().as_str(),
                chain.latency_us() / 1000
            ),
            (Some(a), None) => format!("{} + {}", video_source.describe(), a.describe()),
            (None, _) => video_source.describe(),
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
            threads.push(spawn_audio(
                source,
                voice,
                broadcast.clone(),
                events.clone(),
                running.clone(),
            ));
            broadcast
        });
        Ok(Capture {
            spec,
            clock,
            video,
            audio,
            latest_frame,
            layout,
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

    /// The layout on air now; None without an overlay.
    pub fn layout(&self) -> Option<Layout> {
        self.layout.as_ref().map(LayoutSwitch::get)
    }

    /// Changes the layout on the next frame, while live or not: no
    /// reconnect, no keyframe (the encoder just sees other pictures).
    pub fn set_layout(&self, layout: Layout) -> Result<(), OnairError> {
        let switch = self.layout.as_ref().ok_or_else(|| {
            OnairError::new(
                ErrorCode::InvalidSettings,
                "There is only one picture to show: add a camera over the screen (--overlay camera or --overlay test) to choose a layout.",
            )
        })?;
        switch.set(layout);
        Ok(())
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

/// One picture source at the stream's size and rate.
fn open_video(
    choice: &VideoChoice,
    spec: &CaptureSpec,
    clock: MediaClock,
    events: &Arc<dyn EventSink>,
) -> Result<Box<dyn VideoSource>, OnairError> {
    let source: Box<dyn VideoSource> = match choice {
        VideoChoice::TestPattern => {
            Box::new(TestPattern::new(spec.width, spec.height, spec.fps, clock))
        }
        VideoChoice::BusyTestPattern => {
            Box::new(TestPattern::busy(spec.width, spec.height, spec.fps, clock))
        }
        VideoChoice::Screen(monitor) => {
            let output = screen::Output {
                width: spec.width,
                height: spec.height,
                fps: spec.fps,
            };
            Box::new(Screen::open(
                monitor.as_deref(),
                output,
                clock,
                events.clone(),
            )?)
        }
        VideoChoice::Camera(index) => {
            let output = camera::Output {
                width: spec.width,
                height: spec.height,
                fps: spec.fps,
            };
            Box::new(
                Camera::open(*index, output, clock, events.clone())
                    .map_err(|e| camera_unavailable(e, *index))?,
            )
        }
        VideoChoice::Y4mFile(path) => {
            let output = y4m::Output {
                width: spec.width,
                height: spec.height,
                fps: spec.fps,
            };
            Box::new(Y4mSource::open(path, output, clock)?)
        }
    };
    Ok(source)
}

/// Levels every 50 ms of 48 kHz audio: 20 meter updates a second.
const LEVELS_EVERY_FRAMES: usize = 2_400;

/// What a creator can do when the microphone cannot be opened: the devices
/// that do exist, and the test tone.
fn microphone_unavailable(error: SourceError, name: Option<&str>) -> OnairError {
    let found: Vec<String> = microphone::list_microphones()
        .into_iter()
        .map(|m| m.name)
        .collect();
    let wanted = match name {
        Some(name) => format!("The microphone {name:?}"),
        None => "The default microphone".to_string(),
    };
    let what_exists = if found.is_empty() {
        "No microphone was found.".to_string()
    } else {
        format!("Microphones found: {}.", found.join(", "))
    };
    let detail = match error {
        SourceError::Unavailable(why) => format!(" ({why})"),
        SourceError::Stopped => String::new(),
    };
    OnairError::new(
        ErrorCode::DeviceUnavailable,
        format!(
            "{wanted} could not be opened{detail}. {what_exists} Choose one with --audio mic:NAME (see onair devices), or use the test tone (--audio test)."
        ),
    )
}

/// What a creator can do when the camera cannot be opened: the cameras that
/// do exist, and the test pattern.
fn camera_unavailable(error: SourceError, index: Option<u32>) -> OnairError {
    let found = camera::list_cameras();
    let detail = match error {
        SourceError::Unavailable(why) => format!(" ({why})"),
        SourceError::Stopped => String::new(),
    };
    let message = if found.is_empty() {
        "No camera was found on this machine. Connect one, or use the test pattern (--video test)."
            .to_string()
    } else {
        let wanted = match index {
            Some(i) => format!("Camera {i}"),
            None => "The first camera".to_string(),
        };
        let listed: Vec<String> = found
            .iter()
            .map(|c| format!("{} {:?}", c.index, c.name))
            .collect();
        format!(
            "{wanted} could not be opened{detail}. Cameras found: {}. Choose one with --video camera:N (see onair devices), or use the test pattern (--video test).",
            listed.join(", ")
        )
    };
    OnairError::new(ErrorCode::DeviceUnavailable, message)
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
    mut voice: Option<VoiceChain>,
    out: Arc<Broadcast<AudioChunk>>,
    events: Arc<dyn EventSink>,
    running: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("onair-audio-capture".into())
        .spawn(move || {
            let mut meter = LevelMeter::new(LEVELS_EVERY_FRAMES);
            while running.load(Ordering::Relaxed) {
                let Ok(chunk) = source.next_chunk() else {
                    break;
                };
                // The meter and the encoders hear the chain's output.
                let chunk = match voice.as_mut() {
                    Some(chain) => match chain.process(&chunk) {
                        Some(processed) => processed,
                        None => continue,
                    },
                    None => chunk,
                };
                if let Some((peak_dbfs, rms_dbfs)) = meter.add(&chunk) {
                    events.emit(Event::Levels {
                        peak_dbfs,
                        rms_dbfs,
                        limiter_db: voice.as_mut().map_or(0.0, VoiceChain::take_limiter_db),
                    });
                }
                out.send(&chunk);
            }
            out.close();
        })
        .expect("spawn audio capture thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_switches_with_an_overlay_and_is_refused_without() {
        let events: Arc<dyn EventSink> = Arc::new(|_: Event| {});
        let spec = CaptureSpec {
            audio: AudioChoice::None,
            width: 64,
            height: 36,
            ..CaptureSpec::default()
        };
        let alone = Capture::open(spec.clone(), MediaClock::start(), events.clone()).unwrap();
        assert_eq!(alone.layout(), None);
        let err = alone.set_layout(Layout::Side).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidSettings);

        let spec = CaptureSpec {
            overlay: Some(VideoChoice::TestPattern),
            ..spec
        };
        let both = Capture::open(spec, MediaClock::start(), events).unwrap();
        assert_eq!(
            both.layout(),
            Some(Layout::PipBr),
            "an overlay alone is pip-br"
        );
        both.set_layout(Layout::Side).unwrap();
        assert_eq!(both.layout(), Some(Layout::Side));
        assert!(both.describe().contains("layout"), "{}", both.describe());
    }

    #[test]
    fn a_spec_no_source_can_make_is_refused_before_any_thread_starts() {
        let events: Arc<dyn EventSink> = Arc::new(|_: Event| {});
        let base = CaptureSpec {
            audio: AudioChoice::None,
            ..CaptureSpec::default()
        };
        for spec in [
            CaptureSpec {
                fps: 0,
                ..base.clone()
            },
            CaptureSpec {
                width: 0,
                ..base.clone()
            },
            CaptureSpec {
                height: 100_000,
                ..base.clone()
            },
        ] {
            let err = Capture::open(spec, MediaClock::start(), events.clone())
                .err()
                .expect("refused");
            assert_eq!(err.code, ErrorCode::InvalidSettings, "{}", err.message);
        }
    }
}
