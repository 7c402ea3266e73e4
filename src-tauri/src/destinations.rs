//! The destinations and keys view's commands, over the engine's store (the
//! same one `onair keys` uses). A key reaches the window only through
//! `reveal_key`, after the creator confirms in a dialog of the shell's own
//! (see `reveal`); copying goes straight from the keychain to the clipboard
//! without passing through the window. Every call reaches the keychain,
//! whose unlock prompt can wait minutes: all run off the main thread.

use std::path::PathBuf;

use onair_engine::cancel::Cancel;
use onair_engine::check::{self, LinkReport};
use onair_engine::keys::{
    DestinationEdit, DestinationOptions, DestinationSummary, Keys, NewDestination, ObsImported,
};
use onair_engine::preset::{self, Preset, PresetDestination};
use onair_engine::secret::Secret;
use onair_engine::{ErrorCode, OnairError};
use serde::Serialize;
use tauri::AppHandle;

use crate::commands::{off_main, open_outside, studio};

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

/// The platforms Onair knows (presets/platforms.json).
#[tauri::command]
#[specta::specta]
pub fn list_presets() -> Vec<Preset> {
    preset::all().to_vec()
}

/// The URL, status endpoint and options a destination from `preset` gets,
/// with `fill` for a host the preset leaves open: the form shows them
/// before anything is saved, and `onair keys add --preset` makes the same.
#[tauri::command]
#[specta::specta]
pub fn preset_destination(
    preset: String,
    region: Option<u32>,
    fill: Option<String>,
) -> Result<PresetDestination, OnairError> {
    preset::find(&preset)?.destination(
        region.map(|r| r as usize),
        fill.as_deref(),
        DestinationOptions::default(),
        None,
    )
}

/// Opens the page where the preset's platform shows the stream key. Only
/// addresses from the preset file are opened, never one the page passes.
#[tauri::command]
#[specta::specta]
pub fn open_key_page(preset: String, fill: Option<String>) -> Result<(), OnairError> {
    let made = preset_destination(preset, None, fill)?;
    if let Some(page) = made.key_page {
        open_outside(std::ffi::OsStr::new(&page));
    }
    Ok(())
}

/// Measures the link to a saved destination without going public, for
/// the size, frame rate and bitrate in the settings (see `onair check`).
#[tauri::command]
#[specta::specta]
pub async fn check_destination(app: AppHandle, name: String) -> Result<LinkReport, OnairError> {
    let studio = studio(&app);
    let s = studio.settings();
    // A check shares the link with the stream, and a LiveKit check would
    // join the room as a second you (the server sends the first away).
    if studio.is_on_air() && s.destinations.contains(&name) {
        return Err(OnairError::new(
            ErrorCode::InvalidDestination,
            format!("{name} is live now, so its link is not checked: its health chip shows how it is doing."),
        ));
    }
    off_main(move || {
        check::check_destination(
            &name,
            (s.width, s.height),
            s.fps,
            s.video_kbps,
            &Cancel::new(),
        )
    })
    .await
}
