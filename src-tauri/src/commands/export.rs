//! Export screen: labelled data with provenance; runs as prompt bundles, PEFT adapters, OpenPrompt
//! files, model folders, reports and cluster jobs (jobs with progress); PEFT adapters and bundles in;
//! a report written here opened in the system's browser.

use cloze::studio::exports::{PromptImportRequest, RunExportRequest, RunExportResult};
use cloze::studio::tuning::RunSummaryView;
use cloze::studio::views::{ExportRequest, ExportResult};
use tauri::{AppHandle, Manager, Runtime, State, Window};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};
use crate::paths::{PickPurpose, check_path};
use crate::reports::Reports;

#[tauri::command]
#[specta::specta]
pub async fn export_labels<R: Runtime>(
    window: Window<R>,
    studio: State<'_, Shared>,
    request: ExportRequest,
) -> Result<ExportResult, AppError> {
    check_path(&window, &request.path, &[PickPurpose::ExportFile])?;
    run(&studio, move |s| s.export_labels(&request)).await
}

#[tauri::command]
#[specta::specta]
pub async fn export_run<R: Runtime>(
    app: AppHandle<R>,
    window: Window<R>,
    job: String,
    request: RunExportRequest,
) -> Result<RunExportResult, AppError> {
    check_path(&window, &request.path, &[PickPurpose::ExportFile])?;
    let written = run_job(&app, job, move |s, p| s.export_run(&request, p)).await?;
    app.state::<Reports>().record(written.kind, &written.path);
    Ok(written)
}

#[tauri::command]
#[specta::specta]
pub async fn import_prompt<R: Runtime>(
    app: AppHandle<R>,
    window: Window<R>,
    job: String,
    request: PromptImportRequest,
) -> Result<RunSummaryView, AppError> {
    check_path(&window, &request.path, &[PickPurpose::ModelFolder, PickPurpose::DataFile])?;
    run_job(&app, job, move |s, p| s.import_prompt(&request, p)).await
}

/// Opens a report this session's `export_run` wrote in the system's default browser (see
/// [`crate::reports`]); any other path is refused with kind `not-allowed`.
#[tauri::command]
#[specta::specta]
pub async fn open_report(reports: State<'_, Reports>, path: String) -> Result<(), AppError> {
    reports.open(&path).await
}
