//! The microphone (cpal, or PulseAudio's own protocol for its sources, see
//! `pulse.rs`): captured at the device's own rate and format,
//! turned into 48 kHz stereo by a resampler whose ratio also absorbs the
//! drift between the sound card's clock and the system clock. An unplugged
//! device becomes silence, a `device_lost` health event and a retry loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Adjustable, Async, FixedAsync, PolynomialDegree, Resampler};
use serde::Serialize;

use super::drift::DriftTracker;
use super::{AudioSource, SourceError};
use crate::clock::MediaClock;
use crate::events::{Event, EventSink, HealthCode};
use crate::media::AudioChunk;

pub const RATE: u32 = 48_000;
pub const CHANNELS: u16 = 2;
/// Output chunks of 10 ms, like the test tone.
const CHUNK_FRAMES: usize = RATE as usize / 100;
/// How long without samples before a device that reported no error counts
/// as gone. An unplugged device reports an error at once; a sound server on
/// a loaded machine can pause for seconds and then deliver all it held.
const STALL: Duration = Duration::from_secs(4);
/// A sound server can take a couple of seconds to deliver the first block.
const FIRST_BLOCK_GRACE: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MicInfo {
    pub name: String,
    pub is_default: bool,
    pub rate: u32,
    pub channels: u16,
    pub format: String,
}

/// Input devices with their native configuration. An unreachable sound
/// system is an empty list, not an error: the test tone is still there.
/// ALSA and JACK print their probing; it goes to the log.
pub fn list_microphones() -> Vec<MicInfo> {
    crate::logbook::into_log(probe_microphones)
}

fn probe_microphones() -> Vec<MicInfo> {
    let host = cpal::default_host();
    let default_name = host.default_input_device().map(|d| d.to_string());
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    devices
        .filter_map(|device| {
            let config = device.default_input_config().ok()?;
            let name = device.to_string();
            Some(MicInfo {
                is_default: default_name.as_deref() == Some(name.as_str()),
                name,
                rate: config.sample_rate(),
                channels: config.channels(),
                format: config.sample_format().to_string(),
            })
        })
        .collect()
}

/// Finds a device by exact name, then by case-insensitive substring; `None`
/// picks the system's default input.
fn find_device(name: Option<&str>) -> Result<cpal::Device, SourceError> {
    crate::logbook::into_log(|| probe_device(name))
}

fn probe_device(name: Option<&str>) -> Result<cpal::Device, SourceError> {
    let host = cpal::default_host();
    let Some(wanted) = name else {
        return host
            .default_input_device()
            .ok_or_else(|| SourceError::Unavailable("The default microphone".into()));
    };
    let devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|_| SourceError::Unavailable(format!("Microphone {wanted:?}")))?
        .collect();
    let lower = wanted.to_lowercase();
    let pick = devices
        .iter()
        .position(|d| d.to_string() == wanted)
        .or_else(|| {
            devices
                .iter()
                .position(|d| d.to_string().to_lowercase().contains(&lower))
        });
    match pick {
        Some(i) => Ok(devices.into_iter().nth(i).expect("index from position")),
        None => Err(SourceError::Unavailable(format!("Microphone {wanted:?}"))),
    }
}

/// What the device thread hears from the sound system.
pub(super) enum DeviceMessage {
    Block(DeviceBlock),
    /// The stream broke (device unplugged, sound server gone).
    Failed,
}

/// Raw samples from the device callback, already f32 and interleaved.
pub(super) struct DeviceBlock {
    pub samples: Vec<f32>,
    pub channels: u16,
    /// When the callback ran, on the media clock.
    pub arrived_us: u64,
    /// When the sound system says the block's first sample was captured, on
    /// the media clock.
    pub captured_us: u64,
}

/// Owns the device stream on its own thread (streams are not `Send` on every
/// platform) until `stop` is dropped.
struct DeviceStream {
    rate: u32,
    messages: Receiver<DeviceMessage>,
    _stop: Sender<()>,
}

fn open_stream(device_name: Option<&str>, clock: MediaClock) -> Result<DeviceStream, SourceError> {
    let device = find_device(device_name)?;
    let label = device.to_string();
    let config = device
        .default_input_config()
        .map_err(|_| SourceError::Unavailable(format!("Microphone {label:?}")))?;
    let rate = config.sample_rate();
    let channels = config.channels();
    let format = config.sample_format();
    let mut stream_config = config.config();
    // Ask for 50 ms periods (where cpal reads the device; PulseAudio sources
    // go through source/pulse.rs). 20 ms periods (cpal keeps two) overran
    // under load and, through PulseAudio's ALSA plugin, the stream then
    // stopped for good (a device_lost in 2 of 3 loaded test runs; 0 of 3
    // with 50 ms).
    if let cpal::SupportedBufferSize::Range { min, max } = config.buffer_size() {
        stream_config.buffer_size = cpal::BufferSize::Fixed((rate / 20).clamp(*min, *max));
    }
    // Sound servers deliver in blocks as small as a few frames: room for
    // seconds of them, so a busy machine delays audio rather than losing it.
    let (message_tx, messages) = bounded::<DeviceMessage>(4096);
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let (ready_tx, ready_rx) = bounded::<Result<(), String>>(1);
    #[cfg(target_os = "linux")]
    let pulse_source = device
        .id()
        .ok()
        .filter(|id| id.host() == cpal::HostId::PulseAudio)
        .map(|id| id.id().to_string());
    std::thread::Builder::new()
        .name("onair-mic".into())
        .spawn(move || {
            #[cfg(target_os = "linux")]
            if let Some(source) = pulse_source {
                super::pulse::record(
                    &source, rate, channels, clock, message_tx, ready_tx, stop_rx,
                );
                return;
            }
            let stream = build_stream(&device, stream_config, format, channels, message_tx, clock);
            let stream = match stream.and_then(|s| s.play().map(|()| s).map_err(|e| e.to_string()))
            {
                Ok(stream) => stream,
                Err(why) => {
                    let _ = ready_tx.send(Err(why));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let _ = stop_rx.recv(); // returns when the DeviceStream is dropped
            drop(stream);
        })
        .expect("spawn microphone thread");
    ready_rx
        .recv()
        .map_err(|_| SourceError::Stopped)?
        .map_err(|why| SourceError::Unavailable(format!("Microphone {label:?} ({why})")))?;
    Ok(DeviceStream {
        rate,
        messages,
        _stop: stop_tx,
    })
}

fn build_stream(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    format: cpal::SampleFormat,
    channels: u16,
    tx: Sender<DeviceMessage>,
    clock: MediaClock,
) -> Result<cpal::Stream, String> {
    fn build<T: cpal::SizedSample>(
        device: &cpal::Device,
        config: cpal::StreamConfig,
        channels: u16,
        tx: Sender<DeviceMessage>,
        clock: MediaClock,
    ) -> Result<cpal::Stream, cpal::Error>
    where
        f32: cpal::FromSample<T>,
    {
        let errors = tx.clone();
        device.build_input_stream::<T, _, _>(
            config,
            move |data: &[T], info: &cpal::InputCallbackInfo| {
                let samples = data
                    .iter()
                    .map(|&s| <f32 as cpal::FromSample<T>>::from_sample_(s))
                    .collect();
                // A full queue means the reader is gone or stuck: drop, never block the device.
                let arrived_us = clock.now_us();
                let stamps = info.timestamp();
                let held = stamps.callback.duration_since(stamps.capture);
                let _ = tx.try_send(DeviceMessage::Block(DeviceBlock {
                    samples,
                    channels,
                    arrived_us,
                    captured_us: arrived_us.saturating_sub(held.as_micros() as u64),
                }));
            },
            move |error| {
                // Overruns and reroutes keep the stream going (the drift
                // tracker absorbs an overrun); these end it.
                use cpal::ErrorKind as K;
                if matches!(
                    error.kind(),
                    K::DeviceNotAvailable | K::HostUnavailable | K::StreamInvalidated
                ) {
                    let _ = errors.try_send(DeviceMessage::Failed);
                }
            },
            None,
        )
    }
    use cpal::SampleFormat as F;
    let built = match format {
        F::F32 => build::<f32>(device, config, channels, tx, clock),
        F::I16 => build::<i16>(device, config, channels, tx, clock),
        F::U16 => build::<u16>(device, config, channels, tx, clock),
        F::I32 => build::<i32>(device, config, channels, tx, clock),
        F::I8 => build::<i8>(device, config, channels, tx, clock),
        F::U8 => build::<u8>(device, config, channels, tx, clock),
        F::F64 => build::<f64>(device, config, channels, tx, clock),
        other => return Err(format!("unsupported sample format {other}")),
    };
    built.map_err(|e| e.to_string())
}

/// Interleaved `channels`-channel samples as stereo: mono is doubled, more
/// than two channels keep the first two (front left and right).
pub fn to_stereo(samples: &[f32], channels: u16) -> Vec<f32> {
    match channels {
        2 => samples.to_vec(),
        1 => samples.iter().flat_map(|&s| [s, s]).collect(),
        n => samples
            .chunks_exact(n as usize)
            .flat_map(|frame| [frame[0], frame[1]])
            .collect(),
    }
}

pub struct Microphone {
    name: Option<String>,
    clock: MediaClock,
    events: Arc<dyn EventSink>,
    stream: Option<DeviceStream>,
    resampler: Async<f32>,
    drift: DriftTracker,
    /// Stereo samples at the device rate waiting for the resampler.
    pending: Vec<f32>,
    /// Stereo 48 kHz samples waiting to be cut into chunks.
    ready: Vec<f32>,
    /// Media time of the first output sample, fixed at the first block.
    base_us: Option<u64>,
    samples_out: u64,
    last_block: Instant,
    next_retry: Instant,
    description: String,
}

impl Microphone {
    pub fn open(
        name: Option<String>,
        clock: MediaClock,
        events: Arc<dyn EventSink>,
    ) -> Result<Self, SourceError> {
        let stream = open_stream(name.as_deref(), clock)?;
        let description = format!(
            "microphone {} ({} Hz)",
            name.as_deref().unwrap_or("(default)"),
            stream.rate
        );
        Ok(Microphone {
            resampler: new_resampler(stream.rate)?,
            drift: DriftTracker::new(),
            name,
            clock,
            events,
            stream: Some(stream),
            pending: Vec::new(),
            ready: Vec::new(),
            base_us: None,
            samples_out: 0,
            last_block: Instant::now(),
            next_retry: Instant::now(),
            description,
        })
    }

    fn health(&self, code: HealthCode, message: String) {
        self.events.emit(Event::health(code, message));
    }

    fn device_label(&self) -> String {
        match &self.name {
            Some(name) => format!("The microphone {name:?}"),
            None => "The microphone".to_string(),
        }
    }

    /// Media time the next output sample is due at.
    fn next_sample_us(&self) -> u64 {
        self.base_us.unwrap_or(0) + self.samples_out * 1_000_000 / RATE as u64
    }

    fn take_chunk(&mut self) -> AudioChunk {
        let len = CHUNK_FRAMES * CHANNELS as usize;
        let samples: Vec<f32> = self.ready.drain(..len).collect();
        let chunk = AudioChunk {
            rate: RATE,
            channels: CHANNELS,
            samples: Arc::new(samples),
            capture_us: self.next_sample_us(),
        };
        self.samples_out += CHUNK_FRAMES as u64;
        chunk
    }

    fn accept(&mut self, block: DeviceBlock) -> Result<(), SourceError> {
        self.last_block = Instant::now();
        let rate = self.stream.as_ref().map_or(RATE, |s| s.rate);
        let frames = block.samples.len() / block.channels.max(1) as usize;
        let block_us = frames as u64 * 1_000_000 / rate as u64;
        // The first block sets the timeline: its first sample's capture instant.
        let base = *self.base_us.get_or_insert(block.captured_us);
        self.pending
            .extend(to_stereo(&block.samples, block.channels));
        // Where the count puts the end of what has arrived, against when the
        // driver says it was captured.
        let counted_end_us = base as f64
            + self.samples_out as f64 * 1e6 / RATE as f64
            + (self.ready.len() / 2) as f64 * 1e6 / RATE as f64
            + (self.pending.len() / 2) as f64 * 1e6 / rate as f64;
        let correction = self.drift.update(
            counted_end_us - (block.captured_us + block_us) as f64,
            block.arrived_us,
        );
        let step_frames = (correction.step_us.abs() * RATE as f64 / 1e6) as usize;
        if correction.step_us > 0.0 {
            self.ready.extend(std::iter::repeat_n(0.0, step_frames * 2));
        } else if step_frames > 0 {
            // The oldest waiting samples go; what is still pending at the
            // device rate is left to the next step if the output ran short.
            let drop = (step_frames * 2).min(self.ready.len());
            self.ready.drain(..drop);
        }
        self.resampler
            .set_resample_ratio_relative(correction.ratio, true)
            .map_err(|_| SourceError::Stopped)?;
        self.resample()
    }

    fn resample(&mut self) -> Result<(), SourceError> {
        loop {
            let needed = self.resampler.input_frames_next();
            if self.pending.len() / 2 < needed {
                return Ok(());
            }
            let room = self.resampler.output_frames_max();
            let start = self.ready.len();
            self.ready.resize(start + room * 2, 0.0);
            let input = InterleavedSlice::new(&self.pending[..needed * 2], 2, needed)
                .map_err(|_| SourceError::Stopped)?;
            let mut output = InterleavedSlice::new_mut(&mut self.ready[start..], 2, room)
                .map_err(|_| SourceError::Stopped)?;
            let (used, written) = self
                .resampler
                .process_into_buffer(&input, &mut output, None)
                .map_err(|_| SourceError::Stopped)?;
            self.ready.truncate(start + written * 2);
            self.pending.drain(..used * 2);
        }
    }

    /// While the device is gone: silence in real time, and a retry each second.
    fn silence_chunk(&mut self) -> AudioChunk {
        let due = self.next_sample_us() + (CHUNK_FRAMES as u64 * 1_000_000 / RATE as u64);
        self.clock.sleep_until(due);
        if Instant::now() >= self.next_retry {
            self.next_retry = Instant::now() + RETRY_EVERY;
            if let Ok(stream) = open_stream(self.name.as_deref(), self.clock) {
                if let Ok(resampler) = new_resampler(stream.rate) {
                    self.resampler = resampler;
                    self.stream = Some(stream);
                    self.pending.clear();
                    self.drift = DriftTracker::new();
                    self.last_block = Instant::now();
                    self.health(
                        HealthCode::DeviceRestored,
                        format!("{} is back.", self.device_label()),
                    );
                }
            }
        }
        self.ready.clear();
        self.ready.resize(CHUNK_FRAMES * CHANNELS as usize, 0.0);
        self.take_chunk()
    }

    fn stall_limit(&self) -> Duration {
        if self.base_us.is_none() {
            FIRST_BLOCK_GRACE
        } else {
            STALL
        }
    }

    fn lose_device(&mut self) {
        self.stream = None;
        self.next_retry = Instant::now() + RETRY_EVERY;
        self.health(
            HealthCode::DeviceLost,
            format!(
                "{} stopped delivering sound; sending silence until it returns.",
                self.device_label()
            ),
        );
    }
}

fn new_resampler(device_rate: u32) -> Result<Async<f32>, SourceError> {
    // Cubic interpolation is plenty for speech and music at 48 kHz and costs
    // a fraction of a sinc filter; the ratio may move by the drift bound.
    Async::new_poly(
        RATE as f64 / device_rate as f64,
        1.0 + super::drift::MAX_CORRECTION * 2.0,
        PolynomialDegree::Cubic,
        device_rate as usize / 100,
        CHANNELS as usize,
        FixedAsync::Input,
    )
    .map_err(|_| SourceError::Unavailable(format!("A {device_rate} Hz microphone")))
}

impl AudioSource for Microphone {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn next_chunk(&mut self) -> Result<AudioChunk, SourceError> {
        loop {
            if self.ready.len() >= CHUNK_FRAMES * CHANNELS as usize {
                return Ok(self.take_chunk());
            }
            let Some(stream) = &self.stream else {
                return Ok(self.silence_chunk());
            };
            match stream.messages.recv_timeout(Duration::from_millis(50)) {
                Ok(DeviceMessage::Block(block)) => self.accept(block)?,
                Ok(DeviceMessage::Failed) => self.lose_device(),
                Err(RecvTimeoutError::Timeout)
                    if self.last_block.elapsed() < self.stall_limit() => {}
                Err(_) => self.lose_device(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_layouts_become_stereo() {
        assert_eq!(to_stereo(&[0.1, 0.2], 1), vec![0.1, 0.1, 0.2, 0.2]);
        assert_eq!(
            to_stereo(&[0.1, 0.2, 0.3, 0.4], 2),
            vec![0.1, 0.2, 0.3, 0.4]
        );
        assert_eq!(
            to_stereo(&[0.1, 0.2, 0.9, 0.3, 0.4, 0.9], 3),
            vec![0.1, 0.2, 0.3, 0.4]
        );
    }

    #[test]
    fn resampler_turns_44k1_into_48k_at_the_right_pitch() {
        let mut resampler = new_resampler(44_100).unwrap();
        let input: Vec<f32> = (0..44_100)
            .flat_map(|i| {
                let s = (std::f32::consts::TAU * 440.0 * i as f32 / 44_100.0).sin() * 0.5;
                [s, s]
            })
            .collect();
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let needed = resampler.input_frames_next();
            if at + needed > 44_100 {
                break;
            }
            let slice =
                InterleavedSlice::new(&input[at * 2..(at + needed) * 2], 2, needed).unwrap();
            let mut buffer = vec![0.0; resampler.output_frames_max() * 2];
            let frames = buffer.len() / 2;
            let mut output = InterleavedSlice::new_mut(&mut buffer, 2, frames).unwrap();
            let (_, written) = resampler
                .process_into_buffer(&slice, &mut output, None)
                .unwrap();
            out.extend_from_slice(&buffer[..written * 2]);
            at += needed;
        }
        let frames = out.len() / 2;
        assert!((47_000..=48_000).contains(&frames), "{frames} frames");
        // Count rising zero crossings of the left channel, after the filter's start-up.
        let left: Vec<f32> = out.iter().step_by(2).copied().skip(4800).collect();
        let crossings = left
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        let seconds = left.len() as f64 / 48_000.0;
        let hz = crossings as f64 / seconds;
        assert!((hz - 440.0).abs() < 2.0, "{hz} Hz");
    }
}
