//! The camera: nokhwa opens the device in its best native mode on a thread
//! of its own (its handles are not `Send`), every frame becomes I420 at the
//! session's size there, stamped when it arrived. A camera that stops
//! delivering becomes the slate at the session's frame rate, a `device_lost`
//! health event and a retry each second, so the stream never stops.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;

use super::convert::{self, PixelFormat, I420};
use super::{slate, SourceError, VideoSource};
use crate::clock::MediaClock;
use crate::colour::Colour;
use crate::events::{Event, EventSink, HealthCode};
use crate::media::VideoFrame;

/// One way a camera can deliver frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CameraMode {
    pub fourcc: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

impl std::fmt::Display for CameraMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}x{} {} at {} fps",
            self.width, self.height, self.fourcc, self.fps
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CameraInfo {
    /// What `--video camera:N` takes.
    pub index: u32,
    pub name: String,
    /// The modes Onair can use; empty when the device could not be asked.
    pub formats: Vec<CameraMode>,
}

/// The best native mode for a session of `want_w`x`want_h` at `want_fps`:
/// the exact size and rate if offered; otherwise the size closest to the
/// wanted one (a larger one before a smaller, since scaling down keeps
/// detail) among the modes at least as fast; otherwise the fastest. At equal
/// size and rate the format cheapest to convert wins, so MJPEG is chosen
/// only when it is the one way to get the size or rate.
pub fn choose_mode(
    available: &[CameraMode],
    want_w: u32,
    want_h: u32,
    want_fps: u32,
) -> Option<CameraMode> {
    let fast_enough: Vec<&CameraMode> = available.iter().filter(|m| m.fps >= want_fps).collect();
    let candidates = if fast_enough.is_empty() {
        let fastest = available.iter().map(|m| m.fps).max()?;
        available.iter().filter(|m| m.fps == fastest).collect()
    } else {
        fast_enough
    };
    let want_area = want_w as u64 * want_h as u64;
    candidates
        .into_iter()
        .min_by_key(|m| {
            let exact = m.width == want_w && m.height == want_h;
            let covers = m.width >= want_w && m.height >= want_h;
            let area_gap = (m.width as u64 * m.height as u64).abs_diff(want_area);
            (
                !exact,
                !covers,
                area_gap,
                m.fourcc.conversion_cost(),
                m.fps.abs_diff(want_fps),
            )
        })
        .copied()
}

fn pixel_format(format: nokhwa::utils::FrameFormat) -> Option<PixelFormat> {
    use nokhwa::utils::FrameFormat as F;
    match format {
        F::MJPEG => Some(PixelFormat::Mjpeg),
        F::YUYV => Some(PixelFormat::Yuyv),
        F::NV12 => Some(PixelFormat::Nv12),
        F::RAWRGB => Some(PixelFormat::Rgb24),
        F::RAWBGR => Some(PixelFormat::Bgr24),
        F::GRAY => None,
    }
}

fn frame_format(format: PixelFormat) -> Option<nokhwa::utils::FrameFormat> {
    use nokhwa::utils::FrameFormat as F;
    match format {
        PixelFormat::Mjpeg => Some(F::MJPEG),
        PixelFormat::Yuyv => Some(F::YUYV),
        PixelFormat::Nv12 => Some(F::NV12),
        PixelFormat::Rgb24 => Some(F::RAWRGB),
        PixelFormat::Bgr24 => Some(F::RAWBGR),
        PixelFormat::Uyvy => None,
    }
}

/// Opens camera `index` in whatever mode it offers, to ask it what it can do.
fn open_any_mode(index: u32) -> Result<nokhwa::Camera, nokhwa::NokhwaError> {
    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};
    nokhwa::Camera::new(
        CameraIndex::Index(index),
        RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate),
    )
}

fn usable_modes(camera: &mut nokhwa::Camera) -> Result<Vec<CameraMode>, nokhwa::NokhwaError> {
    let mut modes: Vec<CameraMode> = camera
        .compatible_camera_formats()?
        .into_iter()
        .filter_map(|f| {
            Some(CameraMode {
                fourcc: pixel_format(f.format())?,
                width: f.width(),
                height: f.height(),
                fps: f.frame_rate(),
            })
        })
        .collect();
    modes.sort_by_key(|m| {
        (
            m.fourcc.conversion_cost(),
            std::cmp::Reverse((m.width * m.height, m.fps)),
        )
    });
    modes.dedup();
    Ok(modes)
}

/// Cameras with the modes Onair can use. No camera system, or none at all,
/// is an empty list: the test pattern is still there.
pub fn list_cameras() -> Vec<CameraInfo> {
    let Ok(found) = nokhwa::query(nokhwa::utils::ApiBackend::Auto) else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter_map(|info| {
            let index = info.index().as_index().ok()?;
            let formats = open_any_mode(index)
                .and_then(|mut camera| usable_modes(&mut camera))
                .unwrap_or_default();
            Some(CameraInfo {
                index,
                name: info.human_name(),
                formats,
            })
        })
        .collect()
}

/// How many cameras the system reports, without opening any.
pub fn count_cameras() -> usize {
    nokhwa::query(nokhwa::utils::ApiBackend::Auto).map_or(0, |found| found.len())
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GrabError(pub String);

/// A device that delivers raw frames. Lives on the camera's own thread, so
/// it need not be `Send`; tests drive the camera source through a fake.
pub trait FrameGrabber {
    /// Opens (or reopens) the device and says which native mode it delivers.
    fn open(&mut self) -> Result<CameraMode, GrabError>;
    /// Blocks until the next frame. An error means the device is gone.
    fn grab(&mut self) -> Result<Cow<'_, [u8]>, GrabError>;
    fn close(&mut self);
}

/// A real camera through nokhwa, in the mode `choose_mode` picks.
pub struct NokhwaGrabber {
    index: u32,
    want: (u32, u32, u32),
    camera: Option<nokhwa::Camera>,
}

impl NokhwaGrabber {
    pub fn new(index: u32, width: u32, height: u32, fps: u32) -> Self {
        NokhwaGrabber {
            index,
            want: (width, height, fps),
            camera: None,
        }
    }
}

impl FrameGrabber for NokhwaGrabber {
    fn open(&mut self) -> Result<CameraMode, GrabError> {
        use nokhwa::utils::{CameraFormat, RequestedFormat, RequestedFormatType};
        self.close();
        let failed = |e: nokhwa::NokhwaError| GrabError(e.to_string());
        let mut camera = open_any_mode(self.index).map_err(failed)?;
        let modes = usable_modes(&mut camera).map_err(failed)?;
        let (w, h, fps) = self.want;
        let mode = choose_mode(&modes, w, h, fps)
            .ok_or_else(|| GrabError("it offers no picture format Onair can read".into()))?;
        let fourcc = frame_format(mode.fourcc).expect("modes come from nokhwa formats");
        let exact = CameraFormat::new_from(mode.width, mode.height, fourcc, mode.fps);
        camera
            .set_camera_requset(RequestedFormat::with_formats(
                RequestedFormatType::Exact(exact),
                &[fourcc],
            ))
            .map_err(failed)?;
        camera.open_stream().map_err(failed)?;
        self.camera = Some(camera);
        Ok(mode)
    }

    fn grab(&mut self) -> Result<Cow<'_, [u8]>, GrabError> {
        let camera = self
            .camera
            .as_mut()
            .ok_or_else(|| GrabError("the camera is closed".into()))?;
        camera.frame_raw().map_err(|e| GrabError(e.to_string()))
    }

    fn close(&mut self) {
        if let Some(mut camera) = self.camera.take() {
            let _ = camera.stop_stream();
        }
    }
}

/// How patient the camera source is; tests shorten these.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Between attempts to reopen a lost device.
    pub retry_every: Duration,
    /// Without frames (and without an error) before the device counts as lost.
    pub stall: Duration,
    /// A camera can take a few seconds to deliver its first frame.
    pub first_frame: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            retry_every: Duration::from_secs(1),
            stall: Duration::from_secs(2),
            first_frame: Duration::from_secs(5),
        }
    }
}

/// What the device thread tells the source.
enum DeviceMessage {
    Frame(VideoFrame),
    /// A frame that could not be converted (a corrupt JPEG): skipped.
    Skipped,
    Lost(GrabError),
}

/// The session's picture: every frame leaves at this size and rate.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

pub struct Camera {
    label: String,
    output: Output,
    clock: MediaClock,
    events: Arc<dyn EventSink>,
    messages: Receiver<DeviceMessage>,
    stop: Arc<AtomicBool>,
    slate: Arc<Vec<u8>>,
    patience: Patience,
    lost: bool,
    last_us: Option<u64>,
    skipped: u64,
    description: String,
}

impl Camera {
    /// Opens camera `index` (the first one when `None`) for frames of
    /// `output`'s size and rate.
    pub fn open(
        index: Option<u32>,
        output: Output,
        clock: MediaClock,
        events: Arc<dyn EventSink>,
    ) -> Result<Self, SourceError> {
        let (index, name) = match index {
            Some(i) => (i, format!("Camera {i}")),
            None => {
                let first = list_cameras()
                    .into_iter()
                    .find(|c| !c.formats.is_empty())
                    .ok_or_else(|| SourceError::Unavailable("No camera was found".into()))?;
                (first.index, format!("The camera {:?}", first.name))
            }
        };
        let Output { width, height, fps } = output;
        Camera::with_grabber(
            name,
            move || NokhwaGrabber::new(index, width, height, fps),
            output,
            clock,
            events,
            Patience::default(),
        )
    }

    /// Runs `make_grabber()`'s device on a thread of its own; fails when
    /// the first `open` does.
    pub fn with_grabber<G, F>(
        label: String,
        make_grabber: F,
        output: Output,
        clock: MediaClock,
        events: Arc<dyn EventSink>,
        patience: Patience,
    ) -> Result<Self, SourceError>
    where
        G: FrameGrabber,
        F: FnOnce() -> G + Send + 'static,
    {
        let slate = slate::slate(output.width, output.height)
            .map_err(|e| SourceError::Unavailable(format!("The slate image ({e})")))?;
        // Two frames of slack: a busy encoder loses the oldest frame, never
        // holds up the device.
        let (tx, messages) = bounded(2);
        let (ready_tx, ready_rx) = bounded::<Result<CameraMode, GrabError>>(1);
        let stop = Arc::new(AtomicBool::new(false));
        let device = DeviceThread {
            output,
            clock,
            tx,
            stop: stop.clone(),
            retry_every: patience.retry_every,
        };
        std::thread::Builder::new()
            .name("onair-camera".into())
            .spawn(move || {
                let mut grabber = make_grabber();
                let mode = grabber.open();
                let _ = ready_tx.send(mode.clone());
                if let Ok(mode) = mode {
                    device.run(&mut grabber, mode);
                }
                grabber.close();
            })
            .expect("spawn camera thread");
        let mode = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(GrabError("the camera thread ended".into())))
            .map_err(|e| SourceError::Unavailable(format!("{label} ({e})")))?;
        let description = format!(
            "{} ({mode}, sent as {}x{} at {} fps)",
            label.to_lowercase(),
            output.width,
            output.height,
            output.fps
        );
        Ok(Camera {
            label,
            output,
            clock,
            events,
            messages,
            stop,
            slate: Arc::new(slate),
            patience,
            lost: false,
            last_us: None,
            skipped: 0,
            description,
        })
    }

    fn interval_us(&self) -> u64 {
        1_000_000 / self.output.fps.max(1) as u64
    }

    fn lose(&mut self, why: &str) {
        if self.lost {
            return;
        }
        self.lost = true;
        self.events.emit(Event::health(
            HealthCode::DeviceLost,
            format!(
                "{} stopped delivering pictures ({why}); sending the slate until it returns.",
                self.label
            ),
        ));
    }

    /// The slate, due one frame after the last picture (or now, after a stall).
    fn slate_frame(&mut self) -> VideoFrame {
        let due = self.next_due_us();
        self.clock.sleep_until(due);
        self.last_us = Some(due);
        VideoFrame {
            width: self.output.width,
            height: self.output.height,
            data: self.slate.clone(),
            capture_us: due,
        }
    }

    fn next_due_us(&self) -> u64 {
        match self.last_us {
            Some(last) => (last + self.interval_us()).max(self.clock.now_us()),
            None => self.clock.now_us(),
        }
    }

    /// Frames the camera delivered but could not be read (corrupt JPEGs).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    #[cfg(test)]
    fn slate(&self) -> &[u8] {
        &self.slate
    }
}

impl VideoSource for Camera {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        loop {
            let wait = if self.lost {
                Duration::from_micros(self.next_due_us().saturating_sub(self.clock.now_us()))
            } else if self.last_us.is_none() {
                self.patience.first_frame
            } else {
                self.patience.stall
            };
            match self.messages.recv_timeout(wait) {
                Ok(DeviceMessage::Frame(frame)) => {
                    if self.lost {
                        self.lost = false;
                        self.events.emit(Event::health(
                            HealthCode::DeviceRestored,
                            format!("{} is back.", self.label),
                        ));
                    }
                    // A camera faster than the session: keep one frame per
                    // interval (with room for jitter), and times always rising.
                    if let Some(last) = self.last_us {
                        if frame.capture_us < last + self.interval_us() * 3 / 4 {
                            continue;
                        }
                    }
                    self.last_us = Some(frame.capture_us);
                    return Ok(frame);
                }
                Ok(DeviceMessage::Skipped) => self.skipped += 1,
                Ok(DeviceMessage::Lost(why)) => self.lose(&why.0),
                Err(RecvTimeoutError::Timeout) if self.lost => return Ok(self.slate_frame()),
                Err(RecvTimeoutError::Timeout) => self.lose("no picture for a while"),
                Err(RecvTimeoutError::Disconnected) => {
                    self.lose("its thread ended");
                    return Ok(self.slate_frame());
                }
            }
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        // The device thread sees this between frames (or when a send finds
        // no receiver) and closes the device.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The device side: grab, convert, hand over; reopen after a loss.
struct DeviceThread {
    output: Output,
    clock: MediaClock,
    tx: Sender<DeviceMessage>,
    stop: Arc<AtomicBool>,
    retry_every: Duration,
}

impl DeviceThread {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Returns once the source is gone.
    fn run(&self, grabber: &mut dyn FrameGrabber, mut mode: CameraMode) {
        loop {
            let lost = loop {
                if self.stopped() {
                    return;
                }
                let raw = match grabber.grab() {
                    Ok(raw) => raw,
                    Err(e) => break e,
                };
                let arrived_us = self.clock.now_us();
                let colour = Colour::for_size(self.output.width, self.output.height);
                let message = convert::to_i420(mode.fourcc, mode.width, mode.height, &raw, colour)
                    .and_then(|picture| {
                        convert::scale(picture, self.output.width, self.output.height)
                    })
                    .map_or_else(
                        |_| DeviceMessage::Skipped,
                        |p: I420| DeviceMessage::Frame(p.into_frame(arrived_us)),
                    );
                if let Err(TrySendError::Disconnected(_)) = self.tx.try_send(message) {
                    return;
                }
            };
            grabber.close();
            if self.tx.send(DeviceMessage::Lost(lost)).is_err() {
                return;
            }
            mode = match self.reopen(grabber) {
                Some(mode) => mode,
                None => return,
            };
        }
    }

    /// Tries again every `retry_every` until the device opens or the source is gone.
    fn reopen(&self, grabber: &mut dyn FrameGrabber) -> Option<CameraMode> {
        loop {
            let until = std::time::Instant::now() + self.retry_every;
            while std::time::Instant::now() < until {
                if self.stopped() {
                    return None;
                }
                std::thread::sleep(self.retry_every.min(Duration::from_millis(50)));
            }
            if let Ok(mode) = grabber.open() {
                return Some(mode);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;

    fn mode(fourcc: PixelFormat, width: u32, height: u32, fps: u32) -> CameraMode {
        CameraMode {
            fourcc,
            width,
            height,
            fps,
        }
    }

    use PixelFormat::{Mjpeg, Nv12, Yuyv};

    #[test]
    fn the_exact_mode_wins_and_a_cheap_format_beats_mjpeg() {
        let modes = [
            mode(Mjpeg, 1920, 1080, 30),
            mode(Mjpeg, 1280, 720, 30),
            mode(Yuyv, 1280, 720, 30),
            mode(Yuyv, 640, 480, 30),
        ];
        assert_eq!(
            choose_mode(&modes, 1280, 720, 30),
            Some(mode(Yuyv, 1280, 720, 30))
        );
        let with_nv12 = [mode(Yuyv, 1280, 720, 30), mode(Nv12, 1280, 720, 30)];
        assert_eq!(
            choose_mode(&with_nv12, 1280, 720, 30),
            Some(mode(Nv12, 1280, 720, 30))
        );
    }

    #[test]
    fn mjpeg_when_it_is_the_only_way_to_the_rate() {
        // The usual USB 2 webcam: raw 720p only at 10 fps.
        let modes = [
            mode(Yuyv, 1280, 720, 10),
            mode(Yuyv, 640, 480, 30),
            mode(Mjpeg, 1280, 720, 30),
        ];
        assert_eq!(
            choose_mode(&modes, 1280, 720, 30),
            Some(mode(Mjpeg, 1280, 720, 30))
        );
    }

    #[test]
    fn the_closest_size_at_the_rate_prefers_scaling_down() {
        let modes = [
            mode(Yuyv, 640, 480, 30),
            mode(Mjpeg, 1920, 1080, 30),
            mode(Mjpeg, 3840, 2160, 30),
            mode(Yuyv, 1280, 720, 15),
        ];
        assert_eq!(
            choose_mode(&modes, 1280, 720, 30),
            Some(mode(Mjpeg, 1920, 1080, 30))
        );
        // A faster mode at the exact size is fine: the source drops the extra frames.
        let fast = [mode(Yuyv, 1280, 720, 60), mode(Yuyv, 1920, 1080, 30)];
        assert_eq!(
            choose_mode(&fast, 1280, 720, 30),
            Some(mode(Yuyv, 1280, 720, 60))
        );
        // Only a smaller size: the closest one.
        let small = [mode(Yuyv, 320, 240, 30), mode(Yuyv, 640, 480, 30)];
        assert_eq!(
            choose_mode(&small, 1280, 720, 30),
            Some(mode(Yuyv, 640, 480, 30))
        );
    }

    #[test]
    fn too_slow_everywhere_takes_the_fastest() {
        let modes = [mode(Yuyv, 1280, 720, 5), mode(Yuyv, 640, 480, 15)];
        assert_eq!(
            choose_mode(&modes, 1280, 720, 30),
            Some(mode(Yuyv, 640, 480, 15))
        );
        assert_eq!(choose_mode(&[], 1280, 720, 30), None);
    }

    /// What the fake device does next.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Step {
        OpenOk,
        OpenFails,
        Frame,
        Corrupt,
        Unplugged,
    }

    /// A camera that follows a script, then delivers frames for ever.
    struct ScriptedGrabber {
        frame: Vec<u8>,
        script: VecDeque<Step>,
        interval: Duration,
    }

    const FIXTURE_MODE: CameraMode = CameraMode {
        fourcc: PixelFormat::Yuyv,
        width: 112,
        height: 84,
        fps: 50,
    };

    impl FrameGrabber for ScriptedGrabber {
        fn open(&mut self) -> Result<CameraMode, GrabError> {
            match self.script.pop_front() {
                Some(Step::OpenOk) => Ok(FIXTURE_MODE),
                Some(Step::OpenFails) => Err(GrabError("no such device".into())),
                other => panic!("open() where the script has {other:?}"),
            }
        }

        fn grab(&mut self) -> Result<Cow<'_, [u8]>, GrabError> {
            std::thread::sleep(self.interval);
            match self.script.pop_front().unwrap_or(Step::Frame) {
                Step::Frame => Ok(Cow::Borrowed(&self.frame)),
                Step::Corrupt => Ok(Cow::Borrowed(&self.frame[..10])),
                Step::Unplugged => Err(GrabError("No such device (os error 19)".into())),
                other => panic!("grab() where the script has {other:?}"),
            }
        }

        fn close(&mut self) {}
    }

    fn collecting_events() -> (Arc<dyn EventSink>, Arc<Mutex<Vec<Event>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let events: Arc<dyn EventSink> = Arc::new(move |e: Event| sink.lock().unwrap().push(e));
        (events, seen)
    }

    fn health_codes(seen: &Mutex<Vec<Event>>) -> Vec<HealthCode> {
        seen.lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Health { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_unplugged_camera_becomes_the_slate_until_it_returns() {
        let yuyv = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/testsrc2_112x84.yuyv"
        ))
        .unwrap();
        let output = Output {
            width: 64,
            height: 48,
            fps: 50,
        };
        let mut script = vec![Step::OpenOk];
        script.extend([Step::Frame; 4]);
        script.extend([Step::Corrupt, Step::Frame, Step::Unplugged]);
        script.extend([Step::OpenFails, Step::OpenFails, Step::OpenOk]);
        let grabber = ScriptedGrabber {
            frame: yuyv.clone(),
            script: script.into(),
            interval: Duration::from_millis(20),
        };
        let (events, seen) = collecting_events();
        let patience = Patience {
            retry_every: Duration::from_millis(100),
            stall: Duration::from_secs(5),
            first_frame: Duration::from_secs(5),
        };
        let mut camera = Camera::with_grabber(
            "The camera \"fake\"".into(),
            move || grabber,
            output,
            MediaClock::start(),
            events,
            patience,
        )
        .unwrap();

        let picture = convert::to_i420(PixelFormat::Yuyv, 112, 84, &yuyv, Colour::Bt601).unwrap();
        let picture = convert::scale(picture, 64, 48).unwrap().data;
        let mut kinds = String::new();
        let mut last_us = None;
        let mut longest_gap_us = 0;
        // Until well after the camera is back.
        while !kinds.ends_with("cccccccccc") {
            assert!(kinds.len() < 500, "the camera never came back: {kinds}");
            let frame = camera.next_frame().unwrap();
            assert_eq!((frame.width, frame.height), (64, 48));
            if let Some(last) = last_us {
                assert!(frame.capture_us > last, "times must rise");
                longest_gap_us = longest_gap_us.max(frame.capture_us - last);
            }
            last_us = Some(frame.capture_us);
            let kind = if frame.data.as_slice() == picture.as_slice() {
                'c'
            } else if frame.data.as_slice() == camera.slate() {
                's'
            } else {
                panic!("a frame that is neither the camera's picture nor the slate")
            };
            kinds.push(kind);
        }
        // Five pictures (the corrupt one skipped), slate for the ~300 ms of
        // retries, then pictures again.
        let runs: Vec<(char, usize)> = kinds.chars().fold(Vec::new(), |mut runs, c| {
            match runs.last_mut() {
                Some((k, n)) if *k == c => *n += 1,
                _ => runs.push((c, 1)),
            }
            runs
        });
        assert_eq!(runs.len(), 3, "{kinds}");
        assert_eq!(runs[0], ('c', 5), "{kinds}");
        assert_eq!(runs[1].0, 's', "{kinds}");
        assert!(runs[1].1 >= 5, "slate for the retries: {kinds}");
        assert_eq!(camera.skipped(), 1);
        // The stream kept going: no hole much longer than a frame or two.
        assert!(
            longest_gap_us < 150_000,
            "a {longest_gap_us} µs hole: {kinds}"
        );
        assert_eq!(
            health_codes(&seen),
            [HealthCode::DeviceLost, HealthCode::DeviceRestored]
        );
    }

    #[test]
    fn a_camera_that_does_not_open_is_unavailable() {
        let grabber = ScriptedGrabber {
            frame: Vec::new(),
            script: [Step::OpenFails].into(),
            interval: Duration::ZERO,
        };
        let (events, seen) = collecting_events();
        let result = Camera::with_grabber(
            "Camera 3".into(),
            move || grabber,
            Output {
                width: 64,
                height: 48,
                fps: 30,
            },
            MediaClock::start(),
            events,
            Patience::default(),
        );
        match result {
            Err(SourceError::Unavailable(why)) => {
                assert_eq!(why, "Camera 3 (no such device)")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a camera that cannot open must not open"),
        }
        assert!(health_codes(&seen).is_empty());
    }
}
