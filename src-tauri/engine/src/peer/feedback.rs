//! What the receiver tells us: keyframe requests (PLI, FIR) per simulcast
//! layer, loss from receiver reports, and the bandwidth estimate that
//! congestion control draws from its transport-wide feedback. Inbound RTCP
//! ends inside the interceptor chain unless an interceptor marks it for the
//! application; this one marks only the first two kinds, and reads the
//! estimate off whatever packet carries it past.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::bandwidth::PACING_FACTOR;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// The share of the estimate the encoder may fill. The rest is headroom for
/// retransmissions, RTP and SRTP overhead, and a keyframe's burst.
pub const VIDEO_SHARE_OF_ESTIMATE: f64 = 0.85;

/// Feedback gathered since it was last taken.
#[derive(Debug, Default)]
pub struct Feedback {
    /// Keyframe requests, a bit per layer.
    keyframes: AtomicU32,
    /// The worst loss fraction reported (of 256), plus one; 0 = no report.
    worst_loss: AtomicU32,
    /// The latest bandwidth estimate for everything sent, in kbit/s; 0 = none yet.
    estimate_kbps: AtomicU32,
    /// What the audio takes out of the estimate.
    audio_kbps: u32,
}

impl Feedback {
    pub fn new(audio_kbps: u32) -> Self {
        Feedback {
            audio_kbps,
            ..Default::default()
        }
    }

    /// Congestion control's target is the pacing rate: a multiple of the estimate.
    pub fn report_pacing_rate(&self, bits_per_second: f64) {
        let estimate = bits_per_second / PACING_FACTOR;
        let kbps = (estimate / 1000.0).round().clamp(1.0, u32::MAX as f64) as u32;
        self.estimate_kbps.store(kbps, Ordering::Relaxed);
    }

    /// What the video (all its layers) may send within the latest estimate,
    /// or None before the first estimate.
    pub fn video_budget_kbps(&self) -> Option<u32> {
        match self.estimate_kbps.load(Ordering::Relaxed) {
            0 => None,
            estimate => Some(
                (f64::from(estimate) * VIDEO_SHARE_OF_ESTIMATE - f64::from(self.audio_kbps))
                    .max(0.0) as u32,
            ),
        }
    }

    pub fn request_keyframe(&self, layer: usize) {
        self.keyframes
            .fetch_or(1 << layer.min(31), Ordering::Relaxed);
    }

    /// The layers asked for since the last call.
    pub fn take_keyframes(&self) -> u32 {
        self.keyframes.swap(0, Ordering::Relaxed)
    }

    pub fn report_loss(&self, fraction_lost: u8) {
        self.worst_loss
            .fetch_max(u32::from(fraction_lost) + 1, Ordering::Relaxed);
    }

    /// The worst loss (0.0 to 1.0) reported since the last call, if any report came.
    pub fn take_loss(&self) -> Option<f64> {
        match self.worst_loss.swap(0, Ordering::Relaxed) {
            0 => None,
            n => Some((n - 1) as f64 / 256.0),
        }
    }
}

pub fn forwarder(feedback: Arc<Feedback>) -> FeedbackForwarder {
    FeedbackForwarder {
        feedback,
        reads: VecDeque::new(),
        writes: VecDeque::new(),
    }
}

pub struct FeedbackForwarder {
    feedback: Arc<Feedback>,
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

fn for_the_application(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() || any.is::<ReceiverReport>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for FeedbackForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
        // Congestion control, at the wire end of the chain, hangs a changed
        // estimate on the feedback packet that moved it.
        if let Some(Attribute::TargetBitrateChanged { bits_per_second }) =
            msg.message.get(&Attribute::TargetBitrateChanged {
                bits_per_second: 0.0,
            })
        {
            self.feedback.report_pacing_rate(*bits_per_second);
        }
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<_> = packets
                .iter()
                .filter(|p| for_the_application(p.as_ref()))
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for FeedbackForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_per_layer_and_taken_once() {
        let feedback = Feedback::default();
        feedback.request_keyframe(0);
        feedback.request_keyframe(2);
        assert_eq!(feedback.take_keyframes(), 0b101);
        assert_eq!(feedback.take_keyframes(), 0);
    }

    #[test]
    fn the_video_gets_its_share_of_the_estimate_less_the_audio() {
        let feedback = Feedback::new(64);
        assert_eq!(feedback.video_budget_kbps(), None);
        feedback.report_pacing_rate(1_200_000.0 * PACING_FACTOR);
        assert_eq!(feedback.video_budget_kbps(), Some(956));
        feedback.report_pacing_rate(50_000.0 * PACING_FACTOR);
        assert_eq!(feedback.video_budget_kbps(), Some(0));
    }

    #[test]
    fn the_worst_loss_since_last_time_is_reported() {
        let feedback = Feedback::default();
        assert_eq!(feedback.take_loss(), None);
        feedback.report_loss(0);
        assert_eq!(feedback.take_loss(), Some(0.0));
        feedback.report_loss(64);
        feedback.report_loss(13);
        assert_eq!(feedback.take_loss(), Some(0.25));
        assert_eq!(feedback.take_loss(), None);
    }
}
