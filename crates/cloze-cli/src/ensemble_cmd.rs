//! `cloze ensemble fit|show`: template ensembles (`cloze::ensemble`), and `classify --ensemble`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cloze::data::Example;
use cloze::ensemble::{Ensemble, EnsembleClassifier, EnsembleOutput, Member, MemberScores, Weighting};
use cloze::error::{Error, Result};
use cloze::plm::Plm;
use cloze::template::chat::Chat;
use cloze::verbalizer::Verbalizer;

use crate::{DataArgs, ModelArgs};

#[derive(Subcommand, Debug)]
pub enum EnsembleCommand {
    /// Fit an ensemble of prompts on labelled rows: every member classifies them, each weighting
    /// (uniform, dev accuracy, learned) is measured, and the chosen one is written as JSON for
    /// `cloze classify --ensemble`.
    Fit(Box<FitArgs>),
    /// Print an ensemble file: its members, weights and what its fit measured.
    Show {
        /// The ensemble file (`cloze ensemble fit --output`).
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct FitArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The members: a JSON file holding a list of prompts, each {"name": "...", "template": "{text_a}
    /// It was {mask}.", "verbalizer": {"negative": ["bad"], "positive": ["good"]} or a verbalizer
    /// file's path, "calibrate": false, "chat": false, "system": "..."}.
    #[arg(long, value_name = "FILE")]
    members: PathBuf,
    /// Labelled rows to fit the weights on.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: PathBuf,
    /// Fit on K rows per class drawn from --input with --seed (LM-BFF's few-shot sample), not on
    /// all of it.
    #[arg(long, value_name = "K")]
    per_class: Option<usize>,
    /// Also score a held-out labelled file with every member and every weighting.
    #[arg(long, value_name = "FILE")]
    eval: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// The weighting the written ensemble uses: uniform, dev-accuracy (each member by its accuracy
    /// on the rows, PET's) or learned (a logistic regression over the members' class
    /// log-probabilities, its penalty cross-validated).
    #[arg(long, value_enum, default_value_t = crate::choices::Weighting::Learned)]
    weighting: crate::choices::Weighting,
    /// Folds of the learned weighting's cross-validation.
    #[arg(long, default_value_t = cloze::ensemble::DEFAULT_FOLDS)]
    folds: usize,
    /// Seed of the folds and of --per-class.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Where to write the ensemble (JSON); an existing file only with --force.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
    /// Replace --output if it exists.
    #[arg(long)]
    force: bool,
}

/// A member as the members file gives it: the verbalizer as inline JSON or a file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberSpec {
    name: Option<String>,
    template: String,
    verbalizer: serde_json::Value,
    #[serde(default)]
    calibrate: bool,
    #[serde(default)]
    chat: bool,
    system: Option<String>,
}

/// Reads the members file: a JSON list of [`MemberSpec`]; names default to "prompt N".
pub fn read_members(path: &Path) -> Result<Vec<Member>> {
    let text = cloze::files::read_text_limited(path, 16 << 20, "a members file")?;
    let specs: Vec<MemberSpec> = serde_json::from_str(&text).map_err(|e| Error::Data {
        path: path.to_path_buf(),
        line: Some(e.line() as u64),
        message: format!(
            "not a list of prompts ({e}); write e.g. [{{\"name\": \"great\", \"template\": \"{{text_a}} It was \
             {{mask}}.\", \"verbalizer\": {{\"negative\": [\"terrible\"], \"positive\": [\"great\"]}}}}]"
        )
        .into(),
    })?;
    if specs.is_empty() {
        return Err(Error::Data { path: path.to_path_buf(), line: None, message: "lists no prompt".into() });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    specs
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let name = s.name.unwrap_or_else(|| format!("prompt {}", i + 1));
            let at = |e: Error| Error::Data {
                path: path.to_path_buf(),
                line: None,
                message: format!("prompt {} ({name:?}): {}", i + 1, e.message(cloze::error::Front::Cli))
                    .into(),
            };
            let verbalizer = match &s.verbalizer {
                serde_json::Value::String(file) => {
                    let file = base.join(file);
                    Verbalizer::from_file_or_json(&file.to_string_lossy())
                }
                other => Verbalizer::from_json(&other.to_string()),
            }
            .map_err(at)?;
            cloze::template::Template::parse(&s.template)
                .and_then(|t| t.check_classification())
                .map_err(at)?;
            let chat = s.chat.then(|| Chat::model_template(s.system.clone()));
            Ok(Member { name, template: s.template, verbalizer, calibrate: s.calibrate, chat })
        })
        .collect()
}

fn load_rows(path: &Path, data: &DataArgs, members: &[Member]) -> Result<Vec<Example>> {
    let mut fields: Vec<String> = Vec::new();
    for m in members {
        if let Ok(t) = cloze::template::Template::parse(&m.template) {
            fields.extend(t.fields().map(|f| f.name.clone()));
        }
    }
    let options = data.import_options()?.for_fields(fields);
    let (rows, report) = cloze::data::load(path, &options)?;
    crate::report_import(path, &report.notes, &report.skipped);
    if rows.is_empty() {
        return Err(Error::Data { path: path.to_path_buf(), line: None, message: "no rows".into() });
    }
    Ok(rows)
}

/// Runs every member over `rows` with a progress bar.
fn score(classifier: &EnsembleClassifier, rows: &[Example], what: &str) -> Result<EnsembleOutput> {
    let total = rows.len() * classifier.members().len();
    crate::with_bar(what, "prompt-rows", total, |progress| classifier.classify(rows, progress))
}

fn accuracy(preds: &[cloze::classify::Prediction]) -> f64 {
    let hits = preds.iter().filter(|p| p.label.as_deref() == Some(p.predicted.as_str())).count();
    hits as f64 / preds.len().max(1) as f64
}

/// The accuracy of `ensemble`'s combination of `scores` against `labels`.
fn combined_accuracy(ensemble: &Ensemble, scores: &MemberScores, labels: &[usize]) -> f64 {
    let hits = (0..labels.len())
        .filter(|&i| cloze::verbalizer::argmax(&ensemble.combine(scores, i)) == labels[i])
        .count();
    hits as f64 / labels.len().max(1) as f64
}

pub fn run(command: EnsembleCommand) -> Result<()> {
    match command {
        EnsembleCommand::Fit(args) => fit(*args),
        EnsembleCommand::Show { file } => show(&Ensemble::read(&file)?),
    }
}

fn fit(args: FitArgs) -> Result<()> {
    let mut inputs: Vec<&Path> = vec![&args.input, &args.members];
    inputs.extend(args.eval.as_deref());
    cloze::files::check_output(&args.output, &inputs, args.force.into())?;
    let members = read_members(&args.members)?;
    let classes: Vec<String> = members[0].verbalizer.class_names().iter().map(|c| c.to_string()).collect();
    // The classes and templates are checked before any row is read or scored.
    Ensemble::uniform(classes.clone(), members.clone()).map_err(|e| Error::Data {
        path: args.members.clone(),
        line: None,
        message: e.to_string().into(),
    })?;
    let mut rows = load_rows(&args.input, &args.data, &members)?;
    crate::check_labels_in(&args.input, &rows, &classes)?;
    rows.retain(|r| r.label.is_some());
    if let Some(k) = args.per_class {
        rows = cloze::data::few_shot(&rows, k, args.seed)?;
        errln!("fitting on {k} rows per class drawn with seed {}: {} rows", args.seed, rows.len());
    }
    let labels = cloze::ensemble::label_indices(&rows, &classes)?;
    let eval_rows = match &args.eval {
        Some(path) => {
            let rows = load_rows(path, &args.data, &members)?;
            crate::check_labels_in(path, &rows, &classes)?;
            Some(rows.into_iter().filter(|r| r.label.is_some()).collect::<Vec<_>>())
        }
        None => None,
    };
    let plm: Plm = crate::load_model(&args.model)?;
    let uniform = Ensemble::uniform(classes.clone(), members.clone())?;
    let classifier = EnsembleClassifier::new(&plm, uniform, args.batch_size)?;
    let fitted = score(&classifier, &rows, "scoring the labelled rows")?;
    let scores = fitted.scores(&classes);
    let weighting: Weighting = args.weighting.into();
    let mut ensemble =
        Ensemble::fit(classes.clone(), members.clone(), &scores, &labels, weighting, args.folds, args.seed)?;
    ensemble.model = Some(args.model.model.clone());
    let report = ensemble.fit.as_ref().expect("a fitted ensemble has its report");

    // Each weighting fitted on the same rows, to score the held-out file with all three.
    let eval = match &eval_rows {
        Some(eval_rows) => {
            let out = score(&classifier, eval_rows, "scoring the held-out rows")?;
            let eval_scores = out.scores(&classes);
            let eval_labels = cloze::ensemble::label_indices(eval_rows, &classes)?;
            let mut by_weighting = Vec::new();
            for w in Weighting::ALL {
                if let Ok(e) = Ensemble::fit(
                    classes.clone(),
                    members.clone(),
                    &scores,
                    &labels,
                    w,
                    args.folds,
                    args.seed,
                ) {
                    by_weighting.push((w, combined_accuracy(&e, &eval_scores, &eval_labels)));
                }
            }
            Some((out, by_weighting))
        }
        None => None,
    };
    let mut err = std::io::stderr().lock();
    let eval_head = eval_rows.as_ref().map(|r| format!("  held-out ({} rows)", r.len())).unwrap_or_default();
    let _ = writeln!(err, "{:<40} {:>14}{eval_head}", "", format!("fit ({} rows)", report.rows));
    for (k, m) in members.iter().enumerate() {
        let held =
            eval.as_ref().map(|(out, _)| format!("  {:>8.4}", accuracy(&out.members[k]))).unwrap_or_default();
        let _ = writeln!(
            err,
            "{:<40} {:>14.4}{held}   weight {:.3}",
            format!("member {}", m.name),
            report.members[k],
            ensemble.weights[k]
        );
    }
    for w in &report.weightings {
        let held = eval
            .as_ref()
            .and_then(|(_, by)| by.iter().find(|(x, _)| *x == w.weighting))
            .map(|(_, a)| format!("  {a:>8.4}"))
            .unwrap_or_default();
        let tag = if w.cross_validated { " (out-of-fold)" } else { "" };
        let chosen = if w.weighting == ensemble.weighting { "  ← written" } else { "" };
        let _ = writeln!(
            err,
            "{:<40} {:>14.4}{held}{chosen}",
            format!("ensemble, {}{tag}", w.weighting.label()),
            w.accuracy
        );
    }
    if let Some(cv) = &report.cross_validation {
        let _ =
            writeln!(err, "learned: L2 penalty {} chosen by {}-fold cross-validation", cv.chosen, cv.folds);
    }
    if let Some((out, _)) = &eval {
        let _ = writeln!(
            err,
            "the members disagree on {} of {} held-out rows",
            out.disagreements().len(),
            out.combined.len()
        );
    }
    drop(err);
    ensemble.write(&args.output)?;
    errln!("wrote {} ({} weighting)", args.output.display(), ensemble.weighting.label());
    Ok(())
}

fn show(e: &Ensemble) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let w = |out: &mut std::io::StdoutLock, s: String| {
        writeln!(out, "{s}").map_err(|e| Error::io(crate::STDOUT, e))
    };
    w(&mut out, format!("classes: {}", e.classes.join(", ")))?;
    w(&mut out, format!("weighting: {}", e.weighting.label()))?;
    for (k, m) in e.members.iter().enumerate() {
        let acc = e.fit.as_ref().map(|f| format!("  accuracy {:.4}", f.members[k])).unwrap_or_default();
        w(&mut out, format!("member {:?}: {}  weight {:.3}{acc}", m.name, m.template, e.weights[k]))?;
    }
    if let Some(f) = &e.fit {
        for s in &f.weightings {
            let tag = if s.cross_validated { " (out-of-fold)" } else { "" };
            w(
                &mut out,
                format!(
                    "{}{tag}: accuracy {:.4}, macro-F1 {:.4} on {} rows",
                    s.weighting.label(),
                    s.accuracy,
                    s.macro_f1,
                    f.rows
                ),
            )?;
        }
    }
    Ok(())
}

/// `cloze classify --ensemble FILE`: every member, then the ensemble; JSONL with the ensemble's
/// probabilities and each member's prediction; accuracy per member and for the ensemble.
pub fn classify_with_ensemble(
    file: &Path,
    model: &ModelArgs,
    input: &Path,
    data: &DataArgs,
    batch_size: usize,
    output: Option<&PathBuf>,
) -> Result<()> {
    let ensemble = Ensemble::read(file)?;
    let rows = load_rows(input, data, &ensemble.members)?;
    crate::check_labels_in(input, &rows, &ensemble.classes)?;
    let plm = crate::load_model(model)?;
    let classes = ensemble.classes.clone();
    let names: Vec<String> = ensemble.members.iter().map(|m| m.name.clone()).collect();
    let classifier = EnsembleClassifier::new(&plm, ensemble, batch_size)?;
    let out = score(&classifier, &rows, "classifying")?;
    let lines: Vec<serde_json::Value> = out
        .combined
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut v = crate::prediction_json(p);
            v["members"] = names
                .iter()
                .zip(&out.members)
                .map(|(n, m)| (n.clone(), serde_json::Value::from(m[i].predicted.clone())))
                .collect();
            v
        })
        .collect();
    crate::write_json_lines(&lines, output)?;
    if let Some(eval) = cloze::classify::evaluate(&out.combined, &classes)? {
        for (n, m) in names.iter().zip(&out.members) {
            errln!("member {n:?}: accuracy {:.4}", accuracy(m));
        }
        errln!("members disagree on {} of {} rows", out.disagreements().len(), out.combined.len());
        errln!("ensemble ({}):", classifier.ensemble().weighting.label());
        crate::print_evaluation(&eval);
    } else {
        errln!("{} rows classified (no labels in the data, so no accuracy)", out.combined.len());
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportEnsembleArgs {
    /// The project file.
    file: PathBuf,
    /// The saved ensemble's name.
    #[arg(long)]
    name: String,
    /// Its version (default: the newest).
    #[arg(long)]
    version: Option<i64>,
    /// The file to write (JSON).
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

/// `cloze export ensemble`: a saved ensemble written as an ensemble file.
pub fn export_saved(args: ExportEnsembleArgs) -> Result<()> {
    let store = crate::project::open(&args.file)?;
    let saved = store.ensemble_named(&args.name, args.version)?;
    saved.ensemble.export(&args.output, &[&args.file], args.force.into())?;
    errln!(
        "wrote ensemble {} v{} ({} prompts, {}) to {}; classify with `cloze classify --model {} --ensemble {} --input FILE`",
        saved.name,
        saved.version,
        saved.ensemble.members.len(),
        saved.ensemble.weighting.label(),
        args.output.display(),
        saved.ensemble.model.as_deref().unwrap_or("MODEL"),
        args.output.display()
    );
    Ok(())
}
