//! Saved destinations and their secrets, managed offline.
//!
//! A destination is non-secret metadata in a config file (`config`) plus one
//! secret in the OS keychain (`keychain`). This module keeps the two in step
//! and is the only API the CLI and the desktop app use: add, list, show,
//! reveal, rename, rotate, remove, import from OBS, and `resolve` a DEST
//! typed by a creator into something to go live with.

pub mod config;
pub mod keychain;
pub mod obs;
pub mod options;
pub mod url;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::destination::Destination;
use crate::error::{ErrorCode, OnairError};
use crate::redact::redact_url;
use crate::secret::Secret;

pub use config::{ConfigError, ConfigStore};
pub use keychain::{Keychain, KeychainError, MemoryKeychain, OsKeychain};
pub use obs::{ObsError, ObsService};
pub use options::{DestinationOptions, LiveKitOptions, OptionsError, StatusOptions};
pub use url::{DestinationKind, UrlError};

use crate::platform::hooks::PlatformHooks;
use crate::platform::ingest_key_account;
use crate::platform::journal::Journal;

/// One saved destination as the config file stores it. Never a secret here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SavedDestination {
    pub name: String,
    pub kind: DestinationKind,
    /// Without any key: `rtmp://host/app`, never `rtmp://host/app/KEY`.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    #[serde(default, skip_serializing_if = "DestinationOptions::is_empty")]
    pub options: DestinationOptions,
    /// The creator's platform: hooks for its session, token or ingest key,
    /// and status. The destination's secret is then the platform's API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "specta", specta(skip))]
    pub platform: Option<PlatformHooks>,
}

/// What `add` needs besides the secret.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewDestination {
    pub name: String,
    /// May still carry a pasted key (`rtmp://host/app/KEY`); it is split off.
    pub url: String,
    pub token_url: Option<String>,
    pub status_url: Option<String>,
    /// Non-secret settings, checked when saved.
    #[serde(default)]
    pub options: DestinationOptions,
    #[serde(default)]
    #[cfg_attr(feature = "specta", specta(skip))]
    pub platform: Option<PlatformHooks>,
}

impl std::fmt::Debug for NewDestination {
    // The URL may still hold a pasted key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDestination")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("token_url", &self.token_url.as_deref().map(redact_url))
            .field("status_url", &self.status_url.as_deref().map(redact_url))
            .finish()
    }
}

/// What an edit changes: everything but the name (`rename`), the kind
/// (add another destination) and the secret (`rotate`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DestinationEdit {
    /// As shown (redacted) means unchanged. A key pasted inside replaces the stored one.
    pub url: String,
    pub token_url: Option<String>,
    pub status_url: Option<String>,
    #[serde(default)]
    pub options: DestinationOptions,
}

impl std::fmt::Debug for DestinationEdit {
    // The URL may still hold a pasted key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationEdit")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// Whether a destination's secret is in the keychain, shown masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyState {
    Stored {
        masked: String,
    },
    Missing,
    /// Local recordings need no secret.
    NotNeeded,
}

/// A destination as it may be shown anywhere: every URL redacted, the key masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DestinationSummary {
    pub name: String,
    pub kind: DestinationKind,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    #[serde(skip_serializing_if = "DestinationOptions::is_empty")]
    pub options: DestinationOptions,
    pub key: KeyState,
}

impl DestinationSummary {
    fn new(saved: &SavedDestination, key: KeyState) -> DestinationSummary {
        DestinationSummary {
            name: saved.name.clone(),
            kind: saved.kind,
            url: redact_url(&saved.url),
            token_url: saved.token_url.as_deref().map(redact_url),
            status_url: saved.status_url.as_deref().map(redact_url),
            options: saved.options.clone(),
            key,
        }
    }
}

/// The outcome of an OBS import, for the creator to read (no key in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ObsImported {
    pub service: String,
    pub profile: String,
    pub destination: DestinationSummary,
}

/// A DEST ready to go live with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub destination: Destination,
    pub secret: Option<Secret>,
    /// The saved destination, when DEST was a name.
    pub saved: Option<SavedDestination>,
}

/// Everything that can go wrong managing destinations, by layer.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Keychain(#[from] KeychainError),
    #[error(transparent)]
    Obs(#[from] ObsError),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    Unusable(String),
    #[error("A destination called {0:?} already exists. Pick another name, or remove it first: onair keys rm {0:?}.")]
    NameTaken(String),
    #[error("There is no saved destination called {name:?}. {}", saved_names_hint(.known))]
    UnknownName { name: String, known: Vec<String> },
    #[error("The keychain has no key for {0:?}. Store one with: onair keys rotate {0:?}.")]
    KeyMissing(String),
    #[error("{0:?} is a local recording; it has no key.")]
    NoKeyForFile(String),
    #[error("The key is empty. Paste the stream key from your platform's dashboard.")]
    EmptySecret,
    #[error("What was given as the key is a URL for another server ({0}). Paste only the stream key, or the full URL of this destination.")]
    KeyIsOtherUrl(String),
}

fn saved_names_hint(known: &[String]) -> String {
    if known.is_empty() {
        "No destinations are saved yet; add one with: onair keys add NAME --url URL.".into()
    } else {
        format!("Saved destinations: {}.", known.join(", "))
    }
}

impl KeysError {
    /// Mistakes in what was typed (exit status 2 in the CLI), as opposed to
    /// failures of the machine or the keychain.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            KeysError::InvalidName(_)
                | KeysError::NameTaken(_)
                | KeysError::UnknownName { .. }
                | KeysError::NoKeyForFile(_)
                | KeysError::EmptySecret
                | KeysError::KeyIsOtherUrl(_)
                | KeysError::Url(_)
                | KeysError::Options(_)
                | KeysError::Unusable(_)
        )
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            KeysError::Keychain(_) => ErrorCode::KeychainUnavailable,
            KeysError::KeyMissing(_) => ErrorCode::KeyMissing,
            // A config file that cannot be read or written is the machine's fault...
            KeysError::Config(ConfigError::Io { .. } | ConfigError::NoConfigDir) => {
                ErrorCode::Internal
            }
            // ...one whose content is unusable means the saved destinations are.
            KeysError::Config(ConfigError::Corrupt { .. } | ConfigError::NewerFormat { .. }) => {
                ErrorCode::InvalidDestination
            }
            KeysError::Obs(ObsError::Unreadable { .. }) => ErrorCode::Internal,
            _ => ErrorCode::InvalidDestination,
        }
    }
}

impl From<KeysError> for OnairError {
    fn from(e: KeysError) -> OnairError {
        OnairError::new(e.code(), e.to_string())
    }
}

/// Destination names are typed on command lines and shown in menus: letters,
/// digits, space, `-`, `_`, `.`; never anything that looks like a URL.
pub fn check_name(name: &str) -> Result<(), KeysError> {
    let bad = |why: &str| {
        Err(KeysError::InvalidName(format!(
            "{name:?} cannot be a destination name: {why}"
        )))
    };
    if name.trim().is_empty() {
        return bad("it is empty.");
    }
    if name != name.trim() {
        return bad("it starts or ends with a space.");
    }
    if name.chars().count() > 64 {
        return bad("it is longer than 64 characters.");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')))
    {
        return bad(&format!(
            "use letters, digits, spaces, '-', '_' or '.', not {c:?}."
        ));
    }
    Ok(())
}

/// Destinations and their keys: the config file and a keychain kept in step.
pub struct Keys {
    config: ConfigStore,
    keychain: Box<dyn Keychain>,
}

impl Keys {
    /// The user's destinations file and the OS keychain.
    pub fn open() -> Result<Keys, KeysError> {
        Ok(Keys::new(
            ConfigStore::default_location()?,
            Box::new(OsKeychain::new()),
        ))
    }

    pub fn new(config: ConfigStore, keychain: Box<dyn Keychain>) -> Keys {
        Keys { config, keychain }
    }

    pub fn config(&self) -> &ConfigStore {
        &self.config
    }

    /// Saves a destination. The secret goes to the keychain first, so a
    /// keychain failure leaves nothing behind; a key pasted inside the URL
    /// is used when `secret` is None.
    pub fn add(
        &self,
        new: NewDestination,
        secret: Option<Secret>,
    ) -> Result<DestinationSummary, KeysError> {
        check_name(&new.name)?;
        let split = url::split_key(&new.url);
        let kind = url::infer_kind(&split.url)?;
        url::check_no_credentials(&split.url)?;
        new.options.check(kind)?;
        for endpoint in [&new.token_url, &new.status_url].into_iter().flatten() {
            url::check_no_credentials(endpoint)?;
        }
        if let Some(hooks) = &new.platform {
            for hook in hooks.declared() {
                url::check_no_credentials(&hook.url)?;
            }
        }
        check_secret_transport(
            &new.name,
            kind,
            &split.url,
            new.token_url.as_deref(),
            new.platform.as_ref(),
        )?;
        let secret = match (kind.needs_secret(), secret.or(split.key)) {
            (false, _) => None,
            (true, Some(s)) => Some(secret_for(&split.url, s)?),
            (true, None) => return Err(KeysError::EmptySecret),
        };
        let saved = SavedDestination {
            name: new.name.clone(),
            kind,
            url: split.url,
            token_url: new.token_url,
            status_url: new.status_url,
            options: new.options,
            platform: new.platform,
        };
        self.config.update(|destinations| {
            if destinations.iter().any(|d| d.name == saved.name) {
                return Err(KeysError::NameTaken(saved.name.clone()));
            }
            if let Some(secret) = &secret {
                self.keychain.set(&saved.name, secret)?;
            }
            if saved.platform.as_ref().is_some_and(|p| p.ingress.is_some()) {
                // A new destination has been handed no ingest key yet: one
                // left under its name (by an older Onair's rename) belongs
                // to another platform.
                self.keychain.delete(&ingest_key_account(&saved.name))?;
            }
            destinations.push(saved.clone());
            Ok(())
        })?;
        Ok(DestinationSummary::new(
            &saved,
            key_state(kind, secret.as_ref()),
        ))
    }

    /// Every saved destination, keys masked. Reads the keychain to say which
    /// keys are there.
    pub fn list(&self) -> Result<Vec<DestinationSummary>, KeysError> {
        self.config
            .read()?
            .iter()
            .map(|saved| self.summarize(saved))
            .collect()
    }

    pub fn show(&self, name: &str) -> Result<DestinationSummary, KeysError> {
        self.summarize(&self.find(name)?)
    }

    /// The destination and its key in clear, for `show --reveal`.
    pub fn reveal(&self, name: &str) -> Result<(DestinationSummary, Secret), KeysError> {
        let saved = self.find(name)?;
        if !saved.kind.needs_secret() {
            return Err(KeysError::NoKeyForFile(saved.name));
        }
        let secret = self
            .keychain
            .get(&saved.name)?
            .ok_or_else(|| KeysError::KeyMissing(saved.name.clone()))?;
        Ok((
            DestinationSummary::new(&saved, key_state(saved.kind, Some(&secret))),
            secret,
        ))
    }

    /// Renames a destination. Everything kept under its name moves with it:
    /// its key, the ingest key its platform handed out, and the journal of
    /// a platform session left open. Each is copied first and the old one
    /// deleted only once the config names the new entry, so a failure at
    /// any step loses nothing (and leaves no copy behind under the new name).
    pub fn rename(&self, old: &str, new: &str) -> Result<DestinationSummary, KeysError> {
        check_name(new)?;
        let journal = self.journal();
        let mut moved = Vec::new();
        let mut main_key = None;
        let renamed = self.config.update(|destinations| {
            if destinations.iter().any(|d| d.name == new) {
                return Err(KeysError::NameTaken(new.to_string()));
            }
            let index = index_of(destinations, old)?;
            let saved = &mut destinations[index];
            // A recording has no secrets (and needs no keychain to be renamed).
            let accounts = match saved.kind.needs_secret() {
                true => vec![
                    (old.to_string(), new.to_string()),
                    (ingest_key_account(old), ingest_key_account(new)),
                ],
                false => Vec::new(),
            };
            let copied = (|| {
                for (from, to) in &accounts {
                    // The new name takes exactly the old one's secrets: an
                    // orphan left under it by someone else is not inherited.
                    match self.keychain.get(from)? {
                        Some(secret) => {
                            self.keychain.set(to, &secret)?;
                            moved.push(from.clone());
                            if from == old {
                                main_key = Some(secret);
                            }
                        }
                        None => {
                            self.keychain.delete(to)?;
                        }
                    }
                }
                journal.copy(old, new)?;
                Ok::<_, KeysError>(())
            })();
            if let Err(e) = copied {
                for (from, to) in &accounts {
                    if moved.contains(from) {
                        let _ = self.keychain.delete(to);
                    }
                }
                moved.clear();
                journal.clear(new);
                return Err(e);
            }
            saved.name = new.to_string();
            Ok(saved.clone())
        })?;
        // Only once the config names the new entry are the old ones dropped.
        let mut dropped = Ok(());
        for account in &moved {
            if let Err(e) = self.keychain.delete(account) {
                dropped = dropped.and(Err(e));
            }
        }
        journal.clear(old);
        dropped?;
        Ok(DestinationSummary::new(
            &renamed,
            key_state(renamed.kind, main_key.as_ref()),
        ))
    }

    /// Changes a destination's URL, endpoints and options. The kind stays:
    /// a URL of another kind is refused.
    pub fn edit(&self, name: &str, edit: DestinationEdit) -> Result<DestinationSummary, KeysError> {
        for endpoint in [&edit.token_url, &edit.status_url].into_iter().flatten() {
            url::check_no_credentials(endpoint)?;
        }
        let mut pasted_key = None;
        let edited = self.config.update(|destinations| {
            let index = index_of(destinations, name)?;
            let saved = &mut destinations[index];
            // The kind never changes in an edit (a URL of another is refused below).
            edit.options.check(saved.kind)?;
            let new_url = match edit.url != redact_url(&saved.url) {
                true => url::split_key(&edit.url).url,
                false => saved.url.clone(),
            };
            check_secret_transport(
                name,
                saved.kind,
                &new_url,
                edit.token_url.as_deref(),
                saved.platform.as_ref(),
            )?;
            if edit.url != redact_url(&saved.url) {
                let split = url::split_key(&edit.url);
                let kind = url::infer_kind(&split.url)?;
                url::check_no_credentials(&split.url)?;
                if kind != saved.kind {
                    return Err(KeysError::Unusable(format!(
                        "{name} is a {} destination and the new URL is {}. Add a new destination for it instead.",
                        saved.kind.as_str(),
                        kind.as_str()
                    )));
                }
                if let (true, Some(key)) = (kind.needs_secret(), split.key) {
                    let key = secret_for(&split.url, key)?;
                    self.keychain.set(name, &key)?;
                    pasted_key = Some(key);
                }
                saved.url = split.url;
            }
            saved.token_url = edit.token_url.clone();
            saved.status_url = edit.status_url.clone();
            saved.options = edit.options.clone();
            Ok(saved.clone())
        })?;
        match pasted_key {
            Some(key) => Ok(DestinationSummary::new(
                &edited,
                key_state(edited.kind, Some(&key)),
            )),
            None => self.summarize(&edited),
        }
    }

    /// Replaces a destination's key (or stores the missing one).
    pub fn rotate(&self, name: &str, secret: Secret) -> Result<DestinationSummary, KeysError> {
        let saved = self.find(name)?;
        if !saved.kind.needs_secret() {
            return Err(KeysError::NoKeyForFile(saved.name));
        }
        let secret = secret_for(&saved.url, secret)?;
        self.keychain.set(&saved.name, &secret)?;
        Ok(DestinationSummary::new(
            &saved,
            key_state(saved.kind, Some(&secret)),
        ))
    }

    /// Removes a destination, its keychain entries and its journal. The
    /// keychain goes first: if it cannot be reached nothing is removed, so
    /// no key is orphaned.
    pub fn remove(&self, name: &str) -> Result<SavedDestination, KeysError> {
        let removed = self.config.update(|destinations| -> Result<_, KeysError> {
            let index = index_of(destinations, name)?;
            if destinations[index].kind.needs_secret() {
                self.keychain.delete(name)?;
                // Also without hooks now: an edit may have dropped the platform.
                self.keychain.delete(&ingest_key_account(name))?;
            }
            Ok(destinations.remove(index))
        })?;
        // A session left open here can no longer be ended by Onair; a new
        // destination of this name must not end it with its own hooks.
        self.journal().clear(name);
        Ok(removed)
    }

    /// The crash journal of platform sessions, beside the config file.
    fn journal(&self) -> Journal {
        Journal::in_config_dir(self.config.dir())
    }

    /// Imports the stream settings of an OBS profile (`dir` as for
    /// `obs::find_profile`; None = OBS's own settings folder).
    pub fn import_obs(
        &self,
        dir: Option<&Path>,
        name: Option<&str>,
    ) -> Result<ObsImported, KeysError> {
        let obs_dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => obs::obs_config_dir().ok_or(ConfigError::NoConfigDir)?,
        };
        let profile = obs::find_profile(&obs_dir)?;
        let service = obs::read_service(&profile)?;
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| service.suggested_name());
        let destination = self.add(
            NewDestination {
                name,
                url: service.url.clone(),
                ..Default::default()
            },
            Some(service.key.clone()),
        )?;
        let profile_name = profile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(ObsImported {
            service: service.service,
            profile: profile_name,
            destination,
        })
    }

    /// Turns DEST into something to go live with: `file:PATH` or a URL is
    /// used as typed (a key inside an RTMP URL is split off); anything else
    /// is a saved destination's name, whose key comes from the keychain.
    pub fn resolve(&self, dest: &str) -> Result<Resolved, KeysError> {
        if let Some(adhoc) = resolve_url(dest) {
            return adhoc;
        }
        let saved = self.find(dest.trim())?;
        let secret = if saved.kind.needs_secret() {
            Some(
                self.keychain
                    .get(&saved.name)?
                    .ok_or_else(|| KeysError::KeyMissing(saved.name.clone()))?,
            )
        } else {
            None
        };
        Ok(Resolved {
            destination: parse_destination(&saved.url)?,
            secret,
            saved: Some(saved),
        })
    }

    fn find(&self, name: &str) -> Result<SavedDestination, KeysError> {
        let destinations = self.config.read()?;
        Ok(destinations[index_of(&destinations, name)?].clone())
    }

    fn summarize(&self, saved: &SavedDestination) -> Result<DestinationSummary, KeysError> {
        let secret = if saved.kind.needs_secret() {
            self.keychain.get(&saved.name)?
        } else {
            None
        };
        Ok(DestinationSummary::new(
            saved,
            key_state(saved.kind, secret.as_ref()),
        ))
    }
}

/// A destination whose secret would travel without encryption is refused
/// when it is saved, not only at Go Live: its LiveKit or WHIP URL (which gets
/// the token), its token URL (the bearer) and its platform hooks that carry
/// the secret need TLS, or this computer (local servers keep working).
/// RTMP is not checked: plain rtmp:// carries its key in clear by design.
fn check_secret_transport(
    name: &str,
    kind: DestinationKind,
    url: &str,
    token_url: Option<&str>,
    platform: Option<&PlatformHooks>,
) -> Result<(), KeysError> {
    use crate::net::policy::secret_may_go_to;
    // A URL of another kind is refused by the caller with its own words.
    let same_kind = url::infer_kind(url).is_ok_and(|k| k == kind);
    if same_kind && matches!(kind, DestinationKind::Livekit | DestinationKind::Whip) {
        secret_may_go_to(url).map_err(|e| {
            KeysError::Unusable(format!(
                "Onair would send {name}'s token without encryption: {e}."
            ))
        })?;
    }
    if let Some(token_url) = token_url {
        crate::livekit::credentials::check_token_url(token_url)
            .map_err(|e| KeysError::Unusable(e.message))?;
    }
    if let Some(hooks) = platform {
        crate::platform::client::check_secret_transport(hooks, name)
            .map_err(|e| KeysError::Unusable(e.message))?;
    }
    Ok(())
}

/// `Keys::resolve` for callers that have not opened anything: ad-hoc URLs
/// never touch the config file or the keychain.
pub fn resolve(dest: &str) -> Result<Resolved, KeysError> {
    match resolve_url(dest) {
        Some(adhoc) => adhoc,
        None => Keys::open()?.resolve(dest),
    }
}

/// DEST without its secret, for what needs only where it goes (the link
/// check): the keychain is not asked, so a locked one does not stop it.
pub fn locate(dest: &str) -> Result<Resolved, KeysError> {
    if let Some(adhoc) = resolve_url(dest) {
        return adhoc.map(|r| Resolved { secret: None, ..r });
    }
    let saved = Keys::open()?.find(dest.trim())?;
    Ok(Resolved {
        destination: parse_destination(&saved.url)?,
        secret: None,
        saved: Some(saved),
    })
}

/// DEST as a URL or `file:` path, or None when it is a name.
fn resolve_url(dest: &str) -> Option<Result<Resolved, KeysError>> {
    let dest = dest.trim();
    if !(dest.starts_with("file:") || dest.contains("://")) {
        return None;
    }
    let split = url::split_key(dest);
    Some(parse_destination(&split.url).map(|destination| Resolved {
        destination,
        secret: split.key,
        saved: None,
    }))
}

fn parse_destination(url: &str) -> Result<Destination, KeysError> {
    Ok(Destination::from_url(url)?)
}

/// The secret to store for a destination at `url`. Creators often paste the
/// whole `rtmp://host/app/KEY` where the key alone was asked for: when it is
/// this destination's URL, the key is taken from it.
fn secret_for(url: &str, secret: Secret) -> Result<Secret, KeysError> {
    let text = secret.expose().trim();
    if text.is_empty() {
        return Err(KeysError::EmptySecret);
    }
    if !text.contains("://") {
        // Keys never start or end with spaces; pasted ones often do.
        return Ok(Secret::new(text));
    }
    let pasted = url::split_key(text);
    match pasted.key {
        Some(key) if pasted.url.eq_ignore_ascii_case(url) => Ok(key),
        _ => Err(KeysError::KeyIsOtherUrl(redact_url(&pasted.url))),
    }
}

/// Where `name` is, or the error that lists the names there are.
fn index_of(destinations: &[SavedDestination], name: &str) -> Result<usize, KeysError> {
    destinations
        .iter()
        .position(|d| d.name == name)
        .ok_or_else(|| KeysError::UnknownName {
            name: name.to_string(),
            known: destinations.iter().map(|d| d.name.clone()).collect(),
        })
}

fn key_state(kind: DestinationKind, secret: Option<&Secret>) -> KeyState {
    match (kind.needs_secret(), secret) {
        (false, _) => KeyState::NotNeeded,
        (true, Some(s)) => KeyState::Stored { masked: s.masked() },
        (true, None) => KeyState::Missing,
    }
}

#[cfg(test)]
mod tests;
