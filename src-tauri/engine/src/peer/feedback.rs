//! What the receiver tells us: keyframe requests (PLI, FIR) per simulcast
//! layer, and loss from receiver reports. Inbound RTCP ends inside the
//! interceptor chain unless an interceptor marks it for the application;
//! this one marks only those two kinds.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Feedback gathered since it was last taken.
#[derive(Debug, Default)]
pub struct Feedback {
    /// Keyframe requests, a bit per layer.
    keyframes: AtomicU32,
    /// The worst loss fraction reported (of 256), plus one; 0 = no report.
    worst_loss: AtomicU32,
}

impl Feedback {
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

pub fn forwarder() -> KeyframeForwarder {
    KeyframeForwarder::default()
}

#[derive(Default)]
pub struct KeyframeForwarder {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

fn for_the_application(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() || any.is::<ReceiverReport>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Error> {
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

impl Interceptor for KeyframeForwarder {
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
