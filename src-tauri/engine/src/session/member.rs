//! One destination of a session on a thread of its own: its platform's part
//! of Go Live, its connection, its packets and its end. It connects, fails
//! and reconnects without waiting for the others, and reports each step to
//! the runner on the session's one report channel.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use crossbeam_channel::{select, Receiver};

use super::platform::PlatformSide;
use super::runner::{panicked, LiveConfig};
use crate::cancel::Cancel;
use crate::destination::Destination;
use crate::error::OnairError;
use crate::events::{DestinationEvents, MaskingSink};
use crate::livekit::credentials::TokenSource;
use crate::media::{Packet, StreamInfo};
use crate::peer::publisher::LayerDesc;
use crate::pipeline::encoders::Timeline;
use crate::pipeline::stats::QueueGauge;
use crate::platform::flow::Obtained;
use crate::sink::file::FileSink;
use crate::sink::livekit::LiveKitSink;
use crate::sink::rtmp::RtmpSink;
use crate::sink::whip::WhipSink;
use crate::sink::{Sink, SinkLinks, SinkReport};

/// What one destination is and what it is sent.
pub struct Setup {
    pub config: LiveConfig,
    pub info: StreamInfo,
    /// Its simulcast layers (WebRTC), or the one full size.
    pub layers: Vec<LayerDesc>,
    pub video_kbps: u32,
}

/// How a member is wired to the session.
pub struct Wiring {
    pub events: DestinationEvents,
    /// The session's masking layer, told every secret the platform hands out.
    pub masking: Arc<MaskingSink>,
    pub links: SinkLinks,
    pub packets: Receiver<Packet>,
    pub depth: Arc<QueueGauge>,
    /// Set once connected: the fan-out feeds it from then on.
    pub ready: Arc<AtomicBool>,
    /// Bytes handed to the sink, for its bitrate.
    pub sent_bytes: Arc<AtomicU64>,
    /// The media's timeline, once media has started.
    pub timeline: Arc<OnceLock<Arc<Timeline>>>,
    pub cancel: Cancel,
    /// Shared with the runner, which makes sure the end hook runs at Stop.
    pub platform: Arc<Mutex<PlatformSide>>,
}

pub fn spawn(setup: Setup, wiring: Wiring) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("onair-destination".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| publish(&setup, &wiring)))
                .unwrap_or_else(|panic| Err(panicked("a destination", &*panic)));
            // Stop interrupts a connect or a platform call: that is an end,
            // not a failure.
            let result = result.or_else(|e| match wiring.cancel.is_cancelled() {
                true => Ok(()),
                false => Err(e),
            });
            wiring.links.control.withdraw();
            if let Some(plan) = &setup.config.platform {
                let mut platform = wiring.platform.lock().unwrap();
                if let Err(e) = &result {
                    platform.on_failure(plan, e);
                }
                platform.end(plan, &wiring.events);
            }
            let _ = wiring.links.notices.report(SinkReport::Finished(result));
        })
        .expect("spawn destination thread")
}

/// Go Live for this destination, then its packets until the media ends.
fn publish(setup: &Setup, w: &Wiring) -> Result<(), OnairError> {
    let mut config = setup.config.clone();
    if let Some(plan) = &config.platform {
        let got =
            w.platform
                .lock()
                .unwrap()
                .go_live(plan, &config.destination, &w.events, &w.cancel)?;
        apply_platform(&mut config, got, &w.masking)?;
    }
    let mut sink = build_sink(&config, setup)?;
    sink.attach(w.links.clone());
    // On a thread of its own, so Stop need not wait out a connect or a
    // token fetch; one that completes after Stop is closed at once.
    let info = setup.info.clone();
    let opened = w.cancel.run_blocking(
        "onair-open",
        move || {
            let mut sink = sink;
            let result = sink.open(&info);
            (sink, result)
        },
        |(mut late, result)| {
            if result.is_ok() {
                let _ = late.close(0);
            }
        },
    );
    let Some((mut sink, opened)) = opened else {
        return Err(OnairError::internal(
            "Opening the destination stopped unexpectedly.",
        ));
    };
    opened?;
    w.ready.store(true, Ordering::Release);
    let _ = w.links.notices.report(SinkReport::Opened);
    let readings = match &config.platform {
        Some(plan) => {
            let mut platform = w.platform.lock().unwrap();
            let presence = matches!(config.destination, Destination::LiveKit(_));
            platform.watch_status(plan, presence, &w.events);
            platform.readings.clone()
        }
        None => crossbeam_channel::never(),
    };
    let mut written = 0u64;
    let mut result = loop {
        select! {
            recv(w.packets) -> packet => {
                let Ok(packet) = packet else { break Ok(()) };
                w.depth.observe(w.packets.len());
                written += 1;
                fault_injection::sink_write(written);
                let size = match &packet {
                    Packet::Video(v) => v.data.len(),
                    Packet::Audio(a) => a.data.len(),
                };
                w.sent_bytes.fetch_add(size as u64, Ordering::Relaxed);
                if let Err(e) = sink.write(&packet) {
                    break Err(e);
                }
            }
            recv(readings) -> reading => {
                if let Ok(reading) = reading {
                    w.platform.lock().unwrap().on_reading(reading, &w.events);
                }
            }
        }
    };
    let duration = w.timeline.get().map_or(0, |t| t.end_us().min(t.now_us()));
    let closed = sink.close(duration);
    if result.is_ok() {
        result = closed;
    }
    result
}

/// Takes what the platform handed out: the server, the token, the key.
fn apply_platform(
    config: &mut LiveConfig,
    got: Obtained,
    masking: &MaskingSink,
) -> Result<(), OnairError> {
    if let Some(url) = got.url {
        config.destination = config.destination.from_platform(&url)?;
    }
    if let Some(token) = got.token {
        masking.add(&token);
        config.token_source = Some(TokenSource::Given(token));
    }
    if let Some(key) = got.key {
        masking.add(&key);
        config.secret = Some(key);
    }
    Ok(())
}

fn build_sink(config: &LiveConfig, setup: &Setup) -> Result<Box<dyn Sink>, OnairError> {
    Ok(match &config.destination {
        Destination::File(path) => Box::new(FileSink::new(path.clone())),
        Destination::Rtmp(url) => Box::new(
            RtmpSink::new(url, config.secret.clone(), setup.video_kbps)?
                .with_reconnect_attempts(config.reconnect_attempts),
        ),
        Destination::LiveKit(url) => Box::new(LiveKitSink::new(
            url,
            config
                .token_source
                .clone()
                .or_else(|| config.secret.clone().map(TokenSource::Given)),
            config.room.clone(),
            setup.layers.clone(),
            config.reconnect_attempts,
        )),
        Destination::Whip(url) => Box::new(WhipSink::new(
            url,
            config.secret.clone(),
            setup.layers.clone(),
            config.reconnect_attempts,
        )),
    })
}

/// Faults the end-to-end suites inject into a debug build, to prove a
/// panic fails the session cleanly. Release builds carry none of it.
mod fault_injection {
    /// `ONAIR_TEST_PANIC_SINK_AFTER=N`: a sink panics on its Nth packet.
    pub fn sink_write(written: u64) {
        #[cfg(debug_assertions)]
        {
            static AFTER: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
            let after = AFTER.get_or_init(|| {
                std::env::var("ONAIR_TEST_PANIC_SINK_AFTER")
                    .ok()
                    .and_then(|n| n.parse().ok())
            });
            if *after == Some(written) {
                panic!("injected sink panic (ONAIR_TEST_PANIC_SINK_AFTER)");
            }
        }
        #[cfg(not(debug_assertions))]
        let _ = written;
    }
}
