//! Encode once, fan out. Every sink has its own bounded queue; a sink that
//! falls behind loses video until the next keyframe (and asks for one), never
//! stalling the encoder or the other sinks.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use super::stats::QueueGauge;
use crate::media::{EncodedAudio, EncodedVideo, Packet};

pub struct SinkPort {
    tx: Sender<Packet>,
    /// A bit per simulcast layer this sink takes.
    layers: u32,
    /// A bit per simulcast layer that must restart on a keyframe.
    waiting_for_keyframe: u32,
    /// A bit per layer this sink has started (what it never had is not a loss).
    started: u32,
    dropped: Arc<AtomicU32>,
    /// Shared by every port onto the same sink queue.
    depth: Arc<QueueGauge>,
    /// False until the destination is connected: nothing queues for it
    /// before, and it joins at the next keyframe.
    ready: Option<Arc<AtomicBool>>,
}

impl SinkPort {
    pub fn new(tx: Sender<Packet>, dropped: Arc<AtomicU32>, depth: Arc<QueueGauge>) -> Self {
        SinkPort {
            tx,
            layers: u32::MAX,
            waiting_for_keyframe: u32::MAX,
            started: 0,
            dropped,
            depth,
            ready: None,
        }
    }

    /// Feeds the sink only once `ready` is set.
    pub fn when_ready(self, ready: Arc<AtomicBool>) -> Self {
        SinkPort {
            ready: Some(ready),
            ..self
        }
    }

    fn is_ready(&self) -> bool {
        self.ready
            .as_ref()
            .is_none_or(|ready| ready.load(Ordering::Acquire))
    }

    /// Takes the full-size picture only (a recording beside a simulcast stream).
    pub fn full_size_only(self) -> Self {
        SinkPort { layers: 1, ..self }
    }
}

#[derive(Default)]
pub struct Fanout {
    ports: Vec<SinkPort>,
}

impl Fanout {
    pub fn new(ports: Vec<SinkPort>) -> Self {
        Fanout { ports }
    }

    /// Returns true when some sink needs a keyframe to recover.
    pub fn send_video(&mut self, video: &EncodedVideo) -> bool {
        let mut want_keyframe = false;
        self.ports.retain_mut(|port| {
            let bit = 1u32 << video.layer.min(31);
            if port.layers & bit == 0 || !port.is_ready() {
                return true;
            }
            if port.waiting_for_keyframe & bit != 0 && !video.keyframe {
                if port.started & bit != 0 {
                    port.dropped.fetch_add(1, Ordering::Relaxed);
                }
                want_keyframe = true;
                return true;
            }
            let sent = port.tx.try_send(Packet::Video(video.clone()));
            port.depth.observe(port.tx.len());
            match sent {
                Ok(()) => {
                    port.waiting_for_keyframe &= !bit;
                    port.started |= bit;
                    true
                }
                Err(TrySendError::Full(_)) => {
                    port.dropped.fetch_add(1, Ordering::Relaxed);
                    port.waiting_for_keyframe |= bit;
                    want_keyframe = true;
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        });
        want_keyframe
    }

    pub fn send_audio(&mut self, audio: &EncodedAudio) {
        self.ports.retain(|port| {
            if !port.is_ready() {
                return true;
            }
            let sent = port.tx.try_send(Packet::Audio(audio.clone()));
            port.depth.observe(port.tx.len());
            !matches!(sent, Err(TrySendError::Disconnected(_)))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    fn video(keyframe: bool, pts_us: i64) -> EncodedVideo {
        EncodedVideo {
            layer: 0,
            data: Arc::new(vec![0]),
            keyframe,
            pts_us,
            dts_us: pts_us,
        }
    }

    #[test]
    fn a_recording_beside_simulcast_takes_the_full_size_layer_only() {
        let (stream_tx, stream_rx) = bounded(10);
        let (record_tx, record_rx) = bounded(10);
        let mut fanout = Fanout::new(vec![
            SinkPort::new(stream_tx, Arc::default(), Arc::new(QueueGauge::new(10))),
            SinkPort::new(record_tx, Arc::default(), Arc::new(QueueGauge::new(10)))
                .full_size_only(),
        ]);
        for layer in 0..3 {
            let frame = EncodedVideo {
                layer,
                ..video(true, 0)
            };
            assert!(!fanout.send_video(&frame), "a skipped layer is not a loss");
        }
        assert_eq!(stream_rx.try_iter().count(), 3);
        let recorded: Vec<u8> = record_rx
            .try_iter()
            .map(|p| match p {
                Packet::Video(v) => v.layer,
                Packet::Audio(_) => unreachable!(),
            })
            .collect();
        assert_eq!(recorded, vec![0]);
    }

    #[test]
    fn a_slow_sink_waits_for_a_keyframe_while_a_fast_one_gets_everything() {
        let (slow_tx, slow_rx) = bounded(1);
        let (fast_tx, fast_rx) = bounded(100);
        let slow_drops = Arc::new(AtomicU32::new(0));
        let slow_depth = Arc::new(QueueGauge::new(1));
        let fast_depth = Arc::new(QueueGauge::new(100));
        let mut fanout = Fanout::new(vec![
            SinkPort::new(slow_tx, slow_drops.clone(), slow_depth.clone()),
            SinkPort::new(fast_tx, Arc::default(), fast_depth.clone()),
        ]);
        assert!(
            fanout.send_video(&video(false, 0)),
            "nobody may start on a delta frame"
        );
        assert!(!fanout.send_video(&video(true, 1)));
        assert!(fanout.send_video(&video(false, 2)), "slow sink is full");
        slow_rx.try_recv().unwrap();
        assert!(
            fanout.send_video(&video(false, 3)),
            "still waiting for a keyframe"
        );
        assert!(!fanout.send_video(&video(true, 4)));
        let slow: Vec<i64> = slow_rx
            .try_iter()
            .map(|p| match p {
                Packet::Video(v) => v.pts_us,
                Packet::Audio(_) => unreachable!(),
            })
            .collect();
        assert_eq!(slow, vec![4]);
        assert_eq!(fast_rx.try_iter().count(), 4);
        assert_eq!(
            slow_drops.load(Ordering::Relaxed),
            2,
            "the delta frame before its first keyframe was never its to lose"
        );
        assert_eq!(slow_depth.take().peak, 1, "the slow queue filled up");
        assert_eq!(fast_depth.take().peak, 4);
    }

    #[test]
    fn a_destination_that_connects_late_joins_at_the_next_keyframe() {
        let (tx, rx) = bounded(10);
        let ready = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU32::new(0));
        let mut fanout = Fanout::new(vec![SinkPort::new(
            tx,
            dropped.clone(),
            Arc::new(QueueGauge::new(10)),
        )
        .when_ready(ready.clone())]);
        assert!(
            !fanout.send_video(&video(true, 0)),
            "not connected: no keyframe asked"
        );
        fanout.send_audio(&EncodedAudio {
            data: Arc::new(vec![0]),
            pts_us: 0,
        });
        assert_eq!(rx.try_iter().count(), 0);
        ready.store(true, Ordering::Release);
        assert!(fanout.send_video(&video(false, 1)), "joins on a keyframe");
        assert!(!fanout.send_video(&video(true, 2)));
        assert_eq!(rx.try_iter().count(), 1);
        assert_eq!(
            dropped.load(Ordering::Relaxed),
            0,
            "what it never had is not lost"
        );
    }
}
