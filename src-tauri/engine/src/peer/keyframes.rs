//! Keyframe requests (PLI, FIR) from the remote, per simulcast layer.
//! Inbound RTCP ends inside the interceptor chain unless an interceptor marks
//! it for the application; this one marks only the keyframe requests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Pending requests as a bit per layer; the encoder thread takes them.
#[derive(Debug, Default)]
pub struct KeyframeRequests(AtomicU32);

impl KeyframeRequests {
    pub fn request(&self, layer: usize) {
        self.0.fetch_or(1 << layer.min(31), Ordering::Relaxed);
    }

    /// The layers asked for since the last call.
    pub fn take(&self) -> u32 {
        self.0.swap(0, Ordering::Relaxed)
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

fn asks_for_keyframe(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
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
                .filter(|p| asks_for_keyframe(p.as_ref()))
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
        let requests = KeyframeRequests::default();
        requests.request(0);
        requests.request(2);
        assert_eq!(requests.take(), 0b101);
        assert_eq!(requests.take(), 0);
    }
}
