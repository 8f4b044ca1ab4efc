//! Prompt studio: templates, previews, verbalizers, live probabilities, evaluation, saving, and the
//! try-it panel's generation.

use cloze::generate::GenerateOptions;
use cloze::studio::views::{
    EvaluationView, GenerationView, PredictionView, PromptSpec, RenderPreview, SavedPrompt, SegmentView,
    TemplateSuggestions, TemplateView, VerbalizerCheck, WordSuggestions,
};
use cloze::template::chat::Chat;
use tauri::{AppHandle, Runtime, State, Window};

use crate::commands::models::check_model_spec;
use crate::error::AppError;
use crate::jobs::{Shared, run, run_job, send_pieces};

#[tauri::command]
#[specta::specta]
pub async fn parse_template(studio: State<'_, Shared>, source: String) -> Result<TemplateView, AppError> {
    run(&studio, move |s| s.parse_template(&source)).await
}

#[tauri::command]
#[specta::specta]
pub async fn template_from_segments(
    studio: State<'_, Shared>,
    segments: Vec<SegmentView>,
) -> Result<TemplateView, AppError> {
    run(&studio, move |s| s.template_from_segments(&segments)).await
}

#[tauri::command]
#[specta::specta]
pub async fn preview_prompt(
    studio: State<'_, Shared>,
    prompt: PromptSpec,
    row_ids: Vec<i64>,
) -> Result<Vec<RenderPreview>, AppError> {
    run(&studio, move |s| s.preview_prompt(&prompt, &row_ids)).await
}

#[tauri::command]
#[specta::specta]
pub async fn check_verbalizer(
    studio: State<'_, Shared>,
    prompt: PromptSpec,
) -> Result<VerbalizerCheck, AppError> {
    run(&studio, move |s| s.check_verbalizer(&prompt)).await
}

#[tauri::command]
#[specta::specta]
pub async fn zero_shot(
    studio: State<'_, Shared>,
    prompt: PromptSpec,
    row_ids: Vec<i64>,
) -> Result<Vec<PredictionView>, AppError> {
    run(&studio, move |s| s.zero_shot(&prompt, &row_ids)).await
}

#[tauri::command]
#[specta::specta]
pub async fn evaluate_prompt<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    prompt: PromptSpec,
    label_set_id: i64,
) -> Result<EvaluationView, AppError> {
    run_job(&app, job, move |s, p| s.evaluate_prompt(&prompt, label_set_id, p)).await
}

#[tauri::command]
#[specta::specta]
pub async fn suggest_label_words(
    studio: State<'_, Shared>,
    prompt: PromptSpec,
    label_set_id: i64,
    per_class: u32,
) -> Result<Vec<WordSuggestions>, AppError> {
    run(&studio, move |s| s.suggest_label_words(&prompt, label_set_id, per_class as usize)).await
}

#[tauri::command]
#[specta::specta]
pub async fn save_prompt(
    studio: State<'_, Shared>,
    name: String,
    prompt: PromptSpec,
) -> Result<SavedPrompt, AppError> {
    run(&studio, move |s| s.save_prompt(&name, &prompt)).await
}

#[tauri::command]
#[specta::specta]
pub async fn generation_prompt(
    studio: State<'_, Shared>,
    template: String,
    chat: Chat,
    row_id: i64,
) -> Result<String, AppError> {
    run(&studio, move |s| s.generation_prompt(&template, &chat, row_id)).await
}

/// Generation as job `job`: each piece arrives as a `generated-text` event, then the result.
#[tauri::command]
#[specta::specta]
pub async fn generate_text<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    prompt: String,
    options: GenerateOptions,
) -> Result<GenerationView, AppError> {
    let mut pieces = send_pieces(&app, &job);
    run_job(&app, job, move |s, p| s.generate(&prompt, &options, &mut pieces, p)).await
}

/// Edits of the template's fixed words, scored on the label set's labelled rows (a job).
#[tauri::command]
#[specta::specta]
pub async fn suggest_template_edits<R: Runtime>(
    app: AppHandle<R>,
    job: String,
    prompt: PromptSpec,
    label_set_id: i64,
) -> Result<TemplateSuggestions, AppError> {
    run_job(&app, job, move |s, p| s.suggest_template_edits(&prompt, label_set_id, p)).await
}

/// Templates a T5 model writes (LM-BFF), scored on the label set's labelled rows (a job); the
/// generator is a chosen folder or a downloaded model, or the loaded model when `None`.
#[tauri::command]
#[specta::specta]
pub async fn generate_templates<R: Runtime>(
    app: AppHandle<R>,
    window: Window<R>,
    job: String,
    prompt: PromptSpec,
    label_set_id: i64,
    generator: Option<String>,
) -> Result<TemplateSuggestions, AppError> {
    if let Some(spec) = generator.as_deref().filter(|g| !g.trim().is_empty()) {
        check_model_spec(&app, &window, spec).await?;
    }
    run_job(&app, job, move |s, p| {
        s.generate_template_suggestions(&prompt, label_set_id, generator.as_deref(), p)
    })
    .await
}
