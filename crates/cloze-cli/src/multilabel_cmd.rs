//! `cloze multilabel`: several labels per row, one yes/no prompt per label (`cloze::multilabel`).

use std::path::{Path, PathBuf};

use clap::Args;
use cloze::data::Example;
use cloze::error::{Error, Result};
use cloze::export::multi_hot::{MultiHotRow, write_hf_dir};
use cloze::multilabel::{self, MultiLabelPrompt, MultiLabelScorer, Threshold};
use cloze::verbalizer::Verbalizer;

use crate::{DataArgs, ModelArgs};

#[derive(Args, Debug)]
pub struct MultiLabelArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The label set, comma-separated. A row's labels in the data are one field separated by `;`
    /// (`World;Sports`).
    #[arg(long, value_delimiter = ',', required = true, value_name = "LABEL,...")]
    labels: Vec<String>,
    /// How the question names each label, when not by the label itself: JSON {"Sci/Tech": "science
    /// and technology"}.
    #[arg(long, value_name = "JSON")]
    names: Option<String>,
    /// The prompt: one {mask}, and {label} for yes/no questions (the default: the question asked per
    /// label, "{text_a} Is this about {label}? {mask}").
    #[arg(long, short = 't')]
    template: Option<String>,
    /// The answer's verbalizer for yes/no questions: classes "no" and "yes".
    #[arg(long, value_name = "FILE|JSON", default_value = multilabel::DEFAULT_YES_NO, conflicts_with = "label_words")]
    yes_no: String,
    /// Ask once per row instead, with a verbalizer of one class per label ({"World": ["world"],
    /// "Sports": ["sports"], …}) and a prompt without {label} ("{text_a} Topic: {mask}"); each
    /// label's score is its class probability.
    #[arg(long, value_name = "FILE|JSON")]
    label_words: Option<String>,
    /// Contextual calibration of the yes/no answer.
    #[arg(long)]
    calibrate: bool,
    /// The rows to label (with labels, for the metrics).
    #[arg(long, short = 'i', value_name = "FILE")]
    input: PathBuf,
    /// Labelled rows to calibrate each label's threshold on (maximising its F1); without it every
    /// threshold is 0.5, or --thresholds.
    #[arg(long, value_name = "FILE", conflicts_with = "thresholds")]
    fit: Option<PathBuf>,
    /// Thresholds per label, comma-separated, in --labels order.
    #[arg(long, value_delimiter = ',', value_name = "P,...")]
    thresholds: Vec<f32>,
    #[command(flatten)]
    data: DataArgs,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Predictions as JSONL (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write the predictions as a Hugging Face `datasets` folder: data.jsonl (labels as class
    /// indices) and dataset_info.json (features: a Sequence of ClassLabel).
    #[arg(long, value_name = "DIR")]
    hf_output: Option<PathBuf>,
    /// Replace existing outputs.
    #[arg(long)]
    force: bool,
}

/// Rows and, per row, its labels as a multi-hot vector (when it has a label field).
type Labelled = (Vec<Example>, Vec<Option<Vec<bool>>>);

fn load(path: &Path, data: &DataArgs, template: &str, labels: &[String]) -> Result<Labelled> {
    let fields: Vec<String> =
        cloze::template::Template::parse(template)?.fields().map(|f| f.name.clone()).collect();
    let (rows, report) = cloze::data::load(path, &data.import_options()?.for_fields(fields))?;
    crate::report_import(path, &report.notes, &report.skipped);
    if rows.is_empty() {
        return Err(Error::Data { path: path.to_path_buf(), line: None, message: "no rows".into() });
    }
    let gold =
        rows.iter().map(|r| multilabel::parse_labels(r, labels)).collect::<Result<Vec<_>>>().map_err(
            |e| Error::Data { path: path.to_path_buf(), line: None, message: e.to_string().into() },
        )?;
    Ok((rows, gold))
}

fn score(scorer: &MultiLabelScorer, rows: &[Example], what: &str) -> Result<Vec<Vec<f32>>> {
    let total = rows.len() * scorer.questions_per_row();
    crate::with_bar(what, "questions", total, |progress| scorer.scores(rows, progress))
}

pub fn run(args: MultiLabelArgs) -> Result<()> {
    let mut inputs: Vec<&Path> = vec![&args.input];
    inputs.extend(args.fit.as_deref());
    for out in args.output.iter().chain(&args.hf_output) {
        cloze::files::check_output(out, &inputs, args.force.into())?;
    }
    let answer = match &args.label_words {
        Some(words) => multilabel::Answer::LabelWords(Verbalizer::from_file_or_json(words)?),
        None => multilabel::Answer::YesNo(Verbalizer::from_file_or_json(&args.yes_no)?),
    };
    let template = match (&args.template, &answer) {
        (Some(t), _) => t.clone(),
        (None, multilabel::Answer::YesNo(_)) => multilabel::DEFAULT_TEMPLATE.to_string(),
        (None, multilabel::Answer::LabelWords(_)) => {
            return Err(Error::invalid(
                "--label-words needs a --template without {label}, e.g. \"{text_a} Topic: {mask}\"",
            ));
        }
    };
    let mut prompt = MultiLabelPrompt::new(args.labels.clone(), &template, answer)?;
    prompt.calibrate = args.calibrate;
    if let Some(names) = &args.names {
        prompt.names = serde_json::from_str(names)
            .map_err(|e| Error::invalid(format!("--names: not a JSON object of label → name ({e})")))?;
        if let Some(bad) = prompt.names.keys().find(|k| !prompt.labels.contains(k)) {
            return Err(Error::invalid(format!("--names names {bad:?}, which is not one of --labels")));
        }
    }
    let labels = prompt.labels.clone();
    if !args.thresholds.is_empty() && args.thresholds.len() != labels.len() {
        return Err(Error::invalid(format!(
            "--thresholds gives {} values for {} labels; give one per label, in --labels order",
            args.thresholds.len(),
            labels.len()
        )));
    }
    if let Some(bad) = args.thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(Error::invalid(format!("threshold {bad} is not a probability between 0 and 1")));
    }
    let (rows, gold) = load(&args.input, &args.data, &template, &labels)?;
    let fit = match &args.fit {
        Some(path) => {
            let (rows, gold) = load(path, &args.data, &template, &labels)?;
            let keep: Vec<usize> = (0..rows.len()).filter(|&i| gold[i].is_some()).collect();
            if keep.is_empty() {
                return Err(Error::Data {
                    path: path.clone(),
                    line: None,
                    message: "has no labelled rows to calibrate the thresholds on".into(),
                });
            }
            Some((
                keep.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>(),
                keep.iter().map(|&i| gold[i].clone().unwrap_or_default()).collect::<Vec<_>>(),
            ))
        }
        None => None,
    };
    let plm = crate::load_model(&args.model)?;
    let scorer = MultiLabelScorer::new(&plm, prompt, args.batch_size)?;
    let thresholds: Vec<Threshold> = match &fit {
        Some((rows, gold)) => {
            let s = score(&scorer, rows, "calibrating thresholds")?;
            let t = multilabel::fit_thresholds(&s, gold);
            errln!("thresholds calibrated on {} labelled rows (F1 there):", rows.len());
            for (l, t) in labels.iter().zip(&t) {
                errln!("  {l:<24} {:.3}  (F1 {:.3}, {} rows)", t.value, t.f1, t.positives);
            }
            t
        }
        None => {
            let values = if args.thresholds.is_empty() {
                vec![multilabel::DEFAULT_THRESHOLD; labels.len()]
            } else {
                args.thresholds.clone()
            };
            values.into_iter().map(|value| Threshold { value, f1: f64::NAN, positives: 0 }).collect()
        }
    };
    let scores = score(&scorer, &rows, "labelling")?;
    let predicted = multilabel::predict(&scores, &thresholds);
    let lines: Vec<serde_json::Value> = rows
        .iter()
        .zip(&scores)
        .zip(&predicted)
        .map(|((r, s), p)| {
            let mut v = serde_json::json!({
                "id": r.id,
                "labels": labels.iter().zip(p).filter(|(_, on)| **on).map(|(l, _)| l.clone()).collect::<Vec<_>>(),
                "probs": labels.iter().zip(s).map(|(l, p)| (l.clone(), serde_json::json!(p))).collect::<serde_json::Map<_, _>>(),
            });
            if let Some(l) = &r.label {
                v["label"] = l.clone().into();
            }
            v
        })
        .collect();
    crate::write_json_lines(&lines, args.output.as_ref())?;
    if let Some(dir) = &args.hf_output {
        write_hf(dir, &rows, &predicted, &labels)?;
        errln!(
            "wrote {} (load_dataset(\"json\", …, features=Features.from_dict(dataset_info[\"features\"])))",
            dir.display()
        );
    }
    let labelled: Vec<usize> = (0..rows.len()).filter(|&i| gold[i].is_some()).collect();
    if labelled.is_empty() {
        errln!("{} rows labelled (no labels in the data, so no metrics)", rows.len());
        return Ok(());
    }
    let g: Vec<Vec<bool>> = labelled.iter().map(|&i| gold[i].clone().unwrap_or_default()).collect();
    let p: Vec<Vec<bool>> = labelled.iter().map(|&i| predicted[i].clone()).collect();
    let m = multilabel::metrics(&p, &g, &labels);
    errln!(
        "rows {}  micro-F1 {:.4}  macro-F1 {:.4}  subset accuracy {:.4}  Hamming loss {:.4}",
        m.rows,
        m.micro_f1,
        m.macro_f1,
        m.subset_accuracy,
        m.hamming_loss
    );
    errln!("{:<24} {:>9} {:>8} {:>8} {:>8} {:>9}", "label", "threshold", "prec", "recall", "f1", "support");
    for ((l, s), t) in m.per_label.iter().zip(&thresholds) {
        errln!(
            "{l:<24} {:>9.3} {:>8.4} {:>8.4} {:>8.4} {:>9}",
            t.value,
            s.precision,
            s.recall,
            s.f1,
            s.support
        );
    }
    Ok(())
}

/// `DIR/data.jsonl` (id, text, labels as class indices) and `DIR/dataset_info.json` (features),
/// as the app's multi-label export writes them.
fn write_hf(dir: &Path, rows: &[Example], predicted: &[Vec<bool>], labels: &[String]) -> Result<()> {
    let rows: Vec<MultiHotRow> = rows
        .iter()
        .zip(predicted)
        .map(|(r, p)| MultiHotRow {
            id: r.id.clone(),
            split: String::new(),
            text_a: r.text_a.clone(),
            text_b: r.text_b.clone(),
            hot: p.clone(),
        })
        .collect();
    write_hf_dir(dir, &rows, labels)
}
