//! Cancelling long jobs.

use tauri::State;

use crate::jobs::Jobs;

/// Asks a running job to stop; `false` when it has already finished.
#[tauri::command]
#[specta::specta]
pub fn cancel_job(jobs: State<'_, Jobs>, job: String) -> bool {
    jobs.cancel(&job)
}
