//! Multi-label classification with prompts: a row may carry several labels, so each label gets its
//! own score and its own threshold, calibrated on the labelled rows to maximise that label's F1.
//! The score is either [`Answer::YesNo`] — one yes/no prompt per label (`{text_a} Is this about
//! {label}? {mask}`, the `{label}` field filled with the label's name as the question reads it),
//! scored with a yes/no verbalizer into `p(yes)` — or [`Answer::LabelWords`]: one prompt per row
//! (`{text_a} Topic: {mask}`) whose verbalizer has a class per label, each label scored by its
//! class probability (cheaper, one question a row, and better on small models that answer yes to
//! every question; a row's probability mass is shared by its labels, which the per-label
//! thresholds absorb). Metrics are those of multi-label tasks: micro- and macro-F1,
//! subset accuracy (every label of the row right), Hamming loss and per-label precision, recall,
//! F1. In files, a row's labels are one field separated by [`SEPARATOR`] (`World;Sports`).

use std::collections::BTreeMap;

use crate::classify::{Classifier, ClassifyOptions};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::metrics::ClassScores;
use crate::plm::Plm;
use crate::template::Template;
use crate::verbalizer::Verbalizer;

/// The question asked per label when none is given.
pub const DEFAULT_TEMPLATE: &str = "{text_a} Is this about {label}? {mask}";
/// The yes/no verbalizer when none is given (its classes must be `no` and `yes`).
pub const DEFAULT_YES_NO: &str = r#"{"no": ["No"], "yes": ["Yes"]}"#;
/// Separates a row's labels in one field.
pub const SEPARATOR: char = ';';
/// The threshold of a label with no labelled rows to calibrate on.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// What to ask and how to read the answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MultiLabelPrompt {
    /// The label set, in order.
    pub labels: Vec<String>,
    /// How the question names each label (`{label}`), when not by the label itself.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    /// The prompt: one `{mask}`; with [`Answer::YesNo`] also `{label}`.
    pub template: String,
    pub answer: Answer,
    #[serde(default)]
    pub calibrate: bool,
}

/// How a label's score is read.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// A question per label answered by a verbalizer with classes `no` and `yes`: p(yes).
    YesNo(Verbalizer),
    /// A prompt per row whose verbalizer has one class per label: each label's class probability.
    LabelWords(Verbalizer),
}

impl MultiLabelPrompt {
    pub fn new(labels: Vec<String>, template: &str, answer: Answer) -> Result<Self> {
        let p = Self { labels, names: BTreeMap::new(), template: template.into(), answer, calibrate: false };
        p.check()?;
        Ok(p)
    }

    pub fn check(&self) -> Result<()> {
        if self.labels.is_empty() {
            return Err(Error::invalid(
                "a multi-label prompt needs at least one label, e.g. --labels World,Sports",
            ));
        }
        let mut sorted = self.labels.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(format!("label {:?} is listed twice", w[0])));
        }
        if let Some(bad) = self.labels.iter().find(|l| l.contains(SEPARATOR) || l.trim().is_empty()) {
            return Err(Error::invalid(format!(
                "label {bad:?} is empty or holds {SEPARATOR:?}, which separates a row's labels; rename it"
            )));
        }
        let t = Template::parse(&self.template)?;
        t.check_classification()?;
        match &self.answer {
            Answer::YesNo(yes_no) => {
                if !t.fields().any(|f| f.name == "label") {
                    return Err(Error::invalid(format!(
                        "the multi-label question has no {{label}}, so every label would be asked the same \
                         question; add it, e.g. \"{DEFAULT_TEMPLATE}\""
                    )));
                }
                let mut classes = yes_no.class_names();
                classes.sort();
                if classes != ["no", "yes"] {
                    return Err(Error::invalid(format!(
                        "the yes/no verbalizer needs exactly the classes \"no\" and \"yes\" (it has {:?}), e.g. \
                         {DEFAULT_YES_NO}",
                        yes_no.class_names()
                    )));
                }
            }
            Answer::LabelWords(words) => {
                if t.fields().any(|f| f.name == "label") {
                    return Err(Error::invalid(
                        "with label words the prompt is asked once per row, so it cannot hold {label}; write e.g. \
                         \"{text_a} Topic: {mask}\"",
                    ));
                }
                let mut theirs = words.class_names();
                theirs.sort();
                let mut ours: Vec<&str> = self.labels.iter().map(String::as_str).collect();
                ours.sort();
                if theirs != ours {
                    return Err(Error::invalid(format!(
                        "the label words' classes {:?} must be the labels {:?}",
                        words.class_names(),
                        self.labels
                    )));
                }
            }
        }
        Ok(())
    }

    fn name<'a>(&'a self, label: &'a str) -> &'a str {
        self.names.get(label).map(String::as_str).unwrap_or(label)
    }
}

/// A row's labels from its label field (`a;b`), as a multi-hot vector over `labels`; an unknown
/// label is an error naming the row.
pub fn parse_labels(row: &Example, labels: &[String]) -> Result<Option<Vec<bool>>> {
    let Some(field) = row.label.as_deref() else { return Ok(None) };
    let mut hot = vec![false; labels.len()];
    for part in field.split(SEPARATOR).map(str::trim).filter(|p| !p.is_empty()) {
        let i = labels.iter().position(|l| l == part).ok_or_else(|| {
            Error::invalid(format!(
                "row {}: label {part:?} is not one of the labels ({}); labels are separated by {SEPARATOR:?}",
                row.id,
                labels.join(", ")
            ))
        })?;
        hot[i] = true;
    }
    Ok(Some(hot))
}

/// Scores rows: every label's score.
pub struct MultiLabelScorer<'a> {
    prompt: MultiLabelPrompt,
    classifier: Classifier<'a>,
    /// Where each score is read in the classifier's classes: `yes` once, or each label's class.
    columns: Vec<usize>,
}

impl<'a> MultiLabelScorer<'a> {
    pub fn new(plm: &'a Plm, prompt: MultiLabelPrompt, batch_size: usize) -> Result<Self> {
        prompt.check()?;
        let template = Template::parse(&prompt.template)?;
        let options = ClassifyOptions { batch_size, calibrate: prompt.calibrate, ..Default::default() };
        let (verbalizer, columns) = match &prompt.answer {
            Answer::YesNo(v) => (v, vec![v.class_names().iter().position(|c| *c == "yes").expect("checked")]),
            Answer::LabelWords(v) => {
                let names = v.class_names();
                let cols = prompt
                    .labels
                    .iter()
                    .map(|l| names.iter().position(|c| c == l).expect("checked"))
                    .collect();
                (v, cols)
            }
        };
        let classifier = Classifier::new(plm, template, verbalizer, options)?;
        Ok(Self { prompt, classifier, columns })
    }

    pub fn prompt(&self) -> &MultiLabelPrompt {
        &self.prompt
    }

    /// The questions a row costs: one per label with yes/no answers, one with label words.
    pub fn questions_per_row(&self) -> usize {
        match self.prompt.answer {
            Answer::YesNo(_) => self.prompt.labels.len(),
            Answer::LabelWords(_) => 1,
        }
    }

    /// `scores[row][label]`. `progress(done, total)` counts questions.
    pub fn scores(
        &self,
        rows: &[Example],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        if let Answer::LabelWords(_) = self.prompt.answer {
            let preds = self.classifier.classify(rows, progress)?;
            return Ok(preds.iter().map(|p| self.columns.iter().map(|&c| p.probs[c].1).collect()).collect());
        }
        let l = self.prompt.labels.len();
        let questions: Vec<Example> = rows
            .iter()
            .flat_map(|r| {
                self.prompt.labels.iter().map(move |label| {
                    let mut q = r.clone();
                    q.label = Some(self.prompt.name(label).to_string());
                    q
                })
            })
            .collect();
        let preds = self.classifier.classify(&questions, progress)?;
        Ok(preds.chunks(l).map(|c| c.iter().map(|p| p.probs[self.columns[0]].1).collect()).collect())
    }
}

/// A label's calibrated threshold and what it scored on the rows it was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Threshold {
    pub value: f32,
    /// F1 of the label on the fitting rows at this threshold.
    pub f1: f64,
    /// Rows of the label among the fitting rows.
    pub positives: usize,
}

/// Per label, the threshold on `p(yes)` that maximises its F1 on rows with known labels: every
/// midpoint between two neighbouring scores is tried (a row is predicted positive when its score is
/// at least the threshold); among equal F1s the one nearest 0.5. A label no row carries keeps
/// [`DEFAULT_THRESHOLD`].
pub fn fit_thresholds(scores: &[Vec<f32>], gold: &[Vec<bool>]) -> Vec<Threshold> {
    let labels = scores.first().map_or(0, Vec::len);
    (0..labels)
        .map(|j| {
            let mut pairs: Vec<(f32, bool)> = scores.iter().zip(gold).map(|(s, g)| (s[j], g[j])).collect();
            let positives = pairs.iter().filter(|p| p.1).count();
            if positives == 0 {
                return Threshold { value: DEFAULT_THRESHOLD, f1: 0.0, positives };
            }
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut candidates: Vec<f32> = vec![pairs[0].0 - 1e-6];
            candidates.extend(pairs.windows(2).filter(|w| w[0].0 < w[1].0).map(|w| (w[0].0 + w[1].0) / 2.0));
            let mut best = Threshold { value: DEFAULT_THRESHOLD, f1: -1.0, positives };
            for t in candidates {
                let tp = pairs.iter().filter(|p| p.1 && p.0 >= t).count();
                let predicted = pairs.iter().filter(|p| p.0 >= t).count();
                let f1 = f1(tp, predicted, positives);
                let closer = (t - 0.5).abs() < (best.value - 0.5).abs();
                if f1 > best.f1 + 1e-12 || ((f1 - best.f1).abs() <= 1e-12 && closer) {
                    best = Threshold { value: t, f1, positives };
                }
            }
            best
        })
        .collect()
}

fn f1(tp: usize, predicted: usize, actual: usize) -> f64 {
    if predicted + actual == 0 { 0.0 } else { 2.0 * tp as f64 / (predicted + actual) as f64 }
}

/// Multi-hot predictions from scores and thresholds.
pub fn predict(scores: &[Vec<f32>], thresholds: &[Threshold]) -> Vec<Vec<bool>> {
    scores.iter().map(|s| s.iter().zip(thresholds).map(|(p, t)| *p >= t.value).collect()).collect()
}

/// The metrics of multi-hot predictions against multi-hot labels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MultiLabelMetrics {
    pub rows: usize,
    pub micro_f1: f64,
    /// Mean of the labels' F1 (a label never present nor predicted counts 0, as scikit-learn's
    /// `zero_division=0`).
    pub macro_f1: f64,
    /// Rows whose every label is right.
    pub subset_accuracy: f64,
    /// Wrong (row, label) decisions over all of them.
    pub hamming_loss: f64,
    pub per_label: Vec<(String, ClassScores)>,
}

pub fn metrics(predicted: &[Vec<bool>], gold: &[Vec<bool>], labels: &[String]) -> MultiLabelMetrics {
    let n = gold.len();
    let (mut tp_all, mut pred_all, mut gold_all, mut wrong) = (0, 0, 0, 0);
    let per_label: Vec<(String, ClassScores)> = labels
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let tp = predicted.iter().zip(gold).filter(|(p, g)| p[j] && g[j]).count();
            let pred = predicted.iter().filter(|p| p[j]).count();
            let actual = gold.iter().filter(|g| g[j]).count();
            tp_all += tp;
            pred_all += pred;
            gold_all += actual;
            wrong += predicted.iter().zip(gold).filter(|(p, g)| p[j] != g[j]).count();
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let scores = ClassScores {
                precision: ratio(tp, pred),
                recall: ratio(tp, actual),
                f1: f1(tp, pred, actual),
                support: actual,
            };
            (name.clone(), scores)
        })
        .collect();
    let exact = predicted.iter().zip(gold).filter(|(p, g)| p == g).count();
    MultiLabelMetrics {
        rows: n,
        micro_f1: f1(tp_all, pred_all, gold_all),
        macro_f1: per_label.iter().map(|(_, s)| s.f1).sum::<f64>() / labels.len().max(1) as f64,
        subset_accuracy: if n == 0 { 0.0 } else { exact as f64 / n as f64 },
        hamming_loss: if n == 0 { 0.0 } else { wrong as f64 / (n * labels.len().max(1)) as f64 },
        per_label,
    }
}

/// The Hugging Face `datasets` features of a multi-label export: the text, and the labels as a
/// `Sequence(ClassLabel(names))` (load with `load_dataset("json", data_files=…,
/// features=Features.from_dict(value))`).
pub fn hf_features(labels: &[String]) -> serde_json::Value {
    serde_json::json!({
        "id": {"dtype": "string", "_type": "Value"},
        "text": {"dtype": "string", "_type": "Value"},
        "labels": {"feature": {"names": labels, "_type": "ClassLabel"}, "_type": "Sequence"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        vec!["World".into(), "Sports".into(), "Business".into()]
    }

    #[test]
    fn labels_parse_from_one_field() {
        let row = |l: Option<&str>| {
            let mut e = Example::new("9", "t");
            e.label = l.map(String::from);
            e
        };
        type Case<'a> = (Option<&'a str>, Result<Option<Vec<bool>>, &'a str>);
        let cases: [Case; 5] = [
            (None, Ok(None)),
            (Some("World;Business"), Ok(Some(vec![true, false, true]))),
            (Some(" Sports ; "), Ok(Some(vec![false, true, false]))),
            (Some(""), Ok(Some(vec![false, false, false]))),
            (Some("World;Tech"), Err("row 9: label \"Tech\" is not one of the labels")),
        ];
        for (field, want) in cases {
            match (parse_labels(&row(field), &labels()), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, want) => panic!("{field:?}: {got:?} vs {want:?}"),
            }
        }
    }

    /// Hand-computed: label 0's scores 0.9 (yes), 0.6 (no), 0.4 (yes), 0.1 (no). Thresholds tried:
    /// 0.1−ε (F1 2·2/(4+2) = 0.667), 0.25 (2·2/(3+2) = 0.8), 0.5 (2·1/(2+2) = 0.5), 0.75 (2/3).
    /// Best 0.25. Label 1 has no positive row: 0.5.
    #[test]
    fn thresholds_maximise_each_labels_f1() {
        let scores = vec![vec![0.9, 0.3], vec![0.6, 0.2], vec![0.4, 0.8], vec![0.1, 0.1]];
        let gold = vec![vec![true, false], vec![false, false], vec![true, false], vec![false, false]];
        let t = fit_thresholds(&scores, &gold);
        assert!((t[0].value - 0.25).abs() < 1e-6 && (t[0].f1 - 0.8).abs() < 1e-12, "{t:?}");
        assert_eq!((t[1].value, t[1].positives), (DEFAULT_THRESHOLD, 0));
        assert_eq!(
            predict(&scores, &t),
            vec![vec![true, false], vec![true, false], vec![true, true], vec![false, false]]
        );
    }

    /// Hand-computed on two rows, three labels: predictions {0,1}, {2}; gold {0}, {1,2}.
    /// TP = 2 (label 0 row 1, label 2 row 2), predicted 3, gold 3: micro-F1 = 4/6. Per label:
    /// label 0 F1 1, label 1 (predicted once, present once, different rows) 0, label 2 1: macro 2/3.
    /// No row exact: subset accuracy 0. Wrong decisions: label 1 on both rows: 2/6.
    #[test]
    fn metrics_by_hand() {
        let p = vec![vec![true, true, false], vec![false, false, true]];
        let g = vec![vec![true, false, false], vec![false, true, true]];
        let m = metrics(&p, &g, &labels());
        assert!((m.micro_f1 - 4.0 / 6.0).abs() < 1e-12);
        assert!((m.macro_f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.subset_accuracy, 0.0);
        assert!((m.hamming_loss - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.per_label[1].1.support, 1);
        assert_eq!(m.per_label[1].1.precision, 0.0);
    }

    #[test]
    fn prompts_are_checked() {
        let yn = Answer::YesNo(Verbalizer::from_json(DEFAULT_YES_NO).unwrap());
        assert!(MultiLabelPrompt::new(labels(), DEFAULT_TEMPLATE, yn).is_ok());
        let words = r#"{"World": ["world"], "Sports": ["sports"], "Business": ["business"]}"#;
        let lw = |w: &str| Answer::LabelWords(Verbalizer::from_json(w).unwrap());
        assert!(MultiLabelPrompt::new(labels(), "{text_a} Topic: {mask}", lw(words)).is_ok());
        let err = MultiLabelPrompt::new(labels(), DEFAULT_TEMPLATE, lw(words)).unwrap_err().to_string();
        assert!(err.contains("cannot hold {label}"), "{err}");
        let err =
            MultiLabelPrompt::new(labels(), "{text_a} {mask}", lw(r#"{"World": ["w"], "Tech": ["t"]}"#));
        assert!(err.unwrap_err().to_string().contains("must be the labels"));
        let cases = [
            (vec![], DEFAULT_TEMPLATE, DEFAULT_YES_NO, "at least one label"),
            (vec!["a".into(), "a".into()], DEFAULT_TEMPLATE, DEFAULT_YES_NO, "listed twice"),
            (vec!["a;b".into()], DEFAULT_TEMPLATE, DEFAULT_YES_NO, "rename it"),
            (labels(), "{text_a} {mask}", DEFAULT_YES_NO, "no {label}"),
            (labels(), DEFAULT_TEMPLATE, r#"{"n": ["No"], "y": ["Yes"]}"#, "\"no\" and \"yes\""),
        ];
        for (l, t, v, want) in cases {
            let answer = Answer::YesNo(Verbalizer::from_json(v).unwrap());
            let err = MultiLabelPrompt::new(l, t, answer).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
