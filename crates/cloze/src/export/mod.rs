//! Writing out what a project holds: the labelled rows with their provenance ([`labels`]: CSV,
//! JSONL, Hugging Face `datasets` JSONL) and charts as SVG ([`charts`]: label distribution, text
//! lengths, confusion matrix, training curves — the same code draws the app's charts and reports).

pub mod charts;
pub mod labels;

use std::path::Path;

pub use labels::{
    ExportCount, ExportFormat, LabelFilter, LabelledRow, hf_features, write_labels, write_labels_file,
};

use crate::error::Result;
use crate::store::{LabelSet, Store};

/// Streams the live labels of a label set (in file order, one line per label, so a row labelled by
/// two annotators appears twice) into `path`, in `format` or the one the extension names.
pub fn export_labels(
    store: &Store,
    label_set: &LabelSet,
    path: &Path,
    format: Option<ExportFormat>,
    filter: &LabelFilter,
) -> Result<ExportCount> {
    store.with_labelled_rows(label_set, |rows| {
        write_labels_file(path, rows, format, &label_set.classes, filter)
    })
}
