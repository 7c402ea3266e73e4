//! Writes an FLV file, and on finish patches the duration into its metadata so
//! players and ffprobe see the real length.

use std::io::{self, Seek, SeekFrom, Write};

use super::tags;
use crate::media::StreamInfo;

pub struct FlvWriter<W: Write + Seek> {
    out: W,
    /// Byte offset of the metadata's duration value (an AMF0 f64).
    duration_at: u64,
}

impl<W: Write + Seek> FlvWriter<W> {
    pub fn new(mut out: W, info: &StreamInfo) -> io::Result<Self> {
        let flags = if info.audio.is_some() { 0x05 } else { 0x01 };
        out.write_all(&[b'F', b'L', b'V', 1, flags, 0, 0, 0, 9])?;
        out.write_all(&0u32.to_be_bytes())?;
        let body = tags::metadata(info, 0.0);
        // "duration" is the first property: onMetaData string (13 bytes),
        // ECMA array marker and count (5), key (2 + 8), number marker (1).
        let tag_start = out.stream_position()?;
        let duration_at = tag_start + 11 + 13 + 5 + 10 + 1;
        let mut writer = FlvWriter { out, duration_at };
        writer.write_tag(tags::TAG_SCRIPT, 0, &body)?;
        Ok(writer)
    }

    pub fn write_tag(&mut self, kind: u8, timestamp_ms: u32, body: &[u8]) -> io::Result<()> {
        let len = body.len() as u32;
        let ts = timestamp_ms.to_be_bytes();
        let header = [
            kind,
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            ts[1],
            ts[2],
            ts[3],
            ts[0], // the extended (upper) timestamp byte comes last
            0,
            0,
            0,
        ];
        self.out.write_all(&header)?;
        self.out.write_all(body)?;
        self.out.write_all(&(len + 11).to_be_bytes())
    }

    pub fn finish(mut self, duration_s: f64) -> io::Result<W> {
        self.out.seek(SeekFrom::Start(self.duration_at))?;
        self.out.write_all(&duration_s.to_be_bytes())?;
        self.out.seek(SeekFrom::End(0))?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn patches_the_duration_in_place() {
        let info = StreamInfo {
            width: 640,
            height: 360,
            fps: 30,
            video_kbps: 800,
            audio: None,
        };
        let mut w = FlvWriter::new(Cursor::new(Vec::new()), &info).unwrap();
        w.write_tag(tags::TAG_VIDEO, 40, &[1, 2, 3]).unwrap();
        let bytes = w.finish(12.5).unwrap().into_inner();
        let at = 13 + 11 + 13 + 5 + 10 + 1;
        assert_eq!(&bytes[at - 9..at - 1], b"duration");
        assert_eq!(
            f64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()),
            12.5
        );
        // The last tag: timestamp 40 and a trailing size of 11 + 3.
        let tail = &bytes[bytes.len() - 18..];
        assert_eq!(tail[0], tags::TAG_VIDEO);
        assert_eq!(&tail[4..7], &[0, 0, 40]);
        assert_eq!(&tail[14..], &14u32.to_be_bytes());
    }
}
