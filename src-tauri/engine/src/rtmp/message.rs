//! RTMP messages: what travels inside chunks, and the protocol control
//! messages a publisher sends and answers.

use crate::flv::amf0::Amf0;

pub const SET_CHUNK_SIZE: u8 = 1;
pub const ABORT: u8 = 2;
pub const ACKNOWLEDGEMENT: u8 = 3;
pub const USER_CONTROL: u8 = 4;
pub const WINDOW_ACK_SIZE: u8 = 5;
pub const SET_PEER_BANDWIDTH: u8 = 6;
pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const DATA_AMF0: u8 = 18;
pub const COMMAND_AMF0: u8 = 20;

const PING_REQUEST: u16 = 6;
const PING_RESPONSE: u16 = 7;

/// Chunk stream ids by purpose, as most publishers use them.
pub const CSID_CONTROL: u32 = 2;
pub const CSID_COMMAND: u32 = 3;
pub const CSID_AUDIO: u32 = 4;
pub const CSID_VIDEO: u32 = 6;
pub const CSID_DATA: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub type_id: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn new(type_id: u8, stream_id: u32, timestamp: u32, payload: Vec<u8>) -> Self {
        Message {
            type_id,
            stream_id,
            timestamp,
            payload,
        }
    }

    pub fn set_chunk_size(size: u32) -> Self {
        Self::new(
            SET_CHUNK_SIZE,
            0,
            0,
            (size & 0x7fff_ffff).to_be_bytes().to_vec(),
        )
    }

    pub fn acknowledgement(sequence: u32) -> Self {
        Self::new(ACKNOWLEDGEMENT, 0, 0, sequence.to_be_bytes().to_vec())
    }

    pub fn window_ack_size(size: u32) -> Self {
        Self::new(WINDOW_ACK_SIZE, 0, 0, size.to_be_bytes().to_vec())
    }

    pub fn command(stream_id: u32, values: &[Amf0]) -> Self {
        let mut payload = Vec::new();
        values.iter().for_each(|v| v.encode(&mut payload));
        Self::new(COMMAND_AMF0, stream_id, 0, payload)
    }

    pub fn data(stream_id: u32, values: &[Amf0]) -> Self {
        let mut payload = Vec::new();
        values.iter().for_each(|v| v.encode(&mut payload));
        Self::new(DATA_AMF0, stream_id, 0, payload)
    }

    /// The chunk stream a message travels on.
    pub fn chunk_stream(&self) -> u32 {
        match self.type_id {
            AUDIO => CSID_AUDIO,
            VIDEO => CSID_VIDEO,
            DATA_AMF0 => CSID_DATA,
            COMMAND_AMF0 => CSID_COMMAND,
            _ => CSID_CONTROL,
        }
    }

    fn u32_payload(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.payload.get(..4)?.try_into().ok()?))
    }
}

/// What a protocol control message from the server means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    SetChunkSize(u32),
    WindowAckSize(u32),
    /// Set Peer Bandwidth: how much we may send before waiting for its ack.
    /// We send media at the encoder's rate, so it changes nothing for us.
    PeerBandwidth(u32),
    Acknowledgement(u32),
    Ping(u32),
    /// Anything else (stream begin, abort...): nothing to do.
    Ignored,
}

impl Control {
    pub fn parse(message: &Message) -> Option<Control> {
        let value = message.u32_payload();
        Some(match message.type_id {
            SET_CHUNK_SIZE => Control::SetChunkSize(value? & 0x7fff_ffff),
            WINDOW_ACK_SIZE => Control::WindowAckSize(value?),
            SET_PEER_BANDWIDTH => Control::PeerBandwidth(value?),
            ACKNOWLEDGEMENT => Control::Acknowledgement(value?),
            USER_CONTROL => {
                let p = &message.payload;
                let event = u16::from_be_bytes(p.get(..2)?.try_into().ok()?);
                match event {
                    PING_REQUEST => {
                        Control::Ping(u32::from_be_bytes(p.get(2..6)?.try_into().ok()?))
                    }
                    _ => Control::Ignored,
                }
            }
            ABORT => Control::Ignored,
            _ => return None,
        })
    }
}

pub fn pong(timestamp: u32) -> Message {
    let mut payload = PING_RESPONSE.to_be_bytes().to_vec();
    payload.extend_from_slice(&timestamp.to_be_bytes());
    Message::new(USER_CONTROL, 0, 0, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_parse() {
        assert_eq!(
            Control::parse(&Message::set_chunk_size(4096)),
            Some(Control::SetChunkSize(4096))
        );
        let ping = Message::new(USER_CONTROL, 0, 0, vec![0, 6, 0, 0, 1, 2]);
        assert_eq!(Control::parse(&ping), Some(Control::Ping(258)));
        assert_eq!(pong(258).payload, vec![0, 7, 0, 0, 1, 2]);
        assert_eq!(Control::parse(&Message::new(AUDIO, 1, 0, vec![])), None);
    }
}
