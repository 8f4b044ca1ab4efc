//! The studio: the application service behind the desktop app (and anything else with a user
//! interface). It holds one open project, the loaded model and the labelling session, and answers
//! every request with a view from [`views`]. It has no Tauri dependency: the app's commands are
//! one-line calls into it, and its tests run without a window.
//!
//! Concurrency: every method takes `&self`. Quick requests use the project's one connection
//! (behind a mutex, held only for the request); long ones (import, scoring, evaluation) open their
//! own connection to the same file (WAL), so labelling never waits on them. Long operations report
//! [`Progress`](views::Progress) through a callback whose `false` cancels them.

mod data;
mod ensembles;
pub mod exports;
mod generation;
mod labelling;
mod model;
pub mod multilabel;
mod prompt;
mod recent;
pub mod seeds;
mod templates;
pub mod tuning;
pub mod views;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::error::{Error, Result};
use crate::hub::HubClient;
use crate::label::Session;
use crate::plm::Plm;
use crate::store::Store;
pub use generation::PieceFn;
pub use recent::RecentList;
use views::*;

/// A model loaded for scoring, and where it came from.
#[derive(Debug)]
pub struct LoadedModel {
    pub plm: Plm,
    /// The folder or repository id it was loaded from.
    pub spec: String,
    pub device: DeviceKind,
}

/// The open project: its path and its one connection, and the labelling session on it.
#[derive(Debug)]
struct Project {
    path: PathBuf,
    store: Store,
    session: Option<Session>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Studio {
    recent: RecentList,
    hub: HubClient,
    project: Mutex<Option<Project>>,
    model: RwLock<Option<Arc<LoadedModel>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the data as consistent as SQLite left it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn no_project() -> Error {
    Error::precondition("no project is open; create or open one on the Projects screen")
}

fn no_model() -> Error {
    Error::precondition("no model is loaded; open a model folder or a downloaded model on the Model screen")
}

impl Studio {
    /// A studio keeping its recent-projects list in `config_dir` and reaching the Hub with `hub`.
    pub fn new(config_dir: impl Into<PathBuf>, hub: HubClient) -> Self {
        Self {
            recent: RecentList::new(config_dir.into().join("recent-projects.json")),
            hub,
            project: Mutex::new(None),
            model: RwLock::new(None),
        }
    }

    /// The Hub client (search, download, the cache).
    pub fn hub(&self) -> &HubClient {
        &self.hub
    }

    // -------------------------------------------------------------------------------------- projects

    pub fn recent_projects(&self) -> Result<Vec<RecentProject>> {
        self.recent.list()
    }

    pub fn forget_recent_project(&self, path: &str) -> Result<Vec<RecentProject>> {
        self.recent.forget(Path::new(path))?;
        self.recent.list()
    }

    /// Creates a project file (`.cloze` is added when the name has no extension) and opens it.
    pub fn create_project(&self, path: &str) -> Result<ProjectSummary> {
        let path = project_path(path)?;
        if path.exists() {
            return Err(Error::invalid(format!(
                "{} already exists; open it instead, or pick another file name",
                path.display()
            )));
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(Error::missing(parent, "the folder does not exist; create it first or pick another"));
        }
        let store = Store::create(&path)?;
        self.set_project(path, store)
    }

    /// Opens an existing project (migrating it to the current schema, with a backup).
    pub fn open_project(&self, path: &str) -> Result<ProjectSummary> {
        let path = project_path(path)?;
        if !path.is_file() {
            return Err(Error::missing(
                &path,
                "no such project file; check the path or create a new project",
            ));
        }
        let store = Store::open(&path)?;
        self.set_project(path, store)
    }

    fn set_project(&self, path: PathBuf, store: Store) -> Result<ProjectSummary> {
        let path = path.canonicalize().unwrap_or(path);
        let summary = summary(&path, &store)?;
        *lock(&self.project) = Some(Project { path: path.clone(), store, session: None });
        self.recent.touch(&path, &summary.name)?;
        Ok(summary)
    }

    pub fn close_project(&self) {
        *lock(&self.project) = None;
    }

    pub fn current_project(&self) -> Result<Option<ProjectSummary>> {
        let guard = lock(&self.project);
        guard.as_ref().map(|p| summary(&p.path, &p.store)).transpose()
    }

    /// Runs `f` on the open project's connection.
    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.project);
        let project = guard.as_mut().ok_or_else(no_project)?;
        f(&mut project.store)
    }

    /// The open project's file, for long operations that open their own connection.
    fn project_file(&self) -> Result<PathBuf> {
        lock(&self.project).as_ref().map(|p| p.path.clone()).ok_or_else(no_project)
    }

    // -------------------------------------------------------------------------------------- model

    /// The loaded model, or an error saying how to load one.
    pub fn model(&self) -> Result<Arc<LoadedModel>> {
        self.model.read().unwrap_or_else(|e| e.into_inner()).clone().ok_or_else(no_model)
    }

    fn set_model(&self, model: LoadedModel) -> Arc<LoadedModel> {
        let model = Arc::new(model);
        *self.model.write().unwrap_or_else(|e| e.into_inner()) = Some(model.clone());
        model
    }

    /// Replaces the loaded model by `change` of a copy of it (the weights are shared, not copied),
    /// under the write lock, so two changes never lose one another. Work that already holds the
    /// model (a scoring job, an evaluation) finishes with the one it started with.
    fn change_model(&self, change: impl FnOnce(&mut LoadedModel) -> Result<()>) -> Result<Arc<LoadedModel>> {
        let mut guard = self.model.write().unwrap_or_else(|e| e.into_inner());
        let current = guard.as_ref().ok_or_else(no_model)?;
        let mut model =
            LoadedModel { plm: current.plm.clone(), spec: current.spec.clone(), device: current.device };
        change(&mut model)?;
        let model = Arc::new(model);
        *guard = Some(model.clone());
        Ok(model)
    }
}

/// `path` with `.cloze` added when it has no extension.
fn project_path(path: &str) -> Result<PathBuf> {
    let trimmed = path.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid("give the project file's path, e.g. ~/reviews.cloze"));
    }
    let expanded = match trimmed.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rest)),
        None => None,
    };
    let mut p = expanded.unwrap_or_else(|| PathBuf::from(trimmed));
    if p.extension().is_none() {
        p.set_extension("cloze");
    }
    Ok(p)
}

fn summary(path: &Path, store: &Store) -> Result<ProjectSummary> {
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut datasets = Vec::new();
    let mut label_sets = Vec::new();
    for d in store.datasets()? {
        for set in store.label_sets(d.id)? {
            label_sets.push(data::label_set_info(store, &set)?);
        }
        datasets.push(data::dataset_info(store, d)?);
    }
    Ok(ProjectSummary {
        path: path.display().to_string(),
        name,
        datasets,
        label_sets,
        models: model::model_records(store)?,
        templates: store.templates()?,
        verbalizers: store.verbalizers()?,
        notices: store.notices().to_vec(),
    })
}

#[cfg(test)]
pub(crate) mod tests;
