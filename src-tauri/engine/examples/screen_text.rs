//! Does openh264's screen-content mode keep small text sharper than the
//! camera mode the engine uses, at the same bitrate? Run by
//! `scripts/bench-screen` with DISPLAY on an Xvfb where 12-pixel text
//! scrolls 2 px a frame; prints a markdown table.
//!
//! Three seconds of the screen are captured at 1920x1080 through the
//! engine's screen source, then encoded with the engine's encoder settings,
//! once as they are (camera real-time) and once with the usage type set to
//! screen-content real-time, at each bitrate; openh264 decodes every frame
//! and the luma PSNR against the captured frame says how much of the text
//! survived.

use std::sync::Arc;

use openh264::decoder::Decoder;
use openh264::encoder::{Encoder, UsageType};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

use onair_engine::clock::MediaClock;
use onair_engine::colour::Colour;
use onair_engine::encode::h264::H264Settings;
use onair_engine::media::VideoFrame;
use onair_engine::source::screen::{Output, Screen};
use onair_engine::source::VideoSource;

const FPS: u32 = 30;
const FRAMES: usize = 90;

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        99.0
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    }
}

fn run(frames: &[VideoFrame], usage: UsageType, kbps: u32) -> (f64, f64, f64) {
    let settings = H264Settings {
        fps: FPS,
        bitrate_kbps: kbps,
        colour: Colour::for_size(1920, 1080),
    };
    let config = settings.encoder_config().usage_type(usage);
    let mut encoder =
        Encoder::with_api_config(OpenH264API::from_source(), config).expect("encoder");
    let mut decoder = Decoder::new().expect("decoder");
    let (mut bytes, mut scores) = (0usize, Vec::new());
    for frame in frames {
        let au = encoder.encode(frame).expect("encode").to_vec();
        bytes += au.len();
        if let Ok(Some(decoded)) = decoder.decode(&au) {
            let (w, h) = (frame.width as usize, frame.height as usize);
            let (stride, _, _) = decoded.strides();
            let y = decoded.y();
            let decoded_luma: Vec<u8> = (0..h)
                .flat_map(|row| y[row * stride..row * stride + w].iter().copied())
                .collect();
            scores.push(psnr(&decoded_luma, &frame.data[..w * h]));
        }
    }
    let kbps_out = bytes as f64 * 8.0 / 1000.0 / (frames.len() as f64 / FPS as f64);
    scores.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    (kbps_out, mean, scores.first().copied().unwrap_or(f64::NAN))
}

fn main() {
    if std::env::var_os("DISPLAY").is_none() {
        eprintln!("screen_text: no DISPLAY; run it through scripts/bench-screen");
        return;
    }
    let output = Output {
        width: 1920,
        height: 1080,
        fps: FPS,
    };
    let mut screen =
        Screen::open(None, output, MediaClock::start(), Arc::new(|_| {})).expect("the screen");
    let frames: Vec<VideoFrame> = (0..FRAMES)
        .map(|_| screen.next_frame().expect("a frame"))
        .collect();
    println!("| mode | target kbps | sent kbps | luma PSNR mean dB | worst frame dB |");
    println!("|---|---|---|---|---|");
    for kbps in [1500, 2500, 4000] {
        for (name, usage) in [
            ("camera (now)", UsageType::CameraVideoRealTime),
            ("screen content", UsageType::ScreenContentRealTime),
        ] {
            let (sent, mean, worst) = run(&frames, usage, kbps);
            println!("| {name} | {kbps} | {sent:.0} | {mean:.2} | {worst:.2} |");
        }
    }
}
