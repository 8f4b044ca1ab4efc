//! The built `cloze` binary against the mock Hub (`crates/cloze/tests/common/mock_hub.rs`), with
//! its own cache folder and no token or offline setting from the environment: shared by the CLI's
//! Hub tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::mock_hub::MockHub;

/// An empty scratch folder `name` with a `cache/` inside.
pub fn fresh_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("cache")).unwrap();
    d
}

/// Runs `cloze args` in `root` against `hub`, caching under `root/cache`.
pub fn cloze(hub: &MockHub, root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(args)
        .env("HF_ENDPOINT", &hub.base)
        .env("HF_HUB_CACHE", root.join("cache"))
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .current_dir(root)
        .output()
        .unwrap()
}
