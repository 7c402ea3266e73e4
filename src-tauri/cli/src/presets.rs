//! `onair presets`: the platforms Onair knows, where their keys are, and
//! what they accept (`presets/platforms.json`).

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use onair_engine::preset;

#[derive(Args)]
pub struct PresetsArgs {
    #[arg(long)]
    json: bool,
}

pub fn run(args: PresetsArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(preset::all()).expect("presets serialize")
        );
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(
        out,
        "{:<16} {:<42} {:>9} {:>9}  INGEST",
        "PRESET", "PLATFORM", "MAX KBPS", "KEYFRAME"
    );
    for p in preset::all() {
        let _ = writeln!(
            out,
            "{:<16} {:<42} {:>9} {:>8}s  {}",
            p.id, p.name, p.video.max_kbps, p.video.keyframe_seconds, p.ingests[0].url
        );
    }
    let _ = writeln!(
        out,
        "\nonair keys add NAME --preset ID [--region N] [--host HOST] saves one; the key is asked for."
    );
    ExitCode::SUCCESS
}
