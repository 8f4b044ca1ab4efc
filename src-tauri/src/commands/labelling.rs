//! Label screen: the session's keys, scoring, the table view, bulk accept, checking the labels.

use cloze::label::QueueOrder;
use cloze::label::suspicious::SuspicionOptions;
use cloze::studio::views::{LabelCheckView, LabelState, PromptSpec, RowView, RunView, TablePage, TableQuery};
use tauri::{AppHandle, Runtime, State};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};

#[tauri::command]
#[specta::specta]
pub async fn start_labelling(
    studio: State<'_, Shared>,
    label_set_id: i64,
    strategy: QueueOrder,
    run_id: Option<i64>,
) -> Result<LabelState, AppError> {
    run(&studio, move |s| s.start_labelling(label_set_id, strategy, run_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn label_state(studio: State<'_, Shared>) -> Result<Option<LabelState>, AppError> {
    run(&studio, |s| s.label_state()).await
}

#[tauri::command]
#[specta::specta]
pub async fn label_current(studio: State<'_, Shared>, class_index: u32) -> Result<LabelState, AppError> {
    run(&studio, move |s| s.label_current(class_index as usize)).await
}

#[tauri::command]
#[specta::specta]
pub async fn accept_suggestion(studio: State<'_, Shared>) -> Result<LabelState, AppError> {
    run(&studio, |s| s.accept_suggestion()).await
}

#[tauri::command]
#[specta::specta]
pub async fn skip_current(studio: State<'_, Shared>) -> Result<LabelState, AppError> {
    run(&studio, |s| s.skip_current()).await
}

#[tauri::command]
#[specta::specta]
pub async fn undo_last(studio: State<'_, Shared>) -> Result<LabelState, AppError> {
    run(&studio, |s| s.undo_last()).await
}

#[tauri::command]
#[specta::specta]
pub async fn score_rows<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    label_set_id: i64,
    prompt: PromptSpec,
) -> Result<RunView, AppError> {
    run_job(&app, job, move |s, p| s.score_rows(label_set_id, &prompt, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn runs(studio: State<'_, Shared>, label_set_id: i64) -> Result<Vec<RunView>, AppError> {
    run(&studio, move |s| s.runs(label_set_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn label_table(
    studio: State<'_, Shared>,
    label_set_id: i64,
    query: TableQuery,
) -> Result<TablePage, AppError> {
    run(&studio, move |s| s.label_table(label_set_id, &query)).await
}

#[tauri::command]
#[specta::specta]
pub async fn bulk_accept(
    studio: State<'_, Shared>,
    label_set_id: i64,
    run_id: i64,
    row_ids: Vec<i64>,
) -> Result<i64, AppError> {
    run(&studio, move |s| s.bulk_accept(label_set_id, run_id, &row_ids)).await
}

#[tauri::command]
#[specta::specta]
pub async fn check_labels<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    label_set_id: i64,
    options: SuspicionOptions,
) -> Result<LabelCheckView, AppError> {
    run_job(&app, job, move |s, p| s.check_labels(label_set_id, options, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn accept_check_suggestion(
    studio: State<'_, Shared>,
    label_set_id: i64,
    row_id: i64,
) -> Result<RowView, AppError> {
    run(&studio, move |s| s.accept_check_suggestion(label_set_id, row_id)).await
}
