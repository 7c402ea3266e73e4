//! The local recording: FLV with H.264 and AAC, exactly the units the network
//! sinks get (no re-encode). A recording never replaces a file: it is
//! created new (a link planted at its path is refused too), automatic names
//! step aside from the ones taken, and the folder for a user without a home
//! is one of their own, never a shared predictable path.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::Sink;
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

    fn timestamp_ms(&self, time_us: i64) -> u32 {
        tags::timestamp_ms(time_us, self.lead_us)
    }
}

impl Sink for FileSink {
    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io_error(e))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&self.path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => already_exists(&self.path),
                _ => self.io_error(e),
            })?;
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
                        let ts = self.timestamp_ms(v.dts_us);
                        let header = tags::video_sequence_header(&sets.0, &sets.1);
                        let w = self.writer.as_mut().expect("opened");
                        w.write_tag(tags::TAG_VIDEO, ts, &header)
                            .map_err(|e| self.io_error(e))?;
                        self.parameter_sets = Some(sets);
                    }
                    _ if self.parameter_sets.is_none() => return Ok(()),
                    _ => {}
                }
                let dts = self.timestamp_ms(v.dts_us);
                let pts = self.timestamp_ms(v.pts_us);
                (
                    tags::TAG_VIDEO,
                    dts,
                    tags::video_frame(&v.data, v.keyframe, dts, pts),
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

/// Before going live to a path the creator named (`file:PATH`, `--record
/// PATH`): taken means refused, never written over. Opening checks again.
pub fn check_new_recording(path: &Path) -> Result<(), OnairError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(already_exists(path)),
        Err(_) => Ok(()),
    }
}

fn already_exists(path: &Path) -> OnairError {
    OnairError::new(
        ErrorCode::InvalidDestination,
        format!(
            "{} already exists, and Onair never writes over a file. Choose another name for the recording, or move that file away.",
            path.display()
        ),
    )
}

/// A new recording's automatic name, `DIR/Onair 2026-11-21 14-03-59.flv`
/// (UTC), or `... 14-03-59-2.flv` and on when that is taken: two Go Lives
/// within a second keep both. Opening refuses a name taken meanwhile.
pub fn default_recording_path(dir: &Path, unix_secs: u64) -> PathBuf {
    let stem = recording_stem(unix_secs);
    let mut path = dir.join(format!("{stem}.flv"));
    let mut n = 2;
    // A dangling link counts as taken: the name is someone's.
    while std::fs::symlink_metadata(&path).is_ok() {
        path = dir.join(format!("{stem}-{n}.flv"));
        n += 1;
    }
    path
}

fn recording_stem(unix_secs: u64) -> String {
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
    format!(
        "Onair {year:04}-{month:02}-{day:02} {:02}-{:02}-{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// For a user with no videos folder and no home: a new folder of their own
/// in the temporary directory (random name, created exclusively, mode 0700,
/// as mkdtemp makes it), never a fixed `/tmp/Onair` another user could
/// create or plant a link in first.
pub fn private_temp_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let mut last = None;
    for _ in 0..16 {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("onair-{name}"));
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> StreamInfo {
        StreamInfo {
            width: 320,
            height: 180,
            fps: 30,
            video_kbps: 500,
            audio: None,
        }
    }

    #[test]
    fn default_names_sort_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = default_recording_path(dir.path(), 1_795_269_839);
        assert_eq!(p, dir.path().join("Onair 2026-11-21 14-03-59.flv"));
    }

    #[test]
    fn two_recordings_within_one_second_keep_both() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_795_269_839;
        let mut made = Vec::new();
        for _ in 0..3 {
            let path = default_recording_path(dir.path(), now);
            let mut sink = FileSink::new(&path);
            sink.open(&info()).unwrap();
            sink.close(0).unwrap();
            made.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(
            made,
            [
                "Onair 2026-11-21 14-03-59.flv",
                "Onair 2026-11-21 14-03-59-2.flv",
                "Onair 2026-11-21 14-03-59-3.flv"
            ]
        );
    }

    #[test]
    fn an_existing_file_is_never_written_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("show.flv");
        std::fs::write(&path, b"last week's show").unwrap();
        let err = check_new_recording(&path).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidDestination);
        assert!(err.message.contains("already exists"), "{}", err.message);
        let err = FileSink::new(&path).open(&info()).err().unwrap();
        assert_eq!(err.code, ErrorCode::InvalidDestination);
        assert!(err.message.contains("never writes over"), "{}", err.message);
        assert_eq!(std::fs::read(&path).unwrap(), b"last week's show");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("authorized_keys");
        std::fs::write(&target, b"ssh-ed25519 AAAA").unwrap();
        let link = dir.path().join("Onair 2026-11-21 14-03-59.flv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(FileSink::new(&link).open(&info()).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"ssh-ed25519 AAAA");
        // A dangling link is a taken name too.
        std::fs::remove_file(&target).unwrap();
        assert!(FileSink::new(&link).open(&info()).is_err());
        assert!(!target.exists());
        let next = default_recording_path(dir.path(), 1_795_269_839);
        assert!(
            next.ends_with("Onair 2026-11-21 14-03-59-2.flv"),
            "{next:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_fallback_folder_is_new_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let a = private_temp_dir().unwrap();
        let b = private_temp_dir().unwrap();
        assert_ne!(a, b);
        let mode = std::fs::metadata(&a).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        std::fs::remove_dir(a).unwrap();
        std::fs::remove_dir(b).unwrap();
    }
}
