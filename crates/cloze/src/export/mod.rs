//! Writing out what a project holds: labelled data now; prompt bundles, PEFT adapters, OpenPrompt
//! template text and report charts as the steps that produce them land.

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
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT l.row_id, r.ext_id, r.split, r.text_a, r.text_b, r.meta, l.value, l.source, l.confidence,
                    l.annotator, l.created_at, l.run_id
             FROM labels l JOIN rows r ON r.id = l.row_id
             WHERE l.label_set_id = ?1 AND l.retracted_at IS NULL ORDER BY r.position, l.id",
        )
        .map_err(|e| store.err(e))?;
    let classes = &label_set.classes;
    let rows = stmt
        .query_map([label_set.id], |r| {
            let meta: Option<String> = r.get(5)?;
            let label: String = r.get(6)?;
            Ok(LabelledRow {
                row_id: r.get(0)?,
                ext_id: r.get(1)?,
                split: r.get(2)?,
                text_a: r.get(3)?,
                text_b: r.get(4)?,
                meta: meta.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
                class_index: classes.iter().position(|c| *c == label).unwrap_or(usize::MAX),
                label,
                source: r.get(7)?,
                confidence: r.get(8)?,
                annotator: r.get(9)?,
                created_at: r.get(10)?,
                run_id: r.get(11)?,
            })
        })
        .map_err(|e| store.err(e))?;
    // A row that fails to read ends the stream; the error is reported after the writer stops.
    let mut failure = None;
    let rows = rows.map_while(|r| r.map_err(|e| failure = Some(store.err(e))).ok());
    let count = write_labels_file(path, rows, format, classes, filter)?;
    match failure {
        Some(e) => Err(e),
        None => Ok(count),
    }
}
