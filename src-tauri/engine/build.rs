//! openh264 quietly falls back to plain C (about 2.5x slower) when nasm is
//! missing. Refuse to build instead, unless someone opts out on purpose.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ONAIR_ALLOW_NO_NASM");
    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let needs_nasm = target_arch == "x86_64" || target_arch == "x86";
    if !needs_nasm || std::env::var_os("ONAIR_ALLOW_NO_NASM").is_some() {
        return;
    }
    let found = Command::new("nasm")
        .arg("-v")
        .output()
        .map(|o| o.status.success());
    if !matches!(found, Ok(true)) {
        panic!(
            "nasm is not installed: openh264 would build without its assembly and encode \
             about 2.5x slower. Install it (apt-get install nasm) or set ONAIR_ALLOW_NO_NASM=1."
        );
    }
}
