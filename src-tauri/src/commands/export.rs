//! Export screen: labelled data with provenance.

use cloze::studio::views::{ExportRequest, ExportResult};
use tauri::{Runtime, State, Window};

use crate::error::AppError;
use crate::jobs::{Shared, run};
use crate::paths::{PickPurpose, check_path};

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
