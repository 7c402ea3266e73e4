// Onair's own commands get an app permission manifest
// (src-tauri/permissions/), so Tauri refuses any command the window's
// capability does not name (tauri.conf.json).
fn main() {
    println!("cargo:rerun-if-changed=src-tauri/permissions");
    let manifest =
        tauri_build::AppManifest::new().permissions_path_pattern("src-tauri/permissions/**/*");
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build script");
}
