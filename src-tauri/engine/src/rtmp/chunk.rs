//! The chunk stream: messages cut into chunks of at most `chunk_size` bytes,
//! headers compressed against the previous message on the same chunk stream.

use std::collections::HashMap;

use super::message::{Message, SET_CHUNK_SIZE};

pub const DEFAULT_CHUNK_SIZE: usize = 128;
const EXTENDED: u32 = 0x00ff_ffff;
/// The largest message a server may send a publisher. Its commands
/// (_result, onStatus, onBWDone) are a few hundred bytes and it sends no
/// media; the protocol's own limit, 16 MiB, would let one command cost
/// gigabytes once decoded.
pub const MAX_MESSAGE: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    timestamp: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
}

/// Writes messages as chunks. Timestamps per chunk stream only ever grow in
/// our use, so after the first message a type 1 header (delta) suffices.
pub struct ChunkWriter {
    chunk_size: usize,
    last: HashMap<u32, Header>,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkWriter {
    pub fn new() -> Self {
        ChunkWriter {
            chunk_size: DEFAULT_CHUNK_SIZE,
            last: HashMap::new(),
        }
    }

    /// Our outgoing chunk size; takes effect for the next message (send
    /// Set Chunk Size first).
    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.max(1);
    }

    /// Forget header compression (a new connection starts from scratch).
    pub fn reset(&mut self) {
        self.last.clear();
    }

    pub fn write(&mut self, message: &Message, out: &mut Vec<u8>) {
        let csid = message.chunk_stream();
        let header = Header {
            timestamp: message.timestamp,
            length: message.payload.len(),
            type_id: message.type_id,
            stream_id: message.stream_id,
        };
        let previous = self.last.insert(csid, header);
        // Type 1 needs the same stream and a non-negative delta.
        let delta = previous
            .filter(|p| p.stream_id == header.stream_id && header.timestamp >= p.timestamp)
            .map(|p| header.timestamp - p.timestamp);
        let (fmt, time_field) = match delta {
            Some(delta) => (1u8, delta),
            None => (0u8, header.timestamp),
        };
        let extended = time_field >= EXTENDED;
        let shown_time = if extended { EXTENDED } else { time_field };

        write_basic_header(out, fmt, csid);
        out.extend_from_slice(&shown_time.to_be_bytes()[1..]);
        out.extend_from_slice(&(header.length as u32).to_be_bytes()[1..]);
        out.push(header.type_id);
        if fmt == 0 {
            out.extend_from_slice(&header.stream_id.to_le_bytes());
        }
        if extended {
            out.extend_from_slice(&time_field.to_be_bytes());
        }
        let mut chunks = message.payload.chunks(self.chunk_size);
        if let Some(first) = chunks.next() {
            out.extend_from_slice(first);
        }
        for chunk in chunks {
            write_basic_header(out, 3, csid);
            // Type 3 chunks repeat the extended timestamp (as ffmpeg and nginx expect).
            if extended {
                out.extend_from_slice(&time_field.to_be_bytes());
            }
            out.extend_from_slice(chunk);
        }
        // The peer applies our Set Chunk Size from the next chunk on; so must we.
        if message.type_id == SET_CHUNK_SIZE {
            if let Ok(size) = message.payload[..].try_into().map(u32::from_be_bytes) {
                self.set_chunk_size(size as usize);
            }
        }
    }
}

fn write_basic_header(out: &mut Vec<u8>, fmt: u8, csid: u32) {
    match csid {
        2..=63 => out.push((fmt << 6) | csid as u8),
        64..=319 => out.extend_from_slice(&[fmt << 6, (csid - 64) as u8]),
        _ => {
            let id = csid - 64;
            out.extend_from_slice(&[(fmt << 6) | 1, id as u8, (id >> 8) as u8]);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk on stream {0} continues a message that never started")]
    NoPreviousHeader(u32),
    #[error(
        "the server sent a {length}-byte message (type {type_id}); a publisher takes at most {} KiB",
        MAX_MESSAGE >> 10
    )]
    TooLarge { type_id: u8, length: usize },
    #[error("chunk on stream {0} changes the length of a message it is in the middle of")]
    LengthChanged(u32),
    #[error("the server left more than {} KiB of messages half-sent", MAX_PENDING >> 10)]
    TooMuchPending,
}

/// Half-received messages across all chunk streams: 65,599 streams of
/// 256 KiB each would be a memory bomb; real servers interleave two or three.
const MAX_PENDING: usize = 4 * MAX_MESSAGE;

#[derive(Default)]
struct InboundStream {
    header: Option<Header>,
    /// The timestamp delta of the last type 1/2 header (reused by type 3).
    delta: u32,
    extended: bool,
    partial: Vec<u8>,
}

/// Reassembles the server's chunks into messages. Feed it bytes as they come.
pub struct ChunkReader {
    chunk_size: usize,
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already parsed. Dropped once per feed,
    /// not per chunk: one-byte chunks would make that quadratic.
    consumed: usize,
    streams: HashMap<u32, InboundStream>,
    /// Bytes held in all streams' partial messages.
    pending: usize,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkReader {
    pub fn new() -> Self {
        ChunkReader {
            chunk_size: DEFAULT_CHUNK_SIZE,
            buffer: Vec::new(),
            consumed: 0,
            streams: HashMap::new(),
            pending: 0,
        }
    }

    /// The server's chunk size, from its Set Chunk Size message.
    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size.max(1);
    }

    /// Adds bytes; returns the next complete message, if any. Call again with
    /// an empty slice until it returns None: one feed may complete several.
    /// A Set Chunk Size in the stream must be applied before the next call.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Message>, ChunkError> {
        self.buffer.extend_from_slice(bytes);
        loop {
            match self.parse_one()? {
                Parsed::NeedMore => {
                    self.buffer.drain(..self.consumed);
                    self.consumed = 0;
                    return Ok(None);
                }
                Parsed::Chunk(None) => continue,
                Parsed::Chunk(Some(message)) => return Ok(Some(message)),
            }
        }
    }

    fn parse_one(&mut self) -> Result<Parsed, ChunkError> {
        let buf = &self.buffer[self.consumed..];
        let Some(&first) = buf.first() else {
            return Ok(Parsed::NeedMore);
        };
        let fmt = first >> 6;
        let (csid, mut at) = match first & 0x3f {
            0 if buf.len() >= 2 => (64 + buf[1] as u32, 2),
            1 if buf.len() >= 3 => (64 + buf[1] as u32 + ((buf[2] as u32) << 8), 3),
            0 | 1 => return Ok(Parsed::NeedMore),
            id => (id as u32, 1),
        };
        let header_len = [11, 7, 3, 0][fmt as usize];
        if buf.len() < at + header_len {
            return Ok(Parsed::NeedMore);
        }
        let h = &buf[at..at + header_len];
        at += header_len;
        let u24 = |b: &[u8]| ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        let stream = self.streams.entry(csid).or_default();
        let previous = stream.header;
        if fmt != 0 && previous.is_none() {
            return Err(ChunkError::NoPreviousHeader(csid));
        }
        let time_field = if fmt < 3 { u24(&h[0..3]) } else { 0 };
        let extended = if fmt < 3 {
            time_field == EXTENDED
        } else {
            stream.extended
        };
        let mut ext_value = None;
        if extended {
            if buf.len() < at + 4 {
                return Ok(Parsed::NeedMore);
            }
            ext_value = Some(u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()));
            at += 4;
        }
        let starting = stream.partial.is_empty();
        let mut header = previous.unwrap_or(Header {
            timestamp: 0,
            length: 0,
            type_id: 0,
            stream_id: 0,
        });
        let mut delta = stream.delta;
        match fmt {
            0 => {
                header.timestamp = ext_value.unwrap_or(time_field);
                header.length = u24(&h[3..6]) as usize;
                header.type_id = h[6];
                header.stream_id = u32::from_le_bytes(h[7..11].try_into().unwrap());
                // A type 3 after a type 0 repeats its timestamp as the delta.
                delta = header.timestamp;
            }
            1 | 2 => {
                delta = ext_value.unwrap_or(time_field);
                if fmt == 1 {
                    header.length = u24(&h[3..6]) as usize;
                    header.type_id = h[6];
                }
            }
            _ => {}
        }
        // Refused on the header, before a byte of it is held.
        if header.length > MAX_MESSAGE {
            return Err(ChunkError::TooLarge {
                type_id: header.type_id,
                length: header.length,
            });
        }
        if header.length < stream.partial.len() {
            return Err(ChunkError::LengthChanged(csid));
        }
        let wanted = (header.length - stream.partial.len()).min(self.chunk_size);
        if buf.len() < at + wanted {
            return Ok(Parsed::NeedMore);
        }
        // The chunk is complete: commit its header and payload.
        if starting && fmt != 0 {
            header.timestamp = header.timestamp.wrapping_add(delta);
        }
        stream.header = Some(header);
        stream.delta = delta;
        if fmt < 3 {
            stream.extended = extended;
        }
        stream.partial.extend_from_slice(&buf[at..at + wanted]);
        self.pending += wanted;
        if self.pending > MAX_PENDING {
            return Err(ChunkError::TooMuchPending);
        }
        let done = stream.partial.len() == header.length;
        if done {
            self.pending -= header.length;
        }
        let message = done.then(|| Message {
            type_id: header.type_id,
            stream_id: header.stream_id,
            timestamp: header.timestamp,
            payload: std::mem::take(&mut stream.partial),
        });
        self.consumed += at + wanted;
        Ok(Parsed::Chunk(message))
    }
}

enum Parsed {
    NeedMore,
    Chunk(Option<Message>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::message::{AUDIO, COMMAND_AMF0, VIDEO};

    fn read_all(reader: &mut ChunkReader, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        let mut next = reader.feed(bytes).unwrap();
        while let Some(m) = next {
            out.push(m);
            next = reader.feed(&[]).unwrap();
        }
        out
    }

    #[test]
    fn a_message_split_across_chunks_comes_back_whole() {
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let message = Message::new(VIDEO, 1, 40, payload);
        let mut writer = ChunkWriter::new();
        let mut bytes = Vec::new();
        writer.write(&message, &mut bytes);
        // 1000 bytes at 128 per chunk: 8 chunks, 7 one-byte type 3 headers.
        assert_eq!(bytes.len(), 12 + 1000 + 7);
        assert_eq!(bytes[0], 0x06); // fmt 0, csid 6
        assert_eq!(bytes[12 + 128], 0xc6); // fmt 3, csid 6

        let mut reader = ChunkReader::new();
        // Byte by byte, the harshest split a socket can produce.
        let mut got = Vec::new();
        for b in &bytes {
            got.extend(read_all(&mut reader, std::slice::from_ref(b)));
        }
        assert_eq!(got, vec![message]);
    }

    #[test]
    fn later_messages_use_deltas_and_survive_a_chunk_size_change() {
        let mut writer = ChunkWriter::new();
        let mut reader = ChunkReader::new();
        let mut bytes = Vec::new();
        let a = Message::new(AUDIO, 1, 0, vec![1; 300]);
        let b = Message::new(AUDIO, 1, 21, vec![2; 10]);
        writer.write(&a, &mut bytes);
        writer.write(&b, &mut bytes);
        assert_eq!(read_all(&mut reader, &bytes), vec![a, b.clone()]);

        // Sending Set Chunk Size switches the writer; the reader applies it
        // when it reads that message.
        bytes.clear();
        writer.write(&Message::set_chunk_size(4096), &mut bytes);
        let got = read_all(&mut reader, &bytes);
        assert_eq!(got, vec![Message::set_chunk_size(4096)]);
        reader.set_chunk_size(4096);
        let c = Message::new(AUDIO, 1, 42, vec![3; 5000]);
        let d = Message::new(COMMAND_AMF0, 0, 0, vec![4; 20]);
        bytes.clear();
        writer.write(&c, &mut bytes);
        writer.write(&d, &mut bytes);
        // 8 + 4096 + 1 + 904 for c (type 1), 12 + 20 for d (type 0, new csid).
        assert_eq!(bytes.len(), 8 + 4096 + 1 + 904 + 12 + 20);
        assert_eq!(read_all(&mut reader, &bytes), vec![c, d]);
    }

    #[test]
    fn extended_timestamps_are_written_and_read_on_every_chunk() {
        let mut writer = ChunkWriter::new();
        let big = 0x0100_0000 + 5;
        let m = Message::new(VIDEO, 1, big, vec![9; 200]);
        let mut bytes = Vec::new();
        writer.write(&m, &mut bytes);
        assert_eq!(&bytes[1..4], &[0xff, 0xff, 0xff]);
        assert_eq!(&bytes[12..16], &big.to_be_bytes());
        // Second chunk: basic header then the extended timestamp again.
        assert_eq!(bytes[16 + 128], 0xc6);
        assert_eq!(&bytes[17 + 128..21 + 128], &big.to_be_bytes());
        assert_eq!(bytes.len(), 16 + 128 + 5 + 72);

        let mut reader = ChunkReader::new();
        assert_eq!(read_all(&mut reader, &bytes), vec![m]);
    }

    #[test]
    fn type_2_and_3_headers_from_a_server_reuse_the_previous_one() {
        // fmt 0 on csid 3, then fmt 2 (delta only), then fmt 3 (same delta again).
        let mut bytes = vec![0x03, 0, 0, 10, 0, 0, 2, COMMAND_AMF0, 0, 0, 0, 0, 0xa, 0xb];
        bytes.extend([0x83, 0, 0, 5, 0xc, 0xd]);
        bytes.extend([0xc3, 0xe, 0xf]);
        let mut reader = ChunkReader::new();
        let got = read_all(&mut reader, &bytes);
        let times: Vec<u32> = got.iter().map(|m| m.timestamp).collect();
        assert_eq!(times, vec![10, 15, 20]);
        assert_eq!(got[2].payload, vec![0xe, 0xf]);
    }

    #[test]
    fn a_continuation_without_a_start_is_an_error() {
        let mut reader = ChunkReader::new();
        assert_eq!(
            reader.feed(&[0xc5, 1, 2]),
            Err(ChunkError::NoPreviousHeader(5))
        );
    }

    #[test]
    fn long_chunk_stream_ids_round_trip() {
        let mut out = Vec::new();
        write_basic_header(&mut out, 0, 100);
        write_basic_header(&mut out, 0, 1000);
        assert_eq!(out, vec![0, 36, 1, (936 % 256) as u8, (936 / 256) as u8]);
    }

    #[test]
    fn a_message_that_shrinks_mid_way_is_an_error() {
        // 300 bytes announced, 128 sent, then a type 1 header saying 10.
        let mut bytes = vec![0x04, 0, 0, 0, 0, 1, 44, VIDEO, 1, 0, 0, 0];
        bytes.extend([0; 128]);
        bytes.extend([0x44, 0, 0, 0, 0, 0, 10, VIDEO]);
        let mut reader = ChunkReader::new();
        assert_eq!(reader.feed(&bytes), Err(ChunkError::LengthChanged(4)));
    }

    #[test]
    fn half_sent_messages_on_many_streams_are_bounded() {
        // Each chunk stream starts a message of the largest size and sends
        // all but one byte of it.
        let mut reader = ChunkReader::new();
        reader.set_chunk_size(MAX_MESSAGE - 1);
        let length = (MAX_MESSAGE as u32).to_be_bytes();
        let mut result = Ok(None);
        for csid in 3..64u8 {
            let mut chunk = vec![
                csid, 0, 0, 0, length[1], length[2], length[3], VIDEO, 1, 0, 0, 0,
            ];
            chunk.resize(12 + MAX_MESSAGE - 1, 0);
            result = reader.feed(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ChunkError::TooMuchPending));
        assert!(reader.pending <= MAX_PENDING + MAX_MESSAGE);
    }

    #[test]
    fn an_oversized_message_is_refused_on_its_header() {
        // A 16 MiB command: refused from the 12-byte header alone.
        let header = [0x03, 0, 0, 0, 0xff, 0xff, 0xff, COMMAND_AMF0, 0, 0, 0, 0];
        let mut reader = ChunkReader::new();
        assert_eq!(
            reader.feed(&header),
            Err(ChunkError::TooLarge {
                type_id: COMMAND_AMF0,
                length: 0xff_ffff
            })
        );
        let shown = ChunkError::TooLarge {
            type_id: COMMAND_AMF0,
            length: 0xff_ffff,
        }
        .to_string();
        assert!(
            shown.contains("16777215-byte") && shown.contains("256 KiB"),
            "{shown}"
        );

        // The largest allowed message still comes through.
        let mut writer = ChunkWriter::new();
        writer.set_chunk_size(4096);
        reader = ChunkReader::new();
        reader.set_chunk_size(4096);
        let largest = Message::new(COMMAND_AMF0, 0, 0, vec![5; MAX_MESSAGE]);
        let mut bytes = Vec::new();
        writer.write(&largest, &mut bytes);
        assert_eq!(read_all(&mut reader, &bytes), vec![largest]);
    }

    #[test]
    fn one_byte_chunks_reassemble_in_linear_time() {
        // 256 KiB in one-byte chunks: half a million chunks in one feed.
        // Dropping each parsed chunk from the front of the buffer would move
        // about 64 GB; this must take well under a second.
        let mut writer = ChunkWriter::new();
        writer.set_chunk_size(1);
        let mut reader = ChunkReader::new();
        reader.set_chunk_size(1);
        let message = Message::new(AUDIO, 1, 0, vec![7; MAX_MESSAGE]);
        let mut bytes = Vec::new();
        writer.write(&message, &mut bytes);
        let started = std::time::Instant::now();
        assert_eq!(read_all(&mut reader, &bytes), vec![message]);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(reader.buffer.is_empty());
    }
}
