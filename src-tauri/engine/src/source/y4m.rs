//! A prepared clip as the video source: raw YUV4MPEG2 (4:2:0, 8 bit), played
//! at its own frame rate and looped. Frames are sent on the session's cadence
//! (a frame repeated or skipped where the two rates differ, as a camera's
//! would be) and scaled to the session's size, so downstream it is a camera.
//! The quality benchmark and the tests push real content through the whole
//! engine with it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::convert::{self, I420};
use super::{SourceError, VideoSource};
use crate::clock::MediaClock;
use crate::error::{ErrorCode, OnairError};
use crate::media::VideoFrame;

/// A header line longer than this is not a YUV4MPEG2 header.
const MAX_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum Y4mError {
    #[error("it cannot be opened ({0})")]
    Open(std::io::Error),
    #[error("it is not a YUV4MPEG2 file")]
    NotY4m,
    #[error("its header is malformed ({0})")]
    BadHeader(String),
    #[error("it is {0}, and Onair plays 8-bit 4:2:0 only")]
    Unsupported(String),
    #[error("it holds no complete frame")]
    Empty,
    #[error("reading it failed ({0})")]
    Read(std::io::Error),
}

/// What a file's stream header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// Frames per second as a fraction (`F30000:1001`).
    pub rate: (u32, u32),
}

impl Header {
    /// Parses the first line of the file, without its newline.
    pub fn parse(line: &str) -> Result<Header, Y4mError> {
        let mut tokens = line.split(' ');
        if tokens.next() != Some("YUV4MPEG2") {
            return Err(Y4mError::NotY4m);
        }
        let bad = |what: &str| Y4mError::BadHeader(what.to_string());
        let (mut width, mut height, mut rate) = (None, None, None);
        for token in tokens.filter(|t| !t.is_empty()) {
            let (tag, value) = token.split_at(1);
            match tag {
                "W" => width = Some(value.parse::<u32>().map_err(|_| bad("width"))?),
                "H" => height = Some(value.parse::<u32>().map_err(|_| bad("height"))?),
                "F" => {
                    let (n, d) = value.split_once(':').ok_or_else(|| bad("frame rate"))?;
                    let n: u32 = n.parse().map_err(|_| bad("frame rate"))?;
                    let d: u32 = d.parse().map_err(|_| bad("frame rate"))?;
                    rate = Some((n, d));
                }
                // 420jpeg, 420paldv, 420mpeg2 and plain 420 differ only in
                // where chroma sits: all are I420 in memory.
                "C" if !matches!(value, "420" | "420jpeg" | "420paldv" | "420mpeg2") => {
                    return Err(Y4mError::Unsupported(format!("colour space {value}")));
                }
                "I" if !matches!(value, "p" | "?") => {
                    return Err(Y4mError::Unsupported("interlaced".into()));
                }
                // Aspect ratio, comments (X) and the tags above when they fit.
                _ => {}
            }
        }
        let (width, height) = match (width, height) {
            (Some(w), Some(h)) if (2..=3840).contains(&w) && (2..=2160).contains(&h) => (w, h),
            (Some(_), Some(_)) => return Err(bad("size beyond 3840x2160")),
            _ => return Err(bad("no size")),
        };
        let rate = match rate {
            Some((n, d)) if n > 0 && d > 0 && n / d <= 120 => (n, d),
            Some(_) => return Err(bad("frame rate out of range")),
            None => return Err(bad("no frame rate")),
        };
        Ok(Header {
            width,
            height,
            rate,
        })
    }

    pub fn frame_len(&self) -> usize {
        VideoFrame::i420_len(self.width, self.height)
    }

    /// Which picture of the file (counted over its loops) shows at the
    /// `frame`th frame of playback at `fps` (exact: no rounded microseconds).
    fn picture_at(&self, frame: u64, fps: u32) -> u64 {
        let (n, d) = (self.rate.0 as u128, self.rate.1 as u128);
        (frame as u128 * n / (d * fps as u128)) as u64
    }
}

/// The file, read one picture at a time and rewound at its end (the
/// quality benchmark reads its clips with it too).
pub struct Reader {
    file: BufReader<File>,
    header: Header,
    /// Byte offset of the first FRAME line.
    data_start: u64,
    /// Pictures read so far, over every loop.
    read: u64,
    /// Pictures in one pass, known after the first end of file.
    per_loop: Option<u64>,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, Y4mError> {
        let mut file = BufReader::new(File::open(path).map_err(Y4mError::Open)?);
        let line = read_line(&mut file)?.ok_or(Y4mError::NotY4m)?;
        let header = Header::parse(&line)?;
        let data_start = line.len() as u64 + 1;
        let mut reader = Reader {
            file,
            header,
            data_start,
            read: 0,
            per_loop: None,
        };
        // A file without one whole picture is refused now, not mid-stream.
        let mut first = vec![0; header.frame_len()];
        if !reader.read_picture(&mut first)? {
            return Err(Y4mError::Empty);
        }
        reader.rewind()?;
        reader.read = 0;
        Ok(reader)
    }

    pub fn header(&self) -> Header {
        self.header
    }

    fn rewind(&mut self) -> Result<(), Y4mError> {
        self.file
            .seek(SeekFrom::Start(self.data_start))
            .map_err(Y4mError::Read)?;
        Ok(())
    }

    /// The next picture into `out`; false at the end of the file (a cut-off
    /// last picture counts as the end).
    pub fn read_picture(&mut self, out: &mut [u8]) -> Result<bool, Y4mError> {
        match read_line(&mut self.file)? {
            None => return Ok(false),
            Some(line) if line.starts_with("FRAME") => {}
            Some(_) => {
                return Err(Y4mError::BadHeader(
                    "a picture without its FRAME line".into(),
                ))
            }
        }
        match self.file.read_exact(out) {
            Ok(()) => {
                self.read += 1;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Y4mError::Read(e)),
        }
    }

    /// Reads up to picture `index` (counted over loops) into `out`, skipping
    /// the ones in between and rewinding at the end.
    fn seek_to(&mut self, index: u64, out: &mut [u8]) -> Result<(), Y4mError> {
        while self.read <= index {
            if !self.read_picture(out)? {
                let per_loop = *self.per_loop.get_or_insert(self.read);
                if per_loop == 0 {
                    return Err(Y4mError::Empty);
                }
                self.rewind()?;
                // Skip whole loops at once after a long stall.
                self.read = index - index % per_loop;
            }
        }
        Ok(())
    }
}

/// One line without its newline; None at the end of the file.
fn read_line(file: &mut BufReader<File>) -> Result<Option<String>, Y4mError> {
    let mut line = Vec::new();
    let read = file
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .map_err(Y4mError::Read)?;
    if read == 0 {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        // Only a cut-off last picture line ends without a newline.
        return Ok(None);
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| Y4mError::NotY4m)
}

/// Where the session wants the pictures.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

pub struct Y4mSource {
    reader: Reader,
    path: PathBuf,
    output: Output,
    clock: MediaClock,
    /// The session's frame number of the first picture.
    first_frame: u64,
    next_frame: u64,
    picture: Vec<u8>,
}

impl Y4mSource {
    pub fn open(path: &Path, output: Output, clock: MediaClock) -> Result<Self, OnairError> {
        let reader = Reader::open(path).map_err(|e| unreadable(path, e))?;
        let next_frame = (clock.now_us() * output.fps as u64).div_ceil(1_000_000);
        Ok(Y4mSource {
            picture: vec![0; reader.header.frame_len()],
            reader,
            path: path.to_path_buf(),
            output,
            clock,
            first_frame: next_frame,
            next_frame,
        })
    }

    pub fn header(&self) -> Header {
        self.reader.header
    }

    fn frame_time_us(&self, n: u64) -> u64 {
        n * 1_000_000 / self.output.fps as u64
    }
}

impl VideoSource for Y4mSource {
    fn describe(&self) -> String {
        let Header {
            width,
            height,
            rate,
        } = self.reader.header;
        format!(
            "video file {} ({width}x{height} at {:.3} fps, sent as {}x{} at {} fps)",
            self.path.display(),
            rate.0 as f64 / rate.1 as f64,
            self.output.width,
            self.output.height,
            self.output.fps
        )
    }

    fn next_frame(&mut self) -> Result<VideoFrame, SourceError> {
        let n = self.next_frame;
        self.next_frame += 1;
        let due = self.frame_time_us(n);
        let index = self
            .reader
            .header
            .picture_at(n - self.first_frame, self.output.fps);
        self.reader
            .seek_to(index, &mut self.picture)
            .map_err(|e| SourceError::Unavailable(format!("the video file ({e})")))?;
        let Header { width, height, .. } = self.reader.header;
        let picture = I420 {
            width,
            height,
            data: self.picture.clone(),
        };
        let picture = convert::scale(picture, self.output.width, self.output.height)
            .map_err(|e| SourceError::Unavailable(format!("the video file ({e})")))?;
        self.clock.sleep_until(due);
        Ok(picture.into_frame(due))
    }
}

/// The sentence a creator sees for a file that cannot be played.
fn unreadable(path: &Path, error: Y4mError) -> OnairError {
    OnairError::new(
        ErrorCode::DeviceUnavailable,
        format!(
            "The video file {} cannot be played: {error}. Make one with `ffmpeg -i CLIP -pix_fmt yuv420p CLIP.y4m`, or use the test pattern (--video test).",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn clip(header: &str, pictures: &[u8], w: u32, h: u32) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "{header}").unwrap();
        for &luma in pictures {
            file.write_all(b"FRAME\n").unwrap();
            let mut picture = vec![128u8; VideoFrame::i420_len(w, h)];
            picture[..(w * h) as usize].fill(luma);
            file.write_all(&picture).unwrap();
        }
        file
    }

    #[test]
    fn headers_parse_or_say_what_is_wrong() {
        let h = Header::parse("YUV4MPEG2 W1280 H720 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG")
            .unwrap();
        assert_eq!((h.width, h.height, h.rate), (1280, 720, (30000, 1001)));
        assert!(Header::parse("YUV4MPEG2 W64 H48 F25:1").is_ok());
        for (line, wanted) in [
            ("RIFF....WAVE", "not a YUV4MPEG2"),
            ("YUV4MPEG2 W64 F25:1", "no size"),
            ("YUV4MPEG2 W64 H48", "no frame rate"),
            ("YUV4MPEG2 W64 H48 F0:1", "frame rate out of range"),
            ("YUV4MPEG2 Wx H48 F25:1", "width"),
            ("YUV4MPEG2 W64 H48 F25:1 C444", "colour space 444"),
            ("YUV4MPEG2 W64 H48 F25:1 C420p10", "colour space 420p10"),
            ("YUV4MPEG2 W64 H48 F25:1 It", "interlaced"),
            ("YUV4MPEG2 W9000 H48 F25:1", "beyond"),
        ] {
            let error = Header::parse(line).unwrap_err().to_string();
            assert!(error.contains(wanted), "{line}: {error}");
        }
    }

    #[test]
    fn a_missing_or_broken_file_is_device_unavailable_with_a_way_out() {
        let output = Output {
            width: 64,
            height: 48,
            fps: 30,
        };
        let clock = MediaClock::start();
        let truncated = clip("YUV4MPEG2 W64 H48 F30:1", &[], 64, 48);
        let mut half = std::fs::OpenOptions::new()
            .append(true)
            .open(truncated.path())
            .unwrap();
        half.write_all(b"FRAME\n").unwrap();
        half.write_all(&[0u8; 100]).unwrap();
        let not_y4m = clip("not a clip", &[], 64, 48);
        for (path, wanted) in [
            (Path::new("/nonexistent/clip.y4m"), "cannot be opened"),
            (not_y4m.path(), "not a YUV4MPEG2 file"),
            (truncated.path(), "no complete frame"),
        ] {
            let Err(error) = Y4mSource::open(path, output, clock) else {
                panic!("{} opened", path.display());
            };
            assert_eq!(error.code, ErrorCode::DeviceUnavailable);
            assert!(error.message.contains(wanted), "{}", error.message);
            assert!(error.message.contains("--video test"), "{}", error.message);
        }
    }

    #[test]
    fn pictures_play_at_the_files_rate_and_loop() {
        // Three pictures at 15 fps, sent at 30 fps: each shown twice, then again.
        let file = clip("YUV4MPEG2 W64 H48 F15:1", &[10, 20, 30], 64, 48);
        let output = Output {
            width: 32,
            height: 24,
            fps: 30,
        };
        let mut source = Y4mSource::open(file.path(), output, MediaClock::start()).unwrap();
        let lumas: Vec<u8> = (0..14)
            .map(|_| {
                let frame = source.next_frame().unwrap();
                assert_eq!((frame.width, frame.height), (32, 24));
                frame.planes().0[0]
            })
            .collect();
        assert_eq!(
            lumas,
            [10, 10, 20, 20, 30, 30, 10, 10, 20, 20, 30, 30, 10, 10]
        );
    }

    #[test]
    fn a_faster_file_skips_pictures() {
        let file = clip("YUV4MPEG2 W16 H16 F60:1", &[1, 2, 3, 4, 5], 16, 16);
        let output = Output {
            width: 16,
            height: 16,
            fps: 30,
        };
        let mut source = Y4mSource::open(file.path(), output, MediaClock::start()).unwrap();
        let lumas: Vec<u8> = (0..5)
            .map(|_| source.next_frame().unwrap().planes().0[0])
            .collect();
        assert_eq!(lumas, [1, 3, 5, 2, 4]);
    }
}
