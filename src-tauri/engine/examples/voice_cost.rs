//! CPU cost of the voice chain per second of audio, for each setting:
//! `make bench-voice` (or `cargo run --release -p onair-engine --example
//! voice_cost [SECONDS]`). The audio is generated: voiced syllables with
//! brown-ish noise under them, fed in the 10 ms chunks the sources deliver,
//! on one thread, timed by that thread's CPU clock.

use std::f32::consts::TAU;

use onair_engine::voice::{VoiceChain, VoiceMode, FRAME};

fn thread_cpu_s() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Syllables of a 120 Hz voice (two resonances) with 100 ms gaps, plus noise.
fn test_audio(seconds: usize) -> Vec<f32> {
    let n = seconds * 48_000;
    let mut out = Vec::with_capacity(n);
    let (mut y1, mut y2, mut brown, mut seed) = (0.0f32, 0.0f32, 0.0f32, 0x1234_5678u32);
    let r = (-std::f32::consts::PI * 120.0 / 48_000.0).exp();
    let (a1, a2) = (2.0 * r * (TAU * 700.0 / 48_000.0).cos(), -r * r);
    for i in 0..n {
        let pulse = if i % 400 == 0 { 1.0 } else { 0.0 };
        let y = pulse + a1 * y1 + a2 * y2;
        y2 = y1;
        y1 = y;
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        brown = brown * 0.995 + (seed as f32 / u32::MAX as f32 - 0.5) * 0.01;
        let voiced = if i % 14_400 < 9_600 { y * 0.02 } else { 0.0 };
        out.push(voiced + brown);
    }
    out
}

fn main() {
    let seconds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let audio = test_audio(seconds);
    println!(
        "voice chain cost over {seconds} s of generated 48 kHz audio, 10 ms chunks, one thread"
    );
    println!(
        "{:<6} {:>12} {:>14} {:>10}",
        "mode", "latency ms", "CPU ms per s", "of a core"
    );
    for mode in [VoiceMode::Light, VoiceMode::Clean] {
        let mut chain = VoiceChain::new(mode).expect("a chain");
        let mut out = Vec::with_capacity(audio.len());
        let started = thread_cpu_s();
        for chunk in audio.chunks(FRAME) {
            chain.process_mono(chunk, &mut out);
        }
        let cpu = thread_cpu_s() - started;
        assert_eq!(out.len(), audio.len() / FRAME * FRAME);
        let per_second_ms = cpu * 1000.0 / seconds as f64;
        println!(
            "{:<6} {:>12.1} {:>14.2} {:>9.2}%",
            mode.as_str(),
            chain.latency_us() as f64 / 1000.0,
            per_second_ms,
            per_second_ms / 10.0
        );
    }
    println!("off    {:>12.1} {:>14.2} {:>9.2}%", 0.0, 0.0, 0.0);
}
