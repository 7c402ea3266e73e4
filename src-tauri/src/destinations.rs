//! The destinations and keys view's commands, over the engine's store (the
//! same one `onair keys` uses). A key reaches the window only through
//! `reveal_key`, after the creator confirms in a dialog of the shell's own
//! (see `reveal`); copying goes straight from the keychain to the clipboard
//! without passing through the window. Every call reaches the keychain,
//! whose unlock prompt can wait minutes: all run off the main thread.

use std::path::PathBuf;

use onair_engine::keys::{DestinationEdit, DestinationSummary, Keys, NewDestination, ObsImported};
use onair_engine::secret::Secret;
use onair_engine::{ErrorCode, OnairError};
use serde::Serialize;
use tauri::AppHandle;

use crate::commands::off_main;

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
pub async fn list_destinations() -> Result<Vec<DestinationSummary>, OnairError> {
    off_main(|| Ok(keys()?.list()?)).await
}

/// Saves a destination; `key` goes to the keychain (a key pasted in the URL
/// is split off there too).
#[tauri::command]
#[specta::specta]
pub async fn add_destination(
    destination: NewDestination,
    key: Option<String>,
) -> Result<DestinationSummary, OnairError> {
    off_main(move || Ok(keys()?.add(destination, secret_from(key))?)).await
}

/// Renames (when `new_name` differs) and changes the URL, endpoints and options.
#[tauri::command]
#[specta::specta]
pub async fn edit_destination(
    name: String,
    new_name: String,
    edit: DestinationEdit,
) -> Result<DestinationSummary, OnairError> {
    off_main(move || {
        let keys = keys()?;
        if new_name != name {
            keys.rename(&name, &new_name)?;
        }
        Ok(keys.edit(&new_name, edit)?)
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn remove_destination(name: String) -> Result<(), OnairError> {
    off_main(move || {
        keys()?.remove(&name)?;
        Ok(())
    })
    .await
}

/// A key shown on request; the window hides it again after a few seconds.
#[derive(Serialize, specta::Type)]
pub struct RevealedKey {
    pub value: String,
}

/// The key, once the creator has said yes in the shell's own dialog (which
/// no script in the page can answer); `None` when they said no.
#[tauri::command]
#[specta::specta]
pub async fn reveal_key(app: AppHandle, name: String) -> Result<Option<RevealedKey>, OnairError> {
    off_main(move || {
        // The destination must exist before anyone is asked about it.
        let (_, secret) = keys()?.reveal(&name)?;
        if !crate::reveal::confirm(&app, &name)? {
            return Ok(None);
        }
        Ok(Some(RevealedKey {
            value: secret.expose().to_string(),
        }))
    })
    .await
}

/// Puts the key on the clipboard.
#[tauri::command]
#[specta::specta]
pub async fn copy_key(name: String) -> Result<(), OnairError> {
    off_main(move || {
        let (_, secret) = keys()?.reveal(&name)?;
        crate::clipboard::put(secret.expose())
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn rotate_key(name: String, key: String) -> Result<DestinationSummary, OnairError> {
    let secret = secret_from(Some(key)).ok_or_else(|| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            "The new key is empty. Paste the stream key from your platform's dashboard.",
        )
    })?;
    off_main(move || Ok(keys()?.rotate(&name, secret)?)).await
}

/// Imports an OBS profile's stream settings; `dir` None is OBS's own folder.
#[tauri::command]
#[specta::specta]
pub async fn import_obs(
    dir: Option<String>,
    name: Option<String>,
) -> Result<ObsImported, OnairError> {
    let dir = dir.filter(|d| !d.trim().is_empty()).map(PathBuf::from);
    let name = name.filter(|n| !n.trim().is_empty());
    off_main(move || Ok(keys()?.import_obs(dir.as_deref(), name.as_deref())?)).await
}
