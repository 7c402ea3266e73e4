// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

/// Set by the Linux package's /usr/bin/onair, which runs the CLI through
/// this binary so the engine is on disk once.
const AS_CLI: &str = "ONAIR_AS_CLI";

fn main() -> ExitCode {
    if std::env::var_os(AS_CLI).is_some() {
        return onair_cli::main();
    }
    onair_engine::secret::harden_process();
    onair_desktop::run();
    ExitCode::SUCCESS
}
