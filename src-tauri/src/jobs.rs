//! Running the studio's work off the UI thread: every command runs on a blocking worker, and long
//! ones are jobs: they carry a job id chosen by the UI, report [`JobProgress`] events (at most
//! about 20 a second, and always the last) and stop when the UI calls `cancel_job`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloze::studio::Studio;
use cloze::studio::views::{GeneratedPiece, Progress};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event;

use crate::error::AppError;

/// The studio, shared by every command.
pub type Shared = Arc<Studio>;

/// Progress of a job, sent as the `job-progress` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type, Event)]
pub struct JobProgress {
    pub job: String,
    pub stage: String,
    pub done: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// A piece of text a generation job produced, sent as the `generated-text` event in the order the
/// model wrote them (every piece: pieces are not throttled like progress).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type, Event)]
pub struct GeneratedText {
    pub job: String,
    pub index: u32,
    pub text: String,
}

/// Sends each piece of job `job`'s text to the UI as a [`GeneratedText`] event. A window that is
/// gone cannot show it; generation goes on until the job is cancelled.
pub fn send_pieces<R: Runtime>(
    app: &AppHandle<R>,
    job: &str,
) -> impl FnMut(GeneratedPiece) -> bool + Send + 'static {
    let (app, job) = (app.clone(), job.to_string());
    move |p| {
        let _ = GeneratedText { job: job.clone(), index: p.index, text: p.text }.emit(&app);
        true
    }
}

/// Cancel flags of the running jobs, by job id.
#[derive(Debug, Default)]
pub struct Jobs(Mutex<HashMap<String, Arc<AtomicBool>>>);

impl Jobs {
    fn start(&self, job: &str) -> Result<Arc<AtomicBool>, AppError> {
        let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if jobs.contains_key(job) {
            return Err(AppError {
                kind: cloze::error::ErrorKind::InvalidInput,
                message: format!("job {job:?} is already running; give each job its own id"),
            });
        }
        let flag = Arc::new(AtomicBool::new(false));
        jobs.insert(job.to_string(), flag.clone());
        Ok(flag)
    }

    fn finish(&self, job: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(job);
    }

    /// Asks a job to stop; `false` when no such job is running.
    pub fn cancel(&self, job: &str) -> bool {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).get(job) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

/// Runs a quick request on a blocking worker, so the window never waits on SQLite or the disk.
pub async fn run<T, F>(studio: &Shared, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&Studio) -> cloze::Result<T> + Send + 'static,
{
    let studio = studio.clone();
    tauri::async_runtime::spawn_blocking(move || f(&studio))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::from)
}

/// Runs a long request as job `job`, with progress events and cancellation.
pub async fn run_job<R, T, F>(app: &AppHandle<R>, job: String, f: F) -> Result<T, AppError>
where
    R: Runtime,
    T: Send + 'static,
    F: FnOnce(&Studio, &mut dyn FnMut(Progress) -> bool) -> cloze::Result<T> + Send + 'static,
{
    let studio = app.state::<Shared>().inner().clone();
    let cancel = app.state::<Jobs>().start(&job)?;
    let handle = app.clone();
    let id = job.clone();
    let result = tauri::async_runtime::spawn_blocking(move || {
        let mut last: Option<Instant> = None;
        let mut progress = |p: Progress| {
            let end = p.total.is_some_and(|t| p.done >= t);
            if end || last.is_none_or(|l| l.elapsed() >= Duration::from_millis(50)) {
                last = Some(Instant::now());
                let event = JobProgress {
                    job: id.clone(),
                    stage: p.stage,
                    done: p.done as f64,
                    total: p.total.map(|t| t as f64),
                    message: p.message,
                };
                // A window that is gone cannot show progress; the work goes on.
                let _ = event.emit(&handle);
            }
            !cancel.load(Ordering::Relaxed)
        };
        f(&studio, &mut progress)
    })
    .await;
    app.state::<Jobs>().finish(&job);
    result.map_err(AppError::internal)?.map_err(AppError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_flags() {
        let jobs = Jobs::default();
        let flag = jobs.start("a").unwrap();
        assert!(jobs.start("a").is_err(), "one id, one job");
        assert!(!jobs.cancel("b"));
        assert!(jobs.cancel("a"));
        assert!(flag.load(Ordering::Relaxed));
        jobs.finish("a");
        assert!(!jobs.cancel("a"));
    }
}
