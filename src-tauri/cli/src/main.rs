//! `onair`: the headless broadcaster over the same engine as the desktop app.
//! Exit status: 0 after a clean end, 1 on failure, 2 on a usage error.

mod devices;
mod keys;
mod live;
mod status;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "onair", version, about = "Go live from the command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List cameras, microphones and the built-in test sources.
    Devices(devices::DevicesArgs),
    /// Go live to DEST until Ctrl-C or --duration.
    Live(live::LiveArgs),
    /// Manage saved destinations and their keys (kept in the system keychain).
    Keys(keys::KeysArgs),
    /// Mint a LiveKit token with a saved self-hosted server's API secret.
    Token(token::TokenArgs),
    /// What a saved destination's platform says: live or not, how many watch.
    Status(status::StatusArgs),
}

fn main() -> ExitCode {
    onair_engine::secret::harden_process();
    let cli = Cli::parse();
    match cli.command {
        Command::Devices(args) => devices::run(args),
        Command::Live(args) => live::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Token(args) => token::run(args),
        Command::Status(args) => status::run(args),
    }
}
