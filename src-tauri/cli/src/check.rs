//! `onair check DEST`: what the link to a destination carries, measured
//! without going public, and the size and bitrate to go live with.

use std::process::ExitCode;

use clap::Args;
use onair_engine::cancel::Cancel;
use onair_engine::check::{check_destination, LinkReport};
use onair_engine::OnairError;

#[derive(Args)]
pub struct CheckArgs {
    /// A saved destination, or an rtmp:// or rtmps:// URL (a key in it is never
    /// sent). A LiveKit destination is checked by its saved name: the check
    /// joins its room, publishing nothing.
    dest: String,
    #[command(flatten)]
    picture: crate::live::PictureArgs,
    /// One JSON object instead of sentences.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CheckArgs) -> ExitCode {
    if !args.json {
        eprintln!("Checking the link for a few seconds; nothing is published.");
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
        args.picture.size,
        args.picture.fps,
        args.picture.bitrate,
        &Cancel::new(),
    )
}
