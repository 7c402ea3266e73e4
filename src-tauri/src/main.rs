// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    onair_engine::secret::harden_process();
    onair_desktop::run();
}
