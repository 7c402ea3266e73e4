//! The desktop portal's restore token, kept beside `settings.json` in
//! Onair's private folder, so the creator chooses the screen once: a later
//! start hands the token back and the desktop shares the same screen without
//! asking. A start may give a new token, written over the old one.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::keys::config::{write_private_file, ConfigError, ConfigStore};

const FILE_NAME: &str = "screen-share.json";

/// Longer than any portal issues (they are UUIDs); a bigger value in the
/// file is not a token.
const MAX_TOKEN_LEN: usize = 256;

#[derive(Serialize, Deserialize)]
struct ShareFile {
    restore_token: String,
}

/// Where the token lives; the only code that touches that file.
#[derive(Debug, Clone)]
pub struct ShareTokens {
    dir: PathBuf,
}

impl ShareTokens {
    /// In Onair's config folder (where the destinations are), if this user
    /// has one.
    pub fn default_location() -> Option<ShareTokens> {
        ConfigStore::default_location()
            .ok()
            .map(|store| ShareTokens::in_dir(store.dir().to_path_buf()))
    }

    pub fn in_dir(dir: PathBuf) -> ShareTokens {
        ShareTokens { dir }
    }

    /// The token to hand back, if there is a usable one. An unreadable or
    /// odd file is no token: the desktop asks again, which loses nothing.
    pub fn read(&self) -> Option<String> {
        let text = std::fs::read(self.dir.join(FILE_NAME)).ok()?;
        let file: ShareFile = serde_json::from_slice(&text).ok()?;
        valid(&file.restore_token).then_some(file.restore_token)
    }

    pub fn write(&self, token: &str) -> Result<(), ConfigError> {
        if !valid(token) {
            return Ok(());
        }
        let file = ShareFile {
            restore_token: token.to_string(),
        };
        let text = serde_json::to_vec_pretty(&file).expect("a string serialises");
        write_private_file(&self.dir, FILE_NAME, &text)
    }
}

fn valid(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_privately_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ShareTokens::in_dir(dir.path().join("onair"));
        assert_eq!(tokens.read(), None);
        tokens.write("3f1c0b52-first").unwrap();
        tokens.write("9a77e0d1-second").unwrap();
        assert_eq!(tokens.read().as_deref(), Some("9a77e0d1-second"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("onair").join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_or_odd_file_is_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ShareTokens::in_dir(dir.path().to_path_buf());
        std::fs::write(dir.path().join(FILE_NAME), "{not json").unwrap();
        assert_eq!(tokens.read(), None);
        std::fs::write(
            dir.path().join(FILE_NAME),
            r#"{"restore_token": "two words"}"#,
        )
        .unwrap();
        assert_eq!(tokens.read(), None);
        let long = "x".repeat(MAX_TOKEN_LEN + 1);
        tokens.write(&long).unwrap();
        assert_eq!(tokens.read(), None);
    }
}
