//! Writes the built-in test pattern (raw I420) and tone (raw s16le stereo at
//! 48 kHz) to files, so a reference encoder can push exactly what Onair
//! pushes: scripts/bench loops them through ffmpeg.
//!
//!   test_pattern_raw WIDTHxHEIGHT FPS SECONDS busy|plain OUT.yuv OUT.pcm

use std::fs::File;
use std::io::{BufWriter, Write};

use onair_engine::clock::MediaClock;
use onair_engine::source::test_pattern::TestPattern;
use onair_engine::source::test_tone::{TestTone, CHANNELS, RATE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [size, fps, seconds, kind, yuv, pcm] = args.as_slice() else {
        eprintln!("usage: test_pattern_raw WIDTHxHEIGHT FPS SECONDS busy|plain OUT.yuv OUT.pcm");
        std::process::exit(2);
    };
    let (width, height) = size.split_once('x').expect("size as WIDTHxHEIGHT");
    let (width, height): (u32, u32) = (width.parse().unwrap(), height.parse().unwrap());
    let fps: u32 = fps.parse().unwrap();
    let seconds: u64 = seconds.parse().unwrap();
    let clock = MediaClock::start();
    let pattern = match kind.as_str() {
        "busy" => TestPattern::busy(width, height, fps, clock),
        _ => TestPattern::new(width, height, fps, clock),
    };

    let mut out = BufWriter::new(File::create(yuv).expect("create the .yuv"));
    for n in 0..seconds * fps as u64 {
        let frame = pattern.render(n, pattern.frame_time_us(n));
        out.write_all(&frame.data).expect("write the .yuv");
    }
    out.flush().expect("flush the .yuv");

    let mut out = BufWriter::new(File::create(pcm).expect("create the .pcm"));
    for k in 0..seconds * RATE as u64 {
        let sample = (TestTone::sample(k) * i16::MAX as f32) as i16;
        for _ in 0..CHANNELS {
            out.write_all(&sample.to_le_bytes())
                .expect("write the .pcm");
        }
    }
    out.flush().expect("flush the .pcm");
}
