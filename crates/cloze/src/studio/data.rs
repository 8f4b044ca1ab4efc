//! Data screen: previewing a file before import, importing it, label sets, statistics and rows.

use std::collections::BTreeMap;
use std::path::Path;

use super::Studio;
use super::views::*;
use crate::data::{ColumnRef, Encoding, Format, ImportOptions, Reader};
use crate::error::{Error, Result};
use crate::export::charts;
use crate::store::{Dataset, LabelSet, MULTI_SEPARATOR, Split, Store};

/// Rows shown in a file preview.
const PREVIEW_ROWS: usize = 20;
/// Rows scanned for label values in a preview.
const PREVIEW_SCAN: usize = 10_000;
/// Rows measured for the length statistics.
const LENGTH_SAMPLE: usize = 5_000;

fn column(name: &Option<String>) -> Result<Option<ColumnRef>> {
    name.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::parse).transpose()
}

/// The engine's import options for the UI's settings.
pub(super) fn import_options(s: &ImportSettings) -> Result<ImportOptions> {
    Ok(ImportOptions {
        format: match s.format {
            FileFormat::Auto => None,
            FileFormat::Csv => Some(Format::Csv),
            FileFormat::Tsv => Some(Format::Tsv),
            FileFormat::Jsonl => Some(Format::Jsonl),
            FileFormat::LabelSentence => Some(Format::LabelSentence),
        },
        has_header: s.has_header,
        text_column: column(&s.text_column)?,
        text_b_column: column(&s.text_b_column)?,
        label_column: column(&s.label_column)?,
        id_column: column(&s.id_column)?,
        skip_bad_rows: s.skip_bad_rows,
        explicit_columns: s.explicit_columns,
        limit: None,
        encoding: match s.encoding {
            TextEncoding::Auto => None,
            TextEncoding::Utf8 => Some(Encoding::Utf8),
            TextEncoding::Latin1 => Some(Encoding::Latin1),
            TextEncoding::Utf16Le => Some(Encoding::Utf16Le),
            TextEncoding::Utf16Be => Some(Encoding::Utf16Be),
            TextEncoding::Utf32Le => Some(Encoding::Utf32Le),
            TextEncoding::Utf32Be => Some(Encoding::Utf32Be),
        },
        quoting: None,
        template_fields: Vec::new(),
    })
}

pub(super) fn dataset_info(store: &Store, d: Dataset) -> Result<DatasetInfo> {
    let splits =
        store.split_counts(d.id)?.into_iter().map(|(split, rows)| SplitCount { split, rows }).collect();
    Ok(DatasetInfo {
        id: d.id,
        name: d.name,
        source_path: d.source_path,
        format: d.format,
        encoding: d.encoding,
        columns: d.columns,
        row_count: d.row_count,
        imported_at: d.imported_at,
        splits,
    })
}

/// Live labels per class (any source), counting each row once (a human label beats an imported one).
fn class_counts(store: &Store, set: &LabelSet) -> Result<Vec<ClassCount>> {
    let mut counts = store.live_label_counts(set.id)?;
    if set.multi_label {
        // A row counts once for each of its classes; "none applies" is no class.
        let mut split: BTreeMap<String, i64> = BTreeMap::new();
        for (value, n) in counts {
            for part in value.split(MULTI_SEPARATOR).map(str::trim).filter(|p| !p.is_empty()) {
                *split.entry(part.to_string()).or_default() += n;
            }
        }
        counts = split;
    }
    let mut out: Vec<ClassCount> = set
        .classes
        .iter()
        .map(|c| ClassCount { class: c.clone(), count: counts.get(c).copied().unwrap_or(0) })
        .collect();
    // Values outside the label set (possible with imported labels) are shown, not hidden.
    for (value, count) in counts {
        if !set.classes.contains(&value) {
            out.push(ClassCount { class: value, count });
        }
    }
    Ok(out)
}

pub(super) fn label_set_info(store: &Store, set: &LabelSet) -> Result<LabelSetInfo> {
    let by_class = class_counts(store, set)?;
    Ok(LabelSetInfo {
        id: set.id,
        dataset_id: set.dataset_id,
        name: set.name.clone(),
        classes: set.classes.clone(),
        labelled: if set.multi_label {
            store.labelled_rows(set.id)?.len() as i64
        } else {
            by_class.iter().map(|c| c.count).sum()
        },
        by_class,
        multi_label: set.multi_label,
    })
}

pub(super) fn label_set(store: &Store, label_set_id: i64) -> Result<LabelSet> {
    store.label_set_by_id(label_set_id)?.ok_or_else(|| {
        Error::not_found(format!("label set {label_set_id} is not in this project; pick one from the list"))
    })
}

fn dataset_by_id(store: &Store, dataset_id: i64) -> Result<Dataset> {
    store.datasets()?.into_iter().find(|d| d.id == dataset_id).ok_or_else(|| {
        Error::not_found(format!("dataset {dataset_id} is not in this project; pick one from the list"))
    })
}

pub(super) fn row_view(
    store: &Store,
    row: crate::store::StoredRow,
    label_set_id: Option<i64>,
) -> Result<RowView> {
    let label = match label_set_id {
        Some(set) => store.live_label(set, row.id)?,
        None => None,
    };
    let (label, label_source) = label.map_or((None, None), |(v, s)| (Some(v), Some(s)));
    Ok(RowView {
        id: row.id,
        position: row.position,
        ext_id: row.example.id,
        text_a: row.example.text_a,
        text_b: row.example.text_b,
        split: row.split,
        label,
        label_source,
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

impl Studio {
    /// Reads the start of a data file as it would be imported: columns, the first rows, the guessed
    /// column mapping and the label values of up to 10,000 rows.
    pub fn preview_file(&self, path: &str, settings: &ImportSettings) -> Result<FilePreview> {
        let path = Path::new(path.trim());
        if !path.is_file() {
            return Err(Error::missing(path, "no such file; check the path"));
        }
        let mut options = import_options(settings)?;
        // A preview shows what is there: bad rows are listed, not fatal.
        options.skip_bad_rows = true;
        let (mut reader, guessed) = match Reader::open(path, &options) {
            Ok(reader) => (reader, true),
            // The columns do not say which one is the text: show the file anyway, with no roles
            // assigned, so the user can choose them.
            Err(Error::Data { .. }) if options.text_column.is_none() => {
                let shown = ImportOptions {
                    text_column: Some(ColumnRef::Index(0)),
                    text_b_column: None,
                    label_column: None,
                    id_column: None,
                    explicit_columns: true,
                    ..options.clone()
                };
                (Reader::open(path, &shown)?, false)
            }
            Err(e) => return Err(e),
        };
        let columns = reader.columns().to_vec();
        let mapping = reader.mapping();
        let mut rows = Vec::new();
        let mut labels: BTreeMap<String, i64> = BTreeMap::new();
        let mut scanned = 0i64;
        for example in reader.by_ref().take(PREVIEW_SCAN) {
            let ex = example?;
            scanned += 1;
            if let Some(l) = &ex.label {
                *labels.entry(l.clone()).or_default() += 1;
            }
            if rows.len() < PREVIEW_ROWS {
                let cell = |c: &String| -> String {
                    if *c == mapping.text {
                        ex.text_a.clone()
                    } else if Some(c) == mapping.text_b.as_ref() {
                        ex.text_b.clone().unwrap_or_default()
                    } else if Some(c) == mapping.label.as_ref() {
                        ex.label.clone().unwrap_or_default()
                    } else if Some(c) == mapping.id.as_ref() {
                        ex.id.clone()
                    } else {
                        ex.meta.get(c).cloned().unwrap_or_default()
                    }
                };
                rows.push(columns.iter().map(cell).collect());
            }
        }
        let report = reader.into_report();
        let mut notes = report.notes.clone();
        if !guessed {
            notes.insert(
                0,
                "Choose the column that holds the text: the file's columns do not say which it is.".into(),
            );
        }
        for s in report.skipped.iter().take(5) {
            notes.push(format!("line {}: {}", s.line, s.message));
        }
        if report.skipped.len() > 5 {
            notes.push(format!("… and {} more malformed rows", report.skipped.len() - 5));
        }
        let mut labels: Vec<LabelValue> =
            labels.into_iter().map(|(value, count)| LabelValue { value, count }).collect();
        labels.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
        let none_if_empty = |s: String| Some(s).filter(|s| !s.is_empty() && guessed);
        if !guessed {
            labels.clear();
        }
        Ok(FilePreview {
            path: path.display().to_string(),
            format: report.format.to_string(),
            encoding: report.encoding.to_string(),
            has_header: report.header,
            columns,
            rows,
            mapping: ColumnGuess {
                text: none_if_empty(mapping.text),
                text_b: mapping.text_b.filter(|_| guessed),
                label: mapping.label.filter(|_| guessed),
                id: mapping.id.filter(|_| guessed),
            },
            labels,
            rows_scanned: scanned,
            notes,
        })
    }

    /// Imports a file as a new dataset on its own connection; with a label column, a label set of
    /// the file's label values is created, otherwise one of `request.classes` (when given).
    pub fn import_dataset(&self, request: &ImportRequest, progress: ProgressFn) -> Result<ImportResult> {
        let file = self.project_file()?;
        let mut store = Store::open(&file)?;
        let options = import_options(&request.settings)?;
        let split = match request.split {
            SplitName::Train => Split::Train,
            SplitName::Dev => Split::Dev,
            SplitName::Test => Split::Test,
            SplitName::Unlabelled => Split::Unlabelled,
        };
        let classes: Vec<String> =
            request.classes.iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
        // Without a label column in the file, a label set of the classes given, made with the
        // dataset (a crash leaves neither).
        let summary = store.import_dataset_with_label_set(
            request.name.trim(),
            Path::new(request.path.trim()),
            &options,
            split,
            (!classes.is_empty()).then_some(("labels", classes.as_slice())),
            &mut |p| {
                progress(
                    Progress::new("import", p.rows as u64, None).with_message(format!("line {}", p.line)),
                )
            },
        )?;
        let set = store.label_sets(summary.dataset.id)?.into_iter().find(|s| s.name == "labels");
        Ok(ImportResult {
            dataset: dataset_info(&store, summary.dataset)?,
            rows: summary.rows as i64,
            duplicates: summary.duplicates as i64,
            labels: summary.labels as i64,
            label_set: set.as_ref().map(|s| label_set_info(&store, s)).transpose()?,
            skipped: summary
                .skipped
                .into_iter()
                .map(|s| SkippedRow { line: s.line as i64, message: s.message })
                .collect(),
            notes: summary.notes,
        })
    }

    pub fn create_label_set(&self, dataset_id: i64, name: &str, classes: &[String]) -> Result<LabelSetInfo> {
        self.with_store(|store| {
            dataset_by_id(store, dataset_id)?;
            let classes: Vec<String> =
                classes.iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
            let set = store.create_label_set(dataset_id, name.trim(), &classes)?;
            label_set_info(store, &set)
        })
    }

    /// Rows, splits, the label distribution and text lengths (in tokens of the loaded model, else
    /// in words; measured on up to 5,000 rows), with charts.
    pub fn dataset_stats(&self, dataset_id: i64, label_set_id: Option<i64>) -> Result<DatasetStats> {
        let model = self.model().ok();
        // Read under the project's lock; tokenize and draw after it, so labelling never waits.
        let (d, set, labels, splits, texts) = self.with_store(|store| {
            let d = dataset_by_id(store, dataset_id)?;
            let set = match label_set_id {
                Some(id) => Some(label_set(store, id)?),
                None => store.label_sets(dataset_id)?.into_iter().next(),
            };
            let labels = match &set {
                Some(s) => class_counts(store, s)?,
                None => Vec::new(),
            };
            let texts = store.text_sample(dataset_id, LENGTH_SAMPLE)?;
            let splits: Vec<SplitCount> = store
                .split_counts(dataset_id)?
                .into_iter()
                .map(|(split, rows)| SplitCount { split, rows })
                .collect();
            Ok((d, set, labels, splits, texts))
        })?;
        let labelled: i64 = labels.iter().map(|c| c.count).sum();
        let (unit, mut lengths) = match &model {
            Some(m) => {
                let tok = m.plm.tokenizer();
                let mut out = Vec::with_capacity(texts.len());
                for (a, b) in &texts {
                    let n = tok.encode_plain(a)?.len()
                        + b.as_deref()
                            .map(|b| tok.encode_plain(b).map(|t| t.len()))
                            .transpose()?
                            .unwrap_or(0);
                    out.push(n as f64);
                }
                (LengthUnit::Tokens, out)
            }
            None => (
                LengthUnit::Words,
                texts
                    .iter()
                    .map(|(a, b)| {
                        (a.split_whitespace().count()
                            + b.as_deref().map_or(0, |b| b.split_whitespace().count()))
                            as f64
                    })
                    .collect(),
            ),
        };
        lengths.sort_by(f64::total_cmp);
        let stats = (!lengths.is_empty()).then(|| LengthStats {
            min: lengths[0],
            median: percentile(&lengths, 0.5),
            p95: percentile(&lengths, 0.95),
            max: lengths[lengths.len() - 1],
            mean: lengths.iter().sum::<f64>() / lengths.len() as f64,
        });
        let unit_name = match unit {
            LengthUnit::Tokens => "tokens",
            LengthUnit::Words => "words",
        };
        let label_chart = match &set {
            Some(_) if labelled > 0 => Some(charts::bar_chart(
                "Label distribution",
                &labels.iter().map(|c| (c.class.clone(), c.count as f64)).collect::<Vec<_>>(),
                "rows",
                (560, 300),
            )?),
            _ => None,
        };
        let length_chart =
            charts::histogram(&format!("Text length ({unit_name})"), &lengths, 24, unit_name, (560, 300))?;
        Ok(DatasetStats {
            dataset_id,
            rows: d.row_count,
            splits,
            labels,
            unlabelled: d.row_count - labelled,
            length_unit: unit,
            lengths: stats,
            length_sample: lengths.len() as i64,
            label_chart_svg: label_chart,
            length_chart_svg: Some(length_chart),
        })
    }

    /// A page of a dataset's rows in file order, with their labels in `label_set_id`.
    pub fn rows_page(
        &self,
        dataset_id: i64,
        label_set_id: Option<i64>,
        offset: i64,
        limit: i64,
    ) -> Result<RowPage> {
        self.with_store(|store| {
            let d = dataset_by_id(store, dataset_id)?;
            let rows = store.rows(dataset_id, offset.max(0), limit.clamp(1, 1000))?;
            let rows = rows.into_iter().map(|r| row_view(store, r, label_set_id)).collect::<Result<_>>()?;
            Ok(RowPage { rows, total: d.row_count })
        })
    }
}
