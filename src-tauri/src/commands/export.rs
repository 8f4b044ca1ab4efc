//! Export screen: labelled data with provenance.

use cloze::studio::views::{ExportRequest, ExportResult};
use tauri::State;

use crate::error::AppError;
use crate::jobs::{Shared, run};

#[tauri::command]
#[specta::specta]
pub async fn export_labels(
    studio: State<'_, Shared>,
    request: ExportRequest,
) -> Result<ExportResult, AppError> {
    run(&studio, move |s| s.export_labels(&request)).await
}
