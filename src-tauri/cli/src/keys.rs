//! `onair keys ...`: saved destinations and their keys, all offline. Keys
//! come from stdin or a no-echo prompt, never from the command line; only
//! `show --reveal` ever prints one.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use onair_engine::keys::{
    self, DestinationOptions, DestinationSummary, KeyState, Keys, KeysError, LiveKitOptions,
    NewDestination, StatusOptions,
};
use onair_engine::platform::hooks::PlatformHooks;
use onair_engine::secret::Secret;

#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Save a destination; its key is read from stdin (or a no-echo prompt).
    Add {
        name: String,
        /// rtmp(s)://host/app, ws(s)://host, http(s)://host/whip or file:PATH.
        #[arg(long, required_unless_present = "preset")]
        url: Option<String>,
        /// A platform from `onair presets`: its ingest URL, status page and limits.
        #[arg(long, conflicts_with = "url")]
        preset: Option<String>,
        /// The preset's ingest, by its number in `onair presets --json` (default: the first).
        #[arg(long, requires = "preset")]
        region: Option<usize>,
        /// What the preset leaves to you: a self-hosted or per-account server's host, or the whole URL for "custom".
        #[arg(long, requires = "preset")]
        host: Option<String>,
        /// Where a token for this destination is fetched from.
        #[arg(long)]
        token_url: Option<String>,
        /// The platform's status endpoint (is live, viewer count).
        #[arg(long)]
        status_url: Option<String>,
        #[command(flatten)]
        options: Box<OptionFlags>,
        /// The creator's platform: a JSON file of hooks (start, token, ingress, status, end; see the README). The key asked for is then the platform's API token.
        #[arg(long, value_name = "FILE")]
        platform: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List saved destinations, keys masked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one destination, its key masked unless --reveal.
    Show {
        name: String,
        /// Print the key itself.
        #[arg(long)]
        reveal: bool,
        #[arg(long)]
        json: bool,
    },
    /// Rename a destination (its key moves with it).
    Rename { old: String, new: String },
    /// Replace a destination's key, read from stdin (or a no-echo prompt).
    Rotate { name: String },
    /// Remove a destination and its key.
    Rm { name: String },
    /// Import the stream settings of an OBS Studio profile.
    ImportObs {
        /// OBS's settings folder or one profile folder; default: OBS's current profile.
        dir: Option<PathBuf>,
        /// Name for the new destination; default: the service's name.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// A destination's settings besides its URLs (`keys::DestinationOptions`).
#[derive(Args)]
struct OptionFlags {
    /// LiveKit, self-hosted: the API key; the key asked for is then the API secret, and Onair mints its own tokens.
    #[arg(long)]
    api_key: Option<String>,
    /// LiveKit: the room this destination streams to.
    #[arg(long)]
    room: Option<String>,
    /// LiveKit: the identity minted tokens carry (default: onair).
    #[arg(long)]
    identity: Option<String>,
    /// LiveKit token URL: JSON pointer to the token in its answer (default /token).
    #[arg(long)]
    token_pointer: Option<String>,
    /// LiveKit token URL: JSON pointer to the server URL in its answer (default /url).
    #[arg(long)]
    url_pointer: Option<String>,
    /// Status URL: JSON pointer to "is live" in its answer (default /isLive).
    #[arg(long)]
    live_pointer: Option<String>,
    /// Status URL: JSON pointer to the viewer count in its answer (default /viewerCount).
    #[arg(long)]
    viewers_pointer: Option<String>,
}

impl From<OptionFlags> for DestinationOptions {
    fn from(f: OptionFlags) -> DestinationOptions {
        DestinationOptions {
            livekit: LiveKitOptions {
                room: f.room,
                api_key: f.api_key,
                identity: f.identity,
                token_pointer: f.token_pointer,
                url_pointer: f.url_pointer,
            },
            status: StatusOptions {
                live_pointer: f.live_pointer,
                viewers_pointer: f.viewers_pointer,
            },
            preset: None,
        }
    }
}

pub fn run(args: KeysArgs) -> ExitCode {
    let json = matches!(
        args.command,
        KeysCommand::Add { json: true, .. }
            | KeysCommand::List { json: true }
            | KeysCommand::Show { json: true, .. }
            | KeysCommand::ImportObs { json: true, .. }
    );
    match Keys::open().and_then(|keys| execute(&keys, args.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, json),
    }
}

/// A platform hooks file, refused whole if any part is not understood.
fn read_platform(path: &std::path::Path) -> Result<PlatformHooks, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        KeysError::Unusable(format!(
            "Cannot read the platform file {}: {e}.",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        KeysError::Unusable(format!(
            "{} is not a platform hooks file: {e}. See the README's Platform hooks section.",
            path.display()
        ))
    })
}

fn execute(keys: &Keys, command: KeysCommand) -> Result<(), KeysError> {
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::Add {
            name,
            url,
            preset,
            region,
            host,
            token_url,
            mut status_url,
            options,
            platform,
            json,
        } => {
            let platform = platform.map(|path| read_platform(&path)).transpose()?;
            let mut options = DestinationOptions::from(*options);
            let unusable = |e: onair_engine::OnairError| KeysError::Unusable(e.message);
            let found = preset.as_deref().map(onair_engine::preset::find);
            let url = match found.transpose().map_err(unusable)? {
                Some(preset) => {
                    let made = preset
                        .destination(region, host.as_deref(), options, status_url)
                        .map_err(unusable)?;
                    (options, status_url) = (made.options, made.status_url);
                    let mut err = std::io::stderr().lock();
                    if let Some(page) = &made.key_page {
                        let _ = writeln!(err, "{}: find your stream key at {page}", preset.name);
                    }
                    let _ = writeln!(err, "{}", made.limits);
                    made.url
                }
                None => url.expect("clap requires --url without --preset"),
            };
            let pasted_key = keys::url::split_key(&url).key.is_some();
            let needs_secret = keys::url::infer_kind(&url)?.needs_secret();
            let secret = if pasted_key || !needs_secret {
                None
            } else if platform.is_some() {
                Some(read_secret(&format!("Platform API token for {name}: "))?)
            } else {
                Some(read_secret(&format!("Stream key for {name}: "))?)
            };
            let added = keys.add(
                NewDestination {
                    name,
                    url,
                    token_url,
                    status_url,
                    options,
                    platform,
                },
                secret,
            )?;
            if pasted_key {
                warn_key_on_command_line(
                    "the key inside --url was moved to the keychain.",
                    "next time pass only the server URL and paste the key when asked (or pipe it on stdin).",
                );
            }
            if json {
                print_json(&mut out, &added);
            } else {
                let _ = writeln!(
                    out,
                    "Saved {} ({}, {}).",
                    added.name,
                    added.kind.as_str(),
                    added.url
                );
                if let KeyState::Stored { masked } = &added.key {
                    let _ = writeln!(out, "Its key {masked} is in the system keychain.");
                }
            }
        }
        KeysCommand::List { json } => {
            let listed = keys.list()?;
            if json {
                print_json(&mut out, &serde_json::json!({ "destinations": listed }));
            } else if listed.is_empty() {
                let _ = writeln!(
                    out,
                    "No destinations saved. Add one with: onair keys add NAME --url URL"
                );
            } else {
                print_table(&mut out, &listed);
            }
        }
        KeysCommand::Show { name, reveal, json } => {
            let (shown, secret) = if reveal {
                let (shown, secret) = keys.reveal(&name)?;
                (shown, Some(secret))
            } else {
                (keys.show(&name)?, None)
            };
            if json {
                let mut value = serde_json::to_value(&shown).expect("summary serializes");
                if let Some(secret) = &secret {
                    value["key"]["value"] = secret.expose().into();
                }
                print_json(&mut out, &value);
            } else {
                print_details(&mut out, &shown, secret.as_ref());
            }
        }
        KeysCommand::Rename { old, new } => {
            let renamed = keys.rename(&old, &new)?;
            let _ = writeln!(out, "Renamed {old} to {}.", renamed.name);
        }
        KeysCommand::Rotate { name } => {
            // Fail on an unknown name before asking for a key.
            keys.show(&name)?;
            let secret = read_secret(&format!("New stream key for {name}: "))?;
            let rotated = keys.rotate(&name, secret)?;
            if let KeyState::Stored { masked } = &rotated.key {
                let _ = writeln!(
                    out,
                    "Replaced the key for {name}; the keychain now holds {masked}."
                );
            }
        }
        KeysCommand::Rm { name } => {
            let removed = keys.remove(&name)?;
            let _ = if removed.kind.needs_secret() {
                writeln!(out, "Removed {name} and its key.")
            } else {
                writeln!(out, "Removed {name}.")
            };
        }
        KeysCommand::ImportObs { dir, name, json } => {
            let imported = keys.import_obs(dir.as_deref(), name.as_deref())?;
            if json {
                print_json(&mut out, &imported);
            } else {
                let d = &imported.destination;
                let _ = writeln!(
                    out,
                    "Imported {} from OBS profile {:?} as {} ({}, {}); its key is now in the system keychain.",
                    imported.service,
                    imported.profile,
                    d.name,
                    d.kind.as_str(),
                    d.url
                );
                let _ = writeln!(
                    out,
                    "OBS keeps its own plaintext copy in the profile's service.json; regenerate the key on your platform if that file may have been shared."
                );
            }
        }
    }
    Ok(())
}

/// Wherever a key typed on the command line is accepted: it has already
/// been seen, so say what happened to it and how to keep the next one off
/// the command line. Never repeats the key.
pub fn warn_key_on_command_line(what_happened: &str, instead: &str) {
    eprintln!(
        "note: {what_happened} Keys on a command line are visible to every user of this computer \
         (in the process list) and kept in shell history: {instead}"
    );
}

/// A key from stdin when it is piped, else from a no-echo prompt.
fn read_secret(prompt: &str) -> Result<Secret, KeysError> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        rpassword::prompt_password(prompt).unwrap_or_default()
    } else {
        let mut text = String::new();
        // Unreadable stdin is the same as an empty one: no key.
        let _ = stdin.lock().read_to_string(&mut text);
        text
    };
    let text = text.trim_end_matches(['\r', '\n']).to_string();
    if text.trim().is_empty() {
        return Err(KeysError::EmptySecret);
    }
    Ok(Secret::new(text))
}

fn report(error: &KeysError, json: bool) -> ExitCode {
    let code = error.code().as_str();
    eprintln!("error: {error} [{code}]");
    if json {
        let line = serde_json::json!({
            "type": "error",
            "error": { "code": code, "message": error.to_string() },
        });
        println!("{line}");
    }
    ExitCode::from(if error.is_usage() { 2 } else { 1 })
}

fn print_json(out: &mut impl Write, value: &impl serde::Serialize) {
    let _ = writeln!(out, "{}", serde_json::to_string(value).expect("serializes"));
}

fn key_text(key: &KeyState) -> &str {
    match key {
        KeyState::Stored { masked } => masked,
        KeyState::Missing => "MISSING",
        KeyState::NotNeeded => "-",
    }
}

fn print_table(out: &mut impl Write, listed: &[DestinationSummary]) {
    let width = |f: fn(&DestinationSummary) -> usize, title: &str| {
        listed.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let name_w = width(|d| d.name.chars().count(), "NAME");
    let url_w = width(|d| d.url.chars().count(), "URL");
    let _ = writeln!(
        out,
        "{:<name_w$}  {:<7}  {:<url_w$}  KEY",
        "NAME", "KIND", "URL"
    );
    for d in listed {
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<7}  {:<url_w$}  {}",
            d.name,
            d.kind.as_str(),
            d.url,
            key_text(&d.key)
        );
    }
}

fn print_details(out: &mut impl Write, d: &DestinationSummary, revealed: Option<&Secret>) {
    let _ = writeln!(out, "name:       {}", d.name);
    let _ = writeln!(out, "kind:       {}", d.kind.as_str());
    let _ = writeln!(out, "url:        {}", d.url);
    if let Some(url) = &d.token_url {
        let _ = writeln!(out, "token url:  {url}");
    }
    if let Some(url) = &d.status_url {
        let _ = writeln!(out, "status url: {url}");
    }
    for (k, v) in d.options.entries() {
        let _ = writeln!(out, "option:     {k}={v}");
    }
    match revealed {
        Some(secret) => {
            let _ = writeln!(out, "key:        {}", secret.expose());
        }
        None => {
            let _ = writeln!(out, "key:        {}", key_text(&d.key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_engine::keys::DestinationKind;

    #[test]
    fn the_listing_shows_masks_and_redacted_urls_only() {
        let listed = vec![DestinationSummary {
            name: "main".into(),
            kind: DestinationKind::Rtmp,
            url: "rtmp://h/app".into(),
            token_url: None,
            status_url: None,
            options: Default::default(),
            key: KeyState::Stored {
                masked: Secret::new("sk_live_0123456789abcdefXY").masked(),
            },
        }];
        let mut out = Vec::new();
        print_table(&mut out, &listed);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("••••••••XY"), "{text}");
        assert!(!text.contains("sk_live"), "{text}");
    }
}
