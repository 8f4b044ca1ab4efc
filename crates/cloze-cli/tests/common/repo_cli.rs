//! The built `cloze` binary run from the repository's root (so `samples/…` and
//! `tests/fixtures/…` resolve), on the tiny RoBERTa checkpoint: shared by the CLI's tests.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The tiny random RoBERTa checkpoint.
pub fn model() -> PathBuf {
    repo().join("tests/fixtures/parity/roberta")
}

/// Runs `cloze args` from the repository's root.
pub fn cloze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloze")).args(args).current_dir(repo()).output().expect("run cloze")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
