//! Writing labelled data out of a project: CSV, JSON Lines, or JSON Lines in the Hugging Face
//! `datasets` convention.
//!
//! [`write_labels`] streams: it takes any iterator of [`LabelledRow`]s (typically a store query)
//! and writes each row as it comes, so an export never holds the whole data set in memory. A
//! [`LabelFilter`] picks rows by provenance (who labelled, how sure), and [`hf_features`] describes
//! the Hugging Face export so it loads with the right `ClassLabel`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::files::AtomicFile;
pub use crate::store::LabelledRow;

/// The file formats [`write_labels`] can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line with every exported field.
    Jsonl,
    /// One JSON object per line as Hugging Face `datasets` expects for text classification:
    /// `text`, optional `text_b`, `label` (the class index) and `label_text`.
    HfJsonl,
}

impl ExportFormat {
    /// Every format, in the order they are listed to users.
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Csv, ExportFormat::Jsonl, ExportFormat::HfJsonl];

    /// The format's name as accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::HfJsonl => "hf-jsonl",
        }
    }

    /// Guesses the format from a file name's extension: `.csv` is [`ExportFormat::Csv`] and
    /// `.jsonl` is [`ExportFormat::Jsonl`] (case does not matter). The Hugging Face layout also
    /// ends in `.jsonl`, so it must be asked for by name.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(ExportFormat::Csv),
            Some("jsonl") => Ok(ExportFormat::Jsonl),
            _ => Err(Error::invalid(format!(
                "cannot tell the export format of \"{}\" from its extension: name the file .csv or \
                 .jsonl, or choose the format explicitly (one of {ALLOWED_FORMATS})",
                path.display()
            ))),
        }
    }
}

/// The format names [`ExportFormat::from_str`] accepts, for error messages.
const ALLOWED_FORMATS: &str = "csv, jsonl, hf-jsonl (or hf)";

impl FromStr for ExportFormat {
    type Err = Error;

    /// Parses `csv`, `jsonl`, or `hf-jsonl` / `hf`, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "jsonl" => Ok(ExportFormat::Jsonl),
            "hf-jsonl" | "hf" => Ok(ExportFormat::HfJsonl),
            _ => Err(Error::invalid(format!("unknown export format \"{s}\"; use one of {ALLOWED_FORMATS}"))),
        }
    }
}

impl std::fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rows to export. The default accepts every row.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LabelFilter {
    /// Keep only rows whose `source` is one of these (`human`, `model`, `import`); empty keeps any.
    pub sources: Vec<String>,
    /// Keep only rows whose `annotator` is one of these; empty keeps any. When the list is not
    /// empty, rows without an annotator are left out.
    pub annotators: Vec<String>,
    /// Leave out rows whose `confidence` is below this. It only applies to rows that have a
    /// confidence: human and imported labels usually have none, and they pass.
    pub min_confidence: Option<f64>,
}

impl LabelFilter {
    /// Whether `row` passes every condition of the filter.
    pub fn accepts(&self, row: &LabelledRow) -> bool {
        let source_ok = self.sources.is_empty() || self.sources.contains(&row.source);
        let annotator_ok =
            self.annotators.is_empty() || row.annotator.as_ref().is_some_and(|a| self.annotators.contains(a));
        let confidence_ok = match (self.min_confidence, row.confidence) {
            (Some(min), Some(c)) => c >= min,
            _ => true,
        };
        source_ok && annotator_ok && confidence_ok
    }
}

/// How many rows an export wrote and how many the filter left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ExportCount {
    pub written: usize,
    pub filtered_out: usize,
}

/// The columns every CSV export starts with, and the fields of every JSONL object (which adds
/// `meta` at the end).
pub const CSV_COLUMNS: [&str; 10] =
    ["id", "split", "text_a", "text_b", "label", "source", "confidence", "annotator", "created_at", "run_id"];

/// What I/O errors name when [`write_labels`] writes to a writer it knows no path for.
/// [`write_labels_file`] names the real file instead.
const OUTPUT: &str = "<export output>";

/// Writes `rows` that pass `filter` to `out` in `format`, one at a time.
///
/// - **CSV**: a header of [`CSV_COLUMNS`] followed by one column per `meta` key of the *first row
///   written* (the first that passes the filter), in key order. Later rows fill those columns
///   (empty when they lack the key); meta keys that the first row lacks are not written (use JSONL
///   to keep them all). A meta key that equals a fixed column name is written as `meta.KEY`.
///   Missing `text_b`, `confidence`, `annotator` and `run_id` are empty cells. Quoting follows
///   RFC 4180 (fields with commas, quotes or line breaks are quoted); lines end in `\n`. With no
///   rows written, the file is the header alone.
/// - **JSONL**: one object per line with the [`CSV_COLUMNS`] fields (missing values as `null`)
///   and `meta` as a nested object of strings.
/// - **HfJsonl**: one `{"text", "text_b"?, "label", "label_text"}` object per line, where `label`
///   is the class index and `text_b` appears only when the row has one; see [`hf_features`].
///
/// When `classes` is not empty, each written row's `class_index` must name its `label` in
/// `classes`; a row where they disagree stops the export with an error (the rows before it are
/// already written). HfJsonl needs `classes`
/// (its labels are indices into them); CSV and JSONL skip the check when `classes` is empty.
///
/// The writer is flushed at the end. I/O errors name `<export output>`, since `out` has no path;
/// [`write_labels_file`] names the file.
pub fn write_labels<W: Write>(
    rows: impl IntoIterator<Item = LabelledRow>,
    format: ExportFormat,
    classes: &[String],
    filter: &LabelFilter,
    out: W,
) -> Result<ExportCount> {
    if format == ExportFormat::HfJsonl && classes.is_empty() {
        return Err(Error::invalid(
            "the Hugging Face export needs the project's class list, since its labels are class \
             indices; pass the classes in the project's order",
        ));
    }
    let mut count = ExportCount::default();
    let accepted = rows.into_iter().filter(|row| {
        let keep = filter.accepts(row);
        if !keep {
            count.filtered_out += 1;
        }
        keep
    });
    let written = match format {
        ExportFormat::Csv => write_csv(accepted, classes, out)?,
        ExportFormat::Jsonl | ExportFormat::HfJsonl => write_jsonl(accepted, format, classes, out)?,
    };
    count.written = written;
    Ok(count)
}

/// [`write_labels`] into the file `path`, with the format guessed from the extension when `format`
/// is `None` (see [`ExportFormat::from_path`]). I/O errors name `path`. The rows go to a temporary
/// file beside `path`, renamed into place once complete: when the export fails, `path` is as it
/// was. This replaces an existing file; check first with [`crate::files::check_output`] (as
/// [`super::export_labels`] does).
pub fn write_labels_file(
    path: &Path,
    rows: impl IntoIterator<Item = LabelledRow>,
    format: Option<ExportFormat>,
    classes: &[String],
    filter: &LabelFilter,
) -> Result<ExportCount> {
    let format = match format {
        Some(f) => f,
        None => ExportFormat::from_path(path)?,
    };
    let mut file = AtomicFile::create(path)?;
    // Dropped without commit on an error, the temporary file goes and `path` stays as it was.
    let count = write_labels(rows, format, classes, filter, &mut file).map_err(|err| match err {
        Error::Io { message, source, .. } => Error::Io { path: path.to_path_buf(), message, source },
        other => other,
    })?;
    file.commit()?;
    Ok(count)
}

/// Checks that `row.class_index` names `row.label` in `classes` (skipped when `classes` is empty).
fn check_class(row: &LabelledRow, classes: &[String]) -> Result<()> {
    if classes.is_empty() {
        return Ok(());
    }
    match classes.get(row.class_index) {
        Some(name) if *name == row.label => Ok(()),
        found => {
            let problem = match found {
                Some(name) => format!("which is \"{name}\" in the class list"),
                None => format!("but there are only {} classes", classes.len()),
            };
            Err(Error::invalid(format!(
                "row \"{}\": label \"{}\" has class index {}, {problem} ({}); the rows and the class \
                 list must come from the same project, in the project's class order",
                row.ext_id,
                row.label,
                row.class_index,
                classes.join(", ")
            )))
        }
    }
}

fn write_csv(rows: impl Iterator<Item = LabelledRow>, classes: &[String], out: impl Write) -> Result<usize> {
    let csv_err = |e: csv::Error| Error::io(OUTPUT, e);
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(out);
    // The meta keys that get columns, fixed by the first row written.
    let mut meta_keys: Option<Vec<String>> = None;
    let mut written = 0;
    let mut record: Vec<String> = Vec::new();
    for row in rows {
        check_class(&row, classes)?;
        let keys = match &meta_keys {
            Some(keys) => keys,
            None => {
                let keys: Vec<String> = row.meta.keys().cloned().collect();
                w.write_record(csv_header(&keys)).map_err(csv_err)?;
                meta_keys.insert(keys)
            }
        };
        record.clear();
        record.extend([
            row.ext_id,
            row.split,
            row.text_a,
            row.text_b.unwrap_or_default(),
            row.label,
            row.source,
            row.confidence.map(|c| c.to_string()).unwrap_or_default(),
            row.annotator.unwrap_or_default(),
            row.created_at,
            row.run_id.map(|r| r.to_string()).unwrap_or_default(),
        ]);
        record.extend(keys.iter().map(|k| row.meta.get(k).cloned().unwrap_or_default()));
        w.write_record(&record).map_err(csv_err)?;
        written += 1;
    }
    if meta_keys.is_none() {
        w.write_record(csv_header(&[])).map_err(csv_err)?;
    }
    w.flush().map_err(|e| Error::io(OUTPUT, e))?;
    Ok(written)
}

/// The CSV header: the fixed columns, then the meta keys (renamed `meta.KEY` when they would
/// repeat a column name).
fn csv_header(meta_keys: &[String]) -> Vec<String> {
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
    for key in meta_keys {
        let mut name = key.clone();
        while header.contains(&name) {
            name = format!("meta.{name}");
        }
        header.push(name);
    }
    header
}

/// One JSONL line of [`ExportFormat::Jsonl`].
#[derive(serde::Serialize)]
struct JsonlRecord<'a> {
    id: &'a str,
    split: &'a str,
    text_a: &'a str,
    text_b: Option<&'a str>,
    label: &'a str,
    source: &'a str,
    confidence: Option<f64>,
    annotator: Option<&'a str>,
    created_at: &'a str,
    run_id: Option<i64>,
    meta: &'a BTreeMap<String, String>,
}

/// One JSONL line of [`ExportFormat::HfJsonl`].
#[derive(serde::Serialize)]
struct HfRecord<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text_b: Option<&'a str>,
    label: usize,
    label_text: &'a str,
}

fn write_jsonl(
    rows: impl Iterator<Item = LabelledRow>,
    format: ExportFormat,
    classes: &[String],
    out: impl Write,
) -> Result<usize> {
    let mut w = std::io::BufWriter::new(out);
    let mut written = 0;
    for row in rows {
        check_class(&row, classes)?;
        let line = if format == ExportFormat::HfJsonl {
            serde_json::to_writer(
                &mut w,
                &HfRecord {
                    text: &row.text_a,
                    text_b: row.text_b.as_deref(),
                    label: row.class_index,
                    label_text: &row.label,
                },
            )
        } else {
            serde_json::to_writer(
                &mut w,
                &JsonlRecord {
                    id: &row.ext_id,
                    split: &row.split,
                    text_a: &row.text_a,
                    text_b: row.text_b.as_deref(),
                    label: &row.label,
                    source: &row.source,
                    confidence: row.confidence,
                    annotator: row.annotator.as_deref(),
                    created_at: &row.created_at,
                    run_id: row.run_id,
                    meta: &row.meta,
                },
            )
        };
        line.map_err(|e| Error::io(OUTPUT, e))?;
        w.write_all(b"\n").map_err(|e| Error::io(OUTPUT, e))?;
        written += 1;
    }
    w.flush().map_err(|e| Error::io(OUTPUT, e))?;
    Ok(written)
}

/// The Hugging Face `datasets` feature description of an [`ExportFormat::HfJsonl`] file with
/// these classes, in the shape `datasets.Features.to_dict()` produces:
///
/// ```json
/// {"text": {"dtype": "string", "_type": "Value"},
///  "text_b": {"dtype": "string", "_type": "Value"},
///  "label": {"names": ["neg", "pos"], "_type": "ClassLabel"},
///  "label_text": {"dtype": "string", "_type": "Value"}}
/// ```
///
/// Every key the export can write is declared, because `datasets` refuses JSON columns that the
/// features leave out, while a declared column that no row has (`text_b` in single-text data) is
/// filled with nulls. Load with `load_dataset("json", data_files=..., features=
/// Features.from_dict(value))`, or store it as the `features` of a dataset info file.
pub fn hf_features(classes: &[String]) -> serde_json::Value {
    let string = serde_json::json!({"dtype": "string", "_type": "Value"});
    serde_json::json!({
        "text": string,
        "text_b": string,
        "label": {"names": classes, "_type": "ClassLabel"},
        "label_text": string,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row with text_b, meta, confidence, annotator and run id.
    fn full_row() -> LabelledRow {
        LabelledRow {
            row_id: 7,
            ext_id: "r1".into(),
            split: "train".into(),
            text_a: "Great film".into(),
            text_b: Some("Loved it".into()),
            meta: BTreeMap::from([("lang".into(), "en".into()), ("topic".into(), "film".into())]),
            label: "pos".into(),
            class_index: 1,
            source: "model".into(),
            confidence: Some(0.875),
            annotator: Some("ann".into()),
            created_at: "2025-01-02T03:04:05Z".into(),
            run_id: Some(3),
        }
    }

    /// A bare human label: no text_b, meta, confidence, annotator or run.
    fn bare_row() -> LabelledRow {
        LabelledRow {
            row_id: 8,
            ext_id: "r2".into(),
            split: "test".into(),
            text_a: "Dull".into(),
            text_b: None,
            meta: BTreeMap::new(),
            label: "neg".into(),
            class_index: 0,
            source: "human".into(),
            confidence: None,
            annotator: None,
            created_at: "2025-01-02T03:04:06Z".into(),
            run_id: None,
        }
    }

    fn classes() -> Vec<String> {
        vec!["neg".into(), "pos".into()]
    }

    fn export(rows: Vec<LabelledRow>, format: ExportFormat, filter: &LabelFilter) -> (String, ExportCount) {
        let mut out = Vec::new();
        let count = write_labels(rows, format, &classes(), filter, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), count)
    }

    #[test]
    fn each_format_exactly() {
        let cases: Vec<(ExportFormat, Vec<LabelledRow>, &str)> = vec![
            (
                ExportFormat::Csv,
                vec![full_row(), bare_row()],
                "id,split,text_a,text_b,label,source,confidence,annotator,created_at,run_id,lang,topic\n\
                 r1,train,Great film,Loved it,pos,model,0.875,ann,2025-01-02T03:04:05Z,3,en,film\n\
                 r2,test,Dull,,neg,human,,,2025-01-02T03:04:06Z,,,\n",
            ),
            // The first row has no meta, so no meta columns, even though the second has some.
            (
                ExportFormat::Csv,
                vec![bare_row(), full_row()],
                "id,split,text_a,text_b,label,source,confidence,annotator,created_at,run_id\n\
                 r2,test,Dull,,neg,human,,,2025-01-02T03:04:06Z,\n\
                 r1,train,Great film,Loved it,pos,model,0.875,ann,2025-01-02T03:04:05Z,3\n",
            ),
            (
                ExportFormat::Jsonl,
                vec![full_row(), bare_row()],
                concat!(
                    r#"{"id":"r1","split":"train","text_a":"Great film","text_b":"Loved it","label":"pos","#,
                    r#""source":"model","confidence":0.875,"annotator":"ann","created_at":"2025-01-02T03:04:05Z","#,
                    r#""run_id":3,"meta":{"lang":"en","topic":"film"}}"#,
                    "\n",
                    r#"{"id":"r2","split":"test","text_a":"Dull","text_b":null,"label":"neg","source":"human","#,
                    r#""confidence":null,"annotator":null,"created_at":"2025-01-02T03:04:06Z","run_id":null,"#,
                    r#""meta":{}}"#,
                    "\n",
                ),
            ),
            (
                ExportFormat::HfJsonl,
                vec![full_row(), bare_row()],
                concat!(
                    r#"{"text":"Great film","text_b":"Loved it","label":1,"label_text":"pos"}"#,
                    "\n",
                    r#"{"text":"Dull","label":0,"label_text":"neg"}"#,
                    "\n",
                ),
            ),
            // Nothing to write: CSV is the header alone, JSONL is empty.
            (
                ExportFormat::Csv,
                vec![],
                "id,split,text_a,text_b,label,source,confidence,annotator,created_at,run_id\n",
            ),
            (ExportFormat::Jsonl, vec![], ""),
            (ExportFormat::HfJsonl, vec![], ""),
        ];
        for (format, rows, expected) in cases {
            let n = rows.len();
            let (text, count) = export(rows, format, &LabelFilter::default());
            assert_eq!(text, expected, "{format}");
            assert_eq!(count, ExportCount { written: n, filtered_out: 0 }, "{format}");
        }
    }

    #[test]
    fn csv_quotes_and_round_trips() {
        let mut row = bare_row();
        row.text_a = "one, two".into();
        row.text_b = Some("she said \"hi\"\nthen left".into());
        row.meta = BTreeMap::from([("label".into(), "clash".into()), ("note".into(), " padded ".into())]);
        let (text, _) = export(vec![row.clone()], ExportFormat::Csv, &LabelFilter::default());
        assert_eq!(
            text,
            "id,split,text_a,text_b,label,source,confidence,annotator,created_at,run_id,meta.label,note\n\
             r2,test,\"one, two\",\"she said \"\"hi\"\"\nthen left\",neg,human,,,2025-01-02T03:04:06Z,,clash, padded \n"
        );
        // A CSV reader gets the original fields back.
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[2], row.text_a);
        assert_eq!(&record[3], row.text_b.as_deref().unwrap());
        assert_eq!(&record[10], "clash");
        assert_eq!(&record[11], " padded ");
    }

    #[test]
    fn jsonl_escapes_keep_one_line_per_row() {
        let mut row = full_row();
        row.text_a = "line one\nline \"two\"".into();
        for format in [ExportFormat::Jsonl, ExportFormat::HfJsonl] {
            let (text, _) = export(vec![row.clone(), bare_row()], format, &LabelFilter::default());
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{format}");
            let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
            let key = if format == ExportFormat::Jsonl { "text_a" } else { "text" };
            assert_eq!(first[key], "line one\nline \"two\"", "{format}");
        }
    }

    #[test]
    fn filters() {
        let human = bare_row();
        let sure = full_row(); // model, annotator "ann", confidence 0.875
        let unsure =
            LabelledRow { ext_id: "r3".into(), confidence: Some(0.4), annotator: None, ..full_row() };
        let imported = LabelledRow { ext_id: "r4".into(), source: "import".into(), ..bare_row() };
        let rows = || vec![human.clone(), sure.clone(), unsure.clone(), imported.clone()];
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (name, filter, ids kept)
        let cases: Vec<(&str, LabelFilter, &[&str])> = vec![
            ("default keeps all", LabelFilter::default(), &["r2", "r1", "r3", "r4"]),
            ("human only", LabelFilter { sources: strings(&["human"]), ..Default::default() }, &["r2"]),
            (
                "human or import",
                LabelFilter { sources: strings(&["human", "import"]), ..Default::default() },
                &["r2", "r4"],
            ),
            // Rows without an annotator do not match an annotator list.
            ("annotator", LabelFilter { annotators: strings(&["ann"]), ..Default::default() }, &["r1"]),
            ("unknown annotator", LabelFilter { annotators: strings(&["bob"]), ..Default::default() }, &[]),
            // Rows without confidence pass the threshold; 0.4 does not.
            (
                "min confidence",
                LabelFilter { min_confidence: Some(0.5), ..Default::default() },
                &["r2", "r1", "r4"],
            ),
            // The threshold is inclusive.
            (
                "inclusive",
                LabelFilter { min_confidence: Some(0.875), ..Default::default() },
                &["r2", "r1", "r4"],
            ),
            (
                "model above threshold",
                LabelFilter { sources: strings(&["model"]), min_confidence: Some(0.5), ..Default::default() },
                &["r1"],
            ),
        ];
        for (name, filter, kept) in cases {
            let accepted: Vec<String> =
                rows().into_iter().filter(|r| filter.accepts(r)).map(|r| r.ext_id).collect();
            assert_eq!(accepted, kept, "{name}: accepts");
            let (text, count) = export(rows(), ExportFormat::Jsonl, &filter);
            let ids: Vec<String> = text
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string()
                })
                .collect();
            assert_eq!(ids, kept, "{name}: written");
            assert_eq!(count, ExportCount { written: kept.len(), filtered_out: 4 - kept.len() }, "{name}");
        }
    }

    #[test]
    fn csv_meta_columns_come_from_the_first_row_written() {
        // The first row is filtered out, so the header takes the second row's (empty) meta.
        let filter = LabelFilter { sources: vec!["human".into()], ..Default::default() };
        let (text, count) = export(vec![full_row(), bare_row()], ExportFormat::Csv, &filter);
        assert_eq!(
            text,
            "id,split,text_a,text_b,label,source,confidence,annotator,created_at,run_id\n\
             r2,test,Dull,,neg,human,,,2025-01-02T03:04:06Z,\n"
        );
        assert_eq!(count, ExportCount { written: 1, filtered_out: 1 });
    }

    #[test]
    fn format_parsing() {
        let ok: Vec<(&str, ExportFormat)> = vec![
            ("csv", ExportFormat::Csv),
            ("CSV", ExportFormat::Csv),
            (" jsonl ", ExportFormat::Jsonl),
            ("hf-jsonl", ExportFormat::HfJsonl),
            ("hf", ExportFormat::HfJsonl),
        ];
        for (text, format) in ok {
            assert_eq!(text.parse::<ExportFormat>().unwrap(), format, "{text:?}");
        }
        for format in ExportFormat::ALL {
            assert_eq!(format.to_string().parse::<ExportFormat>().unwrap(), format);
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(json, format!("\"{}\"", format.as_str()));
        }
        for text in ["", "json", "tsv", "hf_jsonl"] {
            let err = text.parse::<ExportFormat>().unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
            let msg = err.to_string();
            assert!(msg.contains(&format!("\"{text}\"")) && msg.contains("csv, jsonl, hf-jsonl"), "{msg}");
        }

        let paths: Vec<(&str, Option<ExportFormat>)> = vec![
            ("out/labels.csv", Some(ExportFormat::Csv)),
            ("labels.CSV", Some(ExportFormat::Csv)),
            ("labels.jsonl", Some(ExportFormat::Jsonl)),
            ("labels.json", None),
            ("labels.txt", None),
            ("labels", None),
        ];
        for (path, expected) in paths {
            match expected {
                Some(format) => assert_eq!(ExportFormat::from_path(path).unwrap(), format, "{path}"),
                None => {
                    let msg = ExportFormat::from_path(path).unwrap_err().to_string();
                    assert!(msg.contains(path) && msg.contains(".csv or .jsonl"), "{msg}");
                }
            }
        }
    }

    /// (name, row, format, classes, parts of the error message)
    type ClassCase = (&'static str, LabelledRow, ExportFormat, Vec<String>, &'static [&'static str]);

    #[test]
    fn class_list_must_match_the_rows() {
        let out_of_range = LabelledRow { class_index: 2, ..full_row() };
        let wrong_name = LabelledRow { class_index: 0, ..full_row() };
        let cases: Vec<ClassCase> = vec![
            (
                "out of range",
                out_of_range,
                ExportFormat::Csv,
                classes(),
                &["row \"r1\"", "class index 2", "only 2 classes", "neg, pos"],
            ),
            ("wrong name", wrong_name, ExportFormat::Jsonl, classes(), &["class index 0", "is \"neg\""]),
            (
                "hf without classes",
                full_row(),
                ExportFormat::HfJsonl,
                vec![],
                &["needs the project's class list"],
            ),
        ];
        for (name, row, format, classes, needles) in cases {
            let err =
                write_labels(vec![row], format, &classes, &LabelFilter::default(), Vec::new()).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput, "{name}");
            let msg = err.to_string();
            for needle in needles {
                assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
            }
        }
        // CSV and JSONL without a class list write the rows as they are.
        let wrong = LabelledRow { class_index: 9, ..full_row() };
        for format in [ExportFormat::Csv, ExportFormat::Jsonl] {
            let count = write_labels(vec![wrong.clone()], format, &[], &LabelFilter::default(), Vec::new());
            assert_eq!(count.unwrap().written, 1, "{format}");
        }
    }

    #[test]
    fn write_errors_are_io_errors() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for format in ExportFormat::ALL {
            let err = write_labels(vec![full_row()], format, &classes(), &LabelFilter::default(), Broken)
                .unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Internal, "{format}");
            assert!(err.to_string().contains("disk full"), "{format}: {err}");
        }
    }

    #[test]
    fn file_export_guesses_format_and_names_the_path() {
        let dir = std::env::temp_dir().join(format!("cloze-export-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("labels.jsonl");
        let count =
            write_labels_file(&path, vec![bare_row()], None, &classes(), &LabelFilter::default()).unwrap();
        assert_eq!(count.written, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(r#"{"id":"r2""#), "{text}");
        // A failed export leaves the file as it was, and no partial file beside it.
        let bad = LabelledRow { class_index: 5, ..bare_row() };
        assert!(
            write_labels_file(&path, vec![bare_row(), bad], None, &classes(), &LabelFilter::default())
                .is_err()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        // A folder that does not exist is an I/O error naming the path.
        let missing = dir.join("no-such-dir").join("labels.csv");
        let err = write_labels_file(&missing, vec![], None, &classes(), &LabelFilter::default()).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::NotFound);
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn features_describe_the_hf_export() {
        let features = hf_features(&classes());
        assert_eq!(
            serde_json::to_string(&features).unwrap(),
            concat!(
                r#"{"text":{"dtype":"string","_type":"Value"},"text_b":{"dtype":"string","_type":"Value"},"#,
                r#""label":{"names":["neg","pos"],"_type":"ClassLabel"},"#,
                r#""label_text":{"dtype":"string","_type":"Value"}}"#
            )
        );
        // Every key of every exported line is declared.
        let (text, _) = export(vec![full_row(), bare_row()], ExportFormat::HfJsonl, &LabelFilter::default());
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            for key in value.as_object().unwrap().keys() {
                assert!(features.get(key).is_some(), "{key} is not declared");
            }
        }
    }
}
