//! What Onair says to the room over the `_reliable` data channel: its own
//! session state, so a viewer's player can show "the stream has ended" at
//! once instead of waiting for the track to time out.

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

#[cfg(test)]
mod tests {
    use super::*;

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
