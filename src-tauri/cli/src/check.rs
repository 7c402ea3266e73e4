//! `onair check DEST`: what the link to a destination carries, measured
//! without going public, and the size and bitrate to go live with.

use std::process::ExitCode;

use clap::Args;
use onair_engine::cancel::Cancel;
use onair_engine::check::{check_destination, LinkReport};
use onair_engine::OnairError;

#[derive(Args)]
pub struct CheckArgs {
    /// A saved destination or an rtmp:// or rtmps:// URL (a key in it is never sent).
    dest: String,
    /// The picture you mean to send, as WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = crate::live::parse_size)]
    size: (u32, u32),
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    fps: u32,
    /// The video bitrate you mean to send, in kbit/s.
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    bitrate: u32,
    /// One JSON object instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CheckArgs) -> ExitCode {
    if !args.json {
        eprintln!("Checking the link for a few seconds; nothing is published and no key is sent.");
    }
    match check(&args) {
        Ok(report) => {
            if args.json {
                let mut value = serde_json::to_value(&report).expect("a report serialises");
                value["type"] = "check".into();
                println!("{value}");
            } else {
                let p = &report.proposal;
                println!("{}", report.sentence);
                if !report.too_slow {
                    println!(
                        "  onair live {} --size {}x{} --fps {} --bitrate {}",
                        // A URL is not echoed: it may hold the key.
                        if args.dest.contains("://") {
                            "DEST"
                        } else {
                            &args.dest
                        },
                        p.width,
                        p.height,
                        p.fps,
                        p.video_kbps
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"type": "check", "error": {"code": e.code.as_str(), "message": e.message}})
                );
            }
            eprintln!("error: {} [{}]", e.message, e.code.as_str());
            ExitCode::from(1)
        }
    }
}

fn check(args: &CheckArgs) -> Result<LinkReport, OnairError> {
    check_destination(
        &args.dest,
        args.size,
        args.fps,
        args.bitrate,
        &Cancel::new(),
    )
}
