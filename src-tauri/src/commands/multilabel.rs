//! Multi-label label sets (Label screen's Several labels panel): the switch, the yes/no prompt,
//! scoring as a job, thresholds fitted or set by hand, and the metrics.

use cloze::studio::views::{MultiLabelPromptSpec, MultiLabelView};
use tauri::{AppHandle, Runtime, State};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};

#[tauri::command]
#[specta::specta]
pub async fn multi_label(studio: State<'_, Shared>, label_set_id: i64) -> Result<MultiLabelView, AppError> {
    run(&studio, move |s| s.multi_label(label_set_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_multi_label(
    studio: State<'_, Shared>,
    label_set_id: i64,
    on: bool,
) -> Result<MultiLabelView, AppError> {
    run(&studio, move |s| s.set_multi_label(label_set_id, on)).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_multi_label_prompt(
    studio: State<'_, Shared>,
    label_set_id: i64,
    prompt: MultiLabelPromptSpec,
) -> Result<MultiLabelView, AppError> {
    run(&studio, move |s| s.set_multi_label_prompt(label_set_id, &prompt)).await
}

#[tauri::command]
#[specta::specta]
pub async fn set_multi_label_thresholds(
    studio: State<'_, Shared>,
    label_set_id: i64,
    values: Vec<f64>,
) -> Result<MultiLabelView, AppError> {
    run(&studio, move |s| s.set_multi_label_thresholds(label_set_id, &values)).await
}

#[tauri::command]
#[specta::specta]
pub async fn fit_multi_label_thresholds(
    studio: State<'_, Shared>,
    label_set_id: i64,
) -> Result<MultiLabelView, AppError> {
    run(&studio, move |s| s.fit_multi_label_thresholds(label_set_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn score_multi_label<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    label_set_id: i64,
    run: Option<String>,
) -> Result<MultiLabelView, AppError> {
    run_job(&app, job, move |s, p| s.score_multi_label_with(label_set_id, run.as_deref(), p)).await
}
