//! What does the screen cost, against the camera path? Run by
//! `scripts/bench-screen` (`make bench-screen`) on an Xvfb, then a headless
//! GNOME Wayland session, each 1920x1080 with a painter that moves things
//! every frame; not part of the tests.
//!
//! Each case opens the engine's real `Capture` at 1280x720, 30 fps (no
//! audio) and encodes what it delivers with the engine's `H264Encoder` on
//! this thread for `ONAIR_SCREEN_BENCH_SECONDS` (default 10). Measured:
//!
//! * CPU seconds per second of stream: the whole process's user + system
//!   time (capture and conversion threads, compositor, encoder) over the
//!   wall time;
//! * capture-to-encoded latency: from each frame's capture time to the end
//!   of its encode, p50 and p95.
//!
//! The camera path is measured with the test pattern standing in for the
//! camera (no camera exists on the test machines): it is what the camera
//! source hands on, an I420 frame at the stream's size, without the
//! camera's own conversion.

use std::time::{Duration, Instant};

use onair_engine::clock::MediaClock;
use onair_engine::compose::Layout;
use onair_engine::encode::h264::{H264Encoder, H264Settings};
use onair_engine::encode::VideoEncoder;
use onair_engine::pipeline::capture::{Capture, CaptureSpec};
use onair_engine::source::{AudioChoice, VideoChoice};

struct Case {
    name: &'static str,
    video: VideoChoice,
    overlay: Option<VideoChoice>,
    layout: Layout,
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn run(case: &Case, seconds: f64) -> String {
    let spec = CaptureSpec {
        video: case.video.clone(),
        overlay: case.overlay.clone(),
        layout: case.layout,
        audio: AudioChoice::None,
        ..CaptureSpec::default()
    };
    let clock = MediaClock::start();
    let capture = match Capture::open(
        spec,
        clock,
        std::sync::Arc::new(|_: onair_engine::Event| {}),
    ) {
        Ok(c) => c,
        Err(e) => return format!("| {} | could not open: {} | | | |\n", case.name, e.message),
    };
    let input = capture.subscribe_video(8);
    let mut encoder = H264Encoder::new(H264Settings {
        fps: 30,
        bitrate_kbps: 2500,
        colour: onair_engine::colour::Colour::for_size(1280, 720),
    })
    .expect("H.264 encoder");
    // Settle (first frames, encoder start) before measuring.
    let settle = Instant::now() + Duration::from_millis(500);
    let mut latencies_ms = Vec::new();
    let (mut started, mut cpu0, mut frames) = (None, 0.0, 0u64);
    while let Ok(frame) = input.rx.recv_timeout(Duration::from_secs(2)) {
        let encoded = encoder
            .encode(&frame, frame.capture_us as i64)
            .expect("encode");
        let done_us = clock.now_us();
        if Instant::now() < settle {
            continue;
        }
        let t0 = *started.get_or_insert_with(|| {
            cpu0 = cpu_seconds();
            Instant::now()
        });
        frames += 1;
        if !encoded.is_empty() {
            latencies_ms.push(done_us.saturating_sub(frame.capture_us) as f64 / 1000.0);
        }
        if t0.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    let wall = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let cpu = cpu_seconds() - cpu0;
    latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "| {} | {:.3} | {:.1} | {:.1} | {:.1} |\n",
        case.name,
        cpu / wall,
        frames as f64 / wall,
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.95),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "screen_path: no DISPLAY or WAYLAND_DISPLAY; run it through scripts/bench-screen"
        );
        return;
    }
    let seconds: f64 = std::env::var("ONAIR_SCREEN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let cases = [
        Case {
            name: "camera path (test pattern, 720p30)",
            video: VideoChoice::TestPattern,
            overlay: None,
            layout: Layout::Screen,
        },
        Case {
            name: "screen 1080p -> 720p30",
            video: VideoChoice::Screen(None),
            overlay: None,
            layout: Layout::Screen,
        },
        Case {
            name: "screen 1080p + camera PiP -> 720p30",
            video: VideoChoice::Screen(None),
            overlay: Some(VideoChoice::TestPattern),
            layout: Layout::PipBr,
        },
        Case {
            name: "screen 1080p + camera side by side -> 720p30",
            video: VideoChoice::Screen(None),
            overlay: Some(VideoChoice::TestPattern),
            layout: Layout::Side,
        },
    ];
    let mut table = String::from(
        "| case | CPU s per s of stream | frames/s | capture-to-encoded p50 ms | p95 ms |\n|---|---|---|---|---|\n",
    );
    for case in &cases {
        let row = run(case, seconds);
        eprint!("{row}");
        table.push_str(&row);
    }
    println!("{table}");
}
