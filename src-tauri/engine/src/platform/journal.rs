//! What Onair must remember across a crash: a platform session it opened
//! and has not ended yet. Written when the start hook succeeds, removed once
//! the end hook has run; a file left behind by a dead process tells the next
//! Go Live to end that session first, so no room stays stuck.
//!
//! Only the values the end hook needs (session ids and the like) are kept:
//! never a token or a key. One file per destination, named one-to-one from
//! the destination's name, readable by the user only; an entry is believed
//! only when it names the destination asked about and the user owns it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::keys::config::{write_private_file, ConfigError};

/// The journal's folder inside the destinations' config folder.
pub const SESSIONS_DIR: &str = "sessions";

/// A file name holds 255 bytes; a longer encoded name continues in folders.
const NAME_CHUNK: usize = 200;

/// An entry is a few ids; anything much bigger is not one of ours.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub destination: String,
    pub pid: u32,
    pub started_unix_s: u64,
    pub captures: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn in_dir(dir: impl Into<PathBuf>) -> Journal {
        Journal { dir: dir.into() }
    }

    /// The journal of the destinations saved in `config_dir`.
    pub fn in_config_dir(config_dir: &Path) -> Journal {
        Journal::in_dir(config_dir.join(SESSIONS_DIR))
    }

    fn path(&self, destination: &str) -> PathBuf {
        let encoded = encode_name(destination);
        let mut path = self.dir.clone();
        let mut rest = encoded.as_str();
        while rest.len() > NAME_CHUNK {
            let (folder, tail) = rest.split_at(NAME_CHUNK);
            path.push(folder);
            rest = tail;
        }
        path.push(format!("{rest}.json"));
        path
    }

    /// Where Onair before 0.1 kept the entry ("a b" and "a_b" shared it):
    /// still read, so a session left open across an update is ended.
    fn legacy_path(&self, destination: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", destination.replace(' ', "_")))
    }

    /// Remembers an open platform session of this process.
    pub fn record(
        &self,
        destination: &str,
        captures: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        self.write(&Entry {
            destination: destination.to_string(),
            pid: std::process::id(),
            started_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            captures: captures.clone(),
        })
    }

    fn write(&self, entry: &Entry) -> Result<(), ConfigError> {
        let path = self.path(&entry.destination);
        let dir = path.parent().expect("a journal file is inside the journal");
        let name = path.file_name().expect("a journal file has a name");
        let text = serde_json::to_vec_pretty(entry).expect("entries serialize");
        write_private_file(dir, &name.to_string_lossy(), &text)
    }

    pub fn clear(&self, destination: &str) {
        let path = self.path(destination);
        let _ = fs::remove_file(&path);
        // Folders of a long name go with their last file (remove_dir keeps
        // any that still hold another destination's entry).
        let mut folder = path.parent();
        while let Some(dir) =
            folder.filter(|d| d.starts_with(&self.dir) && *d != self.dir.as_path())
        {
            if fs::remove_dir(dir).is_err() {
                break;
            }
            folder = dir.parent();
        }
        let legacy = self.legacy_path(destination);
        if legacy != path && read_entry(&legacy, destination).is_some() {
            let _ = fs::remove_file(legacy);
        }
    }

    /// The open session journalled for `destination`, whoever's it is.
    fn entry(&self, destination: &str) -> Option<Entry> {
        read_entry(&self.path(destination), destination)
            .or_else(|| read_entry(&self.legacy_path(destination), destination))
    }

    /// A session left open by a process that is gone. A live process's
    /// entry is not stale: that session is still someone's stream.
    pub fn stale(&self, destination: &str) -> Option<Entry> {
        let entry = self.entry(destination)?;
        (entry.pid == std::process::id() || !process_alive(entry.pid)).then_some(entry)
    }

    /// First half of a rename: the entry of `old` (if any) is written again
    /// for `new`, and any entry `new` had is dropped. `old`'s stays until
    /// `clear(old)`, so a failure in between loses nothing.
    pub fn copy(&self, old: &str, new: &str) -> Result<(), ConfigError> {
        match self.entry(old) {
            Some(entry) => self.write(&Entry {
                destination: new.to_string(),
                ..entry
            }),
            None => {
                self.clear(new);
                Ok(())
            }
        }
    }
}

/// The destination's name as a file name, one-to-one: lowercase ASCII
/// letters, digits and '-' stand for themselves, every other byte is `%xx`
/// (lowercase hex, '%' included). The result has no capital letters, so two
/// names stay two files on a case-insensitive file system too.
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

/// The entry at `path` when it is a regular file of this user's (never
/// through a symbolic link) and names `destination`.
fn read_entry(path: &Path, destination: &str) -> Option<Entry> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || !owned_by_user(&meta) {
        return None;
    }
    let mut text = Vec::new();
    file.take(MAX_ENTRY_BYTES).read_to_end(&mut text).ok()?;
    let entry: Entry = serde_json::from_slice(&text).ok()?;
    (entry.destination == destination).then_some(entry)
}

#[cfg(unix)]
fn owned_by_user(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    meta.uid() == unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn owned_by_user(_: &fs::Metadata) -> bool {
    // The user's config folder is private to them on these systems.
    true
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        // A zombie has exited: it holds no session.
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    } else {
        // Without a cheap check, assume the owner is gone: ending a session
        // twice is harmless, leaving one stuck is not.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captures(session: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("session".to_string(), session.to_string())])
    }

    #[test]
    fn an_entry_of_a_dead_process_is_stale_and_clear_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        assert_eq!(journal.stale("rooms"), None);
        let captures = captures("rs_1");
        journal.record("rooms", &captures).unwrap();
        // Our own entry counts as stale: this process is starting over.
        assert_eq!(journal.stale("rooms").unwrap().captures, captures);

        let mut entry = journal.stale("rooms").unwrap();
        entry.pid = u32::MAX - 1; // no such process
        fs::write(journal.path("rooms"), serde_json::to_vec(&entry).unwrap()).unwrap();
        assert!(journal.stale("rooms").is_some());

        entry.pid = 1; // alive: someone else's live session
        fs::write(journal.path("rooms"), serde_json::to_vec(&entry).unwrap()).unwrap();
        assert_eq!(journal.stale("rooms"), None);

        journal.clear("rooms");
        assert!(!journal.path("rooms").exists());
    }

    #[test]
    fn names_map_to_files_one_to_one() {
        let names = [
            "a b", "a_b", "a%20b", "a%5fb", "A b", "a.b", "Show", "show", "ßhow", "..", "a-b",
        ];
        let encoded: Vec<String> = names.iter().map(|n| encode_name(n)).collect();
        let unique: std::collections::BTreeSet<String> =
            encoded.iter().map(|e| e.to_ascii_lowercase()).collect();
        assert_eq!(unique.len(), names.len(), "{encoded:?}");
        assert_eq!(encode_name("twitch-main"), "twitch-main");
        assert_eq!(encode_name("a b"), "a%20b");
        assert_eq!(encode_name("a_b"), "a%5fb");
        for e in &encoded {
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-%".contains(&b)),
                "{e}"
            );
        }
    }

    #[test]
    fn two_names_that_once_shared_a_file_keep_their_own_entries() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        journal.record("a b", &captures("of a b")).unwrap();
        journal.record("a_b", &captures("of a_b")).unwrap();
        assert_eq!(journal.stale("a b").unwrap().captures, captures("of a b"));
        assert_eq!(journal.stale("a_b").unwrap().captures, captures("of a_b"));
        journal.clear("a b");
        assert_eq!(journal.stale("a b"), None);
        assert_eq!(journal.stale("a_b").unwrap().captures, captures("of a_b"));
    }

    #[test]
    fn an_entry_for_another_destination_is_not_believed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        journal.record("other", &captures("not yours")).unwrap();
        fs::copy(journal.path("other"), journal.path("mine")).unwrap();
        assert_eq!(journal.stale("mine"), None);
        // Before the one-to-one names, "a b" was kept as a_b.json: read, for
        // its own destination only.
        journal.record("a b", &captures("old")).unwrap();
        fs::rename(journal.path("a b"), dir.path().join("a_b.json")).unwrap();
        assert_eq!(journal.stale("a_b"), None);
        assert_eq!(journal.stale("a b").unwrap().captures, captures("old"));
        journal.clear("a b");
        assert!(!dir.path().join("a_b.json").exists());
    }

    #[test]
    fn very_long_names_stay_one_to_one_within_file_name_limits() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        let long = "Трансляция".repeat(6); // 60 letters, 120 bytes, 360 encoded
        let longer = format!("{long}я");
        journal.record(&long, &captures("long")).unwrap();
        journal.record(&longer, &captures("longer")).unwrap();
        for name in [&long, &longer] {
            let path = journal.path(name);
            assert!(path
                .strip_prefix(dir.path())
                .unwrap()
                .iter()
                .all(|part| part.len() <= NAME_CHUNK + 5));
        }
        assert_eq!(journal.stale(&long).unwrap().captures, captures("long"));
        journal.clear(&long);
        journal.clear(&longer);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_private_and_links_are_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path().join("sessions"));
        journal.record("rooms", &captures("rs_1")).unwrap();
        let mode = fs::metadata(journal.path("rooms"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let dir_mode = fs::metadata(dir.path().join("sessions"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o077, 0, "{dir_mode:o}");

        // Someone else's entry (planted through a link here) is ignored.
        let elsewhere = dir.path().join("planted.json");
        fs::rename(journal.path("rooms"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, journal.path("rooms")).unwrap();
        assert_eq!(journal.stale("rooms"), None);
    }

    #[cfg(unix)]
    #[test]
    fn an_entry_owned_by_another_user_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        journal.record("rooms", &captures("rs_1")).unwrap();
        assert!(journal.stale("rooms").is_some());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Root can hand the file to another user: then it is not ours.
            std::os::unix::fs::chown(journal.path("rooms"), Some(65_534), Some(65_534)).unwrap();
            assert_eq!(journal.stale("rooms"), None);
        } else {
            // Elsewhere a root-owned file stands in for someone else's.
            let meta = fs::metadata("/etc/passwd").unwrap();
            assert!(!owned_by_user(&meta));
        }
    }

    #[test]
    fn copy_moves_an_entry_to_a_new_name_and_clears_an_orphan() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        journal.record("old", &captures("open")).unwrap();
        journal.copy("old", "new").unwrap();
        let moved = journal.stale("new").unwrap();
        assert_eq!(
            (moved.destination.as_str(), moved.captures),
            ("new", captures("open"))
        );
        // Until the old one is cleared, both are there: nothing is lost.
        assert!(journal.stale("old").is_some());
        journal.clear("old");
        // A name with no entry leaves none behind at the new name.
        journal.record("orphan", &captures("left over")).unwrap();
        journal.copy("nothing", "orphan").unwrap();
        assert_eq!(journal.stale("orphan"), None);
    }
}
