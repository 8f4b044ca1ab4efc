//! Projects screen: create, open, close, the recent list.

use cloze::studio::views::{ProjectSummary, RecentProject};
use tauri::{Runtime, State, Window};

use crate::error::AppError;
use crate::jobs::{Shared, run};
use crate::paths::{PickPurpose, check_path};

#[tauri::command]
#[specta::specta]
pub async fn recent_projects(studio: State<'_, Shared>) -> Result<Vec<RecentProject>, AppError> {
    run(&studio, |s| s.recent_projects()).await
}

#[tauri::command]
#[specta::specta]
pub async fn forget_recent_project(
    studio: State<'_, Shared>,
    path: String,
) -> Result<Vec<RecentProject>, AppError> {
    run(&studio, move |s| s.forget_recent_project(&path)).await
}

#[tauri::command]
#[specta::specta]
pub async fn create_project<R: Runtime>(
    window: Window<R>,
    studio: State<'_, Shared>,
    path: String,
) -> Result<ProjectSummary, AppError> {
    check_path(&window, &path, &[PickPurpose::NewProject])?;
    run(&studio, move |s| s.create_project(&path)).await
}

#[tauri::command]
#[specta::specta]
pub async fn open_project<R: Runtime>(
    window: Window<R>,
    studio: State<'_, Shared>,
    path: String,
) -> Result<ProjectSummary, AppError> {
    // A recent project opens as it is; any other file must have been chosen in this window.
    let studio_ = studio.inner().clone();
    let recent = tauri::async_runtime::spawn_blocking(move || studio_.recent_projects())
        .await
        .map_err(AppError::internal)??;
    let same = |p: &str| p == path.trim() || cloze::files::same_file(p.as_ref(), path.trim().as_ref());
    if !recent.iter().any(|r| same(&r.path)) {
        check_path(&window, &path, &[PickPurpose::Project, PickPurpose::NewProject])?;
    }
    run(&studio, move |s| s.open_project(&path)).await
}

#[tauri::command]
#[specta::specta]
pub async fn close_project(studio: State<'_, Shared>) -> Result<(), AppError> {
    run(&studio, |s| {
        s.close_project();
        Ok(())
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn current_project(studio: State<'_, Shared>) -> Result<Option<ProjectSummary>, AppError> {
    run(&studio, |s| s.current_project()).await
}
