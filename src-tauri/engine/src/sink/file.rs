//! The local recording: FLV with H.264 and AAC, exactly the units the network
//! sinks get (no re-encode).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{Sink, SinkNeeds};
use crate::error::{ErrorCode, OnairError};
use crate::flv::avc;
use crate::flv::tags;
use crate::flv::writer::FlvWriter;
use crate::media::{Packet, StreamInfo};

pub struct FileSink {
    path: PathBuf,
    writer: Option<FlvWriter<BufWriter<File>>>,
    lead_us: i64,
    /// The SPS and PPS the last sequence header carried.
    parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
}

impl FileSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSink {
            path: path.into(),
            writer: None,
            lead_us: 0,
            parameter_sets: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, e: std::io::Error) -> OnairError {
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!(
                "Cannot write the recording {}: {e}. Choose a folder you can write to.",
                self.path.display()
            ),
        )
    }

    fn timestamp_ms(&self, pts_us: i64) -> u32 {
        // Rounded, not truncated: 33.3 ms frames land on the nearest millisecond.
        (((pts_us + self.lead_us).max(0) + 500) / 1000) as u32
    }
}

impl Sink for FileSink {
    fn needs(&self) -> SinkNeeds {
        SinkNeeds {
            aac: true,
            opus: false,
        }
    }

    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io_error(e))?;
        }
        let file = File::create(&self.path).map_err(|e| self.io_error(e))?;
        let mut writer =
            FlvWriter::new(BufWriter::new(file), info).map_err(|e| self.io_error(e))?;
        if let Some(audio) = &info.audio {
            self.lead_us = audio.lead_us;
            writer
                .write_tag(
                    tags::TAG_AUDIO,
                    0,
                    &tags::audio_sequence_header(&audio.config),
                )
                .map_err(|e| self.io_error(e))?;
        }
        self.writer = Some(writer);
        Ok(())
    }

    fn write(&mut self, packet: &Packet) -> Result<(), OnairError> {
        let (kind, ts, body) = match packet {
            Packet::Video(v) => {
                // The fan-out starts every sink on a keyframe, which carries
                // SPS and PPS; a keyframe with new ones (an overload step to
                // a smaller size) needs a new sequence header before it.
                let sets = v.keyframe.then(|| avc::parameter_sets(&v.data)).flatten();
                match sets {
                    Some(sets) if self.parameter_sets.as_ref() != Some(&sets) => {
                        let ts = self.timestamp_ms(v.pts_us);
                        let header = tags::video_sequence_header(&sets.0, &sets.1);
                        let w = self.writer.as_mut().expect("opened");
                        w.write_tag(tags::TAG_VIDEO, ts, &header)
                            .map_err(|e| self.io_error(e))?;
                        self.parameter_sets = Some(sets);
                    }
                    _ if self.parameter_sets.is_none() => return Ok(()),
                    _ => {}
                }
                (
                    tags::TAG_VIDEO,
                    self.timestamp_ms(v.pts_us),
                    tags::video_frame(&v.data, v.keyframe),
                )
            }
            Packet::Audio(a) => (
                tags::TAG_AUDIO,
                self.timestamp_ms(a.pts_us),
                tags::audio_frame(&a.data),
            ),
        };
        let result = self
            .writer
            .as_mut()
            .expect("opened")
            .write_tag(kind, ts, &body);
        result.map_err(|e| self.io_error(e))
    }

    fn is_local(&self) -> bool {
        true
    }

    fn close(&mut self, duration_us: u64) -> Result<(), OnairError> {
        match self.writer.take() {
            Some(writer) => writer
                .finish(duration_us as f64 / 1e6)
                .map(drop)
                .map_err(|e| self.io_error(e)),
            None => Ok(()),
        }
    }
}

/// `DIR/Onair 2026-11-21 14-03-59.flv` in UTC.
pub fn default_recording_path(dir: &Path, unix_secs: u64) -> PathBuf {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    dir.join(format!(
        "Onair {year:04}-{month:02}-{day:02} {:02}-{:02}-{:02}.flv",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_sort_by_time() {
        let p = default_recording_path(Path::new("/v"), 1_795_269_839);
        assert_eq!(p, Path::new("/v/Onair 2026-11-21 14-03-59.flv"));
    }
}
