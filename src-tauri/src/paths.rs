//! Which paths the web view may name. A command that reads or writes a file the UI names (a data
//! file, a project, a model folder, an export) accepts only a path the user chose in this session,
//! in this window, with a native dialog the Rust side ran ([`pick_path`]), for that purpose — or,
//! to open a project, one of the recent projects. Anything else is refused with kind
//! `not-allowed`, so a script in the web view cannot read or overwrite files the user never
//! pointed at (the CSP is no longer the only guard).
//!
//! The UI lets the user type a path too: when a command answers `not-allowed`, the UI opens the
//! dialog at that path for the user to confirm, and sends the path chosen there.
//!
//! Test hook: `CLOZE_E2E_ALLOWED_FOLDERS` (folders separated by `:`), read once at start, lets
//! every window name anything inside those folders without a dialog. Only `scripts/e2e.sh` sets
//! it (WebDriver cannot drive native dialogs); the app never sets it itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cloze::error::ErrorKind;
use serde::{Deserialize, Serialize};
use tauri::{Manager, Runtime, Window};

use crate::error::AppError;

/// The environment variable of the end-to-end test hook (see the module documentation).
pub const E2E_ALLOWED_FOLDERS: &str = "CLOZE_E2E_ALLOWED_FOLDERS";

/// What a path is chosen for: decides the dialog (open a file, choose a folder, save) and which
/// commands accept the path afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "kebab-case")]
pub enum PickPurpose {
    /// A data file to preview and import (open dialog).
    DataFile,
    /// An existing project to open (open dialog).
    Project,
    /// A new project file to create (save dialog).
    NewProject,
    /// A model folder to load (folder dialog); files inside it are accepted too.
    ModelFolder,
    /// A file to export to (save dialog).
    ExportFile,
}

impl PickPurpose {
    fn what(self) -> &'static str {
        match self {
            PickPurpose::DataFile => "data file",
            PickPurpose::Project | PickPurpose::NewProject => "project file",
            PickPurpose::ModelFolder => "model folder",
            PickPurpose::ExportFile => "file to write",
        }
    }
}

/// A file type offered by the dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct FileFilter {
    pub name: String,
    pub extensions: Vec<String>,
}

/// What [`pick_path`] asks the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PickRequest {
    pub purpose: PickPurpose,
    pub title: Option<String>,
    /// Where the dialog starts: a folder, or a file (its folder, with the name filled in).
    pub default_path: Option<String>,
    pub filters: Vec<FileFilter>,
}

/// The paths each window's user chose, by window label, and the test hook's folders.
#[derive(Debug, Default)]
pub struct Picked {
    grants: Mutex<HashMap<String, Vec<(PickPurpose, PathBuf)>>>,
    trusted: Vec<PathBuf>,
    /// Tests: the answers the "dialog" gives, in order (there is no window to show one).
    #[cfg(test)]
    scripted: Mutex<std::collections::VecDeque<Option<PathBuf>>>,
}

impl Picked {
    /// The allow-list, with the test hook's folders when [`E2E_ALLOWED_FOLDERS`] is set.
    pub fn from_env() -> Self {
        let trusted = std::env::var_os(E2E_ALLOWED_FOLDERS)
            .map(|v| std::env::split_paths(&v).filter_map(|p| p.canonicalize().ok()).collect())
            .unwrap_or_default();
        Picked { trusted, ..Default::default() }
    }

    /// Records that the user of `window` chose `path` for `purpose`.
    pub fn grant(&self, window: &str, purpose: PickPurpose, path: PathBuf) {
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        let list = grants.entry(window.to_string()).or_default();
        if !list.iter().any(|(p, g)| *p == purpose && *g == path) {
            list.push((purpose, path));
        }
    }

    /// Whether `path` was chosen in `window` for one of `purposes` (a model folder also covers the
    /// files inside it), or lies in a folder of the test hook.
    pub fn allows(&self, window: &str, path: &Path, purposes: &[PickPurpose]) -> bool {
        let Some(resolved) = resolve(path) else { return false };
        if self.trusted.iter().any(|t| resolved.starts_with(t)) {
            return true;
        }
        let grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants.get(window).is_some_and(|list| {
            list.iter().filter(|(p, _)| purposes.contains(p)).any(|(p, granted)| {
                let granted = resolve(granted);
                match p {
                    PickPurpose::ModelFolder => granted.is_some_and(|g| resolved.starts_with(g)),
                    _ => granted.is_some_and(|g| resolved == g),
                }
            })
        })
    }

    /// [`Picked::allows`], or a `not-allowed` error naming the path and what to do.
    pub fn check(&self, window: &str, path: &str, purposes: &[PickPurpose]) -> Result<(), AppError> {
        if self.allows(window, Path::new(path.trim()), purposes) {
            return Ok(());
        }
        let what = purposes.first().map_or("file", |p| p.what());
        Err(AppError {
            kind: ErrorKind::NotAllowed,
            message: format!(
                "{path:?} was not chosen in this window; choose the {what} with “Browse…” (a path typed by hand \
                 is confirmed in the file dialog)"
            ),
        })
    }

    #[cfg(test)]
    pub(crate) fn script(&self, answer: Option<PathBuf>) {
        self.scripted.lock().unwrap().push_back(answer);
    }
}

/// `path` made absolute with symbolic links and `..` resolved; for a file that does not exist yet,
/// its folder resolved and its name kept. `None` when even the folder does not exist.
fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(parent.canonicalize().ok()?.join(name))
}

/// Checks a path a command received against what the user of `window` chose.
pub fn check_path<R: Runtime>(
    window: &Window<R>,
    path: &str,
    purposes: &[PickPurpose],
) -> Result<(), AppError> {
    window.state::<Picked>().check(window.label(), path, purposes)
}

/// Shows the native dialog for `request` (on the Rust side: the web view has no file-system or
/// dialog permission) and records the chosen path for this window. `None` when the user cancels.
#[tauri::command]
#[specta::specta]
pub async fn pick_path<R: Runtime>(
    window: Window<R>,
    request: PickRequest,
) -> Result<Option<String>, AppError> {
    let chosen = choose(&window, &request).await?;
    if let Some(path) = &chosen {
        window.state::<Picked>().grant(window.label(), request.purpose, path.clone());
    }
    Ok(chosen.map(|p| p.display().to_string()))
}

#[cfg(not(test))]
async fn choose<R: Runtime>(window: &Window<R>, request: &PickRequest) -> Result<Option<PathBuf>, AppError> {
    use tauri_plugin_dialog::DialogExt;
    let window = window.clone();
    let request = request.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let mut dialog = window.dialog().file().set_parent(&window);
        if let Some(title) = &request.title {
            dialog = dialog.set_title(title);
        }
        for f in &request.filters {
            let extensions: Vec<&str> = f.extensions.iter().map(String::as_str).collect();
            dialog = dialog.add_filter(&f.name, &extensions);
        }
        if let Some(default) = request.default_path.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            let default = Path::new(default);
            if default.is_dir() {
                dialog = dialog.set_directory(default);
            } else {
                if let Some(dir) = default.parent().filter(|d| d.is_dir()) {
                    dialog = dialog.set_directory(dir);
                }
                if let Some(name) = default.file_name() {
                    dialog = dialog.set_file_name(name.to_string_lossy());
                }
            }
        }
        let chosen = match request.purpose {
            PickPurpose::DataFile | PickPurpose::Project => dialog.blocking_pick_file(),
            PickPurpose::ModelFolder => dialog.blocking_pick_folder(),
            PickPurpose::NewProject | PickPurpose::ExportFile => dialog.blocking_save_file(),
        };
        chosen.and_then(|f| f.into_path().ok())
    })
    .await
    .map_err(AppError::internal)
}

#[cfg(test)]
async fn choose<R: Runtime>(window: &Window<R>, _request: &PickRequest) -> Result<Option<PathBuf>, AppError> {
    let picked = window.state::<Picked>();
    let answer = picked.scripted.lock().unwrap().pop_front();
    answer.ok_or_else(|| AppError::internal("no scripted dialog answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_chosen_paths_for_their_purpose_in_their_window() {
        let dir = tempfile_dir("grants");
        let data = dir.join("data.csv");
        std::fs::write(&data, "x").unwrap();
        let model = dir.join("model");
        std::fs::create_dir_all(&model).unwrap();
        let picked = Picked::default();
        picked.grant("main", PickPurpose::DataFile, data.clone());
        picked.grant("main", PickPurpose::ModelFolder, model.clone());
        picked.grant("main", PickPurpose::ExportFile, dir.join("out.csv"));
        let cases: &[(&str, PathBuf, PickPurpose, bool)] = &[
            ("main", data.clone(), PickPurpose::DataFile, true),
            ("main", dir.join(".").join("data.csv"), PickPurpose::DataFile, true),
            ("other", data.clone(), PickPurpose::DataFile, false),
            ("main", data.clone(), PickPurpose::ExportFile, false),
            ("main", dir.join("other.csv"), PickPurpose::DataFile, false),
            ("main", model.join("config.json"), PickPurpose::ModelFolder, true),
            ("main", model.join("..").join("data.csv"), PickPurpose::ModelFolder, false),
            ("main", dir.join("out.csv"), PickPurpose::ExportFile, true),
            ("main", dir.join("nope").join("out.csv"), PickPurpose::ExportFile, false),
            ("main", PathBuf::from("/etc/passwd"), PickPurpose::DataFile, false),
        ];
        for (window, path, purpose, ok) in cases {
            assert_eq!(picked.allows(window, path, &[*purpose]), *ok, "{window} {path:?} {purpose:?}");
        }
        let e = picked.check("main", "/etc/passwd", &[PickPurpose::DataFile]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotAllowed);
        assert!(e.message.contains("/etc/passwd") && e.message.contains("Browse"), "{}", e.message);
        // The test hook: anything inside its folders.
        let hooked = Picked { trusted: vec![dir.canonicalize().unwrap()], ..Default::default() };
        assert!(hooked.allows("any", &dir.join("new.cloze"), &[PickPurpose::NewProject]));
        assert!(!hooked.allows("any", Path::new("/etc/passwd"), &[PickPurpose::DataFile]));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cloze-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
