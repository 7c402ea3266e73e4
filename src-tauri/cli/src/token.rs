//! `onair token NAME`: mints a LiveKit access token for a self-hosted server
//! whose API secret is kept in the keychain, for a guest or a second device.
//! The token is printed on stdout (for a pipe), the secret never.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use onair_engine::keys::{self, DestinationKind};
use onair_engine::livekit::token;
use onair_engine::{ErrorCode, OnairError};

#[derive(Args)]
pub struct TokenArgs {
    /// A saved LiveKit destination added with --api-key.
    name: String,
    /// The room (default: the destination's).
    #[arg(long)]
    room: Option<String>,
    /// Who the token is for (default: the destination's identity, or onair).
    #[arg(long)]
    identity: Option<String>,
    /// How long it is valid, in minutes.
    #[arg(long, default_value_t = 360, value_parser = clap::value_parser!(u64).range(1..=10_080))]
    ttl_minutes: u64,
}

pub fn run(args: TokenArgs) -> ExitCode {
    match mint(args) {
        Ok(jwt) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{jwt}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {} [{}]", e.message, e.code.as_str());
            ExitCode::from(1)
        }
    }
}

fn mint(args: TokenArgs) -> Result<String, OnairError> {
    let resolved = keys::resolve(&args.name).map_err(OnairError::from)?;
    let saved = resolved
        .saved
        .filter(|s| s.kind == DestinationKind::Livekit)
        .ok_or_else(|| {
            OnairError::new(
                ErrorCode::InvalidDestination,
                format!("{} is not a saved LiveKit destination.", args.name),
            )
        })?;
    let options = &saved.options.livekit;
    let api_key = options.api_key.as_deref().ok_or_else(|| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!(
                "{} has no API key: tokens can only be minted for a server whose API key and secret you hold (keys add {} --url ... --api-key KEY).",
                saved.name, saved.name
            ),
        )
    })?;
    let room = args.room.or_else(|| options.room.clone()).ok_or_else(|| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            "Which room? Pass --room ROOM.",
        )
    })?;
    let identity = args
        .identity
        .unwrap_or_else(|| options.identity().to_string());
    let secret = resolved.secret.ok_or_else(|| {
        OnairError::new(
            ErrorCode::KeyMissing,
            format!("The API secret for {} is not in the keychain.", saved.name),
        )
    })?;
    let jwt = token::mint(
        api_key,
        &secret,
        &room,
        &identity,
        Duration::from_secs(args.ttl_minutes * 60),
    )?;
    Ok(jwt.expose().to_string())
}
