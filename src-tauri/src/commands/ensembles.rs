//! Template ensembles in the prompt studio: saved prompt versions, fitting (a job), saving,
//! listing, deleting, and scoring rows for labelling with a saved ensemble (a job).

use cloze::studio::views::{EnsemblePredictionView, EnsembleRequest, EnsembleView, PromptVersion, RunView};
use tauri::{AppHandle, Runtime, State, Window};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};
use crate::paths::{PickPurpose, check_path};

#[tauri::command]
#[specta::specta]
pub async fn prompt_versions(studio: State<'_, Shared>) -> Result<Vec<PromptVersion>, AppError> {
    run(&studio, move |s| s.prompt_versions()).await
}

#[tauri::command]
#[specta::specta]
pub async fn fit_ensemble<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    request: EnsembleRequest,
) -> Result<EnsembleView, AppError> {
    run_job(&app, job, move |s, p| s.fit_ensemble(&request, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn save_ensemble(
    studio: State<'_, Shared>,
    name: String,
    json: String,
) -> Result<EnsembleView, AppError> {
    run(&studio, move |s| s.save_ensemble(&name, &json)).await
}

#[tauri::command]
#[specta::specta]
pub async fn ensembles(studio: State<'_, Shared>) -> Result<Vec<EnsembleView>, AppError> {
    run(&studio, move |s| s.ensembles()).await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_ensemble(studio: State<'_, Shared>, id: i64) -> Result<Vec<EnsembleView>, AppError> {
    run(&studio, move |s| s.delete_ensemble(id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn score_rows_with_ensemble<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    label_set_id: i64,
    ensemble_id: i64,
) -> Result<RunView, AppError> {
    run_job(&app, job, move |s, p| s.score_rows_with_ensemble(label_set_id, ensemble_id, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn ensemble_zero_shot(
    studio: State<'_, Shared>,
    ensemble_id: i64,
    row_ids: Vec<i64>,
) -> Result<Vec<EnsemblePredictionView>, AppError> {
    run(&studio, move |s| s.ensemble_zero_shot(ensemble_id, &row_ids)).await
}

#[tauri::command]
#[specta::specta]
pub async fn export_ensemble<R: Runtime>(
    window: Window<R>,
    studio: State<'_, Shared>,
    ensemble_id: i64,
    path: String,
) -> Result<String, AppError> {
    check_path(&window, &path, &[PickPurpose::ExportFile])?;
    run(&studio, move |s| s.export_ensemble(ensemble_id, &path)).await
}
