//! The destinations and keys view's commands, over the engine's store (the
//! same one `onair keys` uses). A key reaches the window only through
//! `reveal_key`, on an explicit click; copying goes straight from the
//! keychain to the clipboard without passing through the window.

use std::path::PathBuf;

use onair_engine::keys::{DestinationEdit, DestinationSummary, Keys, NewDestination, ObsImported};
use onair_engine::secret::Secret;
use onair_engine::{ErrorCode, OnairError};
use serde::Serialize;

fn keys() -> Result<Keys, OnairError> {
    Ok(Keys::open()?)
}

/// A secret the window may read, but never log or print: key names and
/// messages stay generic.
fn secret_from(text: Option<String>) -> Option<Secret> {
    text.filter(|t| !t.trim().is_empty()).map(Secret::new)
}

#[tauri::command]
#[specta::specta]
pub fn list_destinations() -> Result<Vec<DestinationSummary>, OnairError> {
    Ok(keys()?.list()?)
}

/// Saves a destination; `key` goes to the keychain (a key pasted in the URL
/// is split off there too).
#[tauri::command]
#[specta::specta]
pub fn add_destination(
    destination: NewDestination,
    key: Option<String>,
) -> Result<DestinationSummary, OnairError> {
    Ok(keys()?.add(destination, secret_from(key))?)
}

/// Renames (when `new_name` differs) and changes the URL, endpoints and options.
#[tauri::command]
#[specta::specta]
pub fn edit_destination(
    name: String,
    new_name: String,
    edit: DestinationEdit,
) -> Result<DestinationSummary, OnairError> {
    let keys = keys()?;
    if new_name != name {
        keys.rename(&name, &new_name)?;
    }
    Ok(keys.edit(&new_name, edit)?)
}

#[tauri::command]
#[specta::specta]
pub fn remove_destination(name: String) -> Result<(), OnairError> {
    keys()?.remove(&name)?;
    Ok(())
}

/// A key shown on request; the window hides it again after a few seconds.
#[derive(Serialize, specta::Type)]
pub struct RevealedKey {
    pub value: String,
}

#[tauri::command]
#[specta::specta]
pub fn reveal_key(name: String) -> Result<RevealedKey, OnairError> {
    let (_, secret) = keys()?.reveal(&name)?;
    Ok(RevealedKey {
        value: secret.expose().to_string(),
    })
}

/// Puts the key on the clipboard.
#[tauri::command]
#[specta::specta]
pub fn copy_key(name: String) -> Result<(), OnairError> {
    let (_, secret) = keys()?.reveal(&name)?;
    crate::clipboard::put(secret.expose())
}

#[tauri::command]
#[specta::specta]
pub fn rotate_key(name: String, key: String) -> Result<DestinationSummary, OnairError> {
    let secret = secret_from(Some(key)).ok_or_else(|| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            "The new key is empty. Paste the stream key from your platform's dashboard.",
        )
    })?;
    Ok(keys()?.rotate(&name, secret)?)
}

/// Imports an OBS profile's stream settings; `dir` None is OBS's own folder.
#[tauri::command]
#[specta::specta]
pub fn import_obs(dir: Option<String>, name: Option<String>) -> Result<ObsImported, OnairError> {
    let dir = dir.filter(|d| !d.trim().is_empty()).map(PathBuf::from);
    let name = name.filter(|n| !n.trim().is_empty());
    Ok(keys()?.import_obs(dir.as_deref(), name.as_deref())?)
}
