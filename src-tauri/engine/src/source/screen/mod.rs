//! The screen as a video source, behind the same trait as the camera: the
//! whole screen or one monitor, the pointer drawn in, letter-boxed to the
//! stream's size. The backend is chosen at run time from the session
//! (WAYLAND_DISPLAY, then DISPLAY). The source samples the screen on the
//! stream's own clock, so a screen that does not change still yields every
//! frame: viewers and ingest servers never see a stall. A screen lost while
//! live (sharing stopped, the display gone) becomes the slate.

pub mod picture;
pub mod share_token;
#[cfg(target_os = "linux")]
mod wayland;
#[cfg(target_os = "linux")]
mod x11;

use serde::Serialize;

use super::{slate, SourceError, VideoSource};
use crate::clock::MediaClock;
use crate::error::{ErrorCode, OnairError};
use crate::events::{Event, EventSink, HealthCode};
use crate::media::VideoFrame;
use picture::{Bgrx, Cursor};

/// One monitor, as `onair devices` lists it and `--video screen:M` takes it
/// (by index or by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MonitorInfo {
    pub index: u32,
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

impl std::fmt::Display for MonitorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} {}x{}+{}+{}",
            self.index, self.name, self.width, self.height, self.x, self.y
        )
    }
}

/// The part of the screen captured, in screen pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// Where the screen comes from on this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    X11 { display: String },
    Wayland { display: String },
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ScreenError {
    #[error("no graphical session: neither WAYLAND_DISPLAY nor DISPLAY is set")]
    NoDisplay,
    #[error("the display {display} could not be opened ({reason})")]
    Connect { display: String, reason: String },
    #[error("no monitor {wanted:?}")]
    MonitorNotFound {
        wanted: String,
        found: Vec<MonitorInfo>,
    },
    #[error("on Wayland the desktop chooses the screen, not --video screen:{0}")]
    MonitorOnWayland(String),
    #[error("{0}")]
    Portal(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0} stopped giving pictures")]
    Lost(String),
    /// The desktop's "stop sharing", or its compositor ending the stream.
    #[error("screen sharing was stopped from the desktop")]
    SharingStopped,
}

impl From<ScreenError> for OnairError {
    fn from(e: ScreenError) -> Self {
        let message = match &e {
            ScreenError::NoDisplay => "There is no screen to capture: neither WAYLAND_DISPLAY nor DISPLAY is set (is this a desktop session?). Run Onair inside the desktop, or use a camera or the test pattern (--video test).".to_string(),
            ScreenError::Connect { display, reason } => format!(
                "The display {display} could not be opened ({reason}). Check DISPLAY, or use a camera or the test pattern (--video test)."
            ),
            ScreenError::MonitorNotFound { wanted, found } => {
                let listed: Vec<String> = found.iter().map(|m| m.to_string()).collect();
                format!(
                    "There is no monitor {wanted:?}. Monitors found: {}. Choose one with --video screen:N or screen:NAME (see onair devices), or capture the whole screen (--video screen).",
                    listed.join(", ")
                )
            }
            ScreenError::MonitorOnWayland(monitor) => format!(
                "On Wayland the desktop's own dialog chooses which screen to share, so Onair cannot pick monitor {monitor:?}. Use --video screen and choose the screen there; the choice is remembered."
            ),
            ScreenError::Portal(why) => format!(
                "The screen cannot be shared on this Wayland desktop: {why}. Use a camera or the test pattern (--video test) meanwhile."
            ),
            ScreenError::Refused(why) => format!(
                "The screen was not shared: {why}. Start again and choose a screen to share, or use a camera or the test pattern (--video test)."
            ),
            ScreenError::Unsupported(why) => format!(
                "The screen cannot be captured: {why}. Use a camera or the test pattern (--video test)."
            ),
            ScreenError::Lost(what) => format!("{what} stopped giving pictures."),
            ScreenError::SharingStopped => {
                "Screen sharing was stopped from the desktop. Go live again to share it.".to_string()
            }
        };
        OnairError::new(ErrorCode::DeviceUnavailable, message)
    }
}

/// The backend for this session's environment: Wayland first (an X server
/// on a Wayland desktop is XWayland, which shows only X clients).
pub fn choose_backend(
    wayland_display: Option<&str>,
    display: Option<&str>,
) -> Result<Backend, ScreenError> {
    match (
        wayland_display.filter(|d| !d.is_empty()),
        display.filter(|d| !d.is_empty()),
    ) {
        (Some(display), _) => Ok(Backend::Wayland {
            display: display.to_string(),
        }),
        (None, Some(display)) => Ok(Backend::X11 {
            display: display.to_string(),
        }),
        (None, None) => Err(ScreenError::NoDisplay),
    }
}

/// The session's screen backend. The one place that says where screen
/// capture is built: X11 and Wayland, on Linux.
fn backend_from_env() -> Result<Backend, ScreenError> {
    if !cfg!(target_os = "linux") {
        return Err(ScreenError::Unsupported(
            "screen capture is built for Linux (X11 and Wayland) only so far".into(),
        ));
    }
    let wayland = std::env::var("WAYLAND_DISPLAY").ok();
    let display = std::env::var("DISPLAY").ok();
    choose_backend(wayland.as_deref(), display.as_deref())
}

/// "x11" or "wayland": how this session's screen is captured, if it can be.
pub fn backend_name() -> Option<&'static str> {
    match backend_from_env().ok()? {
        Backend::X11 { .. } => Some("x11"),
        Backend::Wayland { .. } => Some("wayland"),
    }
}

/// The monitor `wanted` names: its index in the list, or its name.
pub fn select_monitor<'a>(monitors: &'a [MonitorInfo], wanted: &str) -> Option<&'a MonitorInfo> {
    match wanted.parse::<u32>() {
        Ok(index) => monitors.iter().find(|m| m.index == index),
        Err(_) => monitors.iter().find(|m| m.name == wanted),
    }
}

/// The area to capture: the whole screen, or one monitor cut to the screen
/// (RandR may describe a monitor partly off it).
pub fn area_for(
    screen: (u32, u32),
    monitors: &[MonitorInfo],
    wanted: Option<&str>,
) -> Result<Area, ScreenError> {
    let whole = Area {
        x: 0,
        y: 0,
        width: screen.0,
        height: screen.1,
    };
    let Some(wanted) = wanted else {
        return Ok(whole);
    };
    let m = select_monitor(monitors, wanted).ok_or_else(|| ScreenError::MonitorNotFound {
        wanted: wanted.to_string(),
        found: monitors.to_vec(),
    })?;
    let (x0, y0) = (m.x.max(0), m.y.max(0));
    let x1 = (m.x + m.width as i32).min(screen.0 as i32);
    let y1 = (m.y + m.height as i32).min(screen.1 as i32);
    if x1 - x0 < 2 || y1 - y0 < 2 {
        return Err(ScreenError::Unsupported(format!(
            "the monitor {m} lies outside the screen"
        )));
    }
    Ok(Area {
        x: x0,
        y: y0,
        width: (x1 - x0) as u32,
        height: (y1 - y0) as u32,
    })
}

/// Monitors of this session's screen; none without a display, and none on
/// Wayland, where the desktop's dialog chooses.
pub fn list_monitors() -> Vec<MonitorInfo> {
    match backend_from_env() {
        #[cfg(target_os = "linux")]
        Ok(Backend::X11 { display }) => x11::Display::connect(&display)
            .map(|d| d.monitors())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Something that captures the screen on demand; the X11 grabber here,
/// a fake in tests.
pub trait Grabber: Send {
    fn describe(&self) -> String;
    /// The screen now, with the pointer if it can be seen.
    fn grab(&mut self) -> Result<(Bgrx<'_>, Option<Cursor>), ScreenError>;
}

/// How many frames a stalled capture catches up before it skips ahead.
const CATCH_UP: u64 = 5;

/// The stream the screen is drawn into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// Opens the screen again after it was lost (a resolution change, a
/// monitor unplugged, a display server restarted).
pub type Reopen = Box<dyn FnMut() -> Result<Box<dyn Grabber>, ScreenError> + Send>;

/// How often a lost screen is asked for again.
const RETRY_EVERY_US: u64 = 1_000_000;

pub struct Screen {
    grabber: Option<Box<dyn Grabber>>,
    reopen: Option<Reopen>,
    /// When the last attempt to reopen was made (media time).
    last_retry_us: u64,
    output: Output,
    clock: MediaClock,
    next_frame: u64,
    events: std::sync::Arc<dyn EventSink>,
    /// What goes out while the screen is lost, made when first needed.
    slate: Option<std::sync::Arc<Vec<u8>>>,
    lost: bool,
}

impl Screen {
    /// Opens the session's screen, or monitor `monitor` of it.
    pub fn open(
        monitor: Option<&str>,
        output: Output,
        clock: MediaClock,
        events: std::sync::Arc<dyn EventSink>,
    ) -> Result<Screen, ScreenError> {
        let backend = backend_from_env()?;
        let monitor = monitor.map(str::to_string);
        let grabber = open_grabber(&backend, monitor.as_deref())?;
        let mut screen = Screen::with_grabber(grabber, output, clock, events);
        // An X display that went away is opened again once it is back. A
        // Wayland share stopped from the desktop was the creator's choice:
        // it is not asked for again while live.
        if matches!(backend, Backend::X11 { .. }) {
            screen.reopen = Some(Box::new(move || open_grabber(&backend, monitor.as_deref())));
        }
        Ok(screen)
    }

    pub fn with_grabber(
        grabber: Box<dyn Grabber>,
        output: Output,
        clock: MediaClock,
        events: std::sync::Arc<dyn EventSink>,
    ) -> Screen {
        let next_frame = (clock.now_us() * output.fps as u64).div_ceil(1_000_000);
        Screen {
            grabber: Some(grabber),
            reopen: None,
            last_retry_us: 0,
            output,
            clock,
            next_frame,
            events,
            slate: None,
            lost: false,
        }
    }

    fn frame_time_us(&self, n: u64) -> u64 {
        n * 1_000_000 / self.output.fps as u64
    }

    fn capture(&mut self, capture_us: u64) -> Result<VideoFrame, ScreenError> {
        let Output { width, height, .. } = self.output;
        let grabber = self
            .grabber
            .as_mut()
            .ok_or_else(|| ScreenError::Lost("the screen".into()))?;
        let (mut shot, cursor) = grabber.grab()?;
        if let Some(cursor) = &cursor {
            picture::blend_cursor(&mut shot, cursor);
        }
        picture::to_stream_frame(&shot, width, height, capture_us)
            .map_err(|e| ScreenError::Unsupported(e.to_string()))
    }
}

impl VideoSource for Screen {
    fn describe(&self) -> String {
        self.grabber
            .as_ref()
            .map_or_else(|| "screen (lost)".to_string(), |g| g.describe())
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        // Sampled on the stream's clock. A stall (a busy machine) is caught
        // up frame by frame, as the test pattern does, so no frame is lost;
        // only a grab slower than the frame rate for long (more than
        // CATCH_UP frames behind) skips ahead, so latency stays bounded.
        let now = self.clock.now_us();
        let mut n = self.next_frame;
        if self.frame_time_us(n + CATCH_UP) <= now {
            n = now * self.output.fps as u64 / 1_000_000;
        }
        let due = self.frame_time_us(n);
        self.clock.sleep_until(due);
        self.next_frame = n + 1;
        // Stamped with the frame's own instant, as the test pattern is: the
        // grab starts then, give or take the scheduler, and regular stamps
        // keep the encoder's frame times even.
        if self.lost {
            self.try_reopen(due);
        }
        match self.capture(due) {
            Ok(frame) => Ok(frame),
            Err(e) => {
                if !self.lost {
                    self.lost = true;
                    self.last_retry_us = due;
                    self.grabber = None;
                    self.events.emit(Event::health(
                        HealthCode::DeviceLost,
                        format!(
                            "The screen could not be captured ({e}); the slate goes out instead."
                        ),
                    ));
                }
                Ok(VideoFrame {
                    width: self.output.width,
                    height: self.output.height,
                    data: self.slate(),
                    capture_us: due,
                })
            }
        }
    }
}

impl Screen {
    fn slate(&mut self) -> std::sync::Arc<Vec<u8>> {
        let Output { width, height, .. } = self.output;
        self.slate
            .get_or_insert_with(|| {
                std::sync::Arc::new(
                    slate::slate(width, height)
                        .unwrap_or_else(|_| crate::compose::blit::black(width, height)),
                )
            })
            .clone()
    }

    /// Once a second while lost: the screen again, as it is now (its size
    /// may have changed), and `device_restored` when it is back.
    fn try_reopen(&mut self, now_us: u64) {
        if now_us < self.last_retry_us + RETRY_EVERY_US {
            return;
        }
        self.last_retry_us = now_us;
        let Some(reopen) = self.reopen.as_mut() else {
            return;
        };
        if let Ok(grabber) = reopen() {
            self.grabber = Some(grabber);
            self.lost = false;
            self.events.emit(Event::health(
                HealthCode::DeviceRestored,
                "The screen is back.".to_string(),
            ));
        }
    }
}

/// A grabber for the session's screen, or monitor `monitor` of it.
#[cfg(target_os = "linux")]
fn open_grabber(backend: &Backend, monitor: Option<&str>) -> Result<Box<dyn Grabber>, ScreenError> {
    match backend {
        Backend::X11 { display } => {
            let display = x11::Display::connect(display)?;
            let area = area_for(display.screen_size(), &display.monitors(), monitor)?;
            Ok(Box::new(display.grabber(area)?))
        }
        Backend::Wayland { .. } => match monitor {
            Some(monitor) => Err(ScreenError::MonitorOnWayland(monitor.to_string())),
            None => Ok(Box::new(wayland::PortalGrabber::open(
                share_token::ShareTokens::default_location(),
            )?)),
        },
    }
}

/// Never called: `backend_from_env` refuses first on other systems.
#[cfg(not(target_os = "linux"))]
fn open_grabber(_: &Backend, _: Option<&str>) -> Result<Box<dyn Grabber>, ScreenError> {
    backend_from_env().map(|_| unreachable!("screen capture is built for Linux only"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn monitors() -> Vec<MonitorInfo> {
        vec![
            MonitorInfo {
                index: 0,
                name: "DP-1".into(),
                x: 0,
                y: 0,
                width: 1920,
                height: 1080,
                primary: true,
            },
            MonitorInfo {
                index: 1,
                name: "HDMI-1".into(),
                x: 1920,
                y: 0,
                width: 1280,
                height: 1024,
                primary: false,
            },
        ]
    }

    #[test]
    fn wayland_comes_first_and_no_session_is_device_unavailable() {
        assert_eq!(
            choose_backend(Some("wayland-0"), Some(":0")),
            Ok(Backend::Wayland {
                display: "wayland-0".into()
            })
        );
        assert_eq!(
            choose_backend(Some(""), Some(":99")),
            Ok(Backend::X11 {
                display: ":99".into()
            })
        );
        let err = choose_backend(None, Some("")).unwrap_err();
        assert_eq!(err, ScreenError::NoDisplay);
        let err = OnairError::from(err);
        assert_eq!(err.code, ErrorCode::DeviceUnavailable);
        assert!(err.message.contains("DISPLAY"), "{}", err.message);
        assert!(err.message.contains("--video test"), "{}", err.message);
    }

    #[test]
    fn monitors_are_chosen_by_index_or_name_and_cut_to_the_screen() {
        let list = monitors();
        assert_eq!(select_monitor(&list, "1").unwrap().name, "HDMI-1");
        assert_eq!(select_monitor(&list, "DP-1").unwrap().index, 0);
        assert_eq!(
            area_for((3200, 1080), &list, None).unwrap(),
            Area {
                x: 0,
                y: 0,
                width: 3200,
                height: 1080
            }
        );
        assert_eq!(
            area_for((3200, 1080), &list, Some("HDMI-1")).unwrap(),
            Area {
                x: 1920,
                y: 0,
                width: 1280,
                height: 1024
            }
        );
        // RandR may describe a monitor partly off the screen.
        assert_eq!(
            area_for((2400, 1000), &list, Some("1")).unwrap(),
            Area {
                x: 1920,
                y: 0,
                width: 480,
                height: 1000
            }
        );
    }

    #[test]
    fn a_monitor_that_does_not_exist_lists_those_that_do() {
        let err = area_for((3200, 1080), &monitors(), Some("7")).unwrap_err();
        let err = OnairError::from(err);
        assert_eq!(err.code, ErrorCode::DeviceUnavailable);
        assert!(err.message.contains("\"7\""), "{}", err.message);
        assert!(
            err.message
                .contains("0 \"DP-1\" 1920x1080+0+0, 1 \"HDMI-1\" 1280x1024+1920+0"),
            "{}",
            err.message
        );
    }

    /// A screen that never changes, counting how often it is asked.
    struct Still {
        data: Vec<u8>,
        grabs: Arc<Mutex<u32>>,
        fail_after: Option<u32>,
        /// The grab with this number takes this long.
        stall: Option<(u32, std::time::Duration)>,
    }

    impl Grabber for Still {
        fn describe(&self) -> String {
            "still".into()
        }
        fn grab(&mut self) -> Result<(Bgrx<'_>, Option<Cursor>), ScreenError> {
            let mut grabs = self.grabs.lock().unwrap();
            *grabs += 1;
            if let Some((_, how_long)) = self.stall.filter(|(at, _)| *at == *grabs) {
                std::thread::sleep(how_long);
            }
            if self.fail_after.is_some_and(|n| *grabs > n) {
                return Err(ScreenError::Lost("the test screen".into()));
            }
            Ok((
                Bgrx {
                    width: 64,
                    height: 36,
                    stride: 256,
                    data: &mut self.data,
                },
                None,
            ))
        }
    }

    fn still(fail_after: Option<u32>) -> (Box<dyn Grabber>, Arc<Mutex<u32>>) {
        stalling(fail_after, None)
    }

    fn stalling(
        fail_after: Option<u32>,
        stall: Option<(u32, std::time::Duration)>,
    ) -> (Box<dyn Grabber>, Arc<Mutex<u32>>) {
        let grabs = Arc::new(Mutex::new(0));
        let grabber = Still {
            data: vec![200; 64 * 36 * 4],
            grabs: grabs.clone(),
            fail_after,
            stall,
        };
        (Box::new(grabber), grabs)
    }

    #[test]
    fn a_still_screen_yields_every_frame_at_the_streams_rate() {
        let (grabber, grabs) = still(None);
        let clock = MediaClock::start();
        let output = Output {
            width: 64,
            height: 36,
            fps: 100,
        };
        let mut screen = Screen::with_grabber(grabber, output, clock, Arc::new(|_: Event| {}));
        let times: Vec<u64> = (0..20)
            .map(|_| screen.next_frame().unwrap().capture_us)
            .collect();
        assert_eq!(*grabs.lock().unwrap(), 20);
        for pair in times.windows(2) {
            let step = pair[1] - pair[0];
            // 10 ms apart, give or take the scheduler.
            assert!((5_000..=20_000).contains(&step), "{times:?}");
        }
        let span = times[19] - times[0];
        assert!(
            (180_000..=220_000).contains(&span),
            "{span} us for 19 frames"
        );
    }

    fn frame_numbers(stall: std::time::Duration) -> Vec<u64> {
        let (grabber, _) = stalling(None, Some((3, stall)));
        let output = Output {
            width: 64,
            height: 36,
            fps: 100,
        };
        let mut screen = Screen::with_grabber(
            grabber,
            output,
            MediaClock::start(),
            Arc::new(|_: Event| {}),
        );
        (0..12)
            .map(|_| screen.next_frame().unwrap().capture_us / 10_000)
            .collect()
    }

    #[test]
    fn a_short_stall_is_caught_up_and_a_long_one_skips_ahead() {
        // 35 ms at 100 fps: three frames late, all still made.
        let numbers = frame_numbers(std::time::Duration::from_millis(35));
        assert!(
            numbers.windows(2).all(|p| p[1] == p[0] + 1),
            "nothing lost: {numbers:?}"
        );
        // 120 ms: twelve frames late, more than the catch-up allows.
        let numbers = frame_numbers(std::time::Duration::from_millis(120));
        let jumps = numbers.windows(2).filter(|p| p[1] > p[0] + 1).count();
        assert_eq!(jumps, 1, "one skip ahead: {numbers:?}");
        assert!(numbers.windows(2).all(|p| p[1] > p[0]), "{numbers:?}");
    }

    #[test]
    fn a_lost_screen_is_reopened_and_says_it_is_back() {
        let (grabber, _) = still(Some(1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            Arc::new(move |e: Event| seen.lock().unwrap().push(e))
        };
        let output = Output {
            width: 64,
            height: 36,
            fps: 100,
        };
        let mut screen = Screen::with_grabber(grabber, output, MediaClock::start(), sink);
        let opens = Arc::new(Mutex::new(0));
        screen.reopen = Some({
            let opens = opens.clone();
            Box::new(move || {
                *opens.lock().unwrap() += 1;
                Ok(still(None).0)
            })
        });
        // 1 s at 100 fps: lost on the second frame, back a second later.
        for _ in 0..115 {
            screen.next_frame().unwrap();
        }
        assert_eq!(*opens.lock().unwrap(), 1, "one attempt a second");
        let codes: Vec<HealthCode> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Health { code, .. } => Some(*code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, [HealthCode::DeviceLost, HealthCode::DeviceRestored]);
        assert!(!screen.lost);
    }

    #[test]
    fn a_lost_screen_keeps_the_stream_going_and_says_so_once() {
        let (grabber, _) = still(Some(2));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            Arc::new(move |e: Event| seen.lock().unwrap().push(e))
        };
        let output = Output {
            width: 64,
            height: 36,
            fps: 200,
        };
        let mut screen = Screen::with_grabber(grabber, output, MediaClock::start(), sink);
        let frames: Vec<VideoFrame> = (0..6).map(|_| screen.next_frame().unwrap()).collect();
        assert!(frames.windows(2).all(|p| p[1].capture_us > p[0].capture_us));
        assert_ne!(frames[1].data, frames[5].data);
        assert_eq!(
            *frames[5].data,
            slate::slate(64, 36).unwrap(),
            "the slate goes out"
        );
        let lost = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Health {
                        code: HealthCode::DeviceLost,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(lost, 1);
    }
}
