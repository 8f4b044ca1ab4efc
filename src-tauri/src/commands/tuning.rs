//! Tuning: defaults per strategy, the recommended strategy for the form's settings and why, a run's estimated cost (a job), start / resume a run (a job with progress and cancel), list runs,
//! one run's details with live charts, and two runs' config differences; runs over seeds (a job:
//! one run per seed), the project's groups of them and one group's spread.

use cloze::studio::seeds::SeedGroupView;
use cloze::studio::tuning::{ConfigDiff, RunDetailsView, RunSummaryView, TuneRequest};
use cloze::tune::auto::AutoChoice;
use cloze::tune::{Estimate, Hyper, TuneStrategy};
use tauri::{AppHandle, Runtime, State};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};

#[tauri::command]
#[specta::specta]
pub async fn tune_defaults(studio: State<'_, Shared>, strategy: TuneStrategy) -> Result<Hyper, AppError> {
    run(&studio, move |s| Ok(s.tune_defaults(strategy))).await
}

/// "Recommended": the strategy `cloze tune --strategy auto` chooses for these settings, and why
/// (with a time budget, the choice's run is estimated first).
#[tauri::command]
#[specta::specta]
pub async fn recommend_tuning(
    studio: State<'_, Shared>,
    request: TuneRequest,
) -> Result<AutoChoice, AppError> {
    run(&studio, move |s| s.recommend_tuning(&request)).await
}

#[tauri::command]
#[specta::specta]
pub async fn start_tuning<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    request: TuneRequest,
) -> Result<RunSummaryView, AppError> {
    run_job(&app, job, move |s, p| s.start_tuning(&request, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn estimate_tuning<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    request: TuneRequest,
) -> Result<Estimate, AppError> {
    run_job(&app, job, move |s, p| s.estimate_tuning(&request, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_runs(studio: State<'_, Shared>) -> Result<Vec<RunSummaryView>, AppError> {
    run(&studio, move |s| s.list_runs()).await
}

#[tauri::command]
#[specta::specta]
pub async fn run_details(studio: State<'_, Shared>, name: String) -> Result<RunDetailsView, AppError> {
    run(&studio, move |s| s.run_details(&name)).await
}

#[tauri::command]
#[specta::specta]
pub async fn compare_runs(
    studio: State<'_, Shared>,
    a: String,
    b: String,
) -> Result<Vec<ConfigDiff>, AppError> {
    run(&studio, move |s| s.compare_runs(&a, &b)).await
}

#[tauri::command]
#[specta::specta]
pub async fn tune_over_seeds<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    request: TuneRequest,
) -> Result<SeedGroupView, AppError> {
    run_job(&app, job, move |s, p| s.tune_over_seeds(&request, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_seed_groups(studio: State<'_, Shared>) -> Result<Vec<SeedGroupView>, AppError> {
    run(&studio, move |s| s.list_seed_groups()).await
}

#[tauri::command]
#[specta::specta]
pub async fn seed_group(studio: State<'_, Shared>, name: String) -> Result<SeedGroupView, AppError> {
    run(&studio, move |s| s.seed_group(&name)).await
}
