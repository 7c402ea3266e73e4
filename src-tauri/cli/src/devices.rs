//! `onair devices`: what can be captured here — cameras with their native
//! modes, microphones, the screen's monitors, and the built-in test sources,
//! which are always there.

use std::process::ExitCode;

use clap::Args;
use onair_engine::source::camera::{list_cameras, CameraInfo};
use onair_engine::source::microphone::{list_microphones, MicInfo};
use onair_engine::source::screen::{backend_name, list_monitors, MonitorInfo};
use serde::Serialize;

#[derive(Args)]
pub struct DevicesArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct TestSource {
    kind: &'static str,
    name: &'static str,
    /// The flag of `onair live` that picks it.
    flag: &'static str,
}

const TEST_SOURCES: [TestSource; 2] = [
    TestSource {
        kind: "video",
        name: "test pattern",
        flag: "--video test",
    },
    TestSource {
        kind: "audio",
        name: "test tone",
        flag: "--audio test",
    },
];

#[derive(Serialize)]
struct Devices {
    cameras: Vec<CameraInfo>,
    microphones: Vec<MicInfo>,
    /// How the screen is captured here: "x11", "wayland", or none.
    screen: Option<&'static str>,
    /// The screen's monitors (X11); empty without a display and on Wayland.
    monitors: Vec<MonitorInfo>,
    test_sources: &'static [TestSource],
}

/// Always exits 0: a machine without devices still has the test sources.
pub fn run(args: DevicesArgs) -> ExitCode {
    let devices = Devices {
        cameras: list_cameras(),
        microphones: list_microphones(),
        screen: backend_name(),
        monitors: list_monitors(),
        test_sources: &TEST_SOURCES,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&devices).expect("devices always serialize")
        );
    } else {
        print!("{}", human(&devices));
    }
    ExitCode::SUCCESS
}

fn human(devices: &Devices) -> String {
    let mut out = String::from("Cameras (--video camera:N):\n");
    if devices.cameras.is_empty() {
        out.push_str("  none found\n");
    }
    for camera in &devices.cameras {
        out.push_str(&format!("  {}  {}\n", camera.index, camera.name));
        for line in camera_modes(camera) {
            out.push_str(&format!("       {line}\n"));
        }
    }
    out.push_str("Microphones (--audio mic:NAME, * = default):\n");
    if devices.microphones.is_empty() {
        out.push_str("  none found\n");
    }
    for mic in &devices.microphones {
        let mark = if mic.is_default { '*' } else { ' ' };
        out.push_str(&format!(
            "  {mark} {}  ({} Hz, {} ch, {})\n",
            mic.name, mic.rate, mic.channels, mic.format
        ));
    }
    if devices.screen == Some("wayland") {
        out.push_str("Screen (--video screen):\n  the desktop asks which screen to share, once; the choice is remembered\n");
    } else {
        out.push_str("Monitors (--video screen:N, or screen for all of them):\n");
    }
    if devices.monitors.is_empty() && devices.screen != Some("wayland") {
        out.push_str("  none found (no display)\n");
    }
    for m in &devices.monitors {
        let mark = if m.primary { '*' } else { ' ' };
        out.push_str(&format!(
            "  {mark} {}  {}  {}x{}+{}+{}\n",
            m.index, m.name, m.width, m.height, m.x, m.y
        ));
    }
    out.push_str("Test sources:\n");
    for source in &TEST_SOURCES {
        out.push_str(&format!("  {:<13} {}\n", source.name, source.flag));
    }
    out
}

/// One line per pixel format: "YUYV 1280x720@10 640x480@30".
fn camera_modes(camera: &CameraInfo) -> Vec<String> {
    if camera.formats.is_empty() {
        return vec!["(its modes could not be read; it may be in use)".into()];
    }
    let mut lines: Vec<(String, Vec<String>)> = Vec::new();
    for mode in &camera.formats {
        let fourcc = mode.fourcc.to_string();
        let entry = format!("{}x{}@{}", mode.width, mode.height, mode.fps);
        match lines.iter_mut().find(|(f, _)| *f == fourcc) {
            Some((_, modes)) => modes.push(entry),
            None => lines.push((fourcc, vec![entry])),
        }
    }
    lines
        .into_iter()
        .map(|(fourcc, modes)| format!("{fourcc:<5} {}", modes.join(" ")))
        .collect()
}
