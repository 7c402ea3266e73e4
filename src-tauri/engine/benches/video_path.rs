//! What does the engine's video path cost on top of the encoder itself?
//!
//! Two seconds of test pattern (moving bars, the stamp, the flash on frames 0
//! and 30) are drawn once per resolution, then timed two ways:
//!
//! * `raw_openh264`: a bare openh264 `Encoder`, configured exactly as the
//!   engine configures it, encodes the frames in a loop and copies each access
//!   unit out into a reused buffer.
//! * `engine_path`: the same frames go through the engine's own parts: a
//!   capture `Broadcast` and its `Subscription`, the `encoders::spawn_video`
//!   thread (with `H264Encoder`, the session timeline and the pipeline
//!   counters), the `Fanout`, and a sink thread that drains its queue. The
//!   clock stops when the sink has received the last packet.
//! * `engine_path_with_render`: as `engine_path`, but every frame is drawn by
//!   `TestPattern::render` while it is being sent, as the capture thread does.
//!
//! Test pattern frames are already I420, so the engine has no conversion step
//! here: openh264 reads the planes in place through `YUVSource`.
//!
//! Each iteration starts a fresh encoder (created outside the timed part) so
//! both paths produce the same bitstream; the summary checks that they do.
//!
//! After criterion, a plain `Instant` pass prints a markdown table of frames/s
//! and the overhead ratio (engine time / raw time; 1.00 = no overhead), and
//! writes it to `$CARGO_TARGET_DIR/criterion/video_path/summary.md` when the
//! target directory is known. `ONAIR_BENCH=criterion` skips that pass,
//! `ONAIR_BENCH=summary` runs only it. Run with `scripts/bench`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use crossbeam_channel::bounded;
use openh264::encoder::Encoder;
use openh264::OpenH264API;

use onair_engine::clock::MediaClock;
use onair_engine::colour::Colour;
use onair_engine::encode::h264::{H264Encoder, H264Settings};
use onair_engine::media::{Packet, VideoFrame};
use onair_engine::pipeline::broadcast::Broadcast;
use onair_engine::pipeline::control::EncoderControl;
use onair_engine::pipeline::encoders::{self, Timeline};
use onair_engine::pipeline::fanout::{Fanout, SinkPort};
use onair_engine::pipeline::stats::{PipelineCounters, QueueGauge};
use onair_engine::source::test_pattern::TestPattern;

const FPS: u32 = 30;
/// Two seconds: two keyframes' worth of GOP and two flashes.
const FRAMES: u64 = 60;
/// The session's sink queue depth (see session::runner).
const SINK_QUEUE: usize = 256;
/// Timed passes per path in the summary. The fastest pass of each path is the
/// one least disturbed by whatever else the machine is doing, so the table is
/// built from those; the median passes give a second opinion.
const SUMMARY_RUNS: usize = 7;

struct Case {
    label: &'static str,
    width: u32,
    height: u32,
    bitrate_kbps: u32,
}

const CASES: [Case; 2] = [
    Case {
        label: "720p30",
        width: 1280,
        height: 720,
        bitrate_kbps: 2500,
    },
    Case {
        label: "1080p30",
        width: 1920,
        height: 1080,
        bitrate_kbps: 4500,
    },
];

/// The frames of one case, drawn once, and the pattern that drew them (it
/// draws the identical frames again for the render variant).
struct Fixture {
    settings: H264Settings,
    pattern: TestPattern,
    frames: Vec<VideoFrame>,
}

impl Fixture {
    fn new(case: &Case) -> Self {
        let pattern = TestPattern::new(case.width, case.height, FPS, MediaClock::start());
        let frames = (0..FRAMES)
            .map(|n| pattern.render(n, pattern.frame_time_us(n)))
            .collect();
        Fixture {
            settings: H264Settings {
                fps: FPS,
                bitrate_kbps: case.bitrate_kbps,
                colour: Colour::for_size(case.width, case.height),
            },
            pattern,
            frames,
        }
    }
}

/// One timed pass over all the frames.
struct Pass {
    elapsed: Duration,
    /// Bitstream bytes that came out the far end.
    bytes: u64,
}

fn raw_encoder(settings: H264Settings) -> Encoder {
    Encoder::with_api_config(OpenH264API::from_source(), settings.encoder_config())
        .expect("openh264 encoder")
}

/// Bare openh264 over the pre-drawn frames.
fn raw_pass(fixture: &Fixture) -> Pass {
    let mut encoder = raw_encoder(fixture.settings);
    let mut out = Vec::with_capacity(1 << 20);
    let mut bytes = 0u64;
    let started = Instant::now();
    for frame in &fixture.frames {
        let bitstream = encoder.encode(frame).expect("openh264 encode");
        out.clear();
        bitstream.write_vec(&mut out);
        bytes += black_box(&out).len() as u64;
    }
    Pass {
        elapsed: started.elapsed(),
        bytes,
    }
}

/// Where the engine path's frames come from.
#[derive(Clone, Copy)]
enum Feed {
    /// Clones of the pre-drawn frames.
    Prerendered,
    /// Drawn by the test pattern as they are sent.
    Render,
}

/// The engine's capture → encode → fan-out → sink path over the frames.
fn engine_pass(fixture: &Fixture, feed: Feed) -> Pass {
    let count = fixture.frames.len();

    // Capture side: the subscription holds every frame, so nothing is dropped
    // for being early (a live capture paces frames at 30 fps instead).
    let capture = Broadcast::<VideoFrame>::new();
    let input = capture.subscribe(count);

    // Sink side: one sink with the session's queue, drained on its own thread.
    let (sink_tx, sink_rx) = bounded::<Packet>(SINK_QUEUE);
    let sink_dropped = Arc::new(AtomicU32::new(0));
    let sink_depth = Arc::new(QueueGauge::new(SINK_QUEUE));
    let fanout = Fanout::new(vec![SinkPort::new(
        sink_tx,
        sink_dropped.clone(),
        sink_depth,
    )]);
    let sink: JoinHandle<(u64, u64)> = std::thread::spawn(move || {
        let (mut packets, mut bytes) = (0u64, 0u64);
        for packet in sink_rx {
            if let Packet::Video(video) = packet {
                packets += 1;
                bytes += black_box(&video.data).len() as u64;
            }
        }
        (packets, bytes)
    });

    // Session time 0 is the clock's epoch, so a frame's pts is its capture time.
    let timeline = Arc::new(Timeline::new(MediaClock::start(), 0, None));
    let counters = Arc::new(PipelineCounters::default());
    let encoder = Box::new(H264Encoder::new(fixture.settings).expect("engine H.264 encoder"));
    let encode = encoders::spawn_video(
        input,
        encoder,
        fanout,
        Arc::new(EncoderControl::new(2500)),
        timeline,
        counters.clone(),
        Arc::new(|_event: onair_engine::Event| {}),
    );

    let started = Instant::now();
    match feed {
        Feed::Prerendered => fixture.frames.iter().for_each(|frame| capture.send(frame)),
        Feed::Render => (0..count as u64).for_each(|n| {
            let frame = fixture.pattern.render(n, fixture.pattern.frame_time_us(n));
            capture.send(&frame);
        }),
    }
    capture.close();
    encode
        .join()
        .expect("encoder thread")
        .expect("engine encode");
    let (packets, bytes) = sink.join().expect("sink thread");
    let elapsed = started.elapsed();

    // A path that lost frames would look faster than it is.
    assert_eq!(
        counters.video_encoded.load(Ordering::Relaxed) as usize,
        count,
        "frames encoded"
    );
    assert_eq!(
        counters.dropped_total(),
        0,
        "frames dropped before the sink"
    );
    assert_eq!(
        sink_dropped.load(Ordering::Relaxed),
        0,
        "packets dropped at the sink"
    );
    assert_eq!(packets as usize, count, "packets that reached the sink");
    Pass { elapsed, bytes }
}

fn criterion_benches(c: &mut Criterion, fixtures: &[(&Case, Fixture)]) {
    for (case, fixture) in fixtures {
        let mut group = c.benchmark_group(case.label);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(8))
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(fixture.frames.len() as u64));
        group.bench_function("raw_openh264", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| raw_pass(fixture).elapsed).sum())
        });
        group.bench_function("engine_path", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| engine_pass(fixture, Feed::Prerendered).elapsed)
                    .sum()
            })
        });
        group.bench_function("engine_path_with_render", |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| engine_pass(fixture, Feed::Render).elapsed)
                    .sum()
            })
        });
        group.finish();
    }
}

/// The fastest and the median of a path's passes.
struct Timing {
    best: Duration,
    median: Duration,
}

impl Timing {
    fn of(mut passes: Vec<Duration>) -> Self {
        passes.sort();
        Timing {
            best: passes[0],
            median: passes[passes.len() / 2],
        }
    }
}

fn ratio(path: Duration, raw: Duration) -> f64 {
    path.as_secs_f64() / raw.as_secs_f64()
}

fn fps(frames: usize, elapsed: Duration) -> f64 {
    frames as f64 / elapsed.as_secs_f64()
}

/// Plain timing of the same passes, alternating the paths so that drift in
/// the machine's speed hits them alike, and the table of the results.
fn summary(fixtures: &[(&Case, Fixture)]) -> String {
    let mut table = String::from(
        "| resolution | raw openh264 fps | engine path fps | overhead ratio \
         | engine path + render fps | ratio with render | overhead ratio, median passes |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (case, fixture) in fixtures {
        // One untimed round first: page in the code and the frames.
        let raw_bytes = raw_pass(fixture).bytes;
        let engine_bytes = engine_pass(fixture, Feed::Prerendered).bytes;
        let render_bytes = engine_pass(fixture, Feed::Render).bytes;
        assert_eq!(
            raw_bytes, engine_bytes,
            "{}: both paths must encode the same frames",
            case.label
        );
        assert_eq!(
            raw_bytes, render_bytes,
            "{}: the render variant must draw the same frames",
            case.label
        );

        let (mut raw, mut engine, mut render) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SUMMARY_RUNS {
            raw.push(raw_pass(fixture).elapsed);
            engine.push(engine_pass(fixture, Feed::Prerendered).elapsed);
            render.push(engine_pass(fixture, Feed::Render).elapsed);
        }
        let n = fixture.frames.len();
        let (raw, engine, render) = (Timing::of(raw), Timing::of(engine), Timing::of(render));
        table.push_str(&format!(
            "| {} ({}x{}, {} kbps) | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} | {:.2} |\n",
            case.label,
            case.width,
            case.height,
            case.bitrate_kbps,
            fps(n, raw.best),
            fps(n, engine.best),
            ratio(engine.best, raw.best),
            fps(n, render.best),
            ratio(render.best, raw.best),
            ratio(engine.median, raw.median),
        ));
        eprintln!(
            "{}: {} frames, {} bytes of H.264 from each path (identical)",
            case.label, n, raw_bytes
        );
    }
    table.push_str(&format!(
        "\n{FRAMES} frames per pass, fastest of {SUMMARY_RUNS} passes per path (the last column \
         compares the median passes); ratio = engine time / raw time (1.00 = no overhead).\n"
    ));
    table
}

/// Criterion's own output directory, when it can be told without asking cargo.
fn report_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    std::env::var_os("CARGO_TARGET_DIR").map(|dir| PathBuf::from(dir).join("criterion"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not, and then
    // criterion runs each benchmark once as a smoke test and the summary is skipped.
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    let only = std::env::var("ONAIR_BENCH").unwrap_or_default();

    let fixtures: Vec<(&Case, Fixture)> = CASES
        .iter()
        .map(|case| (case, Fixture::new(case)))
        .collect();

    if only != "summary" {
        let mut c = Criterion::default().configure_from_args();
        criterion_benches(&mut c, &fixtures);
        c.final_summary();
    }
    if benchmarking && only != "criterion" {
        let table = summary(&fixtures);
        println!("\n## Video path overhead\n\n{table}");
        if let Some(dir) = report_dir().map(|d| d.join("video_path")) {
            let path = dir.join("summary.md");
            match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &table)) {
                Ok(()) => println!("Summary written to {}", path.display()),
                Err(e) => eprintln!("Could not write {}: {e}", path.display()),
            }
        }
    }
}
