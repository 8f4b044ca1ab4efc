//! Model screen: Hugging Face search and download, the cache, devices, loading.

use cloze::plm::Precision;
use cloze::studio::views::{
    CachedModelView, DeviceKind, DeviceOption, DownloadedGguf, HubDetails, HubPage, HubQuery,
    ModelTypeOption, ModelView,
};
use tauri::{AppHandle, Manager, Runtime, State, Window};

use crate::error::AppError;
use crate::jobs::{Shared, run, run_job};
use crate::paths::{PickPurpose, check_path};

#[tauri::command]
#[specta::specta]
pub async fn hub_search(
    studio: State<'_, Shared>,
    query: HubQuery,
    next: Option<String>,
) -> Result<HubPage, AppError> {
    run(&studio, move |s| s.hub_search(&query, next.as_deref())).await
}

#[tauri::command]
#[specta::specta]
pub async fn hub_details(studio: State<'_, Shared>, repo_id: String) -> Result<HubDetails, AppError> {
    run(&studio, move |s| s.hub_details(&repo_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn hub_download<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    repo_id: String,
) -> Result<CachedModelView, AppError> {
    run_job(&app, job, move |s, p| s.hub_download(&repo_id, p)).await
}

/// One GGUF file of a repository (a file name from its details, or a quantisation).
#[tauri::command]
#[specta::specta]
pub async fn hub_download_gguf<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    repo_id: String,
    file: String,
) -> Result<DownloadedGguf, AppError> {
    run_job(&app, job, move |s, p| s.hub_download_gguf(&repo_id, &file, p)).await
}

/// The model types the Hub search's family filter offers.
#[tauri::command]
#[specta::specta]
pub async fn model_types(studio: State<'_, Shared>) -> Result<Vec<ModelTypeOption>, AppError> {
    run(&studio, |s| Ok(s.model_types())).await
}

#[tauri::command]
#[specta::specta]
pub async fn cached_models(studio: State<'_, Shared>) -> Result<Vec<CachedModelView>, AppError> {
    run(&studio, |s| s.cached_models()).await
}

#[tauri::command]
#[specta::specta]
pub async fn remove_cached_model(
    studio: State<'_, Shared>,
    repo_id: String,
) -> Result<Vec<CachedModelView>, AppError> {
    run(&studio, move |s| s.remove_cached_model(&repo_id)).await
}

#[tauri::command]
#[specta::specta]
pub async fn devices(studio: State<'_, Shared>) -> Result<Vec<DeviceOption>, AppError> {
    run(&studio, |s| Ok(s.devices())).await
}

#[tauri::command]
#[specta::specta]
pub async fn load_model<R: Runtime>(
    app: AppHandle<R>,
    window: Window<R>,
    job: String,
    spec: String,
    device: DeviceKind,
) -> Result<ModelView, AppError> {
    check_model_spec(&app, &window, &spec).await?;
    run_job(&app, job, move |s, p| s.load_model(&spec, device, p)).await
}

/// A model named by the web view: a downloaded model loads by its name (org/name[@revision], or
/// org/name/FILE.gguf[@revision]) from the cache; a folder must have been chosen in this window (or
/// be inside one that was).
pub async fn check_model_spec<R: Runtime>(
    app: &AppHandle<R>,
    window: &Window<R>,
    spec: &str,
) -> Result<(), AppError> {
    let studio = app.state::<Shared>().inner().clone();
    let name = match cloze::hub::gguf_spec(spec.trim()) {
        Some((repo, _, _)) => repo.to_string(),
        None => spec.trim().split('@').next().unwrap_or_default().to_string(),
    };
    let cached = tauri::async_runtime::spawn_blocking(move || studio.cached_models())
        .await
        .map_err(AppError::internal)??
        .iter()
        .any(|m| m.repo_id == name);
    if !cached || std::path::Path::new(spec.trim()).exists() {
        check_path(window, spec, &[PickPurpose::ModelFolder])?;
    }
    Ok(())
}

/// The loaded model's precision (f32, or bf16 on the CPU), changed without reloading it.
#[tauri::command]
#[specta::specta]
pub async fn set_precision(studio: State<'_, Shared>, precision: Precision) -> Result<ModelView, AppError> {
    run(&studio, move |s| s.set_precision(precision)).await
}

#[tauri::command]
#[specta::specta]
pub async fn current_model(studio: State<'_, Shared>) -> Result<Option<ModelView>, AppError> {
    run(&studio, |s| Ok(s.current_model())).await
}
