//! The app itself: the UI reports when it is interactive (for the startup benchmark).

use std::sync::OnceLock;
use std::time::Instant;

use tauri::{AppHandle, Runtime};

/// When the process started its Rust `main` (set by [`crate::run`]).
pub static STARTED: OnceLock<Instant> = OnceLock::new();

/// Called by the UI once its first screen is rendered and answers input. With
/// `CLOZE_STARTUP_REPORT=1` the time since start is printed to stderr; with
/// `CLOZE_EXIT_WHEN_READY=1` the app then quits (scripts/bench-startup.sh uses both).
/// Returns the milliseconds since start.
#[tauri::command]
#[specta::specta]
pub fn ui_ready<R: Runtime>(app: AppHandle<R>) -> f64 {
    let ms = STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
    if std::env::var_os("CLOZE_STARTUP_REPORT").is_some() {
        eprintln!("cloze-studio: interactive {ms:.0} ms after start");
    }
    if std::env::var_os("CLOZE_EXIT_WHEN_READY").is_some() {
        app.exit(0);
    }
    ms
}
