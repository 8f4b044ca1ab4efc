//! Data screen: preview, import, label sets, statistics, rows.

use cloze::studio::views::{
    DatasetStats, FilePreview, ImportRequest, ImportResult, ImportSettings, LabelSetInfo, RowPage,
};
use tauri::{AppHandle, Runtime, State, Window};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};
use crate::paths::{PickPurpose, check_path};

#[tauri::command]
#[specta::specta]
pub async fn preview_file<R: Runtime>(
    window: Window<R>,
    studio: State<'_, Shared>,
    path: String,
    settings: ImportSettings,
) -> Result<FilePreview, AppError> {
    check_path(&window, &path, &[PickPurpose::DataFile])?;
    run(&studio, move |s| s.preview_file(&path, &settings)).await
}

#[tauri::command]
#[specta::specta]
pub async fn import_dataset<R: Runtime>(
    app: AppHandle<R>,
    window: Window<R>,
    job: String,
    request: ImportRequest,
) -> Result<ImportResult, AppError> {
    check_path(&window, &request.path, &[PickPurpose::DataFile])?;
    run_job(&app, job, move |s, p| s.import_dataset(&request, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn create_label_set(
    studio: State<'_, Shared>,
    dataset_id: i64,
    name: String,
    classes: Vec<String>,
) -> Result<LabelSetInfo, AppError> {
    run(&studio, move |s| s.create_label_set(dataset_id, &name, &classes)).await
}

#[tauri::command]
#[specta::specta]
pub async fn dataset_stats(
    studio: State<'_, Shared>,
    dataset_id: i64,
    label_set_id: Option<i64>,
) -> Result<DatasetStats, AppError> {
    run(&studio, move |s| s.dataset_stats(dataset_id, label_set_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn rows_page(
    studio: State<'_, Shared>,
    dataset_id: i64,
    label_set_id: Option<i64>,
    offset: i64,
    limit: i64,
) -> Result<RowPage, AppError> {
    run(&studio, move |s| s.rows_page(dataset_id, label_set_id, offset, limit)).await
}
