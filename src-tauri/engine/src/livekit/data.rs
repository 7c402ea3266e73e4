//! What Onair says to the room over the `_reliable` data channel: its own
//! session state, so a viewer's player can show "the stream has ended" at
//! once instead of waiting for the track to time out; and the link check's
//! filler, which says nothing to anyone.

use livekit_protocol::{data_packet, DataPacket, UserPacket};
use prost::Message;

/// The topic viewers subscribe to; the payload is `{"state":"live"}` or
/// `{"state":"ending"}`.
pub const SESSION_TOPIC: &str = "onair.session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionNotice {
    Live,
    Ending,
}

impl SessionNotice {
    fn word(self) -> &'static str {
        match self {
            SessionNotice::Live => "live",
            SessionNotice::Ending => "ending",
        }
    }
}

/// One encoded `DataPacket`; the server fills in who sent it.
pub fn session_packet(notice: SessionNotice) -> Vec<u8> {
    let payload = serde_json::json!({ "state": notice.word() }).to_string();
    DataPacket {
        value: Some(data_packet::Value::User(UserPacket {
            payload: payload.into_bytes(),
            topic: Some(SESSION_TOPIC.into()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .encode_to_vec()
}

/// An identity no participant has: packets addressed to it reach no one.
const NOBODY: &str = "onair.link-check.nobody";

/// `len` bytes of filler for the link check, addressed to nobody: the server
/// reads and drops it, and no one in the room receives a byte.
pub fn filler_packet(len: usize) -> Vec<u8> {
    // Older servers read only the user packet's own list: both are set.
    #[allow(deprecated)]
    DataPacket {
        destination_identities: vec![NOBODY.into()],
        value: Some(data_packet::Value::User(UserPacket {
            payload: vec![0; len],
            destination_identities: vec![NOBODY.into()],
            topic: Some("onair.link-check".into()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_is_addressed_to_nobody() {
        let packet = DataPacket::decode(filler_packet(1000).as_slice()).unwrap();
        assert_eq!(packet.destination_identities, [NOBODY]);
        let Some(data_packet::Value::User(user)) = packet.value else {
            panic!("not a user packet: {packet:?}");
        };
        #[allow(deprecated)]
        let inner = user.destination_identities;
        assert_eq!(inner, [NOBODY]);
        assert_eq!(user.payload.len(), 1000);
    }

    #[test]
    fn the_packet_is_a_user_packet_on_our_topic() {
        let packet = DataPacket::decode(session_packet(SessionNotice::Ending).as_slice()).unwrap();
        let Some(data_packet::Value::User(user)) = packet.value else {
            panic!("not a user packet: {packet:?}");
        };
        assert_eq!(user.topic.as_deref(), Some(SESSION_TOPIC));
        assert_eq!(user.payload, br#"{"state":"ending"}"#);
    }
}
