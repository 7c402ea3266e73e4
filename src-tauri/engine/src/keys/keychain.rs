//! All of Onair's keychain code: the OS keychain through keyring-core (Secret
//! Service on Linux, the Apple keychain, the Windows credential manager), and
//! an in-memory stand-in for tests. Each secret is one keychain item, service
//! "onair", account = the destination's name.
//!
//! There is no fallback: when the keychain cannot be reached or is locked the
//! caller gets an error, never a plaintext file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use keyring_core::{CredentialStore, Error as KeyringError};

use crate::secret::Secret;

const SERVICE: &str = "onair";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No keychain service to talk to (on Linux: no session bus, or no
    /// Secret Service on it).
    #[error("The system keychain is not available ({0}). {UNAVAILABLE_HINT}")]
    Unavailable(String),
    /// The keychain is there but locked, or the user declined to unlock it.
    #[error("The system keychain is locked ({0}). Unlock it (log in to your desktop session, or open your keyring manager and unlock the login keyring), then try again.")]
    Locked(String),
    /// The keychain answered with an error of its own.
    #[error("The system keychain refused the request: {0}")]
    Failed(String),
}

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
const UNAVAILABLE_HINT: &str = "Onair keeps stream keys in the Secret Service (GNOME Keyring, KWallet): run it in your desktop session, where DBUS_SESSION_BUS_ADDRESS is set.";
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
const UNAVAILABLE_HINT: &str =
    "Onair keeps stream keys in the system keychain and cannot work without it.";

/// Where secrets are kept. Account names are destination names.
pub trait Keychain: Send + Sync {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError>;
    /// Stores `secret`, replacing any secret the account had.
    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError>;
    /// Removes the account's secret; `false` if it had none.
    fn delete(&self, account: &str) -> Result<bool, KeychainError>;
}

/// The operating system's keychain. Connects on first use, so commands that
/// never need a secret work without one.
#[derive(Default)]
pub struct OsKeychain {
    store: OnceLock<Arc<CredentialStore>>,
}

impl OsKeychain {
    pub fn new() -> OsKeychain {
        OsKeychain::default()
    }

    fn entry(&self, account: &str) -> Result<keyring_core::Entry, KeychainError> {
        let store = match self.store.get() {
            Some(store) => store,
            None => {
                let store = connect().map_err(|e| match e {
                    KeychainError::Failed(why) => KeychainError::Unavailable(why),
                    other => other,
                })?;
                self.store.get_or_init(|| store)
            }
        };
        store.build(SERVICE, account, None).map_err(classify)
    }
}

impl Keychain for OsKeychain {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        match self.entry(account)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError> {
        self.entry(account)?
            .set_password(secret.expose())
            .map_err(classify)
    }

    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(KeyringError::NoEntry) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn connect() -> Result<Arc<CredentialStore>, KeychainError> {
    let store = zbus_secret_service_keyring_store::Store::new().map_err(classify)?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn connect() -> Result<Arc<CredentialStore>, KeychainError> {
    let store = apple_native_keyring_store::keychain::Store::new().map_err(classify)?;
    Ok(store)
}

#[cfg(target_os = "windows")]
fn connect() -> Result<Arc<CredentialStore>, KeychainError> {
    let store = windows_native_keyring_store::Store::new().map_err(classify)?;
    Ok(store)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "macos",
    target_os = "windows"
)))]
fn connect() -> Result<Arc<CredentialStore>, KeychainError> {
    Err(KeychainError::Unavailable(
        "no keychain support for this operating system".into(),
    ))
}

/// Sorts keyring-core's errors into what a creator can act on. The platform
/// errors' texts name D-Bus services and paths, never a secret: secrets only
/// travel inside the (encrypted) Secret Service session.
fn classify(error: KeyringError) -> KeychainError {
    match error {
        KeyringError::NoStorageAccess(e) => KeychainError::Locked(e.to_string()),
        KeyringError::PlatformFailure(e) => {
            let text = e.to_string();
            if is_unreachable(&text) {
                KeychainError::Unavailable(text)
            } else {
                KeychainError::Failed(text)
            }
        }
        // A stored value that is not UTF-8 is someone else's item; its bytes stay unprinted.
        KeyringError::BadEncoding(_) => KeychainError::Failed("the stored key is not text".into()),
        KeyringError::BadDataFormat(_, e) => {
            KeychainError::Failed(format!("the stored key is malformed: {e}"))
        }
        other => KeychainError::Failed(other.to_string()),
    }
}

/// D-Bus failures that mean "nobody to talk to" rather than "the keychain said no".
fn is_unreachable(text: &str) -> bool {
    const SIGNS: &[&str] = &[
        "ServiceUnknown",
        "NameHasNoOwner",
        "was not provided by any .service files",
        "No such file or directory",
        "Connection refused",
        "DBUS_SESSION_BUS_ADDRESS",
        "session bus",
        "I/O error",
        "Address",
    ];
    SIGNS.iter().any(|sign| text.contains(sign))
}

/// A keychain in memory, for tests of everything above the OS keychain.
#[derive(Default)]
pub struct MemoryKeychain {
    items: Mutex<HashMap<String, Secret>>,
    failure: Mutex<Option<KeychainError>>,
}

impl MemoryKeychain {
    pub fn new() -> MemoryKeychain {
        MemoryKeychain::default()
    }

    /// Makes every later call fail with `error` (None heals it).
    pub fn fail_with(&self, error: Option<KeychainError>) {
        *self.failure.lock().unwrap() = error;
    }

    fn check(&self) -> Result<(), KeychainError> {
        match self.failure.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Keychain for MemoryKeychain {
    fn get(&self, account: &str) -> Result<Option<Secret>, KeychainError> {
        self.check()?;
        Ok(self.items.lock().unwrap().get(account).cloned())
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), KeychainError> {
        self.check()?;
        self.items
            .lock()
            .unwrap()
            .insert(account.to_string(), secret.clone());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<bool, KeychainError> {
        self.check()?;
        Ok(self.items.lock().unwrap().remove(account).is_some())
    }
}
