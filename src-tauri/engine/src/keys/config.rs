//! The destinations file: non-secret metadata only, in the platform's config
//! directory. Every change runs under an OS file lock on a sidecar file (so
//! two `onair` processes cannot lose each other's edits) and lands with a
//! write-to-temp-then-rename (so a crash never leaves half a file). A file
//! that does not parse is moved aside, never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::SavedDestination;

const FILE_NAME: &str = "destinations.json";
const LOCK_NAME: &str = "destinations.lock";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Onair cannot find a config directory for this user (is HOME set?).")]
    NoConfigDir,
    #[error("Could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("The destinations file {} was not valid ({reason}). It was kept as {} so nothing is lost; fix it and move it back, or add your destinations again.", path.display(), kept_as.display())]
    Corrupt {
        path: PathBuf,
        kept_as: PathBuf,
        reason: String,
    },
    #[error("The destinations file {} was written by a newer Onair (format {found}); update Onair to use it.", path.display())]
    NewerFormat { path: PathBuf, found: u32 },
}

#[derive(Serialize, Deserialize)]
struct DestinationsFile {
    version: u32,
    #[serde(default)]
    destinations: Vec<SavedDestination>,
}

/// Where the destinations file lives, and the only code that touches it.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    dir: PathBuf,
}

impl ConfigStore {
    /// `<config dir>/onair`, e.g. `$XDG_CONFIG_HOME/onair` on Linux.
    pub fn default_location() -> Result<ConfigStore, ConfigError> {
        let base = dirs::config_dir().ok_or(ConfigError::NoConfigDir)?;
        Ok(ConfigStore::in_dir(base.join("onair")))
    }

    pub fn in_dir(dir: impl Into<PathBuf>) -> ConfigStore {
        ConfigStore { dir: dir.into() }
    }

    /// The folder this store keeps its files in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The saved destinations, read under the lock so a corrupt file is
    /// moved aside by exactly one process.
    pub fn read(&self) -> Result<Vec<SavedDestination>, ConfigError> {
        if !self.path().exists() {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        self.load()
    }

    /// Runs `change` on the saved destinations under the lock and saves the
    /// result if it succeeds. Nothing is written when it fails.
    pub fn update<T, E>(
        &self,
        change: impl FnOnce(&mut Vec<SavedDestination>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<ConfigError>,
    {
        let _lock = self.lock()?;
        let mut destinations = self.load()?;
        let out = change(&mut destinations)?;
        self.save(destinations)?;
        Ok(out)
    }

    fn lock(&self) -> Result<File, ConfigError> {
        create_private_dir(&self.dir)?;
        let path = self.dir.join(LOCK_NAME);
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| io("open", &path, source))?;
        // Blocks until any other onair process is done; released on drop.
        file.lock().map_err(|source| io("lock", &path, source))?;
        Ok(file)
    }

    fn load(&self) -> Result<Vec<SavedDestination>, ConfigError> {
        let path = self.path();
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(io("read", &path, source)),
        };
        match serde_json::from_slice::<DestinationsFile>(&text) {
            Ok(file) if file.version > FORMAT_VERSION => Err(ConfigError::NewerFormat {
                path,
                found: file.version,
            }),
            Ok(file) => Ok(file.destinations),
            Err(e) => {
                let kept_as = keep_aside(&path)?;
                Err(ConfigError::Corrupt {
                    path,
                    kept_as,
                    reason: parse_failure(&e),
                })
            }
        }
    }

    fn save(&self, destinations: Vec<SavedDestination>) -> Result<(), ConfigError> {
        let file = DestinationsFile {
            version: FORMAT_VERSION,
            destinations,
        };
        let mut text = serde_json::to_vec_pretty(&file).expect("destinations serialize");
        text.push(b'\n');
        write_private_file(&self.dir, FILE_NAME, &text)
    }
}

/// Replaces `dir/name` with `text` atomically: a temp file, synced, renamed
/// over it. Readable by the user only.
pub(crate) fn write_private_file(dir: &Path, name: &str, text: &[u8]) -> Result<(), ConfigError> {
    create_private_dir(dir)?;
    let path = dir.join(name);
    let temp = dir.join(format!("{name}.tmp-{}", std::process::id()));
    let written = (|| {
        // A fresh file, so it is born private: a leftover temp (or a link
        // planted in its place) would keep its own mode or lead elsewhere.
        let _ = fs::remove_file(&temp);
        let mut out = private_options().write(true).create_new(true).open(&temp)?;
        out.write_all(text)?;
        out.sync_all()
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&temp);
        return Err(io("write", &temp, source));
    }
    fs::rename(&temp, &path).map_err(|source| io("replace", &path, source))?;
    // Make the rename itself durable; not every platform can open a directory.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Moves a file Onair cannot use out of the way, never over another:
/// `NAME.corrupt-<unix time>` beside it (`-1`, `-2`... if that exists), so
/// the next save starts afresh and the creator's text is still there.
pub(crate) fn keep_aside(path: &Path) -> Result<PathBuf, ConfigError> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let beside = |suffix: String| path.with_file_name(format!("{name}.corrupt-{stamp}{suffix}"));
    let mut kept_as = beside(String::new());
    let mut n = 1;
    while fs::symlink_metadata(&kept_as).is_ok() {
        kept_as = beside(format!("-{n}"));
        n += 1;
    }
    fs::rename(path, &kept_as).map_err(|source| io("move aside", path, source))?;
    Ok(kept_as)
}

/// Where and how parsing failed, without quoting the file: serde_json's own
/// messages can echo a value, and a hand-edited file might hold anything.
pub(crate) fn parse_failure(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {}, column {}", e.line(), e.column())
}

pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> ConfigError {
    ConfigError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Files only the user can read: the metadata is not secret, but it says
/// where someone streams.
fn private_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|source| io("create", dir, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DestinationKind;
    use std::sync::Arc;

    fn destination(name: &str) -> SavedDestination {
        SavedDestination {
            name: name.to_string(),
            kind: DestinationKind::Rtmp,
            url: "rtmp://host/app".to_string(),
            token_url: None,
            status_url: None,
            options: Default::default(),
            platform: None,
        }
    }

    #[test]
    fn a_missing_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path().join("onair"));
        assert!(store.read().unwrap().is_empty());
    }

    #[test]
    fn updates_are_saved_whole_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path());
        store
            .update(|d| {
                d.push(destination("a"));
                Ok::<_, ConfigError>(())
            })
            .unwrap();
        assert_eq!(store.read().unwrap(), vec![destination("a")]);
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path());
        let result = store.update(|d| {
            d.push(destination("a"));
            Err::<(), _>(ConfigError::NoConfigDir)
        });
        assert!(result.is_err());
        assert!(!store.path().exists());
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path());
        fs::write(store.path(), b"{ this is not json").unwrap();
        let err = store.read().unwrap_err();
        let ConfigError::Corrupt { kept_as, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(fs::read(kept_as).unwrap(), b"{ this is not json");
        assert!(!store.path().exists());
        assert!(err.to_string().contains("kept as"));
        // Later changes start afresh and leave the kept copy alone.
        store
            .update(|d| {
                d.push(destination("b"));
                Ok::<_, ConfigError>(())
            })
            .unwrap();
        assert_eq!(fs::read(kept_as).unwrap(), b"{ this is not json");
    }

    /// A file as Onair 0.1 wrote it (options as a string map) loads into
    /// the typed options and is written back in the same shape.
    #[test]
    fn a_file_written_before_typed_options_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path());
        let old = r#"{
  "version": 1,
  "destinations": [
    {
      "name": "lk",
      "kind": "livekit",
      "url": "wss://lk.example",
      "token_url": "https://p.example/token",
      "options": {
        "room": "show",
        "token_pointer": "/data/token",
        "url_pointer": "/data/url"
      }
    },
    {
      "name": "selfhost",
      "kind": "livekit",
      "url": "ws://127.0.0.1:7880",
      "options": {
        "api_key": "devkey",
        "identity": "cam"
      }
    },
    {
      "name": "twitch",
      "kind": "rtmp",
      "url": "rtmp://live.twitch.tv/app",
      "status_url": "https://p.example/status",
      "options": {
        "viewers_pointer": "/n",
        "someday": "an option no version knows"
      }
    },
    {
      "name": "rec",
      "kind": "file",
      "url": "file:/tmp/show.flv"
    }
  ]
}
"#;
        fs::write(store.path(), old).unwrap();
        let loaded = store.read().unwrap();
        assert_eq!(loaded.len(), 4);
        let lk = &loaded[0].options.livekit;
        assert_eq!(lk.room.as_deref(), Some("show"));
        assert_eq!(
            (lk.token_pointer(), lk.url_pointer()),
            ("/data/token", "/data/url")
        );
        let selfhost = &loaded[1].options.livekit;
        assert_eq!(selfhost.api_key.as_deref(), Some("devkey"));
        assert_eq!(
            (selfhost.room.as_deref(), selfhost.identity()),
            (None, "cam")
        );
        let status = &loaded[2].options.status;
        assert_eq!(
            (status.live_pointer(), status.viewers_pointer()),
            ("/isLive", "/n")
        );
        assert!(loaded[3].options.is_empty());
        // Saved again: the same object older Onair reads (the unknown key aside).
        store.update(|_| Ok::<_, ConfigError>(())).unwrap();
        let written: serde_json::Value =
            serde_json::from_slice(&fs::read(store.path()).unwrap()).unwrap();
        let mut expected: serde_json::Value = serde_json::from_str(old).unwrap();
        expected["destinations"][2]["options"]
            .as_object_mut()
            .unwrap()
            .remove("someday");
        assert_eq!(written, expected);
    }

    #[test]
    fn a_newer_format_is_refused_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path());
        fs::write(store.path(), br#"{"version": 99, "destinations": []}"#).unwrap();
        assert!(matches!(
            store.read(),
            Err(ConfigError::NewerFormat { found: 99, .. })
        ));
        assert!(store.path().exists());
    }

    #[test]
    fn concurrent_updates_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ConfigStore::in_dir(dir.path()));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    store
                        .update(|d| {
                            // Widen the window between read and write.
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            d.push(destination(&format!("d{i}")));
                            Ok::<_, ConfigError>(())
                        })
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.read().unwrap().len(), 8);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::in_dir(dir.path().join("onair"));
        store
            .update(|d| {
                d.push(destination("a"));
                Ok::<_, ConfigError>(())
            })
            .unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
