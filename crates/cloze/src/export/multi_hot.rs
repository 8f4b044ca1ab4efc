//! Multi-label exports: each row's classes as a multi-hot vector. CSV (`id, split, text_a, text_b,
//! labels` — the classes joined by `;` — then one 0/1 column per class), JSONL (`labels` as names
//! and `multi_hot`), and a Hugging Face `datasets` folder: `data.jsonl` (`id`, `text`, `labels` as
//! class indices) with `dataset_info.json` whose features declare `labels` a
//! `Sequence(ClassLabel(names))` ([`crate::multilabel::hf_features`]). `cloze multilabel
//! --hf-output` writes the same folder ([`write_hf_dir`]).

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result, Text};
use crate::files::{AtomicDir, AtomicFile, Replace, check_output};
use crate::multilabel;
use crate::store::{LabelSet, Store};

/// The layouts of a multi-label export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiHotFormat {
    Csv,
    Jsonl,
    /// A folder for `datasets.load_dataset("json", …)` with its features.
    HfDatasets,
}

/// One row of a multi-label export.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiHotRow {
    pub id: String,
    pub split: String,
    pub text_a: String,
    pub text_b: Option<String>,
    pub hot: Vec<bool>,
}

/// Writes the label set's labelled rows (each once, with its live label) to `path`. The project
/// file is never written over; an existing file or folder is replaced only with [`Replace::Allow`].
/// Returns the rows written.
pub fn export_multi_hot(
    store: &Store,
    set: &LabelSet,
    path: &Path,
    format: MultiHotFormat,
    replace: Replace,
) -> Result<usize> {
    if format == MultiHotFormat::HfDatasets && path.is_dir() {
        if replace == Replace::Refuse {
            return Err(Error::already_exists(
                Text::from(format!("`{}` already exists; choose another name, or ", path.display()))
                    .turn_on(crate::error::Setting::Replace)
                    .then(" to replace it"),
            ));
        }
    } else {
        let project = super::project_files(store);
        let inputs: Vec<&Path> = project.iter().map(std::path::PathBuf::as_path).collect();
        check_output(path, &inputs, replace)?;
    }
    let mut rows = Vec::new();
    for (row_id, example) in store.labelled_examples_by_row(set.id)? {
        let value = example.label.unwrap_or_default();
        let hot = set.multi_hot(&value).map_err(|e| Error::invalid(format!("row {}: {e}", example.id)))?;
        let split = store.row(row_id)?.split;
        rows.push(MultiHotRow { id: example.id, split, text_a: example.text_a, text_b: example.text_b, hot });
    }
    match format {
        MultiHotFormat::HfDatasets => write_hf_dir(path, &rows, &set.classes)?,
        MultiHotFormat::Csv | MultiHotFormat::Jsonl => {
            let mut file = AtomicFile::create(path)?;
            let written = if format == MultiHotFormat::Csv {
                write_csv(&rows, &set.classes, &mut file)
            } else {
                write_jsonl(&rows, &set.classes, &mut file)
            };
            written.map_err(|e| Error::io(path, e))?;
            file.commit()?;
        }
    }
    Ok(rows.len())
}

fn names<'a>(hot: &[bool], classes: &'a [String]) -> Vec<&'a str> {
    classes.iter().zip(hot).filter(|(_, on)| **on).map(|(c, _)| c.as_str()).collect()
}

fn write_csv(rows: &[MultiHotRow], classes: &[String], out: impl Write) -> std::io::Result<()> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(out);
    let mut header: Vec<String> = ["id", "split", "text_a", "text_b", "labels"].map(String::from).to_vec();
    header.extend(classes.iter().cloned());
    w.write_record(&header)?;
    for r in rows {
        let mut record = vec![
            r.id.clone(),
            r.split.clone(),
            r.text_a.clone(),
            r.text_b.clone().unwrap_or_default(),
            names(&r.hot, classes).join(";"),
        ];
        record.extend(r.hot.iter().map(|on| if *on { "1" } else { "0" }.to_string()));
        w.write_record(&record)?;
    }
    w.flush()
}

fn write_jsonl(rows: &[MultiHotRow], classes: &[String], out: impl Write) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    for r in rows {
        let line = serde_json::json!({
            "id": r.id, "split": r.split, "text_a": r.text_a, "text_b": r.text_b,
            "labels": names(&r.hot, classes),
            "multi_hot": r.hot.iter().map(|on| u8::from(*on)).collect::<Vec<_>>(),
        });
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// `DIR/data.jsonl` (`id`, `text`, `labels` as class indices) and `DIR/dataset_info.json` (the
/// features), written as one folder.
pub fn write_hf_dir(dir: &Path, rows: &[MultiHotRow], classes: &[String]) -> Result<()> {
    let out = AtomicDir::create(dir)?;
    let mut text = String::new();
    for r in rows {
        let idx: Vec<usize> = r.hot.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| i).collect();
        text.push_str(&serde_json::json!({"id": r.id, "text": r.text_a, "labels": idx}).to_string());
        text.push('\n');
    }
    std::fs::write(out.path().join("data.jsonl"), text).map_err(|e| Error::io(dir, e))?;
    let info = serde_json::json!({"features": multilabel::hf_features(classes)});
    std::fs::write(
        out.path().join("dataset_info.json"),
        serde_json::to_vec_pretty(&info).unwrap_or_default(),
    )
    .map_err(|e| Error::io(dir, e))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImportOptions;
    use crate::store::{LabelSource, NewLabel, Seen, Split};

    /// Three rows; two labelled (`World;Sports` and none), one not: every layout writes the two.
    #[test]
    fn every_layout_writes_the_labelled_rows_multi_hot() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "id,text\nr0,a\nr1,b\nr2,c\n").unwrap();
        let mut store = Store::create(dir.path().join("p.cloze")).unwrap();
        let s =
            store.import_dataset("d", &data, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
        let classes: Vec<String> = ["World", "Sports", "Tech"].map(String::from).to_vec();
        let set = store.create_label_set(s.dataset.id, "topics", &classes).unwrap();
        let set = store.set_multi_label(set.id, true).unwrap();
        let ids: Vec<i64> = store.rows(s.dataset.id, 0, 10).unwrap().iter().map(|r| r.id).collect();
        for (row, value) in [(ids[0], "Sports;World"), (ids[2], "")] {
            store
                .add_label(&NewLabel {
                    label_set_id: set.id,
                    row_id: row,
                    value,
                    source: LabelSource::Human,
                    confidence: None,
                    annotator: None,
                    run_id: None,
                    seen: Seen::Unchecked,
                })
                .unwrap();
        }
        let csv = dir.path().join("l.csv");
        assert_eq!(export_multi_hot(&store, &set, &csv, MultiHotFormat::Csv, Replace::Refuse).unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            "id,split,text_a,text_b,labels,World,Sports,Tech\nr0,train,a,,World;Sports,1,1,0\nr2,train,c,,,0,0,0\n"
        );
        let err = export_multi_hot(&store, &set, &csv, MultiHotFormat::Csv, Replace::Refuse).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::AlreadyExists);
        let jsonl = dir.path().join("l.jsonl");
        export_multi_hot(&store, &set, &jsonl, MultiHotFormat::Jsonl, Replace::Refuse).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&jsonl).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(first["labels"], serde_json::json!(["World", "Sports"]));
        assert_eq!(first["multi_hot"], serde_json::json!([1, 1, 0]));
        let hf = dir.path().join("hf");
        for replace in [Replace::Refuse, Replace::Allow] {
            export_multi_hot(&store, &set, &hf, MultiHotFormat::HfDatasets, replace).unwrap();
        }
        let err =
            export_multi_hot(&store, &set, &hf, MultiHotFormat::HfDatasets, Replace::Refuse).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read_to_string(hf.join("data.jsonl")).unwrap(),
            "{\"id\":\"r0\",\"text\":\"a\",\"labels\":[0,1]}\n{\"id\":\"r2\",\"text\":\"c\",\"labels\":[]}\n"
        );
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(hf.join("dataset_info.json")).unwrap()).unwrap();
        assert_eq!(info["features"]["labels"]["feature"]["names"], serde_json::json!(classes));
    }
}
