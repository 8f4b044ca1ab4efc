//! `cloze project new|import|status|add-model|disagreements|suspicious` and `cloze export labels`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cloze::export::{ExportFormat, LabelFilter, export_labels};
use cloze::label::{cohen_kappa, fleiss_kappa};
use cloze::store::{Dataset, LabelSet, Split, Store};
use cloze::{Error, Result};

use crate::DataArgs;

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create an empty project file (`.cloze`, one SQLite file you can copy).
    New {
        /// The project file to create.
        file: PathBuf,
    },
    /// Import a data file into a project as a new dataset (streamed: any size), with the labels it
    /// carries as `import` labels.
    Import(Box<ImportArgs>),
    /// Show a project's datasets, label sets, label counts by source, runs and annotator agreement.
    Status {
        /// The project file.
        file: PathBuf,
    },
    /// Add a model to a project: a local folder (validated by loading it, recorded with a hash of its
    /// files) or a cached Hub model org/name[@revision] (recorded with its commit).
    AddModel {
        /// The project file.
        file: PathBuf,
        /// The model folder or repository id.
        model: String,
    },
    /// Review the rows where annotators gave different labels.
    Disagreements {
        /// The project file.
        file: PathBuf,
        /// The dataset (default: the only one).
        #[arg(long)]
        dataset: Option<String>,
        /// The label set (default: the only one).
        #[arg(long)]
        label_set: Option<String>,
    },
    /// List the labelled rows whose label the model contradicts with confidence (likely label
    /// errors): out-of-fold predictions of a probe on the model's sentence embeddings, confident-
    /// learning thresholds per class; most suspicious first, with the evidence.
    Suspicious(SuspiciousArgs),
}

#[derive(Args, Debug)]
pub struct SuspiciousArgs {
    /// The project file.
    file: PathBuf,
    /// The model whose sentence embeddings the probe reads (a folder, .gguf file or cached
    /// repository id); an encoder such as all-MiniLM-L6-v2 serves well.
    #[arg(long, short = 'm', value_name = "DIR|REPO")]
    model: String,
    /// The dataset (default: the only one).
    #[arg(long)]
    dataset: Option<String>,
    /// The label set (default: the only one).
    #[arg(long)]
    label_set: Option<String>,
    /// Cross-validation folds: each row is judged by a probe trained on the other folds.
    #[arg(long, default_value_t = 5)]
    folds: u32,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Show at most this many rows (all are counted).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// One JSON object per suspect instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The project file.
    file: PathBuf,
    /// The data file: CSV, TSV, JSONL, `label sentence` lines or `text;label`.
    input: PathBuf,
    /// The dataset's name in the project (default: the file name).
    #[arg(long)]
    name: Option<String>,
    /// The split these rows belong to.
    #[arg(long, value_enum, default_value_t = crate::choices::Split::Train)]
    split: crate::choices::Split,
    /// The classes to label with, comma-separated (e.g. negative,positive), when the file has no
    /// labels or you want another label set; creates the label set `--label-set`.
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// The name of the label set `--classes` creates.
    #[arg(long, default_value = "labels")]
    label_set: String,
    /// Only show the first N rows as they would be imported; write nothing.
    #[arg(long, value_name = "N")]
    preview: Option<usize>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args, Debug)]
pub struct ExportLabelsArgs {
    /// The project file.
    file: PathBuf,
    /// Where to write: .csv or .jsonl (or give --format). Never the project itself; an existing
    /// file only with --force. Written to a temporary file beside it and renamed into place.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    /// csv, jsonl, or hf-jsonl (Hugging Face datasets: {"text", "label": index, "label_text"}).
    #[arg(long, value_enum)]
    format: Option<crate::choices::ExportFormat>,
    /// The dataset (default: the only one).
    #[arg(long)]
    dataset: Option<String>,
    /// The label set (default: the only one, or `labels`).
    #[arg(long)]
    label_set: Option<String>,
    /// Only labels from these sources: human, model, import (comma-separated).
    #[arg(long, value_delimiter = ',')]
    source: Vec<String>,
    /// Only labels by these annotators (comma-separated).
    #[arg(long, value_delimiter = ',')]
    annotator: Vec<String>,
    /// Only labels with at least this confidence (labels without one pass).
    #[arg(long)]
    min_confidence: Option<f64>,
}

/// Opens a project, telling on standard error what opening it repaired (an import a crashed
/// process left unfinished, removed).
pub(crate) fn open(file: &Path) -> Result<Store> {
    let store = Store::open(file)?;
    for notice in store.notices() {
        errln!("note: {notice}");
    }
    Ok(store)
}

pub fn run(command: ProjectCommand) -> Result<()> {
    match command {
        ProjectCommand::New { file } => {
            Store::create(&file)?;
            errln!("created {}; next: cloze project import {} DATA_FILE", file.display(), file.display());
            Ok(())
        }
        ProjectCommand::Import(args) => import(*args),
        ProjectCommand::Status { file } => status(&file),
        ProjectCommand::AddModel { file, model } => {
            let store = open(&file)?;
            let dir = cloze::hub::resolve_model(&model)?;
            let plm = cloze::plm::Plm::load(&dir, &candle_core::Device::Cpu)?;
            let info = plm.info();
            let id = store.record_model(&model, &dir, info.family.name())?;
            errln!(
                "model {id}: {model} ({}, {:.1} M parameters{}) recorded in {}",
                info.family.name(),
                info.parameters as f64 / 1e6,
                if info.has_lm_head { "" } else { ", no masked-LM head: cannot fill a {mask}" },
                file.display()
            );
            Ok(())
        }
        ProjectCommand::Disagreements { file, dataset, label_set } => {
            disagreements(&file, dataset.as_deref(), label_set.as_deref())
        }
        ProjectCommand::Suspicious(args) => suspicious(&args),
    }
}

fn disagreements(file: &Path, dataset: Option<&str>, label_set: Option<&str>) -> Result<()> {
    let store = open(file)?;
    let (_, set) = pick(&store, dataset, label_set)?;
    let labels = store.human_labels_by_row(set.id)?;
    let mut shown = 0;
    for group in labels.chunk_by(|a, b| a.0 == b.0) {
        if group.iter().all(|(_, _, v)| *v == group[0].2) {
            continue;
        }
        shown += 1;
        let row = store.row(group[0].0)?;
        outln!("row {}: {}", row.example.id, row.example.text_a)?;
        for (_, who, value) in group {
            outln!("    {:<16} {value}", if who.is_empty() { "(anonymous)" } else { who })?;
        }
    }
    let rows = labels.chunk_by(|a, b| a.0 == b.0).count();
    errln!("{shown} of {rows} rows labelled by several annotators disagree");
    Ok(())
}

fn suspicious(args: &SuspiciousArgs) -> Result<()> {
    use cloze::label::suspicious::{SuspicionOptions, suspicious_labels};
    let store = open(&args.file)?;
    let (_, set) = pick(&store, args.dataset.as_deref(), args.label_set.as_deref())?;
    let rows = store.labelled_examples(set.id)?;
    let plm = cloze::plm::Plm::load(cloze::hub::resolve_model(&args.model)?, &candle_core::Device::Cpu)?;
    let bar = indicatif::ProgressBar::new(0);
    let options = SuspicionOptions { folds: args.folds, seed: args.seed };
    let found = suspicious_labels(&plm, &rows, &set.classes, options, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        true
    })?;
    bar.finish_and_clear();
    for s in found.suspects.iter().take(args.limit) {
        let row = &rows[s.index as usize];
        let (given, suggested) = (&set.classes[s.given as usize], &set.classes[s.suggested as usize]);
        if args.json {
            let line = serde_json::json!({
                "id": row.id, "text": cloze::label::suspicious::row_text(row), "given": given,
                "suggested": suggested, "p_given": s.p_given, "p_suggested": s.p_suggested,
                "threshold": s.threshold, "confident": s.confident,
            });
            outln!("{line}")?;
        } else {
            let text: String = row.text_a.chars().take(70).collect();
            outln!(
                "{} row {:<8} labelled {given:<12} model says {suggested:<12} ({:.2} vs {:.2})  {text}",
                if s.confident { "!" } else { " " },
                row.id,
                s.p_suggested,
                s.p_given
            )?;
        }
    }
    errln!(
        "{} of {} labelled rows are suspicious, {} confidently (marked !; out-of-fold probe on {}'s \
         embeddings, {} folds; per-class thresholds {})",
        found.suspects.len(),
        rows.len(),
        found.suspects.iter().filter(|s| s.confident).count(),
        plm.family().name(),
        args.folds,
        set.classes
            .iter()
            .zip(&found.thresholds)
            .map(|(c, t)| format!("{c} {t:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn import(args: ImportArgs) -> Result<()> {
    let options = args.data.import_options()?;
    if let Some(n) = args.preview {
        let options = cloze::data::ImportOptions { limit: Some(n), ..options };
        let (rows, report) = cloze::data::load(&args.input, &options)?;
        crate::report_import(&args.input, &report.notes, &report.skipped);
        outln!(
            "{}: {} ({}), columns {}; text from {:?}{}{}",
            args.input.display(),
            report.format,
            report.encoding,
            report.columns.join(", "),
            report.mapping.text,
            report.mapping.text_b.as_ref().map(|c| format!(", text_b from {c:?}")).unwrap_or_default(),
            report.mapping.label.as_ref().map(|c| format!(", label from {c:?}")).unwrap_or_default(),
        )?;
        for r in rows {
            outln!("{:>6}  {:<12} {}", r.id, r.label.as_deref().unwrap_or("-"), r.text_a)?;
        }
        return Ok(());
    }
    let split: Split = args.split.into();
    let name = match &args.name {
        Some(n) => n.clone(),
        None => {
            args.input.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into())
        }
    };
    let mut store = open(&args.file)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} importing: {pos} rows, {per_sec}")
            .expect("valid template"),
    );
    let extra = (!args.classes.is_empty()).then_some((args.label_set.as_str(), args.classes.as_slice()));
    let summary =
        store.import_dataset_with_label_set(&name, &args.input, &options, split, extra, &mut |p| {
            bar.set_position(p.rows as u64);
            true
        })?;
    bar.finish_and_clear();
    crate::report_import(&args.input, &summary.notes, &summary.skipped);
    errln!(
        "imported {} rows into dataset {:?} ({} duplicates of earlier rows, {} labels from the file{})",
        summary.rows,
        summary.dataset.name,
        summary.duplicates,
        summary.labels,
        if summary.classes.is_empty() {
            String::new()
        } else {
            format!("; classes {}", summary.classes.join(", "))
        }
    );
    if !args.classes.is_empty() {
        errln!("label set {:?}: {}", args.label_set, args.classes.join(", "));
    } else if summary.classes.is_empty() {
        errln!("the file has no labels; give the classes to label with: --classes negative,positive");
    }
    Ok(())
}

fn status(file: &Path) -> Result<()> {
    let store = open(file)?;
    outln!("project {} (schema {})", file.display(), store.schema_version()?)?;
    let datasets = store.datasets()?;
    if datasets.is_empty() {
        outln!("no datasets yet: cloze project import {} DATA_FILE", file.display())?;
    }
    for d in &datasets {
        let splits = store.split_counts(d.id)?;
        let splits: Vec<String> = splits.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!(
            "dataset {:?}: {} rows ({}), from {} ({}, {})",
            d.name,
            d.row_count,
            splits.join(", "),
            d.source_path.as_deref().unwrap_or("?"),
            d.format,
            d.encoding
        )?;
        for set in store.label_sets(d.id)? {
            outln!("  label set {:?}: {}", set.name, set.classes.join(", "))?;
            let counts = store.label_counts(set.id)?;
            let mut by_source: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
            for ((source, value), n) in &counts {
                by_source.entry(source).or_default().push(format!("{value} {n}"));
            }
            for (source, values) in by_source {
                outln!("    {source:<7} {}", values.join(", "))?;
            }
            agreement(&store, &set)?;
            for run in store.runs(set.id)?.iter().take(5) {
                outln!("    run {} {} {} ({})", run.id, run.strategy, run.status, run.started_at)?;
            }
        }
    }
    Ok(())
}

fn agreement(store: &Store, set: &LabelSet) -> Result<()> {
    let labels = store.human_labels_by_row(set.id)?;
    if labels.is_empty() {
        return Ok(());
    }
    let mut items: Vec<Vec<&str>> = Vec::new();
    let mut annotators: Vec<&str> = Vec::new();
    let mut last = None;
    for (row, who, value) in &labels {
        if last != Some(*row) {
            items.push(Vec::new());
            last = Some(*row);
        }
        items.last_mut().expect("pushed").push(value.as_str());
        if !annotators.contains(&who.as_str()) {
            annotators.push(who);
        }
    }
    let disagreements = items.iter().filter(|i| i.iter().any(|v| *v != i[0])).count();
    let line = if annotators.len() == 2 && items.iter().all(|i| i.len() == 2) {
        let pairs: Vec<(&str, &str)> = items.iter().map(|i| (i[0], i[1])).collect();
        let k = cohen_kappa(&pairs)?;
        format!("Cohen's kappa {:.3} (observed {:.3}, chance {:.3})", k.kappa, k.observed, k.expected)
    } else {
        let n = annotators.len();
        let full: Vec<Vec<&str>> = items.iter().filter(|i| i.len() == n).cloned().collect();
        match fleiss_kappa(&full) {
            Ok(k) => {
                format!("Fleiss' kappa {:.3} over {} rows all {n} annotators labelled", k.kappa, k.items)
            }
            Err(_) => "too few rows labelled by every annotator for Fleiss' kappa".into(),
        }
    };
    outln!(
        "    agreement of {} annotators on {} rows: {line}; {disagreements} rows disagree",
        annotators.len(),
        items.len()
    )?;
    Ok(())
}

/// Finds the dataset and label set a command means: the named ones, or the only one.
pub fn pick(store: &Store, dataset: Option<&str>, label_set: Option<&str>) -> Result<(Dataset, LabelSet)> {
    let dataset = match dataset {
        Some(name) => store.dataset(name)?,
        None => {
            let mut all = store.datasets()?;
            match all.len() {
                0 => {
                    return Err(Error::invalid(
                        "the project has no datasets yet; import one with `cloze project import`",
                    ));
                }
                1 => all.remove(0),
                _ => {
                    let names: Vec<String> = all.iter().map(|d| format!("{:?}", d.name)).collect();
                    return Err(Error::invalid(format!(
                        "the project has several datasets ({}); choose one with --dataset",
                        names.join(", ")
                    )));
                }
            }
        }
    };
    let mut sets = store.label_sets(dataset.id)?;
    let set = match label_set {
        Some(name) => sets
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::invalid(format!("dataset {:?} has no label set {name:?}", dataset.name)))?,
        None => match sets.len() {
            0 => {
                return Err(Error::invalid(format!(
                    "dataset {:?} has no label set yet; create one with `cloze project import … --classes a,b`",
                    dataset.name
                )));
            }
            1 => sets.remove(0),
            _ => {
                let names: Vec<String> = sets.iter().map(|s| format!("{:?}", s.name)).collect();
                return Err(Error::invalid(format!(
                    "dataset {:?} has several label sets ({}); choose one with --label-set",
                    dataset.name,
                    names.join(", ")
                )));
            }
        },
    };
    Ok((dataset, set))
}

pub fn export(args: ExportLabelsArgs) -> Result<()> {
    let store = open(&args.file)?;
    let (_, set) = pick(&store, args.dataset.as_deref(), args.label_set.as_deref())?;
    let format: Option<ExportFormat> = args.format.map(Into::into);
    let filter =
        LabelFilter { sources: args.source, annotators: args.annotator, min_confidence: args.min_confidence };
    let count = export_labels(&store, &set, &args.output, format, &filter, args.force.into())?;
    errln!(
        "wrote {} labels to {} ({} left out by the filters)",
        count.written,
        args.output.display(),
        count.filtered_out
    );
    Ok(())
}
