//! The publisher's side of an RTMP connection after the handshake, as a
//! state machine: bytes from the server in, messages to send out. It runs the
//! command flow (connect → releaseStream/FCPublish → createStream → publish →
//! NetStream.Publish.Start) and answers the server's protocol control
//! (chunk size, acknowledgement window, pings) for as long as the connection
//! lives. No sockets, no clock.

use super::chunk::{ChunkError, ChunkReader};
use super::message::{self, Control, Message};
use crate::flv::amf0::{Amf0, Amf0Error};
use crate::secret::Secret;

/// Our outgoing chunk size: big enough that a video frame is a few chunks.
pub const CHUNK_SIZE: u32 = 4096;
const WINDOW: u32 = 2_500_000;

const TX_CONNECT: f64 = 1.0;
const TX_RELEASE: f64 = 2.0;
const TX_FCPUBLISH: f64 = 3.0;
const TX_CREATE_STREAM: f64 = 4.0;
const TX_PUBLISH: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Sent connect, waiting for its _result.
    Connecting,
    /// Sent createStream, waiting for the stream id.
    CreatingStream,
    /// Sent publish, waiting for NetStream.Publish.Start.
    Publishing,
    Live,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The server refused the stream (onStatus error, or it hung up before
    /// NetStream.Publish.Start, which is how nginx-rtmp's on_publish says no).
    #[error("the server refused the stream key ({0})")]
    KeyRejected(String),
    /// The server says the stream is already publishing: after a lost
    /// connection, usually our own earlier publish it has not let go yet.
    #[error("the server says the stream is already publishing ({0})")]
    StreamBusy(String),
    #[error("the server refused the application ({0})")]
    AppRejected(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("the server broke the RTMP protocol: {0}")]
    Protocol(String),
    /// More than a publisher ever needs to hold (see `chunk::MAX_MESSAGE`
    /// and `amf0::MAX_VALUES`): a broken or hostile server, refused before
    /// it costs memory.
    #[error("the server sent more than Onair accepts: {0}")]
    TooLarge(String),
}

impl From<ChunkError> for PublishError {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::TooLarge { .. } | ChunkError::TooMuchPending => {
                PublishError::TooLarge(e.to_string())
            }
            ChunkError::NoPreviousHeader(_) | ChunkError::LengthChanged(_) => {
                PublishError::Protocol(e.to_string())
            }
        }
    }
}

impl From<Amf0Error> for PublishError {
    fn from(e: Amf0Error) -> Self {
        match e {
            Amf0Error::TooDeep | Amf0Error::TooManyValues | Amf0Error::CountBeyondInput { .. } => {
                PublishError::TooLarge(e.to_string())
            }
            Amf0Error::Truncated | Amf0Error::UnsupportedMarker(_) => {
                PublishError::Protocol(e.to_string())
            }
        }
    }
}

/// What one batch of server bytes led to.
#[derive(Debug, Default, PartialEq)]
pub struct Reaction {
    pub send: Vec<Message>,
    /// True once, when NetStream.Publish.Start arrived.
    pub published: bool,
}

pub struct Publisher {
    app: String,
    tc_url: String,
    key: Secret,
    stage: Stage,
    reader: ChunkReader,
    stream_id: u32,
    received: u64,
    acked: u64,
    window: u32,
}

impl Publisher {
    pub fn new(app: &str, tc_url: &str, key: Secret) -> Self {
        Publisher {
            app: app.to_string(),
            tc_url: tc_url.to_string(),
            key,
            stage: Stage::Connecting,
            reader: ChunkReader::new(),
            stream_id: 0,
            received: 0,
            acked: 0,
            window: WINDOW,
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The message stream media goes on (valid once live).
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// The first messages: our chunk size, then connect.
    pub fn start(&mut self) -> Vec<Message> {
        let connect = Message::command(
            0,
            &[
                Amf0::String("connect".into()),
                Amf0::Number(TX_CONNECT),
                Amf0::Object(vec![
                    ("app".into(), Amf0::String(self.app.clone())),
                    ("type".into(), Amf0::String("nonprivate".into())),
                    (
                        "flashVer".into(),
                        Amf0::String("FMLE/3.0 (compatible; Onair)".into()),
                    ),
                    ("tcUrl".into(), Amf0::String(self.tc_url.clone())),
                ]),
            ],
        );
        vec![
            Message::set_chunk_size(CHUNK_SIZE),
            Message::window_ack_size(WINDOW),
            connect,
        ]
    }

    /// Takes bytes from the server (the chunk stream after the handshake).
    pub fn receive(&mut self, bytes: &[u8]) -> Result<Reaction, PublishError> {
        let mut reaction = Reaction::default();
        self.received += bytes.len() as u64;
        let mut next = self.reader.feed(bytes)?;
        while let Some(message) = next {
            self.handle(message, &mut reaction)?;
            next = self.reader.feed(&[])?;
        }
        // Acknowledge every window's worth of bytes, or servers stop sending.
        if self.received - self.acked >= self.window as u64 {
            self.acked = self.received;
            reaction
                .send
                .push(Message::acknowledgement(self.received as u32));
        }
        Ok(reaction)
    }

    /// The connection ended: what that means depends on how far we got.
    pub fn closed(&self) -> PublishError {
        match self.stage {
            Stage::Publishing => PublishError::KeyRejected(
                "it closed the connection before the stream started".into(),
            ),
            _ => PublishError::Closed,
        }
    }

    /// Polite goodbye before closing the socket.
    pub fn unpublish(&self) -> Vec<Message> {
        if self.stage != Stage::Live {
            return vec![];
        }
        vec![
            self.command(
                0,
                "FCUnpublish",
                6.0,
                vec![Amf0::String(self.key.expose().into())],
            ),
            self.command(
                0,
                "deleteStream",
                7.0,
                vec![Amf0::Number(self.stream_id as f64)],
            ),
        ]
    }

    fn command(&self, stream_id: u32, name: &str, tx: f64, args: Vec<Amf0>) -> Message {
        let mut values = vec![Amf0::String(name.into()), Amf0::Number(tx), Amf0::Null];
        values.extend(args);
        Message::command(stream_id, &values)
    }

    fn handle(&mut self, message: Message, reaction: &mut Reaction) -> Result<(), PublishError> {
        if let Some(control) = Control::parse(&message) {
            match control {
                Control::SetChunkSize(size) => self.reader.set_chunk_size(size as usize),
                Control::WindowAckSize(size) => self.window = size.max(1),
                Control::Ping(t) => reaction.send.push(message::pong(t)),
                Control::PeerBandwidth(_) | Control::Acknowledgement(_) | Control::Ignored => {}
            }
            return Ok(());
        }
        if message.type_id != message::COMMAND_AMF0 {
            return Ok(()); // data, or media we never asked for
        }
        let values = Amf0::decode_all(&message.payload)?;
        let name = values.first().and_then(Amf0::as_str).unwrap_or_default();
        let tx = values.get(1).and_then(Amf0::as_number).unwrap_or(0.0);
        match name {
            "_result" => self.on_result(tx, &values, reaction),
            "_error" => self.on_error(tx, &values),
            "onStatus" => self.on_status(&values, reaction),
            // onBWDone, onFCPublish, close...: nothing we must answer.
            _ => Ok(()),
        }
    }

    fn on_result(
        &mut self,
        tx: f64,
        values: &[Amf0],
        reaction: &mut Reaction,
    ) -> Result<(), PublishError> {
        if tx == TX_CONNECT && self.stage == Stage::Connecting {
            let key = Amf0::String(self.key.expose().into());
            reaction.send.extend([
                self.command(0, "releaseStream", TX_RELEASE, vec![key.clone()]),
                self.command(0, "FCPublish", TX_FCPUBLISH, vec![key]),
                self.command(0, "createStream", TX_CREATE_STREAM, vec![]),
            ]);
            self.stage = Stage::CreatingStream;
        } else if tx == TX_CREATE_STREAM && self.stage == Stage::CreatingStream {
            let id = values.get(3).and_then(Amf0::as_number).ok_or_else(|| {
                PublishError::Protocol("createStream's result has no stream id".into())
            })?;
            self.stream_id = id as u32;
            reaction.send.push(self.command(
                self.stream_id,
                "publish",
                TX_PUBLISH,
                vec![
                    Amf0::String(self.key.expose().into()),
                    Amf0::String("live".into()),
                ],
            ));
            self.stage = Stage::Publishing;
        }
        Ok(())
    }

    fn on_error(&mut self, tx: f64, values: &[Amf0]) -> Result<(), PublishError> {
        let why = self.describe(values.get(3));
        if tx == TX_CONNECT {
            return Err(PublishError::AppRejected(why));
        }
        if tx == TX_PUBLISH || tx == TX_CREATE_STREAM {
            return Err(PublishError::KeyRejected(why));
        }
        // releaseStream and FCPublish are optional; some servers say _error to them.
        Ok(())
    }

    fn on_status(&mut self, values: &[Amf0], reaction: &mut Reaction) -> Result<(), PublishError> {
        let info = values.get(3);
        let code = info
            .and_then(|i| i.get("code"))
            .and_then(Amf0::as_str)
            .unwrap_or_default();
        let level = info
            .and_then(|i| i.get("level"))
            .and_then(Amf0::as_str)
            .unwrap_or_default();
        if code == "NetStream.Publish.Start" && self.stage == Stage::Publishing {
            self.stage = Stage::Live;
            reaction.published = true;
            return Ok(());
        }
        let refused = level == "error"
            || code.ends_with("BadName")
            || code.ends_with("Rejected")
            || code.ends_with("Denied")
            || code.ends_with("Unauthorized");
        match (refused, self.stage) {
            (false, _) => Ok(()),
            (true, Stage::Live) => Err(PublishError::Protocol(format!(
                "the server stopped the stream: {}",
                self.describe(info)
            ))),
            (true, _) => {
                let why = self.describe(info);
                Err(if names_a_busy_stream(&why) {
                    PublishError::StreamBusy(why)
                } else {
                    PublishError::KeyRejected(why)
                })
            }
        }
    }

    /// The server's own words about a status, without our key in them.
    fn describe(&self, info: Option<&Amf0>) -> String {
        let field = |name| info.and_then(|i| i.get(name)).and_then(Amf0::as_str);
        let text = match (field("code"), field("description")) {
            (Some(c), Some(d)) if !d.is_empty() => format!("{c}: {d}"),
            (Some(c), _) => c.to_string(),
            (None, Some(d)) => d.to_string(),
            (None, None) => "no reason given".to_string(),
        };
        self.key.mask_in(&text)
    }
}

/// nginx-rtmp says "Already publishing", Wowza "already in use", when a
/// publish still holds the stream name: a refusal that lifts once the server
/// drops that publish, unlike a wrong key.
fn names_a_busy_stream(status: &str) -> bool {
    let status = status.to_ascii_lowercase();
    status.contains("already publishing") || status.contains("already in use")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::ChunkWriter;

    const KEY: &str = "sk_live_0123456789";

    fn server_says(messages: &[Message]) -> Vec<u8> {
        // The server announces 4096 below; these test messages are either
        // small or sent after that announcement.
        let mut writer = ChunkWriter::new();
        writer.set_chunk_size(4096);
        let mut out = Vec::new();
        for m in messages {
            writer.write(m, &mut out);
        }
        out
    }

    fn command(name: &str, tx: f64, info: Amf0) -> Message {
        Message::command(
            0,
            &[
                Amf0::String(name.into()),
                Amf0::Number(tx),
                Amf0::Null,
                info,
            ],
        )
    }

    fn status(code: &str, level: &str, description: &str) -> Message {
        command(
            "onStatus",
            0.0,
            Amf0::Object(vec![
                ("level".into(), Amf0::String(level.into())),
                ("code".into(), Amf0::String(code.into())),
                ("description".into(), Amf0::String(description.into())),
            ]),
        )
    }

    fn names(messages: &[Message]) -> Vec<String> {
        messages
            .iter()
            .filter(|m| m.type_id == message::COMMAND_AMF0)
            .map(|m| {
                Amf0::decode_all(&m.payload).unwrap()[0]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// Drives a publisher up to the point where it waits for Publish.Start.
    fn publishing() -> Publisher {
        let mut p = Publisher::new("live", "rtmp://h:1935/live", Secret::new(KEY));
        let first = p.start();
        assert_eq!(first[0], Message::set_chunk_size(CHUNK_SIZE));
        assert_eq!(names(&first), ["connect"]);
        let connect = Amf0::decode_all(&first[2].payload).unwrap();
        assert_eq!(connect[2].get("app").and_then(Amf0::as_str), Some("live"));
        assert_eq!(
            connect[2].get("tcUrl").and_then(Amf0::as_str),
            Some("rtmp://h:1935/live")
        );

        let bytes = server_says(&[
            Message::window_ack_size(5_000_000),
            Message::set_chunk_size(4096),
            command("_result", 1.0, Amf0::Object(vec![])),
        ]);
        let r = p.receive(&bytes).unwrap();
        assert_eq!(
            names(&r.send),
            ["releaseStream", "FCPublish", "createStream"]
        );
        assert_eq!(p.stage(), Stage::CreatingStream);

        let created = Message::command(
            0,
            &[
                Amf0::String("_result".into()),
                Amf0::Number(4.0),
                Amf0::Null,
                Amf0::Number(1.0),
            ],
        );
        let r = p.receive(&server_says(&[created])).unwrap();
        assert_eq!(names(&r.send), ["publish"]);
        assert_eq!(r.send[0].stream_id, 1);
        let publish = Amf0::decode_all(&r.send[0].payload).unwrap();
        assert_eq!(publish[3].as_str(), Some(KEY), "the key goes to the server");
        assert_eq!(p.stage(), Stage::Publishing);
        p
    }

    #[test]
    fn the_command_flow_reaches_live_on_publish_start() {
        let mut p = publishing();
        let r = p
            .receive(&server_says(&[status(
                "NetStream.Publish.Start",
                "status",
                "",
            )]))
            .unwrap();
        assert!(r.published);
        assert_eq!(p.stage(), Stage::Live);
        assert_eq!(names(&p.unpublish()), ["FCUnpublish", "deleteStream"]);
    }

    #[test]
    fn closed_before_publish_start_means_the_key_was_refused() {
        let p = publishing();
        assert!(matches!(p.closed(), PublishError::KeyRejected(_)));
        let early = Publisher::new("live", "rtmp://h/live", Secret::new(KEY));
        assert_eq!(early.closed(), PublishError::Closed);
    }

    #[test]
    fn an_error_status_is_a_refused_key_without_the_key_in_it() {
        let mut p = publishing();
        let err = p
            .receive(&server_says(&[status(
                "NetStream.Publish.BadName",
                "error",
                &format!("stream {KEY} refused"),
            )]))
            .unwrap_err();
        let PublishError::KeyRejected(why) = err else {
            panic!("{err:?}")
        };
        assert!(why.contains("BadName") && !why.contains(KEY), "{why}");
    }

    #[test]
    fn a_stream_still_publishing_is_busy_not_a_refused_key() {
        let mut p = publishing();
        let err = p
            .receive(&server_says(&[status(
                "NetStream.Publish.BadName",
                "error",
                "Already publishing",
            )]))
            .unwrap_err();
        assert!(matches!(err, PublishError::StreamBusy(_)), "{err:?}");
    }

    #[test]
    fn a_refused_connect_is_the_application() {
        let mut p = Publisher::new("nope", "rtmp://h/nope", Secret::new(KEY));
        p.start();
        let err = p
            .receive(&server_says(&[command(
                "_error",
                1.0,
                Amf0::Object(vec![(
                    "code".into(),
                    Amf0::String("NetConnection.Connect.Rejected".into()),
                )]),
            )]))
            .unwrap_err();
        assert!(matches!(err, PublishError::AppRejected(_)), "{err:?}");
    }

    #[test]
    fn pings_are_answered_and_windows_acknowledged() {
        let mut p = publishing();
        let ping = Message::new(message::USER_CONTROL, 0, 0, vec![0, 6, 0, 0, 0, 9]);
        let r = p.receive(&server_says(&[ping])).unwrap();
        assert_eq!(r.send, vec![message::pong(9)]);
        // The server set a 5 MB window; data messages cross it.
        let data = Message::new(message::DATA_AMF0, 1, 0, vec![0x05; 250_000]);
        let r = p.receive(&server_says(&vec![data; 20])).unwrap();
        assert_eq!(r.send.len(), 1);
        assert_eq!(r.send[0].type_id, message::ACKNOWLEDGEMENT);
    }

    #[test]
    fn a_16_mib_command_is_refused_before_it_is_read() {
        let mut p = publishing();
        // Its header, and the first chunk of a strict array of nulls.
        let mut bytes = vec![
            0x03,
            0,
            0,
            0,
            0xff,
            0xff,
            0xff,
            message::COMMAND_AMF0,
            0,
            0,
            0,
            0,
        ];
        bytes.extend([0x0a, 0xff, 0xff, 0xff, 0xff]);
        bytes.resize(12 + 4096, 0x05);
        let err = p.receive(&bytes).unwrap_err();
        assert!(matches!(err, PublishError::TooLarge(_)), "{err:?}");
    }

    #[test]
    fn an_amf0_bomb_inside_a_command_is_refused() {
        let mut p = publishing();
        // A strict array of 200,000 nulls (one byte each) within the size limit.
        let mut payload = vec![0x02, 0, 8];
        payload.extend(b"onStatus");
        payload.extend([0x0a, 0, 3, 0x0d, 0x40]);
        payload.resize(payload.len() + 200_000, 0x05);
        let bomb = Message::new(message::COMMAND_AMF0, 0, 0, payload);
        let err = p.receive(&server_says(&[bomb])).unwrap_err();
        assert!(matches!(err, PublishError::TooLarge(_)), "{err:?}");
    }
}
