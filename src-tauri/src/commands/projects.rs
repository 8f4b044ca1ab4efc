//! Projects screen: create, open, close, the recent list.

use cloze::studio::views::{ProjectSummary, RecentProject};
use tauri::State;

use crate::error::AppError;
use crate::jobs::{Shared, run};

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
pub async fn create_project(studio: State<'_, Shared>, path: String) -> Result<ProjectSummary, AppError> {
    run(&studio, move |s| s.create_project(&path)).await
}

#[tauri::command]
#[specta::specta]
pub async fn open_project(studio: State<'_, Shared>, path: String) -> Result<ProjectSummary, AppError> {
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
