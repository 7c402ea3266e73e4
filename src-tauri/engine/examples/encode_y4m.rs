//! Encodes a YUV4MPEG2 clip with Onair's H.264 encoder exactly as a session
//! configures it (or with the changes named after the bitrate, to try
//! settings out) and writes the Annex B stream: scripts/bench-quality
//! compares it with the source frames and with x264.
//!
//!   encode_y4m IN.y4m OUT.h264 KBPS [carrier=rtmp|webrtc] [encoder=openh264|x264]
//!              [complexity=low|medium|high] [aq=0|1] [ltr=0|1] [background=0|1]
//!              [cabac=0|1] [ref=N]
//!
//! `carrier` picks what a session picks for it (the plan's entropy coder:
//! CABAC for RTMP and files, CAVLC where WebRTC takes the picture);
//! `encoder` the library (x264 needs the example built with the x264
//! feature; a session uses the build's own); the other names change one
//! openh264 setting after that.
//!
//! Prints one JSON line: frames, bytes, and per-frame encode times (ms).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use onair_engine::colour::Colour;
use onair_engine::encode::h264::{H264Encoder, H264Settings, Implementation};
use onair_engine::encode::openh264_raw::{Complexity, Entropy};
use onair_engine::encode::VideoEncoder;
use onair_engine::media::VideoFrame;
use onair_engine::source::y4m::Reader;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, kbps, changes @ ..] = args.as_slice() else {
        eprintln!("usage: encode_y4m IN.y4m OUT.h264 KBPS [name=value...]");
        std::process::exit(2);
    };
    let mut reader = Reader::open(Path::new(input)).unwrap_or_else(|e| {
        eprintln!("{input}: {e}");
        std::process::exit(1);
    });
    let header = reader.header();
    let fps = (header.rate.0 as f64 / header.rate.1 as f64).round() as u32;
    let settings = H264Settings {
        fps,
        bitrate_kbps: kbps.parse().expect("KBPS is a number"),
        colour: Colour::for_size(header.width, header.height),
    };
    let mut params = settings.params();
    let mut implementation = Implementation::BUILT_IN;
    for change in changes {
        let (name, value) = change.split_once('=').expect("name=value");
        let on = value == "1";
        match name {
            "complexity" => {
                params.complexity = match value {
                    "low" => Complexity::Low,
                    "medium" => Complexity::Medium,
                    "high" => Complexity::High,
                    _ => panic!("complexity is low, medium or high"),
                }
            }
            "carrier" => {
                params = params.with_entropy(match value {
                    "rtmp" | "file" => Entropy::Cabac,
                    "webrtc" => Entropy::Cavlc,
                    _ => panic!("carrier is rtmp, file or webrtc"),
                })
            }
            "encoder" => {
                implementation = Implementation::named(value)
                    .unwrap_or_else(|| panic!("this build has no encoder named {value}"))
            }
            "aq" => params.adaptive_quant = on,
            "ltr" => params.long_term_reference = on,
            "background" => params.background_detection = on,
            "cabac" => params.entropy = if on { Entropy::Cabac } else { Entropy::Cavlc },
            "ref" => params.ref_frames = Some(value.parse().expect("ref=N")),
            _ => panic!("unknown setting {name}"),
        }
    }
    let mut encoder = H264Encoder::with_implementation(params, implementation).expect("encoder");
    let mut out = BufWriter::new(File::create(output).expect("create the output"));
    let mut picture = vec![0u8; header.frame_len()];
    let (mut frames, mut bytes, mut times) = (0u64, 0u64, Vec::new());
    while reader.read_picture(&mut picture).expect("read the clip") {
        let frame = VideoFrame {
            width: header.width,
            height: header.height,
            data: Arc::new(picture.clone()),
            capture_us: frames * 1_000_000 / fps as u64,
        };
        let started = Instant::now();
        let encoded = encoder
            .encode(&frame, frame.capture_us as i64)
            .expect("encode");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        for unit in encoded {
            out.write_all(&unit.data).expect("write");
            bytes += unit.data.len() as u64;
        }
        frames += 1;
    }
    // What a reordering encoder still holds (B-frames), in decode order.
    for unit in encoder.flush().expect("flush the encoder") {
        out.write_all(&unit.data).expect("write");
        bytes += unit.data.len() as u64;
    }
    out.flush().expect("flush");
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{{\"frames\":{frames},\"bytes\":{bytes},\"encode_ms_p50\":{:.2},\"encode_ms_p95\":{:.2},\"encode_ms_max\":{:.2}}}",
        at(0.5),
        at(0.95),
        at(1.0)
    );
}
