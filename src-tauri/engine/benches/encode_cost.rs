//! CPU seconds per 10 s of stream, side by side in one run:
//!
//! * raw openh264 (configured as the engine configures it) vs the engine's
//!   whole video path (capture broadcast -> encoder thread -> fan-out ->
//!   sink thread), on the same frames: the engine's overhead;
//! * ffmpeg's libx264 `-preset veryfast` at the same bitrate on the same
//!   frames (written once as raw I420 and read back by ffmpeg);
//! * three simulcast layers (full, 1/2, 1/4 size, through the real scaler)
//!   vs one layer at the top layer's bitrate.
//!
//! Two contents at 720p30 and 1080p30: the test pattern (it compresses so
//! well that openh264 stays far under its target bitrate) and the same
//! pattern with fresh grain on every frame, like a camera's sensor noise,
//! which makes the encoders work at their target bitrate.
//!
//! CPU time is the process's (every thread, CLOCK_PROCESS_CPUTIME_ID) for our
//! own paths and the child's user + system time for ffmpeg. Each measurement
//! is repeated `ONAIR_BENCH_ROUNDS` times (default 3), the paths alternating
//! so a busy machine slows them alike; the table uses each path's least
//! disturbed (smallest) round, and for simulcast also the median of each
//! round's own ratio. Run with scripts/bench-encode.

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use openh264::encoder::Encoder;
use openh264::OpenH264API;

use onair_engine::clock::MediaClock;
use onair_engine::colour::Colour;
use onair_engine::encode::h264::{H264Encoder, H264Settings};
use onair_engine::encode::simulcast::{standard_layers, SimulcastEncoder};
use onair_engine::encode::VideoEncoder;
use onair_engine::media::{Packet, VideoFrame};
use onair_engine::pipeline::broadcast::Broadcast;
use onair_engine::pipeline::control::EncoderControl;
use onair_engine::pipeline::encoders::{self, Timeline};
use onair_engine::pipeline::fanout::{Fanout, SinkPort};
use onair_engine::pipeline::stats::{PipelineCounters, QueueGauge};
use onair_engine::source::test_pattern::TestPattern;

const FPS: u32 = 30;
/// Ten seconds of stream: CPU seconds per pass are CPU seconds per 10 s.
const FRAMES: u64 = 300;
const SINK_QUEUE: usize = 256;

struct Case {
    label: &'static str,
    width: u32,
    height: u32,
    kbps: u32,
}

const CASES: [Case; 2] = [
    Case {
        label: "720p30",
        width: 1280,
        height: 720,
        kbps: 2500,
    },
    Case {
        label: "1080p30",
        width: 1920,
        height: 1080,
        kbps: 4500,
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Content {
    Pattern,
    Grain,
}

impl Content {
    fn name(self) -> &'static str {
        match self {
            Content::Pattern => "test pattern",
            Content::Grain => "pattern + grain",
        }
    }
}

/// What one pass cost and produced.
#[derive(Clone, Copy)]
struct Cost {
    cpu: Duration,
    wall: Duration,
    bytes: u64,
}

impl Cost {
    fn kbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / 1000.0 / (FRAMES as f64 / FPS as f64)
    }
}

fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn measure(f: impl FnOnce() -> u64) -> Cost {
    let (cpu, wall) = (process_cpu(), Instant::now());
    let bytes = f();
    Cost {
        cpu: process_cpu() - cpu,
        wall: wall.elapsed(),
        bytes,
    }
}

/// Deterministic grain: xorshift, the same frames every run.
struct Grain(u64);

impl Grain {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Adds about +-`amplitude` of noise to every byte.
    fn apply(&mut self, plane: &mut [u8], amplitude: i32) {
        let span = (2 * amplitude + 1) as u64;
        for chunk in plane.chunks_mut(8) {
            let mut r = self.next();
            for p in chunk {
                let noise = ((r & 0xff) % span) as i32 - amplitude;
                r >>= 8;
                *p = (*p as i32 + noise).clamp(16, 235) as u8;
            }
        }
    }
}

fn frames(case: &Case, content: Content) -> Vec<VideoFrame> {
    let pattern = TestPattern::new(case.width, case.height, FPS, MediaClock::start());
    let mut grain = Grain(0x9e37_79b9_7f4a_7c15);
    (0..FRAMES)
        .map(|n| {
            let mut frame = pattern.render(n, pattern.frame_time_us(n));
            if content == Content::Grain {
                let luma = (case.width * case.height) as usize;
                let data = Arc::make_mut(&mut frame.data);
                let (y, uv) = data.split_at_mut(luma);
                grain.apply(y, 10);
                grain.apply(uv, 3);
            }
            frame
        })
        .collect()
}

fn settings(kbps: u32) -> H264Settings {
    H264Settings {
        fps: FPS,
        bitrate_kbps: kbps,
        // Every case is HD.
        colour: Colour::Bt709,
    }
}

fn raw_openh264(frames: &[VideoFrame], kbps: u32) -> Cost {
    let mut encoder =
        Encoder::with_api_config(OpenH264API::from_source(), settings(kbps).encoder_config())
            .expect("openh264 encoder");
    let mut out = Vec::with_capacity(1 << 20);
    measure(|| {
        let mut bytes = 0;
        for frame in frames {
            let bitstream = encoder.encode(frame).expect("openh264 encode");
            out.clear();
            bitstream.write_vec(&mut out);
            bytes += black_box(&out).len() as u64;
        }
        bytes
    })
}

/// The engine's capture -> encoder thread -> fan-out -> sink path; None when
/// its overload governor skipped frames (encoding a frame took longer than a
/// frame interval of wall time, which a busy shared machine can cause) and
/// the pass is not comparable.
fn engine_path(frames: &[VideoFrame], kbps: u32) -> Option<Cost> {
    let capture = Broadcast::<VideoFrame>::new();
    // Room for every frame: nothing is dropped for arriving faster than 30 fps.
    let input = capture.subscribe(frames.len());
    let (sink_tx, sink_rx) = bounded::<Packet>(SINK_QUEUE);
    let dropped = Arc::new(AtomicU32::new(0));
    let fanout = Fanout::new(vec![SinkPort::new(
        sink_tx,
        dropped.clone(),
        Arc::new(QueueGauge::new(SINK_QUEUE)),
    )]);
    let counters = Arc::new(PipelineCounters::default());
    let encoder = Box::new(H264Encoder::new(settings(kbps)).expect("engine encoder"));
    let cost = measure(|| {
        let sink = std::thread::spawn(move || {
            sink_rx
                .iter()
                .map(|p| match p {
                    Packet::Video(v) => black_box(&v.data).len() as u64,
                    Packet::Audio(_) => 0,
                })
                .sum::<u64>()
        });
        let encode = encoders::spawn_video(
            input,
            encoder,
            fanout,
            Arc::new(EncoderControl::new(kbps)),
            Arc::new(Timeline::new(MediaClock::start(), 0, None)),
            counters.clone(),
            Arc::new(|_event: onair_engine::Event| {}),
        );
        frames.iter().for_each(|frame| capture.send(frame));
        capture.close();
        encode.join().expect("encoder thread").expect("encode");
        sink.join().expect("sink thread")
    });
    // A path that lost frames would look cheaper than it is.
    if counters.overload_dropped.load(Ordering::Relaxed) > 0 {
        return None;
    }
    assert_eq!(
        counters.video_encoded.load(Ordering::Relaxed) as usize,
        frames.len()
    );
    assert_eq!(
        counters.dropped_total() + dropped.load(Ordering::Relaxed),
        0
    );
    Some(cost)
}

/// A few tries at a complete engine pass.
fn engine_path_complete(frames: &[VideoFrame], kbps: u32) -> Option<Cost> {
    (0..3).find_map(|attempt| {
        let pass = engine_path(frames, kbps);
        if pass.is_none() {
            eprintln!(
                "  engine pass {}: the overload governor stepped down",
                attempt + 1
            );
        }
        pass
    })
}

fn one_layer(frames: &[VideoFrame], kbps: u32) -> Cost {
    let mut encoder = H264Encoder::new(settings(kbps)).expect("encoder");
    measure(|| {
        frames
            .iter()
            .map(|f| {
                let out = encoder.encode(f, f.capture_us as i64).expect("encode");
                out.iter().map(|v| v.data.len() as u64).sum::<u64>()
            })
            .sum()
    })
}

fn three_layers(frames: &[VideoFrame], width: u32, height: u32, kbps: u32) -> Cost {
    let layers = standard_layers(width, height, kbps);
    let mut encoder = SimulcastEncoder::new(
        &layers,
        FPS,
        onair_engine::encode::h264::KEYFRAME_INTERVAL_S,
    )
    .expect("simulcast encoder");
    measure(|| {
        frames
            .iter()
            .map(|f| {
                let out = encoder.encode(f, f.capture_us as i64).expect("encode");
                out.iter().map(|v| v.data.len() as u64).sum::<u64>()
            })
            .sum()
    })
}

fn write_yuv(frames: &[VideoFrame], path: &Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create yuv"));
    for frame in frames {
        file.write_all(&frame.data).expect("write yuv");
    }
    file.flush().expect("flush yuv");
}

/// ffmpeg reading the raw frames; with `x264` it encodes them with libx264
/// veryfast at `kbps` (constant bitrate, a keyframe every 2 s like the
/// engine), else it only reads them (the cost of feeding it).
fn ffmpeg(yuv: &Path, case: &Case, x264: bool, out: &Path) -> Cost {
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
    ])
    .args(["-s", &format!("{}x{}", case.width, case.height)])
    .args(["-framerate", &FPS.to_string(), "-i"])
    .arg(yuv);
    if x264 {
        let k = format!("{}k", case.kbps);
        cmd.args([
            "-c:v", "libx264", "-preset", "veryfast", "-b:v", &k, "-maxrate", &k,
        ])
        .args(["-bufsize", &format!("{}k", case.kbps * 2), "-g", "60"])
        .args(["-f", "h264"])
        .arg(out);
    } else {
        cmd.args(["-f", "null", "-"]);
    }
    let (cpu, wall) = (children_cpu(), Instant::now());
    let status = cmd.status().expect("run ffmpeg");
    assert!(status.success(), "ffmpeg failed: {status}");
    Cost {
        cpu: children_cpu() - cpu,
        wall: wall.elapsed(),
        bytes: if x264 {
            std::fs::metadata(out).map_or(0, |m| m.len())
        } else {
            0
        },
    }
}

fn best(costs: &[Cost]) -> Cost {
    *costs
        .iter()
        .min_by_key(|c| c.cpu)
        .expect("at least one round")
}

/// Each round's `over / under`, the median of them: the two paths run back
/// to back in a round, so a round's ratio is taken at one machine speed,
/// where least against least can pair a lucky round with an unlucky one.
fn median_ratio(over: &[Cost], under: &[Cost]) -> f64 {
    let mut ratios: Vec<f64> = over
        .iter()
        .zip(under)
        .map(|(o, u)| secs(o.cpu) / secs(u.cpu))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let mid = ratios.len() / 2;
    if ratios.len() % 2 == 1 {
        ratios[mid]
    } else {
        (ratios[mid - 1] + ratios[mid]) / 2.0
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    // `cargo test --benches` runs this as a smoke test: nothing to do there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rounds: usize = std::env::var("ONAIR_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let only = std::env::var("ONAIR_BENCH_ONLY").unwrap_or_default();
    let scratch = PathBuf::from(std::env::var_os("ONAIR_BENCH_SCRATCH").unwrap_or_else(|| {
        std::env::temp_dir()
            .join(format!("onair-bench-encode-{}", std::process::id()))
            .into()
    }));
    std::fs::create_dir_all(&scratch).expect("scratch directory");

    let mut paths = String::from(
        "| content | size | raw openh264 CPU s | engine path CPU s | engine / raw \
         | x264 veryfast CPU s | engine / x264 | kbps openh264 / x264 |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut simulcast = String::from(
        "| content | size | 1 layer CPU s | 3 layers CPU s | 3 / 1 | 3 / 1 each round (median) \
         | kbps 1 layer / 3 layers |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    let mut feed = Vec::new();
    for case in CASES.iter().filter(|c| only.is_empty() || c.label == only) {
        for content in [Content::Pattern, Content::Grain] {
            let frames = frames(case, content);
            let yuv = scratch.join(format!("{}-{}.yuv", case.label, content.name()));
            let h264 = scratch.join(format!("{}-{}.h264", case.label, content.name()));
            write_yuv(&frames, &yuv);
            let (mut raw, mut engine, mut x264, mut read) = (vec![], vec![], vec![], vec![]);
            let (mut one, mut three) = (vec![], vec![]);
            for round in 0..rounds {
                raw.push(raw_openh264(&frames, case.kbps));
                engine.extend(engine_path_complete(&frames, case.kbps));
                x264.push(ffmpeg(&yuv, case, true, &h264));
                read.push(ffmpeg(&yuv, case, false, &h264));
                one.push(one_layer(&frames, case.kbps));
                three.push(three_layers(&frames, case.width, case.height, case.kbps));
                eprintln!(
                    "{} {} round {}: raw {:.2} s, engine {:.2} s, x264 {:.2} s (wall {:.2} s), \
                     ffmpeg read only {:.2} s, 1 layer {:.2} s, 3 layers {:.2} s CPU",
                    case.label,
                    content.name(),
                    round + 1,
                    secs(raw[round].cpu),
                    engine.last().map_or(f64::NAN, |c| secs(c.cpu)),
                    secs(x264[round].cpu),
                    secs(x264[round].wall),
                    secs(read[round].cpu),
                    secs(one[round].cpu),
                    secs(three[round].cpu),
                );
            }
            let _ = std::fs::remove_file(&yuv);
            let _ = std::fs::remove_file(&h264);
            let (raw, x264) = (best(&raw), best(&x264));
            let engine = (!engine.is_empty()).then(|| best(&engine));
            let paired = median_ratio(&three, &one);
            let (one, three) = (best(&one), best(&three));
            if let Some(engine) = engine {
                assert_eq!(raw.bytes, engine.bytes, "both paths encode the same frames");
            }
            // Without a complete engine pass, x264 is compared with raw openh264.
            let ours = engine.unwrap_or(raw);
            let cell = |v: Option<f64>, digits: usize| {
                v.map_or("n/a (governor stepped down)".to_string(), |v| {
                    format!("{v:.digits$}")
                })
            };
            paths.push_str(&format!(
                "| {} | {} ({} kbps) | {:.2} | {} | {} | {:.2} | {:.2} | {:.0} / {:.0} |\n",
                content.name(),
                case.label,
                case.kbps,
                secs(raw.cpu),
                cell(engine.map(|e| secs(e.cpu)), 2),
                cell(engine.map(|e| secs(e.cpu) / secs(raw.cpu)), 3),
                secs(x264.cpu),
                secs(ours.cpu) / secs(x264.cpu),
                raw.kbps(),
                x264.kbps(),
            ));
            simulcast.push_str(&format!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} / {:.0} |\n",
                content.name(),
                case.label,
                secs(one.cpu),
                secs(three.cpu),
                secs(three.cpu) / secs(one.cpu),
                paired,
                one.kbps(),
                three.kbps(),
            ));
            feed.push(format!(
                "{} {}: {:.2} s",
                case.label,
                content.name(),
                secs(best(&read).cpu)
            ));
        }
    }
    let _ = std::fs::remove_dir(&scratch);
    println!(
        "\n## CPU seconds per 10 s of stream ({FRAMES} frames at {FPS} fps; least of {rounds} rounds)\n\n\
         {paths}\nx264 CPU includes ffmpeg reading the raw frames; reading alone costs {}.\n\
         kbps: what each encoder actually produced for its target.\n\n\
         ## Simulcast: three layers (full, 1/2, 1/4 size; scaler included) vs one\n\n{simulcast}",
        feed.join(", ")
    );
}
