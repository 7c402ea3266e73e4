//! The log a creator can hand to someone who helps: every session's events,
//! the engine's diagnostics and what the libraries underneath say, in a
//! daily file in the platform's state folder (the last week kept), or in the
//! one file the creator names. Every line passes the process-wide secret
//! mask on its way to the file, as events and errors do.
//!
//! Libraries that print straight to the terminal (ALSA and JACK while audio
//! devices are probed) are caught with `into_log` and written here instead.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::Level;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::error::{ErrorCode, OnairError};
use crate::events::Event;
use crate::secret::mask_known;

/// Days of daily files kept in the state folder.
const DAYS_KEPT: usize = 7;
/// Where what libraries print is filed.
pub const LIBRARY_TARGET: &str = "onair::library";

/// Where the log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// `onair.YYYY-MM-DD.log` files in this folder, the last week kept.
    Daily(PathBuf),
    /// This one file, appended to.
    File(PathBuf),
}

impl LogTarget {
    /// The daily files in the platform's state folder (on Linux
    /// `$XDG_STATE_HOME/onair/logs`, by default `~/.local/state/onair/logs`).
    pub fn default_daily() -> Option<LogTarget> {
        dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .map(|base| LogTarget::Daily(base.join("onair").join("logs")))
    }

    /// The folder a creator is shown ("Show log").
    pub fn folder(&self) -> &Path {
        match self {
            LogTarget::Daily(dir) => dir,
            LogTarget::File(path) => path.parent().unwrap_or(Path::new(".")),
        }
    }
}

/// Keeps the log written until dropped (it flushes what is queued).
pub struct Logbook {
    pub target: LogTarget,
    _flush: WorkerGuard,
}

/// Starts logging for the rest of the process. Once only: a second call
/// (a test harness) says so.
pub fn start(target: LogTarget) -> Result<Logbook, OnairError> {
    let cannot = |what: &str, e: &dyn std::fmt::Display| {
        OnairError::new(
            ErrorCode::InvalidSettings,
            format!("Onair cannot write its log {what} ({e}): name a file it can write, or free some space."),
        )
    };
    let (writer, flush) = match &target {
        LogTarget::Daily(dir) => {
            make_private_dir(dir).map_err(|e| cannot(&format!("in {}", dir.display()), &e))?;
            let files = tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("onair")
                .filename_suffix("log")
                .max_log_files(DAYS_KEPT)
                .build(dir)
                .map_err(|e| cannot(&format!("in {}", dir.display()), &e))?;
            tracing_appender::non_blocking(files)
        }
        LogTarget::File(path) => {
            let file = open_private_append(path)
                .map_err(|e| cannot(&format!("to {}", path.display()), &e))?;
            tracing_appender::non_blocking(file)
        }
    };
    // Onair's own lines in detail; libraries' warnings and errors only (their
    // debug chatter could quote a request whole).
    let filter = Targets::new()
        .with_target("onair", Level::DEBUG)
        .with_default(Level::WARN);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Masked(writer)),
        )
        .with(filter)
        .try_init()
        .map_err(|e| OnairError::internal(format!("The log was already started ({e}).")))?;
    tracing::info!(target: "onair", version = env!("CARGO_PKG_VERSION"), "log started");
    Ok(Logbook {
        target,
        _flush: flush,
    })
}

/// One event of a session, as its `--json` line (the meter's 20 a second
/// are left out).
pub fn record(event: &Event) {
    if matches!(event, Event::Levels { .. }) {
        return;
    }
    if let Ok(line) = serde_json::to_string(event) {
        tracing::info!(target: "onair::event", "{line}");
    }
}

/// Runs `work` with the process's standard error going to the log: for
/// libraries that print their probing to the terminal. One at a time.
pub fn into_log<T>(work: impl FnOnce() -> T) -> T {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    #[cfg(not(unix))]
    return work();
    #[cfg(unix)]
    match StderrCapture::begin() {
        Ok(capture) => {
            let result = work();
            capture.end();
            result
        }
        Err(_) => work(),
    }
}

/// Standard error pointed at a pipe whose lines a thread files in the log.
#[cfg(unix)]
struct StderrCapture {
    saved: libc::c_int,
    reader: std::thread::JoinHandle<()>,
}

#[cfg(unix)]
impl StderrCapture {
    fn begin() -> io::Result<StderrCapture> {
        let mut ends = [0 as libc::c_int; 2];
        // SAFETY: plain descriptor calls; every descriptor opened here is
        // closed or handed to a File that closes it.
        unsafe {
            if libc::pipe(ends.as_mut_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            let saved = libc::dup(libc::STDERR_FILENO);
            if saved < 0 || libc::dup2(ends[1], libc::STDERR_FILENO) < 0 {
                let e = io::Error::last_os_error();
                libc::close(ends[0]);
                libc::close(ends[1]);
                if saved >= 0 {
                    libc::close(saved);
                }
                return Err(e);
            }
            libc::close(ends[1]);
            let pipe = <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(ends[0]);
            let reader = std::thread::Builder::new()
                .name("onair-stderr-log".into())
                .spawn(move || {
                    for line in io::BufRead::lines(io::BufReader::new(pipe)).map_while(Result::ok) {
                        if !line.trim().is_empty() {
                            tracing::debug!(target: LIBRARY_TARGET, "{line}");
                        }
                    }
                })?;
            Ok(StderrCapture { saved, reader })
        }
    }

    fn end(self) {
        let _ = io::stderr().flush();
        // SAFETY: puts the saved descriptor back; the pipe's last writer is
        // then closed, so the reader sees its end.
        unsafe {
            libc::dup2(self.saved, libc::STDERR_FILENO);
            libc::close(self.saved);
        }
        let _ = self.reader.join();
    }
}

/// Every write goes through the secret mask first.
struct Masked<W>(W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Masked<W> {
    type Writer = MaskedWriter<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        MaskedWriter(self.0.make_writer())
    }
}

struct MaskedWriter<W>(W);

impl<W: Write> Write for MaskedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let masked = mask_known(&String::from_utf8_lossy(buf));
        self.0.write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Only the creator may read it: it names their servers and rooms.
fn make_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn open_private_append(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn a_known_secret_never_reaches_the_file() {
        let key = Secret::new("sk_live_logbook_test_0123456789");
        let mut out = Vec::new();
        let mut writer = MaskedWriter(&mut out);
        let line = format!("connecting to rtmp://host/app with {}\n", key.expose());
        assert_eq!(writer.write(line.as_bytes()).unwrap(), line.len());
        let written = String::from_utf8(out).unwrap();
        assert!(!written.contains(key.expose()), "{written}");
        assert!(written.starts_with("connecting to rtmp://host/app with "));
    }

    #[test]
    fn the_default_folder_is_in_the_state_directory() {
        let target = LogTarget::default_daily().expect("a home here");
        assert!(target.folder().ends_with("onair/logs"), "{target:?}");
        let file = LogTarget::File(PathBuf::from("/tmp/x/show.log"));
        assert_eq!(file.folder(), Path::new("/tmp/x"));
    }
}
