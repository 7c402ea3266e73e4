//! The compositor: the main picture (the screen) and the overlay (the
//! camera, or the test pattern standing in for it) become one I420 frame
//! per the layout, which can change while live.
//!
//! The overlay paces the output: each of its frames makes one output frame
//! with the overlay's capture time, so the face stays in sync with the voice
//! (lips are where A/V offset shows), and the test pattern's stamps and
//! flashes measure the composed stream exactly as they do alone. The main
//! picture runs on a thread of its own; the newest one is taken (it is at
//! most a frame old, since the screen source captures at the stream's rate).

pub mod blit;
pub mod layout;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use layout::{Layout, DEFAULT_PIP_PERCENT};

use crate::media::VideoFrame;
use crate::source::{SourceError, VideoSource};

/// The live layout, shared by the compositor and whoever switches it (the
/// CLI's control input, the desktop's buttons). A switch shows on the next
/// frame; the encoder just sees other pictures, so no keyframe is forced.
#[derive(Debug, Clone)]
pub struct LayoutSwitch(Arc<AtomicU8>);

impl LayoutSwitch {
    pub fn new(layout: Layout) -> Self {
        LayoutSwitch(Arc::new(AtomicU8::new(layout.index())))
    }

    pub fn get(&self) -> Layout {
        Layout::from_index(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, layout: Layout) {
        self.0.store(layout.index(), Ordering::Relaxed);
    }
}

/// Main and overlay composed per the layout, as one video source.
pub struct Composite {
    overlay: Box<dyn VideoSource>,
    main_latest: Arc<Mutex<Option<VideoFrame>>>,
    main_thread: Option<JoinHandle<()>>,
    running: Arc<AtomicBool>,
    switch: LayoutSwitch,
    width: u32,
    height: u32,
    pip_percent: u32,
    description: String,
}

impl Composite {
    /// Both sources must deliver `width`x`height` frames (every source
    /// scales to the stream's size); the compositor scales them into place.
    pub fn new(
        mut main: Box<dyn VideoSource>,
        overlay: Box<dyn VideoSource>,
        switch: LayoutSwitch,
        width: u32,
        height: u32,
        pip_percent: u32,
    ) -> Self {
        let description = format!("{} with {}", main.describe(), overlay.describe());
        let running = Arc::new(AtomicBool::new(true));
        let main_latest = Arc::new(Mutex::new(None));
        let main_thread = {
            let (running, latest) = (running.clone(), main_latest.clone());
            std::thread::Builder::new()
                .name("onair-main-capture".into())
                .spawn(move || {
                    while running.load(Ordering::Relaxed) {
                        match main.next_frame() {
                            Ok(frame) => *latest.lock().unwrap() = Some(frame),
                            Err(_) => break,
                        }
                    }
                })
                .expect("spawn main picture thread")
        };
        Composite {
            overlay,
            main_latest,
            main_thread: Some(main_thread),
            running,
            switch,
            width,
            height,
            pip_percent,
            description,
        }
    }
}

impl VideoSource for Composite {
    fn describe(&self) -> String {
        format!(
            "{}, layout {}",
            self.description,
            self.switch.get().as_str()
        )
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let overlay = self.overlay.next_frame()?;
        let placement = layout::place(self.switch.get(), self.width, self.height, self.pip_percent);
        let main = self.main_latest.lock().unwrap().clone();
        blit::compose(
            placement,
            main.as_ref(),
            &overlay,
            self.width,
            self.height,
            overlay.capture_us,
        )
        .map_err(|e| SourceError::Unavailable(format!("the composed picture ({e})")))
    }
}

impl Drop for Composite {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(t) = self.main_thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source of one flat grey that paces itself by a counter, not a clock.
    struct Flat {
        y: u8,
        n: u64,
    }

    impl VideoSource for Flat {
        fn describe(&self) -> String {
            format!("flat {}", self.y)
        }
        fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
            std::thread::sleep(std::time::Duration::from_millis(2));
            self.n += 1;
            let mut data = vec![128u8; VideoFrame::i420_len(64, 36)];
            data[..64 * 36].fill(self.y);
            Ok(VideoFrame {
                width: 64,
                height: 36,
                data: Arc::new(data),
                capture_us: self.n * 1000,
            })
        }
    }

    #[test]
    fn a_switch_shows_on_the_next_frame_with_the_overlays_clock() {
        let switch = LayoutSwitch::new(Layout::Camera);
        let mut composite = Composite::new(
            Box::new(Flat { y: 200, n: 0 }),
            Box::new(Flat { y: 50, n: 0 }),
            switch.clone(),
            64,
            36,
            25,
        );
        let first = composite.next_frame().unwrap();
        assert_eq!(first.data[0], 50, "camera only");
        assert_eq!(first.capture_us, 1000, "the overlay's capture time");
        // Wait for the main picture's thread to deliver once.
        while composite.main_latest.lock().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        switch.set(Layout::Screen);
        let next = composite.next_frame().unwrap();
        assert_eq!(next.data[0], 200, "screen only, on the very next frame");
        assert_eq!(next.capture_us, 2000);
        assert!(composite.describe().ends_with("layout screen"));
    }
}
