//! What Onair must remember across a crash: a platform session it opened
//! and has not ended yet. Written when the start hook succeeds, removed once
//! the end hook has run; a file left behind by a dead process tells the next
//! Go Live to end that session first, so no room stays stuck.
//!
//! Only the values the end hook needs (session ids and the like) are kept:
//! never a token or a key.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

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

    fn path(&self, destination: &str) -> PathBuf {
        // Destination names are letters, digits, spaces and -_. only.
        self.dir
            .join(format!("{}.json", destination.replace(' ', "_")))
    }

    /// Remembers an open platform session of this process.
    pub fn record(
        &self,
        destination: &str,
        captures: &BTreeMap<String, String>,
    ) -> std::io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let entry = Entry {
            destination: destination.to_string(),
            pid: std::process::id(),
            started_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            captures: captures.clone(),
        };
        let path = self.path(destination);
        let temp = path.with_extension("json.tmp");
        let mut file = fs::File::create(&temp)?;
        file.write_all(&serde_json::to_vec_pretty(&entry).expect("entries serialize"))?;
        file.sync_all()?;
        fs::rename(temp, path)
    }

    pub fn clear(&self, destination: &str) {
        let _ = fs::remove_file(self.path(destination));
    }

    /// A session left open by a process that is gone. A live process's
    /// entry is not stale: that session is still someone's stream.
    pub fn stale(&self, destination: &str) -> Option<Entry> {
        let text = fs::read(self.path(destination)).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        (entry.pid == std::process::id() || !process_alive(entry.pid)).then_some(entry)
    }
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

    #[test]
    fn an_entry_of_a_dead_process_is_stale_and_clear_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::in_dir(dir.path());
        assert_eq!(journal.stale("rooms"), None);
        let captures = BTreeMap::from([("session".to_string(), "rs_1".to_string())]);
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
}
