//! The Export screen's runs part: a run's prompt as a bundle, a PEFT adapter or OpenPrompt files,
//! a fine-tuned model folder, a report of one or more runs, a cluster job; and a PEFT adapter or a
//! prompt bundle imported as a run of the open project (`<project>.runs/<name>/`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Studio;
use super::tuning::{RunSummaryView, valid_name};
use super::views::{Progress, ProgressFn};
use crate::error::{Error, Result};
use crate::export::{bundle, job, model, openprompt, peft, report};
use crate::files::{AtomicDir, Replace, write_atomic};
use crate::tune::{DataSource, RunDir};
use crate::verbalizer::Verbalizer;

#[cfg(feature = "specta")]
use specta::Type;

/// What to export from runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
#[serde(rename_all = "kebab-case")]
pub enum RunExportKind {
    /// A prompt bundle folder (or `.zip`), which `cloze classify --prompt` and the app's import read.
    Bundle,
    /// A PEFT prompt-tuning adapter folder.
    Peft,
    /// OpenPrompt's template.txt and label_words.json.
    Openprompt,
    /// A fine-tuned run's model as a Hugging Face model folder with a model card.
    Model,
    /// One HTML file reporting the runs.
    Report,
    /// A transformers + peft + accelerate job folder.
    Job,
}

impl RunExportKind {
    fn stage(self) -> &'static str {
        match self {
            RunExportKind::Bundle => "export-bundle",
            RunExportKind::Peft => "export-peft",
            RunExportKind::Openprompt => "export-openprompt",
            RunExportKind::Model => "export-model",
            RunExportKind::Report => "export-report",
            RunExportKind::Job => "export-job",
        }
    }
}

/// What the Export screen sends to export runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RunExportRequest {
    /// The runs' names; several only for a report.
    pub runs: Vec<String>,
    pub kind: RunExportKind,
    /// The folder (or, for a report or a `.zip` bundle, the file) to write.
    pub path: String,
    /// Replace what is at `path`; without it an existing one is an `already-exists` error.
    pub replace: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RunExportResult {
    pub path: String,
    pub kind: RunExportKind,
    /// One sentence: what was written and how other tools load it.
    pub message: String,
}

/// What the Export screen sends to import a PEFT adapter or a prompt bundle as a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct PromptImportRequest {
    /// The adapter folder (adapter_config.json, adapter_model.safetensors) or the bundle.
    pub path: String,
    /// The run's name in the project.
    pub name: String,
    /// PEFT: the template around the input (the adapter's vectors go before it).
    pub template: Option<String>,
    /// PEFT: the label words per class.
    pub verbalizer: Option<Verbalizer>,
}

impl Studio {
    fn run_dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.runs_dir()?.join(valid_name(name)?);
        if !dir.join("config.json").is_file() {
            return Err(Error::missing(&dir, format!("there is no run {name:?} in this project")));
        }
        Ok(dir)
    }

    /// Exports runs as `request.kind` says; a job with progress (loading the model for PEFT and job
    /// exports takes a while).
    pub fn export_run(&self, request: &RunExportRequest, progress: ProgressFn) -> Result<RunExportResult> {
        let path = request.path.trim();
        if path.is_empty() {
            return Err(Error::invalid("give the folder or file to write"));
        }
        let out = Path::new(path);
        let replace: Replace = request.replace.into();
        let kind = request.kind;
        let runs = request.runs.iter().map(|r| self.run_dir(r)).collect::<Result<Vec<_>>>()?;
        let one = match (kind, runs.as_slice()) {
            (RunExportKind::Report, [_, ..]) => runs[0].clone(),
            (_, [one]) => one.clone(),
            (_, []) => return Err(Error::invalid("choose a run to export")),
            (_, _) => return Err(Error::invalid("only a report takes several runs; choose one run")),
        };
        if !progress(Progress::new(kind.stage(), 0, Some(1))) {
            return Err(Error::Cancelled);
        }
        let device = candle_core::Device::Cpu;
        let message = match kind {
            RunExportKind::Bundle => {
                let b = bundle::export_bundle(&one, out, replace)?;
                format!(
                    "wrote the prompt bundle ({} files); import it in Cloze Studio or classify with it",
                    b.manifest.files.len() + 1
                )
            }
            RunExportKind::Peft => {
                let p = peft::export_peft(&one, out, replace, &device)?;
                format!(
                    "wrote the PEFT adapter ({} virtual tokens × {}); load it with PeftModel.from_pretrained(model, \"{}\")",
                    p.virtual_tokens,
                    p.token_dim,
                    out.display()
                )
            }
            RunExportKind::Openprompt => {
                openprompt::export_openprompt(&one, out, replace)?;
                format!("wrote {} and {}", openprompt::TEMPLATE_FILE, openprompt::LABEL_WORDS_FILE)
            }
            RunExportKind::Model => {
                let m = model::export_model(&one, out, replace)?;
                format!(
                    "wrote the model folder; load it with {}.from_pretrained(\"{}\")",
                    m.auto_class,
                    out.display()
                )
            }
            RunExportKind::Report => {
                report::export_report(&runs, out, replace)?;
                "wrote the report; open it in a browser".to_string()
            }
            RunExportKind::Job => {
                let config = RunDir::new(&one).read_config()?;
                let rows = match &config.data {
                    DataSource::Project { label_set: Some(name), dataset, .. } => {
                        let store = crate::store::Store::open(&self.project_file()?)?;
                        let dataset: i64 = dataset
                            .parse()
                            .map_err(|_| Error::invalid("the run's dataset id is not a number"))?;
                        let set =
                            store.label_sets(dataset)?.into_iter().find(|s| &s.name == name).ok_or_else(
                                || {
                                    Error::missing(
                                        &one,
                                        format!("the run's label set {name:?} is no longer in the project"),
                                    )
                                },
                            )?;
                        store.labelled_examples(set.id)?
                    }
                    _ => {
                        return Err(Error::precondition(
                            "this run was not trained on the project's labels; export its job with `cloze export job RUN \
                             --train FILE`",
                        ));
                    }
                };
                let j = job::export_job(&one, rows, Vec::new(), out, replace, &device)?;
                format!(
                    "wrote the job ({} training, {} dev rows); run it with `accelerate launch train.py` in that folder",
                    j.train_rows, j.dev_rows
                )
            }
        };
        progress(Progress::new(kind.stage(), 1, Some(1)));
        Ok(RunExportResult { path: out.display().to_string(), kind, message })
    }

    /// Imports a PEFT prompt-tuning adapter or a prompt bundle as the run `request.name`.
    pub fn import_prompt(
        &self,
        request: &PromptImportRequest,
        progress: ProgressFn,
    ) -> Result<RunSummaryView> {
        let name = valid_name(&request.name)?;
        let src = PathBuf::from(request.path.trim());
        let dest = self.runs_dir()?.join(name);
        if dest.exists() {
            return Err(Error::already_exists(format!(
                "there is already a run {name:?}; choose another name for the import"
            )));
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        if !progress(Progress::new("import-prompt", 0, Some(1))) {
            return Err(Error::Cancelled);
        }
        let loaded = self.model().ok();
        let base = loaded.as_ref().map(|m| m.plm.dir().to_path_buf());
        if src.join(peft::ADAPTER_CONFIG).is_file() {
            let missing = |what: &str| {
                Error::invalid(format!(
                    "importing a PEFT adapter needs {what}; the adapter holds only the soft vectors"
                ))
            };
            let import = peft::PeftImport {
                model: base,
                template: request
                    .template
                    .clone()
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| missing("a template"))?,
                verbalizer: request.verbalizer.clone().ok_or_else(|| missing("label words"))?,
            };
            peft::import_peft(&src, &import, &dest, Replace::Refuse, &candle_core::Device::Cpu)?;
        } else if bundle::is_bundle(&src) {
            let opened = bundle::open_bundle(&src, base.as_deref())?;
            let dir = AtomicDir::create(&dest)?;
            copy_tree(&opened.dir, dir.path())?;
            let mut config = opened.config.clone();
            config.model = match &opened.base_model {
                Some(m) => m.clone(),
                None => dest.join("model"),
            };
            let text =
                serde_json::to_string_pretty(&config).map_err(|e| Error::io(dest.join("config.json"), e))?;
            write_atomic(dir.path().join("config.json"), text.as_bytes())?;
            dir.commit()?;
        } else {
            return Err(Error::missing(
                &src,
                "neither a PEFT adapter (adapter_config.json) nor a prompt bundle (manifest.json)",
            ));
        }
        progress(Progress::new("import-prompt", 1, Some(1)));
        self.run_summary(name)
    }
}

/// Copies the files of `from` (and its folders) into the existing folder `to`.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let kind = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(|e| Error::io(&target, e))?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    Ok(())
}
