//! The encoder threads of a session. Each reads its capture subscription,
//! stamps media onto the session timeline (0 = Go Live) and fans out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::broadcast::Subscription;
use super::control::EncoderControl;
use super::fanout::Fanout;
use super::overload::{FrameGate, OverloadGovernor, Step};
use super::stats::PipelineCounters;
use crate::clock::MediaClock;
use crate::encode::{AudioEncoder, VideoEncoder};
use crate::error::OnairError;
use crate::events::{Event, EventSink, HealthCode};
use crate::media::{AudioChunk, EncodedVideo, VideoFrame};
use crate::source::convert;

/// The session's span on the media clock. `end` starts open and is set once,
/// by Stop or by the requested duration; the threads finish at exactly `end`.
pub struct Timeline {
    pub clock: MediaClock,
    pub start_us: u64,
    end_us: AtomicU64,
}

impl Timeline {
    pub fn new(clock: MediaClock, start_us: u64, duration: Option<Duration>) -> Self {
        let end = duration.map_or(u64::MAX, |d| d.as_micros() as u64);
        Timeline {
            clock,
            start_us,
            end_us: AtomicU64::new(end),
        }
    }

    /// Session time now.
    pub fn now_us(&self) -> u64 {
        self.clock.now_us().saturating_sub(self.start_us)
    }

    pub fn end_us(&self) -> u64 {
        self.end_us.load(Ordering::Relaxed)
    }

    /// The end as a signed presentation time (an open end stays open: a plain
    /// cast of u64::MAX would make it -1 and drop every packet).
    pub fn end_pts(&self) -> i64 {
        i64::try_from(self.end_us()).unwrap_or(i64::MAX)
    }

    /// Ends the session now (or keeps an earlier end).
    pub fn stop_now(&self) {
        self.end_us.fetch_min(self.now_us(), Ordering::Relaxed);
    }

    pub fn past_end(&self) -> bool {
        self.now_us() >= self.end_us()
    }
}

const POLL: Duration = Duration::from_millis(50);

pub fn spawn_video(
    input: Subscription<VideoFrame>,
    mut encoder: Box<dyn VideoEncoder>,
    mut fanout: Fanout,
    control: Arc<EncoderControl>,
    timeline: Arc<Timeline>,
    counters: Arc<PipelineCounters>,
    events: Arc<dyn EventSink>,
) -> JoinHandle<Result<(), OnairError>> {
    std::thread::Builder::new()
        .name("onair-video-encode".into())
        .spawn(move || {
            let mut overload = OverloadWatch::new();
            let mut active_layers = u32::MAX;
            loop {
                let frame = match input.rx.recv_timeout(POLL) {
                    Ok(frame) => frame,
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) if !timeline.past_end() => {
                        continue
                    }
                    Err(_) => break,
                };
                input.note_depth();
                counters
                    .capture_dropped
                    .store(input.dropped(), Ordering::Relaxed);
                let Some(pts) = frame.capture_us.checked_sub(timeline.start_us) else {
                    continue;
                };
                if pts >= timeline.end_us() {
                    break;
                }
                // The frame's work is its scaling and its encoding.
                let started = Instant::now();
                let Some(frame) = overload.admit(&frame, &counters, events.as_ref())? else {
                    continue;
                };
                if control.take_keyframe_request() {
                    encoder.request_keyframe();
                }
                if let Some(kbps) = control.take_bitrate_change() {
                    encoder.set_bitrate(kbps)?;
                }
                let layers = control.active_layers();
                if layers != active_layers {
                    encoder.set_active_layers(layers);
                    active_layers = layers;
                }
                let encoding = Instant::now();
                let held = encoder.held();
                let encoded = encoder.encode(&frame, pts as i64)?;
                overload.record(started.elapsed());
                counters
                    .encode_ns
                    .fetch_add(encoding.elapsed().as_nanos() as u64, Ordering::Relaxed);
                // Nothing out and nothing more held: the encoder dropped it
                // (one that reorders for B-frames holds a few at the start).
                if encoded.is_empty() && encoder.held() <= held {
                    counters.encoder_dropped.fetch_add(1, Ordering::Relaxed);
                }
                for video in encoded {
                    if deliver(&video, &counters, &mut fanout) {
                        encoder.request_keyframe();
                    }
                }
            }
            // The pictures a reordering encoder still holds end the stream.
            for video in encoder.flush()? {
                deliver(&video, &counters, &mut fanout);
            }
            counters
                .capture_dropped
                .store(input.dropped(), Ordering::Relaxed);
            Ok(())
        })
        .expect("spawn video encoder thread")
}

/// Counts an encoded picture and sends it on; true when a sink lost one and
/// asks for a keyframe.
fn deliver(video: &EncodedVideo, counters: &PipelineCounters, fanout: &mut Fanout) -> bool {
    // Frames are counted once, by their top layer.
    if video.layer == 0 {
        counters.video_encoded.fetch_add(1, Ordering::Relaxed);
    }
    counters
        .video_bytes
        .fetch_add(video.data.len() as u64, Ordering::Relaxed);
    fanout.send_video(video)
}

/// The video thread's side of overload handling: measures encode time per
/// second, asks the governor, and applies its level to each frame (skip it,
/// or scale it down).
struct OverloadWatch {
    governor: OverloadGovernor,
    gate: FrameGate,
    window_started: Instant,
    window_ns: u64,
    window_frames: u32,
    /// Frames that reached this thread, and the capture queue's losses when
    /// the window began: together, the capture rate.
    window_arrived: u32,
    window_lost_before: u32,
}

impl OverloadWatch {
    fn new() -> Self {
        OverloadWatch {
            governor: OverloadGovernor::unknown_rate(),
            gate: FrameGate::default(),
            window_started: Instant::now(),
            window_ns: 0,
            window_frames: 0,
            window_arrived: 0,
            window_lost_before: 0,
        }
    }

    fn record(&mut self, spent: Duration) {
        self.window_ns += spent.as_nanos() as u64;
        self.window_frames += 1;
    }

    /// The frame to encode at the current level, or None to skip it.
    fn admit(
        &mut self,
        frame: &VideoFrame,
        counters: &PipelineCounters,
        events: &dyn EventSink,
    ) -> Result<Option<VideoFrame>, OnairError> {
        if self.window_started.elapsed() >= Duration::from_secs(1) {
            let lost_now = counters.capture_dropped.load(Ordering::Relaxed);
            if self.window_frames > 0 {
                if !self.governor.knows_capture_rate() {
                    // The first second runs at the full level: what arrived
                    // plus what the capture queue lost is the capture rate.
                    let captured = self.window_arrived + lost_now - self.window_lost_before;
                    let fps = captured as f64 / self.window_started.elapsed().as_secs_f64();
                    self.governor = OverloadGovernor::new(fps.round() as u32);
                }
                let mean_ms = self.window_ns as f64 / self.window_frames as f64 / 1e6;
                let lost = lost_now - self.window_lost_before;
                if let Some(step) = self.governor.sample(mean_ms, lost) {
                    events.emit(describe_step(step, mean_ms, lost));
                }
            }
            self.window_started = Instant::now();
            self.window_ns = 0;
            self.window_frames = 0;
            self.window_arrived = 0;
            self.window_lost_before = lost_now;
        }
        self.window_arrived += 1;
        let level = self.governor.level();
        if !self.gate.keep(level) {
            counters.overload_dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        if level.scale >= 1.0 {
            return Ok(Some(frame.clone()));
        }
        let width = ((frame.width as f64 * level.scale) as u32) & !1;
        let height = ((frame.height as f64 * level.scale) as u32) & !1;
        let scaled = convert::scale_frame(frame, width, height)
            .map_err(|e| OnairError::internal(e.to_string()))?;
        Ok(Some(scaled))
    }
}

fn describe_step(step: Step, mean_ms: f64, lost: u32) -> Event {
    let (code, verb, level) = match step {
        Step::Down(level) => (HealthCode::EncoderOverload, "stepped down", level),
        Step::Up(level) => (HealthCode::EncoderRecovered, "stepped back up", level),
    };
    let size = if level.scale < 1.0 {
        format!(" at {:.0} % size", level.scale * 100.0)
    } else {
        String::new()
    };
    Event::Health {
        code,
        message: format!(
            "Encoding took {mean_ms:.1} ms a frame{}; the stream {verb} to {}/{} of the frame rate{size}.",
            if lost > 0 {
                format!(" and {lost} captured frame(s) were lost in a second")
            } else {
                String::new()
            },
            level.keep,
            level.of
        ),
        destination: None,
    }
}

pub fn spawn_audio(
    input: Subscription<AudioChunk>,
    mut encoder: Box<dyn AudioEncoder>,
    mut fanout: Fanout,
    timeline: Arc<Timeline>,
    counters: Option<Arc<PipelineCounters>>,
) -> JoinHandle<Result<(), OnairError>> {
    std::thread::Builder::new()
        .name("onair-audio-encode".into())
        .spawn(move || {
            let mut framer = AudioFramer::new(encoder.frame_samples(), encoder.delay_samples());
            let mut send =
                |pcm: &[f32], pts_us: i64, fanout: &mut Fanout| -> Result<(), OnairError> {
                    if let Some(audio) = encoder.encode(pcm, pts_us)? {
                        if audio.pts_us < timeline.end_pts() {
                            if let Some(counters) = &counters {
                                counters
                                    .audio_bytes
                                    .fetch_add(audio.data.len() as u64, Ordering::Relaxed);
                            }
                            fanout.send_audio(&audio);
                        }
                    }
                    Ok(())
                };
            'capture: loop {
                let chunk = match input.rx.recv_timeout(POLL) {
                    Ok(chunk) => chunk,
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) if !timeline.past_end() => {
                        continue
                    }
                    Err(_) => break,
                };
                input.note_depth();
                framer.push(&chunk, timeline.start_us, timeline.end_us());
                while let Some((pcm, pts)) = framer.next_frame() {
                    send(&pcm, pts, &mut fanout)?;
                }
                if framer.reached() {
                    break 'capture;
                }
            }
            // Push the encoder's held-back samples out with silence.
            for (pcm, pts) in framer.flush() {
                send(&pcm, pts, &mut fanout)?;
            }
            Ok(())
        })
        .expect("spawn audio encoder thread")
}

/// Cuts captured audio into encoder frames on the session timeline. Time comes
/// from the sample count since the first sample after Go Live; the encoder's
/// priming delay is subtracted so decoded audio lines up with its capture time.
struct AudioFramer {
    frame: usize,
    delay: i64,
    channels: usize,
    rate: u32,
    first_sample_us: Option<i64>,
    samples_out: u64,
    pending: Vec<f32>,
    /// Samples (per channel) accepted up to the session's end.
    samples_in: u64,
    end_reached: bool,
}

impl AudioFramer {
    fn new(frame: usize, delay: usize) -> Self {
        AudioFramer {
            frame,
            delay: delay as i64,
            channels: 2,
            rate: 48_000,
            first_sample_us: None,
            samples_out: 0,
            pending: Vec::new(),
            samples_in: 0,
            end_reached: false,
        }
    }

    fn push(&mut self, chunk: &AudioChunk, start_us: u64, end_us: u64) {
        self.channels = chunk.channels as usize;
        self.rate = chunk.rate;
        let per_sample_us = 1e6 / chunk.rate as f64;
        let mut skip = 0usize;
        if self.first_sample_us.is_none() {
            // Drop samples captured before Go Live.
            if chunk.capture_us < start_us {
                skip = ((start_us - chunk.capture_us) as f64 / per_sample_us).ceil() as usize;
            }
            if skip >= chunk.frames() {
                return;
            }
            let first_us = chunk.capture_us as f64 + skip as f64 * per_sample_us - start_us as f64;
            self.first_sample_us = Some(first_us.round() as i64);
        }
        let mut take = chunk.frames() - skip;
        let end_sample = self.sample_at(end_us);
        if self.samples_in + take as u64 >= end_sample {
            take = end_sample.saturating_sub(self.samples_in) as usize;
            self.end_reached = true;
        }
        self.samples_in += take as u64;
        self.pending
            .extend_from_slice(&chunk.samples[skip * self.channels..(skip + take) * self.channels]);
    }

    /// Samples since the first one up to session time `us`.
    fn sample_at(&self, us: u64) -> u64 {
        if us == u64::MAX {
            return u64::MAX;
        }
        let first = self.first_sample_us.unwrap_or(0);
        ((us as i64 - first).max(0) as u128 * self.rate as u128 / 1_000_000) as u64
    }

    fn reached(&self) -> bool {
        self.end_reached
    }

    fn pts_of(&self, sample: u64) -> i64 {
        let first = self.first_sample_us.unwrap_or(0);
        first + ((sample as i64 - self.delay) * 1_000_000) / self.rate as i64
    }

    fn next_frame(&mut self) -> Option<(Vec<f32>, i64)> {
        let len = self.frame * self.channels;
        if self.pending.len() < len {
            return None;
        }
        let pcm: Vec<f32> = self.pending.drain(..len).collect();
        let pts = self.pts_of(self.samples_out);
        self.samples_out += self.frame as u64;
        Some((pcm, pts))
    }

    /// The last partial frame padded with silence, then enough silence to
    /// drain the encoder's delay.
    fn flush(&mut self) -> Vec<(Vec<f32>, i64)> {
        let len = self.frame * self.channels;
        let mut out = Vec::new();
        let frames_to_drain = (self.delay as usize).div_ceil(self.frame) + 1;
        if !self.pending.is_empty() {
            self.pending.resize(len, 0.0);
        }
        for _ in 0..frames_to_drain {
            if self.pending.len() < len {
                self.pending.resize(len, 0.0);
            }
            out.extend(self.next_frame());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(capture_us: u64, frames: usize) -> AudioChunk {
        AudioChunk {
            rate: 48_000,
            channels: 2,
            samples: Arc::new(vec![0.25; frames * 2]),
            capture_us,
        }
    }

    #[test]
    fn an_open_ended_session_keeps_every_pts() {
        let open = Timeline::new(MediaClock::start(), 0, None);
        assert_eq!(open.end_pts(), i64::MAX);
        let ten_seconds = Timeline::new(MediaClock::start(), 0, Some(Duration::from_secs(10)));
        assert_eq!(ten_seconds.end_pts(), 10_000_000);
    }

    #[test]
    fn audio_time_comes_from_sample_counts_minus_encoder_delay() {
        let mut framer = AudioFramer::new(1024, 2048);
        // Go Live at 1 s; the chunk began 5 ms earlier, so 240 samples are dropped.
        framer.push(&chunk(995_000, 480), 1_000_000, u64::MAX);
        for i in 0..4 {
            framer.push(&chunk(1_005_000 + i * 10_000, 480), 1_000_000, u64::MAX);
        }
        let (_, pts0) = framer.next_frame().unwrap();
        let (_, pts1) = framer.next_frame().unwrap();
        assert_eq!(pts0, -42_666);
        assert_eq!(pts1, -21_333);
        assert!(
            framer.next_frame().is_none(),
            "240 + 1920 samples make two frames"
        );
    }

    #[test]
    fn stops_accepting_at_the_end_and_drains_the_delay() {
        let mut framer = AudioFramer::new(1024, 2048);
        for i in 0..10 {
            framer.push(&chunk(i * 10_000, 480), 0, 50_000);
        }
        assert!(framer.reached());
        assert_eq!(framer.samples_in, 2400);
        let frames: Vec<_> = std::iter::from_fn(|| framer.next_frame()).collect();
        assert_eq!(frames.len(), 2);
        let drained = framer.flush();
        assert_eq!(drained.len(), 3);
        assert_eq!(
            drained[0].1, 0,
            "the first drained frame starts at sample 2048"
        );
    }
}
