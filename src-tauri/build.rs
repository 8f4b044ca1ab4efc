//! Tauri's build step: reads ../tauri.conf.json (at the package root) and the capabilities, which
//! live beside the shell's sources in src-tauri/capabilities/.
fn main() {
    let attributes =
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*");
    tauri_build::try_build(attributes).expect("tauri-build failed (see the message above)");
}
