//! Opening a report the app wrote in the system's default browser.
//!
//! The web view has no opener or shell permission (see `capabilities/default.json`): it asks the
//! Rust side to open a path, and the Rust side opens only an HTML report that an export of this
//! session wrote ([`Reports::record`] after each successful run export). Anything else is refused
//! with kind `not-allowed`, so a script in the web view cannot launch programs on other files.
//!
//! The launcher is the platform's own opener run as a child process (`xdg-open` on Linux and the
//! BSDs, `open` on macOS, `explorer` on Windows), not tauri-plugin-opener: one code path serves the
//! system opener and [`OPEN_WITH`], no plugin (whose web-view commands a capability could grant by
//! mistake) is registered, and no dependency is added. The child is spawned, never waited for: a
//! launcher that fails at once (no browser, no handler for HTML) is reported, one still running
//! after [`LAUNCH_GRACE`] (a browser started in the foreground) is left to run and reaped on its
//! own thread.
//!
//! `CLOZE_OPEN_WITH` ([`OPEN_WITH`]), read once at start, names a program to run instead of the
//! system opener, with the report's path as its one argument (e.g. `firefox`, or a script; the
//! end-to-end test sets it to one that records the path).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cloze::error::ErrorKind;
use cloze::studio::exports::RunExportKind;

use crate::error::AppError;

/// The environment variable naming a program to open reports with (see the module documentation).
pub const OPEN_WITH: &str = "CLOZE_OPEN_WITH";

/// How long a launcher may take to fail before it is taken to have opened the file.
const LAUNCH_GRACE: Duration = Duration::from_millis(1500);

/// The reports written in this session, and the program that opens them.
#[derive(Debug, Default)]
pub struct Reports {
    written: Mutex<HashSet<PathBuf>>,
    /// `None`: the system's opener.
    open_with: Option<OsString>,
}

impl Reports {
    /// Reports opened with `open_with`, or with the system's opener when `None`.
    pub fn new(open_with: Option<OsString>) -> Self {
        Reports { open_with: open_with.filter(|p| !p.is_empty()), ..Default::default() }
    }

    /// Reports opened with the program in [`OPEN_WITH`] when it is set.
    pub fn from_env() -> Self {
        Self::new(std::env::var_os(OPEN_WITH))
    }

    /// An export of `kind` wrote `path`: a report may be opened from now on; anything else written
    /// there replaced a report, which may not be opened any more.
    pub fn record(&self, kind: RunExportKind, path: &str) {
        let Ok(path) = Path::new(path).canonicalize() else { return };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if kind == RunExportKind::Report {
            written.insert(path);
        } else {
            written.remove(&path);
        }
    }

    /// The report at `path` as written, or why it may not be opened.
    fn check(&self, path: &str) -> Result<PathBuf, AppError> {
        let given = Path::new(path.trim());
        let resolved = given.canonicalize().unwrap_or_else(|_| given.to_path_buf());
        if !self.written.lock().unwrap_or_else(|e| e.into_inner()).contains(&resolved) {
            return Err(AppError {
                kind: ErrorKind::NotAllowed,
                message: format!(
                    "{path:?} is not a report Cloze Studio wrote in this session, so it is not opened; export it \
                     as “Report (HTML)” on the Export screen, then press “Open in browser”"
                ),
            });
        }
        if !resolved.is_file() {
            return Err(AppError {
                kind: ErrorKind::NotFound,
                message: format!(
                    "{} is gone since it was exported; export the report again",
                    resolved.display()
                ),
            });
        }
        Ok(resolved)
    }

    /// Opens the report at `path` (one this session wrote) in the default browser, or with the
    /// program of [`OPEN_WITH`]. Returns once the launcher started (and did not fail at once).
    pub async fn open(&self, path: &str) -> Result<(), AppError> {
        let file = self.check(path)?;
        let launcher = self.open_with.clone();
        tauri::async_runtime::spawn_blocking(move || launch(launcher.as_deref(), &file))
            .await
            .map_err(AppError::internal)?
    }
}

/// The system's opener, and whether its exit status means anything (`explorer` exits with 1 when
/// it opened the file).
fn system_opener() -> (&'static str, bool) {
    if cfg!(target_os = "macos") {
        ("open", true)
    } else if cfg!(windows) {
        ("explorer", false)
    } else {
        ("xdg-open", true)
    }
}

/// Runs the launcher on `file` without waiting for a browser to exit (see the module documentation).
fn launch(open_with: Option<&std::ffi::OsStr>, file: &Path) -> Result<(), AppError> {
    let (program, status_counts) = match open_with {
        Some(p) => (p.to_os_string(), true),
        None => {
            let (p, counts) = system_opener();
            (OsString::from(p), counts)
        }
    };
    let by_hand = |why: String| AppError {
        kind: ErrorKind::Unavailable,
        message: format!(
            "could not open {} in a browser: {why}; open the file by hand in your browser{}",
            file.display(),
            if open_with.is_some() { format!(" (or fix {OPEN_WITH})") } else { String::new() }
        ),
    };
    let name = Path::new(&program).display().to_string();
    let mut child = Command::new(&program)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| by_hand(format!("{name} did not start ({e})")))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() || !status_counts => return Ok(()),
            Ok(Some(status)) => return Err(by_hand(format!("{name} failed ({status})"))),
            Ok(None) if started.elapsed() < LAUNCH_GRACE => std::thread::sleep(Duration::from_millis(25)),
            // Still running: a browser in the foreground. Reap it when it exits.
            Ok(None) | Err(_) => {
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_reports_this_session_wrote() {
        let dir = std::env::temp_dir().join(format!("cloze-reports-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("report.html");
        std::fs::write(&report, "<html></html>").unwrap();
        let reports = Reports::new(Some("true".into()));
        let refused = reports.check(report.to_str().unwrap()).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NotAllowed);
        assert!(
            refused.message.contains("report.html") && refused.message.contains("Export"),
            "{}",
            refused.message
        );
        reports.record(RunExportKind::Report, report.to_str().unwrap());
        let dotted = dir.join(".").join("report.html");
        assert_eq!(reports.check(dotted.to_str().unwrap()).unwrap(), report.canonicalize().unwrap());
        // A bundle written over it is not a report.
        reports.record(RunExportKind::Bundle, report.to_str().unwrap());
        assert_eq!(reports.check(report.to_str().unwrap()).unwrap_err().kind, ErrorKind::NotAllowed);
        // Gone since it was written.
        reports.record(RunExportKind::Report, report.to_str().unwrap());
        std::fs::remove_file(&report).unwrap();
        assert_eq!(reports.check(report.to_str().unwrap()).unwrap_err().kind, ErrorKind::NotFound);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_launcher_that_fails_names_the_file_and_says_to_open_it_by_hand() {
        let file = Path::new("/tmp/r.html");
        assert!(launch(Some("true".as_ref()), file).is_ok());
        for program in ["false", "/nonexistent/cloze-opener"] {
            let e = launch(Some(program.as_ref()), file).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable);
            assert!(
                e.message.contains("/tmp/r.html")
                    && e.message.contains("by hand")
                    && e.message.contains(OPEN_WITH),
                "{}",
                e.message
            );
        }
        // A launcher still running after the grace period (a browser in the foreground) is left to run.
        let t = Instant::now();
        let sleeper = std::env::temp_dir().join(format!("cloze-sleeper-{}.sh", std::process::id()));
        std::fs::write(&sleeper, "#!/bin/sh\nsleep 5\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sleeper, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(launch(Some(sleeper.as_os_str()), file).is_ok());
        assert!(t.elapsed() < Duration::from_secs(4), "not waited for: {:?}", t.elapsed());
        let _ = std::fs::remove_file(&sleeper);
    }
}
