//! Template ensembles: several prompts on one model fused into one classifier.
//!
//! PET (Schick & Schütze, "Exploiting Cloze Questions for Few Shot Text Classification and Natural
//! Language Inference", EACL 2021, §3.2) combines the models of several patterns by a weighted
//! average of their scores, each weighted uniformly or by its accuracy on the training set before
//! training. An [`Ensemble`] does that over prompt versions (template + verbalizer + calibration,
//! on any model family), and adds a third weighting learned on the labelled rows:
//!
//! - [`Weighting::Uniform`] and [`Weighting::DevAccuracy`]: the ensemble's class scores are
//!   `s_c = Σ_m w_m · log p_m(c)` with weights summing to 1 (`w_m = 1/M`, or `acc_m / Σ acc`), and its
//!   probabilities `softmax(s)` — the normalised weighted geometric mean of the members' class
//!   probabilities.
//! - [`Weighting::Learned`]: a multinomial logistic regression over the members' class
//!   log-probabilities (`M × C` features), its L2 penalty chosen by stratified k-fold
//!   cross-validation ([`crate::logreg::cross_validated`]); the accuracy it reports is the
//!   out-of-fold one, so it is not flattered by fitting the rows it is scored on.
//!
//! An ensemble is saved as JSON ([`Ensemble::write`], [`Ensemble::read`]); it is used by `cloze
//! classify --ensemble`, the label scoring and the app's prompt studio, through
//! [`EnsembleClassifier`], and distilled into a tuned model by `tune` (soft labels on the
//! unlabelled rows).

use std::path::Path;

use crate::classify::{Classifier, ClassifyOptions, Prediction};
use crate::error::{Error, Result};
use crate::logreg::{CrossValidation, LogisticRegression};
use crate::metrics::Metrics;
use crate::plm::Plm;
use crate::template::chat::Chat;
use crate::template::{FieldSource, Template};
use crate::verbalizer::Verbalizer;

/// The file format this build writes; a file of a newer one is refused.
pub const FORMAT: u32 = 1;
/// A probability is floored here before its logarithm is taken (a member certain against a class
/// does not veto it outright).
const FLOOR: f64 = 1e-12;
/// Folds of the learned weighting's cross-validation.
pub const DEFAULT_FOLDS: usize = 5;

/// One prompt of an ensemble.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Member {
    /// A name to show (e.g. the saved template's name and version).
    pub name: String,
    /// The template in the text syntax, with one `{mask}`.
    pub template: String,
    pub verbalizer: Verbalizer,
    /// Contextual calibration against content-free inputs.
    #[serde(default)]
    pub calibrate: bool,
    /// The model's chat template around the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Chat>,
}

/// How the members' scores are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Every member the same weight.
    #[default]
    Uniform,
    /// Each member weighted by its accuracy on the labelled rows (PET's weighted mean).
    DevAccuracy,
    /// A logistic regression over the members' class log-probabilities, cross-validated.
    Learned,
}

impl Weighting {
    pub const ALL: [Weighting; 3] = [Weighting::Uniform, Weighting::DevAccuracy, Weighting::Learned];

    pub fn label(self) -> &'static str {
        match self {
            Weighting::Uniform => "uniform",
            Weighting::DevAccuracy => "dev accuracy",
            Weighting::Learned => "learned",
        }
    }
}

/// How each weighting did on the labelled rows the ensemble was fitted on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitReport {
    /// Labelled rows the fit used.
    pub rows: usize,
    /// Each member's accuracy on them.
    pub members: Vec<f64>,
    /// Each weighting's accuracy: on the rows for uniform and dev accuracy, out-of-fold for learned
    /// (absent when there were too few rows to cross-validate).
    pub weightings: Vec<WeightingScore>,
    /// The learned weighting's cross-validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightingScore {
    pub weighting: Weighting,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Whether the figure is out-of-fold.
    pub cross_validated: bool,
}

/// A saved ensemble: its classes, members and the weighting in use.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ensemble {
    pub format: u32,
    /// The model the members were scored on when the weights were fitted (as the user named it:
    /// a folder, a GGUF file or a repository id); the weights belong to that model's scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The classes, in the order probabilities are given.
    pub classes: Vec<String>,
    pub members: Vec<Member>,
    pub weighting: Weighting,
    /// Per member, summing to 1: the uniform or dev-accuracy weights (for `learned`, the
    /// dev-accuracy ones, kept for display).
    pub weights: Vec<f64>,
    /// The learned weighting's regression (`learned` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combiner: Option<LogisticRegression>,
    /// What the fit measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitReport>,
}

/// Every member's class probabilities: `scores[member][row][class]`, classes in the ensemble's
/// order.
pub type MemberScores = Vec<Vec<Vec<f32>>>;

fn log_floor(p: f32) -> f64 {
    f64::from(p).max(FLOOR).ln()
}

/// The features the learned weighting reads for one row: each member's class log-probabilities.
fn features(scores: &[Vec<Vec<f32>>], row: usize) -> Vec<f64> {
    scores.iter().flat_map(|m| m[row].iter().map(|&p| log_floor(p))).collect()
}

/// `softmax` of f64 scores.
fn softmax(s: &[f64]) -> Vec<f64> {
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// The weighted geometric mean of the members' probabilities, normalised.
fn weighted(scores: &[Vec<Vec<f32>>], row: usize, weights: &[f64]) -> Vec<f64> {
    let classes = scores[0][row].len();
    let s: Vec<f64> = (0..classes)
        .map(|c| scores.iter().zip(weights).map(|(m, w)| w * log_floor(m[row][c])).sum())
        .collect();
    softmax(&s)
}

fn accuracy(probs: &[Vec<f64>], labels: &[usize]) -> f64 {
    let hits = probs.iter().zip(labels).filter(|(p, l)| crate::logreg::argmax(p) == **l).count();
    hits as f64 / labels.len().max(1) as f64
}

fn macro_f1(probs: &[Vec<f64>], labels: &[usize], classes: &[String]) -> f64 {
    let pairs: Vec<(&str, &str)> = probs
        .iter()
        .zip(labels)
        .map(|(p, &l)| (classes[l].as_str(), classes[crate::logreg::argmax(p)].as_str()))
        .collect();
    Metrics::from_labels(pairs, classes).map(|m| m.macro_f1).unwrap_or(0.0)
}

impl Ensemble {
    /// An ensemble of `members` over `classes` with uniform weights, fitted on nothing.
    pub fn uniform(classes: Vec<String>, members: Vec<Member>) -> Result<Self> {
        let m = members.len();
        let e = Self {
            format: FORMAT,
            model: None,
            classes,
            members,
            weighting: Weighting::Uniform,
            weights: vec![1.0 / m.max(1) as f64; m],
            combiner: None,
            fit: None,
        };
        e.check()?;
        Ok(e)
    }

    /// Fits the weights on labelled rows: `scores` are every member's class probabilities on them
    /// ([`MemberScores`]), `labels` their class indices. Every weighting is measured (the report
    /// says how each did); `weighting` is the one the ensemble uses. The learned weighting needs
    /// `folds` rows and two rows of each labelled class; uniform and dev accuracy need one row.
    pub fn fit(
        classes: Vec<String>,
        members: Vec<Member>,
        scores: &[Vec<Vec<f32>>],
        labels: &[usize],
        weighting: Weighting,
        folds: usize,
        seed: u64,
    ) -> Result<Self> {
        let mut e = Self::uniform(classes, members)?;
        let (m, n, c) = (e.members.len(), labels.len(), e.classes.len());
        if scores.len() != m || scores.iter().any(|s| s.len() != n || s.iter().any(|r| r.len() != c)) {
            return Err(Error::invalid(format!(
                "fitting an ensemble needs {m} members' probabilities over {c} classes for each of the {n} rows"
            )));
        }
        if n == 0 {
            return Err(Error::precondition(
                "fitting an ensemble's weights needs labelled rows; label some, or use the uniform weighting",
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= c) {
            return Err(Error::invalid(format!("label index {bad} is not one of the {c} classes")));
        }
        let member_probs: Vec<Vec<Vec<f64>>> = scores
            .iter()
            .map(|s| s.iter().map(|r| r.iter().map(|&p| f64::from(p)).collect()).collect())
            .collect();
        let member_acc: Vec<f64> = member_probs.iter().map(|p| accuracy(p, labels)).collect();
        let total: f64 = member_acc.iter().sum();
        let dev_weights: Vec<f64> = if total > 0.0 {
            member_acc.iter().map(|a| a / total).collect()
        } else {
            vec![1.0 / m as f64; m]
        };
        let score = |weighting, probs: &[Vec<f64>], cross_validated| WeightingScore {
            weighting,
            accuracy: accuracy(probs, labels),
            macro_f1: macro_f1(probs, labels, &e.classes),
            cross_validated,
        };
        let uniform: Vec<Vec<f64>> = (0..n).map(|i| weighted(scores, i, &e.weights)).collect();
        let dev: Vec<Vec<f64>> = (0..n).map(|i| weighted(scores, i, &dev_weights)).collect();
        let mut report = FitReport {
            rows: n,
            members: member_acc,
            weightings: vec![
                score(Weighting::Uniform, &uniform, false),
                score(Weighting::DevAccuracy, &dev, false),
            ],
            cross_validation: None,
        };
        let mut per_class = vec![0usize; c];
        labels.iter().for_each(|&l| per_class[l] += 1);
        let can_learn = folds >= 2 && n >= folds && per_class.iter().all(|&k| k == 0 || k >= 2);
        if can_learn {
            let x: Vec<Vec<f64>> = (0..n).map(|i| features(scores, i)).collect();
            let fold = crate::data::stratified_folds(labels, c, folds, seed);
            let (model, cv) = crate::logreg::cross_validated(&x, labels, c, &fold, &crate::logreg::L2_GRID)?;
            report.weightings.push(score(Weighting::Learned, &cv.out_of_fold, true));
            report.cross_validation = Some(cv);
            if weighting == Weighting::Learned {
                e.combiner = Some(model);
            }
        } else if weighting == Weighting::Learned {
            return Err(Error::precondition(format!(
                "the learned weighting is cross-validated over {folds} folds: it needs at least {folds} labelled \
                 rows and 2 of each labelled class (there are {n}); label more rows, or use the uniform or dev \
                 accuracy weighting"
            )));
        }
        if weighting != Weighting::Uniform {
            e.weights = dev_weights;
        }
        e.weighting = weighting;
        e.fit = Some(report);
        e.check()?;
        Ok(e)
    }

    /// Checks what a file or a caller gave: at least one member, every member's verbalizer over
    /// exactly the ensemble's classes, weights that are finite, non-negative and sum to 1, and a
    /// combiner of the right shape for `learned`.
    pub fn check(&self) -> Result<()> {
        if self.format > FORMAT {
            return Err(Error::invalid(format!(
                "the ensemble is in format {}, written by a newer Cloze Studio (this one reads up to {FORMAT}); update \
                 Cloze Studio",
                self.format
            )));
        }
        if self.members.is_empty() {
            return Err(Error::invalid("an ensemble needs at least one member prompt"));
        }
        if self.classes.len() < 2 {
            return Err(Error::invalid("an ensemble needs at least two classes"));
        }
        let mut sorted = self.classes.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.classes.len() {
            return Err(Error::invalid("an ensemble's classes must be distinct"));
        }
        for m in &self.members {
            Template::parse(&m.template)
                .and_then(|t| t.check_classification())
                .map_err(|e| Error::invalid(format!("member {:?}: {e}", m.name)))?;
            let mut theirs: Vec<&str> = m.verbalizer.class_names();
            theirs.sort();
            let mut ours: Vec<&str> = self.classes.iter().map(String::as_str).collect();
            ours.sort();
            if theirs != ours {
                return Err(Error::invalid(format!(
                    "member {:?} has the classes {:?}; every member needs the ensemble's classes {:?} — give its \
                     verbalizer a word list for each",
                    m.name,
                    m.verbalizer.class_names(),
                    self.classes
                )));
            }
        }
        let sum: f64 = self.weights.iter().sum();
        if self.weights.len() != self.members.len()
            || self.weights.iter().any(|w| !w.is_finite() || *w < 0.0)
            || (sum - 1.0).abs() > 1e-6
        {
            return Err(Error::invalid(format!(
                "an ensemble needs one non-negative weight per member, summing to 1 (it has {} weights for {} \
                 members, summing to {sum})",
                self.weights.len(),
                self.members.len()
            )));
        }
        match (&self.combiner, self.weighting) {
            (Some(c), Weighting::Learned) => {
                c.check(self.classes.len(), self.classes.len() * self.members.len())
            }
            (None, Weighting::Learned) => Err(Error::invalid(
                "the ensemble's weighting is `learned` but it holds no fitted combiner; fit it again",
            )),
            _ => Ok(()),
        }
    }

    /// The ensemble's class probabilities of row `row` of `scores`.
    pub fn combine(&self, scores: &[Vec<Vec<f32>>], row: usize) -> Vec<f32> {
        let p = match (&self.combiner, self.weighting) {
            (Some(model), Weighting::Learned) => model.probs(&features(scores, row)),
            _ => weighted(scores, row, &self.weights),
        };
        p.into_iter().map(|v| v as f32).collect()
    }

    /// Reads and checks an ensemble file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = crate::files::read_text_limited(path, 64 << 20, "an ensemble file")?;
        let e: Self = serde_json::from_str(&text).map_err(|err| {
            Error::invalid(format!(
                "{}: not an ensemble file (line {}, column {}: {err}); write one with `cloze ensemble fit`",
                path.display(),
                err.line(),
                err.column()
            ))
        })?;
        e.check().map_err(|err| Error::invalid(format!("{}: {}", path.display(), err)))?;
        Ok(e)
    }

    /// Exports the ensemble as the file `cloze classify --ensemble` reads: `out` must not be one
    /// of `inputs` (the project), nor exist unless `replace` allows it.
    pub fn export(&self, out: &Path, inputs: &[&Path], replace: crate::files::Replace) -> Result<()> {
        crate::files::check_output(out, inputs, replace)?;
        self.write(out)
    }

    /// Writes the ensemble as JSON (to a temporary name, renamed into place).
    pub fn write(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| Error::internal(format!("ensemble to JSON: {e}")))?;
        crate::files::write_atomic(path, &json)
    }
}

/// Where each member's class `k` sits in the ensemble's class order.
fn class_order(ensemble: &[String], member: &Verbalizer) -> Vec<usize> {
    member
        .class_names()
        .iter()
        .map(|name| ensemble.iter().position(|c| c == name).expect("checked: same classes"))
        .collect()
}

/// Classifies with every member of an ensemble on one model and combines them.
pub struct EnsembleClassifier<'a> {
    ensemble: Ensemble,
    members: Vec<Classifier<'a>>,
    orders: Vec<Vec<usize>>,
}

/// What an ensemble made of some rows: each member's predictions and the ensemble's.
#[derive(Debug, Clone)]
pub struct EnsembleOutput {
    pub members: Vec<Vec<Prediction>>,
    pub combined: Vec<Prediction>,
}

impl EnsembleOutput {
    /// Every member's class probabilities in the ensemble's order ([`MemberScores`]).
    pub fn scores(&self, classes: &[String]) -> MemberScores {
        self.members
            .iter()
            .map(|preds| {
                preds
                    .iter()
                    .map(|p| {
                        classes
                            .iter()
                            .map(|c| p.probs.iter().find(|(n, _)| n == c).map_or(0.0, |(_, v)| *v))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// Rows (indices) on which the members do not all predict the same class.
    pub fn disagreements(&self) -> Vec<usize> {
        (0..self.combined.len())
            .filter(|&i| self.members.iter().any(|m| m[i].predicted != self.members[0][i].predicted))
            .collect()
    }
}

impl<'a> EnsembleClassifier<'a> {
    /// Binds every member to `plm` (templates parsed, chat templates applied, verbalizers bound,
    /// calibration computed). Members that draw demonstrations (`{demo}`) are refused.
    pub fn new(plm: &'a Plm, ensemble: Ensemble, batch_size: usize) -> Result<Self> {
        ensemble.check()?;
        let mut members = Vec::with_capacity(ensemble.members.len());
        let mut orders = Vec::with_capacity(ensemble.members.len());
        for m in &ensemble.members {
            let named = |e: Error| Error::invalid(format!("member {:?}: {}", m.name, e));
            let template = Template::parse(&m.template).map_err(named)?;
            if crate::demo::uses_demos(&template) {
                return Err(Error::invalid(format!(
                    "member {:?} uses {{demo}}; ensemble members cannot draw demonstrations yet — write the examples \
                     into its template, or leave it out",
                    m.name
                )));
            }
            let template = match &m.chat {
                Some(chat) => chat.apply(plm, &template)?,
                None => template,
            };
            let options = ClassifyOptions { batch_size, calibrate: m.calibrate, ..Default::default() };
            members.push(Classifier::new(plm, template, &m.verbalizer, options)?);
            orders.push(class_order(&ensemble.classes, &m.verbalizer));
        }
        Ok(Self { ensemble, members, orders })
    }

    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }

    pub fn members(&self) -> &[Classifier<'a>] {
        &self.members
    }

    /// Classifies `rows` with every member, then combines. `progress(done, total)` counts rows
    /// over all members; returning `false` cancels.
    pub fn classify<F: FieldSource>(
        &self,
        rows: &[F],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<EnsembleOutput> {
        let total = rows.len() * self.members.len();
        let mut members = Vec::with_capacity(self.members.len());
        for (k, member) in self.members.iter().enumerate() {
            let offset = k * rows.len();
            let mut preds = member.classify(rows, &mut |done, _| progress(offset + done, total))?;
            // Probabilities in the ensemble's class order.
            for p in &mut preds {
                let mut probs: Vec<(String, f32)> =
                    self.ensemble.classes.iter().map(|c| (c.clone(), 0.0)).collect();
                for (j, (_, v)) in p.probs.iter().enumerate() {
                    probs[self.orders[k][j]].1 = *v;
                }
                p.probs = probs;
            }
            members.push(preds);
        }
        let mut out = EnsembleOutput { members, combined: Vec::new() };
        let scores = out.scores(&self.ensemble.classes);
        out.combined = (0..rows.len())
            .map(|i| {
                let probs = self.ensemble.combine(&scores, i);
                let best = crate::verbalizer::argmax(&probs);
                let first = &out.members[0][i];
                Prediction {
                    id: first.id.clone(),
                    label: first.label.clone(),
                    predicted: self.ensemble.classes[best].clone(),
                    probs: self.ensemble.classes.iter().cloned().zip(probs).collect(),
                    label_word_logits: Vec::new(),
                    top_words: Vec::new(),
                    truncated: out.members.iter().map(|m| m[i].truncated).max().unwrap_or(0),
                }
            })
            .collect();
        Ok(out)
    }
}

/// The class index of each labelled row's label in `classes` (rows without a label or with another
/// label are refused, naming the row).
pub fn label_indices(rows: &[crate::data::Example], classes: &[String]) -> Result<Vec<usize>> {
    rows.iter()
        .map(|r| {
            let label = r.label.as_deref().ok_or_else(|| {
                Error::invalid(format!("row {}: has no label; fitting an ensemble needs labelled rows", r.id))
            })?;
            classes.iter().position(|c| c == label).ok_or_else(|| {
                Error::invalid(format!(
                    "row {}: {}",
                    r.id,
                    crate::metrics::unknown_labels_message(&[label.to_string()].into(), classes)
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, classes: &[&str]) -> Member {
        let json = format!(
            "{{{}}}",
            classes.iter().map(|c| format!("\"{c}\": [\"{c}word\"]")).collect::<Vec<_>>().join(", ")
        );
        Member {
            name: name.into(),
            template: "{text_a} It was {mask}.".into(),
            verbalizer: Verbalizer::from_json(&json).unwrap(),
            calibrate: false,
            chat: None,
        }
    }

    fn classes() -> Vec<String> {
        vec!["neg".into(), "pos".into()]
    }

    /// Hand-computed: members p₁ = (0.8, 0.2), p₂ = (0.4, 0.6). Uniform: √(0.8·0.4) = 0.565685,
    /// √(0.2·0.6) = 0.346410, normalised 0.620204, 0.379796. Weights (0.75, 0.25):
    /// 0.8^0.75·0.4^0.25 = 0.672717, 0.2^0.75·0.6^0.25 = 0.263215 → 0.718767, 0.281233.
    #[test]
    fn weighted_geometric_means_by_hand() {
        let scores = vec![vec![vec![0.8f32, 0.2]], vec![vec![0.4f32, 0.6]]];
        let cases: [(&[f64], [f64; 2]); 2] =
            [(&[0.5, 0.5], [0.620204, 0.379796]), (&[0.75, 0.25], [0.718767, 0.281233])];
        for (w, want) in cases {
            let got = weighted(&scores, 0, w);
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
    }

    /// Three rows, labels (neg, pos, pos). Member A predicts (neg, neg, pos): accuracy 2/3; member B
    /// predicts (neg, pos, pos): 3/3. Dev-accuracy weights: (2/3)/(5/3) = 0.4 and 0.6.
    #[test]
    fn dev_accuracy_weights_by_hand() {
        let a = vec![vec![0.9f32, 0.1], vec![0.7, 0.3], vec![0.2, 0.8]];
        let b = vec![vec![0.6f32, 0.4], vec![0.45, 0.55], vec![0.3, 0.7]];
        let scores = vec![a, b];
        let labels = [0, 1, 1];
        let members = vec![member("a", &["neg", "pos"]), member("b", &["pos", "neg"])];
        let e = Ensemble::fit(classes(), members, &scores, &labels, Weighting::DevAccuracy, 5, 1).unwrap();
        assert!((e.weights[0] - 0.4).abs() < 1e-12 && (e.weights[1] - 0.6).abs() < 1e-12, "{:?}", e.weights);
        let report = e.fit.as_ref().unwrap();
        assert_eq!(report.members, vec![2.0 / 3.0, 1.0]);
        // Row 1: 0.7^0.4·0.45^0.6 = 0.538757 (neg), 0.3^0.4·0.55^0.6 = 0.432609 (pos): neg wins.
        let p = e.combine(&scores, 1);
        let (n, q) = (0.7f64.powf(0.4) * 0.45f64.powf(0.6), 0.3f64.powf(0.4) * 0.55f64.powf(0.6));
        assert!((f64::from(p[0]) - n / (n + q)).abs() < 1e-6, "{p:?}");
        // Too few rows to cross-validate: only two weightings are reported, and learned is refused.
        assert_eq!(report.weightings.len(), 2);
        let err = Ensemble::fit(classes(), e.members.clone(), &scores, &labels, Weighting::Learned, 5, 1);
        assert!(err.unwrap_err().to_string().contains("label more rows"));
    }

    /// The learned weighting's probabilities are the logistic regression's over the members'
    /// log-probabilities; on rows where one member is right and the other always wrong, it learns to
    /// trust the right one (out-of-fold accuracy 1).
    #[test]
    fn learned_weighting_trusts_the_reliable_member() {
        let n = 20;
        let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let good: Vec<Vec<f32>> =
            labels.iter().map(|&l| if l == 1 { vec![0.3, 0.7] } else { vec![0.7, 0.3] }).collect();
        let bad: Vec<Vec<f32>> =
            labels.iter().map(|&l| if l == 1 { vec![0.9, 0.1] } else { vec![0.2, 0.8] }).collect();
        let scores = vec![bad, good];
        let members = vec![member("bad", &["neg", "pos"]), member("good", &["neg", "pos"])];
        let e = Ensemble::fit(classes(), members, &scores, &labels, Weighting::Learned, 5, 3).unwrap();
        let report = e.fit.as_ref().unwrap();
        let learned = report.weightings.iter().find(|w| w.weighting == Weighting::Learned).unwrap();
        assert!(learned.cross_validated && learned.accuracy == 1.0, "{report:?}");
        assert_eq!(report.weightings[0].accuracy, 0.0, "uniform follows the confident wrong member");
        let model = e.combiner.as_ref().unwrap();
        for (i, &label) in labels.iter().enumerate() {
            let want = model.probs(&features(&scores, i));
            let got = e.combine(&scores, i);
            assert!((f64::from(got[1]) - want[1]).abs() < 1e-6);
            assert_eq!(crate::verbalizer::argmax(&got), label);
        }
    }

    #[test]
    fn files_round_trip_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.json");
        let e =
            Ensemble::uniform(classes(), vec![member("a", &["neg", "pos"]), member("b", &["neg", "pos"])])
                .unwrap();
        e.write(&path).unwrap();
        assert_eq!(Ensemble::read(&path).unwrap(), e);
        let mut bad = [e.clone(), e.clone(), e.clone(), e.clone(), e.clone()];
        bad[0].members[1] = member("b", &["neg", "other"]);
        bad[1].weights = vec![0.7, 0.7];
        bad[2].weighting = Weighting::Learned;
        bad[3].format = FORMAT + 1;
        bad[4].members[0].template = "{text_a}".into();
        let wants = [
            "ensemble's classes",
            "summing to 1",
            "no fitted combiner",
            "newer Cloze Studio",
            "member \"a\"",
        ];
        for (b, want) in bad.iter().zip(wants) {
            std::fs::write(&path, serde_json::to_vec(b).unwrap()).unwrap();
            let msg = Ensemble::read(&path).unwrap_err().to_string();
            assert!(msg.contains(want) && msg.contains("e.json"), "{want}: {msg}");
        }
        std::fs::write(&path, "{\"format\": 1,").unwrap();
        assert!(Ensemble::read(&path).unwrap_err().to_string().contains("not an ensemble file"));
    }
}
