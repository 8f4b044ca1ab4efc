//! Test helpers shared by the reader's test modules: temporary files and short accessors.

use std::sync::atomic::{AtomicUsize, Ordering};

use std::path::PathBuf;

use crate::data::{Example, ImportOptions, ImportReport, load};
use crate::error::{Error, Result};

/// A file in its own temporary directory, removed on drop.
pub(super) struct TempFile {
    dir: PathBuf,
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(name: &str, content: &[u8]) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cloze-data-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        TempFile { dir, path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(super) fn opts() -> ImportOptions {
    ImportOptions::default()
}

pub(super) fn skipping() -> ImportOptions {
    ImportOptions { skip_bad_rows: true, ..Default::default() }
}

pub(super) fn load_str(
    name: &str,
    content: &str,
    options: &ImportOptions,
) -> Result<(Vec<Example>, ImportReport)> {
    let file = TempFile::new(name, content.as_bytes());
    load(&file.path, options)
}

pub(super) fn texts(examples: &[Example]) -> Vec<&str> {
    examples.iter().map(|e| e.text_a.as_str()).collect()
}

pub(super) fn labels(examples: &[Example]) -> Vec<Option<&str>> {
    examples.iter().map(|e| e.label.as_deref()).collect()
}

/// The error message without the `path, ` prefix.
pub(super) fn message(file: &TempFile, err: &Error) -> String {
    let text = err.to_string();
    let path = file.path.display().to_string();
    let rest = text.strip_prefix(&path).unwrap_or(&text);
    rest.strip_prefix(", ").or_else(|| rest.strip_prefix(": ")).unwrap_or(rest).to_string()
}
