//! Cloze Studio's desktop shell (Tauri 2): thin commands over the engine's studio
//! (`cloze::studio`), progress events, and the app's state. No ML code lives here.
//!
//! The UI's TypeScript bindings (`ui/src/bindings.ts`) are generated from the commands and types
//! below by tauri-specta; `cargo test` fails when they drift (`UPDATE_BINDINGS=1 cargo test -p
//! cloze-studio bindings` rewrites them).

mod commands;
pub mod error;
pub mod jobs;
pub mod paths;
pub mod reports;

use std::sync::Arc;

use cloze::hub::HubClient;
use cloze::studio::Studio;
use tauri::Manager;
use tauri_specta::{ErrorHandlingMode, collect_commands, collect_events};

pub use error::AppError;
pub use jobs::{GeneratedText, JobProgress, Jobs, Shared};
pub use paths::Picked;
pub use reports::Reports;

/// Where the generated bindings live, from the package root.
pub const BINDINGS: &str = "ui/src/bindings.ts";

/// Every command and event, for one runtime (a macro: the command registration generates items
/// that cannot be generic).
macro_rules! builder_for {
    ($runtime:ty) => {{
        use crate::commands::{
            app, data, ensembles, export, labelling, models, multilabel, projects, prompts, tuning,
        };
        tauri_specta::Builder::<$runtime>::new()
            .commands(collect_commands![
                app::ui_ready::<$runtime>,
                crate::commands::jobs::cancel_job,
                crate::paths::pick_path::<$runtime>,
                projects::recent_projects,
                projects::forget_recent_project,
                projects::create_project::<$runtime>,
                projects::open_project::<$runtime>,
                projects::close_project,
                projects::current_project,
                data::preview_file::<$runtime>,
                data::import_dataset::<$runtime>,
                data::create_label_set,
                data::dataset_stats,
                data::rows_page,
                models::hub_search,
                models::hub_details,
                models::hub_download::<$runtime>,
                models::hub_download_gguf::<$runtime>,
                models::model_types,
                models::cached_models,
                models::remove_cached_model,
                models::devices,
                models::load_model::<$runtime>,
                models::current_model,
                models::set_precision,
                prompts::parse_template,
                prompts::template_from_segments,
                prompts::preview_prompt,
                prompts::check_verbalizer,
                prompts::zero_shot,
                prompts::evaluate_prompt::<$runtime>,
                prompts::suggest_label_words,
                prompts::suggest_template_edits::<$runtime>,
                prompts::generate_templates::<$runtime>,
                prompts::save_prompt,
                prompts::generation_prompt,
                prompts::generate_text::<$runtime>,
                ensembles::prompt_versions,
                ensembles::fit_ensemble::<$runtime>,
                ensembles::save_ensemble,
                ensembles::ensembles,
                ensembles::delete_ensemble,
                ensembles::score_rows_with_ensemble::<$runtime>,
                ensembles::ensemble_zero_shot,
                ensembles::export_ensemble::<$runtime>,
                labelling::start_labelling,
                labelling::label_state,
                labelling::label_current,
                labelling::accept_suggestion,
                labelling::skip_current,
                labelling::undo_last,
                labelling::score_rows::<$runtime>,
                labelling::runs,
                labelling::label_table,
                labelling::bulk_accept,
                labelling::check_labels::<$runtime>,
                labelling::accept_check_suggestion,
                multilabel::multi_label,
                multilabel::set_multi_label,
                multilabel::set_multi_label_prompt,
                multilabel::set_multi_label_thresholds,
                multilabel::fit_multi_label_thresholds,
                multilabel::score_multi_label::<$runtime>,
                export::export_labels::<$runtime>,
                export::export_run::<$runtime>,
                export::import_prompt::<$runtime>,
                export::open_report,
                tuning::tune_defaults,
                tuning::recommend_tuning,
                tuning::estimate_tuning::<$runtime>,
                tuning::start_tuning::<$runtime>,
                tuning::list_runs,
                tuning::run_details,
                tuning::compare_runs,
                tuning::tune_over_seeds::<$runtime>,
                tuning::list_seed_groups,
                tuning::seed_group,
            ])
            .events(collect_events![JobProgress, GeneratedText])
            .error_handling(ErrorHandlingMode::Throw)
            // One shape per type for both directions (Option fields are always present, as null).
            .disable_serde_phases()
            // The studio never sends NaN or infinities, so floats are plain numbers.
            .semantic_types(specta_typescript::semantic::Configuration::empty().enable_lossless_floats())
            // Row and run ids are SQLite integers, far below 2^53.
            .dangerously_cast_bigints_to_number()
    }};
}

/// Every command and event, for the invoke handler and the bindings.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    builder_for!(tauri::Wry)
}

/// The same for Tauri's mock runtime, to test the commands through IPC.
#[cfg(test)]
pub(crate) fn mock_specta_builder() -> tauri_specta::Builder<tauri::test::MockRuntime> {
    builder_for!(tauri::test::MockRuntime)
}

/// The bindings file's text.
pub fn bindings() -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("cloze-bindings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("bindings.ts");
    let typescript = specta_typescript::Typescript::default()
        .header("// Generated by tauri-specta from the Rust commands and types; do not edit.\n// Regenerate: UPDATE_BINDINGS=1 cargo test -p cloze-studio bindings\n");
    specta_builder().export(typescript, &file).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&file).map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    text
}

/// The studio for this user: recent projects in the app's config folder, the Hub client from the
/// environment (HF_TOKEN, HF_HOME, HF_HUB_OFFLINE, ...).
fn studio(app: &tauri::App) -> Result<Studio, Box<dyn std::error::Error>> {
    let config = app.path().app_config_dir()?;
    Ok(Studio::new(config, HubClient::from_env()))
}

/// Starts the app.
pub fn run() {
    let _ = commands::app::STARTED.set(std::time::Instant::now());
    let builder = specta_builder();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            let shared: Shared = Arc::new(studio(app)?);
            app.manage(shared);
            app.manage(Jobs::default());
            app.manage(Picked::from_env());
            app.manage(Reports::from_env());
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("Cloze Studio could not start its window (see the message above)");
}

#[cfg(test)]
mod ipc_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in bindings are exactly what the Rust side generates.
    #[test]
    fn bindings_are_up_to_date() {
        let generated = bindings().expect("bindings export");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS);
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == generated,
            "{BINDINGS} is out of date with the Rust commands; run `UPDATE_BINDINGS=1 cargo test -p cloze-studio bindings` \
             and commit the result"
        );
    }
}
