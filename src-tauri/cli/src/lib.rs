//! `onair`: the headless broadcaster over the same engine as the desktop app.
//! Exit status: 0 after a clean end, 1 on failure, 2 on a usage error.
//! A library too, so the Linux package's desktop binary can be the CLI as
//! well (one copy of the engine on disk, not two).

mod check;
mod devices;
mod keys;
mod live;
mod presets;
mod status;
mod token;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};
use onair_engine::encode::h264::Implementation;
use onair_engine::logbook::{self, LogTarget, Logbook};

/// The version, and which library makes the H.264 (a build with x264 is GPL).
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let encoder = Implementation::BUILT_IN.version_note();
        format!("{} ({encoder})", env!("CARGO_PKG_VERSION"))
    })
}

#[derive(Parser)]
#[command(name = "onair", version = version(), about = "Go live from the command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Write the log to FILE (appended) instead of the daily files in
    /// ~/.local/state/onair/logs: events, diagnostics and what libraries
    /// print, with every secret masked.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// List cameras, microphones and the built-in test sources.
    Devices(devices::DevicesArgs),
    /// Measure the link to DEST without going public, and say what to send.
    Check(check::CheckArgs),
    /// Go live to DEST until Ctrl-C or --duration.
    Live(live::LiveArgs),
    /// The platforms Onair knows: ingest URLs, where the key is, limits.
    Presets(presets::PresetsArgs),
    /// Manage saved destinations and their keys (kept in the system keychain).
    Keys(keys::KeysArgs),
    /// Mint a LiveKit token with a saved self-hosted server's API secret.
    Token(token::TokenArgs),
    /// What a saved destination's platform says: live or not, how many watch.
    Status(status::StatusArgs),
}

/// The whole CLI: parses the command line and runs it.
pub fn main() -> ExitCode {
    onair_engine::secret::harden_process();
    let cli = Cli::parse();
    let _log = match open_log(cli.log) {
        Ok(log) => log,
        Err(code) => return code,
    };
    match cli.command {
        Command::Devices(args) => devices::run(args),
        Command::Check(args) => check::run(args),
        Command::Live(args) => live::run(args),
        Command::Presets(args) => presets::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Token(args) => token::run(args),
        Command::Status(args) => status::run(args),
    }
}

/// The log for this run. A file the creator named that cannot be written is
/// a usage error; the default folder failing is only a warning.
fn open_log(file: Option<std::path::PathBuf>) -> Result<Option<Logbook>, ExitCode> {
    let named = file.is_some();
    let Some(target) = file.map(LogTarget::File).or_else(LogTarget::default_daily) else {
        return Ok(None);
    };
    match logbook::start(target) {
        Ok(log) => Ok(Some(log)),
        Err(e) if named => {
            eprintln!("onair: {}", e.message);
            Err(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("onair: warning: {}", e.message);
            Ok(None)
        }
    }
}
