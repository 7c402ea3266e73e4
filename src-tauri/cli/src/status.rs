//! `onair status NAME`: what the destination's platform says (its status
//! hook), once, or with --watch on the idle schedule until Ctrl-C. The same
//! `platform` events a live session prints.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;

use clap::Args;
use onair_engine::events::Event;
use onair_engine::keys;
use onair_engine::platform::client::HookClient;
use onair_engine::platform::flow::{failure, Step};
use onair_engine::platform::hooks::Context;
use onair_engine::platform::status::{interpret, Reading, StatusPoller};
use onair_engine::{ErrorCode, OnairError};

#[derive(Args)]
pub struct StatusArgs {
    /// A saved destination with a platform status hook.
    name: String,
    /// Keep reading: every 30 s (slower after errors) until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// One JSON event per line.
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs) -> ExitCode {
    let (hook, ctx) = match status_hook(&args.name) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {} [{}]", e.message, e.code.as_str());
            return ExitCode::from(1);
        }
    };
    let print = |reading: Reading| {
        let event = match reading {
            Reading::Status { live, viewers } => Event::Platform {
                live,
                viewers,
                stale: false,
                detail: None,
                destination: None,
            },
            Reading::Stale { detail } => Event::Platform {
                live: None,
                viewers: None,
                stale: true,
                detail: Some(detail),
                destination: None,
            },
        };
        let line = if args.json {
            event.to_json_line()
        } else {
            crate::live::human(&event)
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    if !args.watch {
        let client = match HookClient::new() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {} [{}]", e.message, e.code.as_str());
                return ExitCode::from(1);
            }
        };
        return match client.call(&hook, &ctx) {
            Ok(values) => {
                print(interpret(&hook, &values));
                ExitCode::SUCCESS
            }
            Err(f) => {
                let e = failure(Step::Status, &f);
                eprintln!("error: {} [{}]", e.message, e.code.as_str());
                ExitCode::from(1)
            }
        };
    }
    let (stop_tx, stop_rx) = mpsc::channel();
    let _ = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    });
    let (readings_tx, readings) = mpsc::channel();
    let poller = StatusPoller::start(hook, ctx, false, move |r| {
        let _ = readings_tx.send(r);
    });
    let Ok(_poller) = poller else {
        return ExitCode::from(1);
    };
    loop {
        if stop_rx.try_recv().is_ok() {
            return ExitCode::SUCCESS;
        }
        if let Ok(reading) = readings.recv_timeout(std::time::Duration::from_millis(200)) {
            print(reading);
        }
    }
}

fn status_hook(name: &str) -> Result<(onair_engine::platform::hooks::Hook, Context), OnairError> {
    let resolved = keys::resolve(name).map_err(OnairError::from)?;
    let saved = resolved.saved.ok_or_else(|| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            "onair status takes a saved destination's name, not a URL.",
        )
    })?;
    let hooks = saved.platform.unwrap_or_default();
    let hook = hooks.status.ok_or_else(|| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!(
                "{} declares no status hook; add one to its platform file.",
                saved.name
            ),
        )
    })?;
    let ctx = Context {
        vars: hooks.vars,
        secret: resolved.secret,
    };
    Ok((hook, ctx))
}
