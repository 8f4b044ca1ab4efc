//! Writing out what a project holds: the labelled rows with their provenance ([`labels`]: CSV,
//! JSONL, Hugging Face `datasets` JSONL), charts as SVG ([`charts`]: label distribution, text
//! lengths, confusion matrix, training curves — the same code draws the app's charts and reports),
//! and tuned prompts in the forms other tools load and back: prompt bundles ([`bundle`]), PEFT
//! prompt-tuning adapters ([`peft`]), OpenPrompt templates and label words ([`openprompt`]); a
//! fine-tuned model as a Hugging Face model folder with a model card ([`model`]); a run's report as
//! one HTML file ([`report`]); and a run handed to a cluster as a transformers + peft + accelerate
//! job ([`job`]).

pub mod bundle;
pub mod charts;
pub mod job;
pub mod labels;
pub mod model;
pub mod multi_hot;
pub mod openprompt;
pub mod peft;
pub mod report;

use std::path::{Path, PathBuf};

pub use labels::{
    ExportCount, ExportFormat, LabelFilter, LabelledRow, hf_features, write_labels, write_labels_file,
};

use crate::error::Result;
use crate::files::{Replace, check_output};
use crate::store::{LabelSet, Store};

/// Streams the live labels of a label set (in file order, one line per label, so a row labelled by
/// two annotators appears twice) into `path`, in `format` or the one the extension names.
///
/// `path` may not be the open project (nor its `-wal`/`-shm`/`-journal` files), and an existing
/// file is replaced only with [`Replace::Allow`] (otherwise an [`ErrorKind::AlreadyExists`] error
/// naming `--force` / “Replace”). The file is written under a temporary name and renamed into
/// place when complete, so a failed export leaves whatever was there before.
///
/// [`ErrorKind::AlreadyExists`]: crate::error::ErrorKind::AlreadyExists
pub fn export_labels(
    store: &Store,
    label_set: &LabelSet,
    path: &Path,
    format: Option<ExportFormat>,
    filter: &LabelFilter,
    replace: Replace,
) -> Result<ExportCount> {
    let project = project_files(store);
    let inputs: Vec<&Path> = project.iter().map(PathBuf::as_path).collect();
    check_output(path, &inputs, replace)?;
    store.with_labelled_rows(label_set, |rows| {
        write_labels_file(path, rows, format, &label_set.classes, filter)
    })
}

/// The files of the open project: the SQLite file and the journal files beside it.
fn project_files(store: &Store) -> Vec<PathBuf> {
    let Some(path) = store.path() else { return Vec::new() };
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}
