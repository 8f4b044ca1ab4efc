//! Multi-label tuning: a row carries a set of labels (one field, `a;b`, as
//! [`crate::multilabel::parse_labels`] reads it), and every supervised strategy trains with a
//! per-label binary loss — an independent sigmoid on each label's score, binary cross-entropy with
//! logits ([`bce_with_logits`], torch's `BCEWithLogitsLoss`). The label's score is:
//! - soft prompts and fine-tuning: the verbalizer's label-word logit at the mask, with no softmax
//!   across labels ([`super::PromptModel::label_logits`]), plus a trained bias per label;
//! - the probe: a linear (or MLP) head with one output per label;
//! - contrastive tuning: pairs are positive when their label sets are equal, and the head is
//!   SetFit's for multi-label data, `multi_target_strategy="one-vs-rest"`: one scikit-learn
//!   `LogisticRegression()` per label over the tuned, normalised embeddings ([`fit_one_vs_rest`]).
//!
//! Dev rows are scored with the multi-label metrics of [`crate::multilabel`] (micro/macro-F1,
//! subset accuracy, Hamming loss) at per-label thresholds fitted on the dev rows or fixed at 0.5
//! ([`ThresholdRule`]); the run's final metrics keep the thresholds, which a loaded run predicts
//! label sets with. Distillation is refused (its soft labels are one distribution over classes);
//! prompted pretraining trains on text and is unchanged.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::probe::{self, Probe};
use super::trainer::{DevPrediction, EvalMetrics};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::logreg::{self, LogisticRegression};
use crate::multilabel::{self, DEFAULT_THRESHOLD, SEPARATOR, Threshold};

/// Where a multi-label run's per-label thresholds come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ThresholdRule {
    /// Each label's threshold maximises its F1 on the dev rows ([`multilabel::fit_thresholds`]).
    #[default]
    FitOnDev,
    /// 0.5 for every label.
    Half,
}

impl ThresholdRule {
    pub const ALL: [ThresholdRule; 2] = [ThresholdRule::FitOnDev, ThresholdRule::Half];

    pub fn name(self) -> &'static str {
        match self {
            ThresholdRule::FitOnDev => "fit-on-dev",
            ThresholdRule::Half => "half",
        }
    }
}

/// A multi-label run's settings (`TuneConfig::multi_label`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MultiLabel {
    /// The labels, in order; empty: the verbalizer's classes, else every label of the training rows
    /// in sorted order.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub thresholds: ThresholdRule,
}

impl MultiLabel {
    /// Checks the labels: none empty, none holding the separator, none twice.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for l in &self.labels {
            if l.trim().is_empty() || l.contains(SEPARATOR) {
                return Err(Error::invalid(format!(
                    "multi-label label {l:?} is empty or holds {SEPARATOR:?}, which separates a row's labels; \
                     rename it"
                )));
            }
            if !seen.insert(l.as_str()) {
                return Err(Error::invalid(format!("multi-label label {l:?} is listed twice")));
            }
        }
        Ok(())
    }

    /// The run's labels: the config's, else the verbalizer's classes, else every label the training
    /// rows carry, sorted. At least one is needed.
    pub fn labels_for(
        &self,
        verbalizer: Option<&crate::verbalizer::Verbalizer>,
        train: &[Example],
    ) -> Result<Vec<String>> {
        let labels: Vec<String> = if !self.labels.is_empty() {
            self.labels.clone()
        } else if let Some(v) = verbalizer {
            v.classes.iter().map(|c| c.name.clone()).collect()
        } else {
            let set: std::collections::BTreeSet<String> = train
                .iter()
                .filter_map(|r| r.label.as_deref())
                .flat_map(|l| l.split(SEPARATOR).map(str::trim).filter(|p| !p.is_empty()).map(String::from))
                .collect();
            set.into_iter().collect()
        };
        if labels.is_empty() {
            return Err(Error::precondition(
                "a multi-label run needs labelled training rows (labels separated by ';', e.g. \"World;Sports\")",
            ));
        }
        Ok(labels)
    }
}

/// `mean(max(x, 0) − x·t + log(1 + e^(−|x|)))` over every element: binary cross-entropy of
/// `sigmoid(logits)` against `targets` in `[0, 1]`, in the log-sigmoid form that neither overflows
/// nor loses precision for large `|x|` (torch's `BCEWithLogitsLoss`, mean reduction).
/// Differentiable in `logits`.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let x = logits.to_dtype(DType::F32)?;
    let t = targets.to_dtype(DType::F32)?;
    let softplus = (x.abs()?.neg()?.exp()? + 1.0)?.log()?;
    Ok((x.relu()? - (&x * &t)?)?.add(&softplus)?.mean_all()?)
}

/// The multi-hot label sets of `rows` over `labels`; a row without a label or with an unknown one
/// is an error naming the part, the row and the labels.
pub fn targets(rows: &[Example], labels: &[String], what: &str) -> Result<Vec<Vec<bool>>> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            multilabel::parse_labels(r, labels)
                .map_err(|e| Error::invalid(format!("{what} row {}: {e}", i + 1)))?
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "{what} row {} (id {:?}) has no label; every row of a multi-label run needs its label set \
                         (labels separated by ';')",
                        i + 1,
                        r.id
                    ))
                })
        })
        .collect()
}

/// `[batch, labels]` 0/1 targets of the rows `batch` of `hot`.
pub fn batch_targets(hot: &[Vec<bool>], batch: &[usize], device: &candle_core::Device) -> Result<Tensor> {
    let labels = hot.first().map_or(0, Vec::len);
    let flat: Vec<f32> = batch.iter().flat_map(|&i| hot[i].iter().map(|&h| f32::from(u8::from(h)))).collect();
    Ok(Tensor::from_vec(flat, (batch.len(), labels), device)?)
}

/// A class index per distinct label set (in order of first appearance): contrastive pairs are
/// positive when two rows' label sets are equal.
pub fn set_ids(hot: &[Vec<bool>]) -> Vec<u32> {
    let mut seen: Vec<&Vec<bool>> = Vec::new();
    hot.iter()
        .map(|h| match seen.iter().position(|s| *s == h) {
            Some(i) => i as u32,
            None => {
                seen.push(h);
                (seen.len() - 1) as u32
            }
        })
        .collect()
}

/// The labels of a multi-hot row, joined as a label field (`a;b`, label order).
pub fn join(hot: &[bool], labels: &[String]) -> String {
    let names: Vec<&str> = labels.iter().zip(hot).filter(|(_, h)| **h).map(|(l, _)| l.as_str()).collect();
    names.join(&SEPARATOR.to_string())
}

/// A multi-label evaluation's figures, beside [`EvalMetrics`]' (whose `macro_f1` and
/// `per_class_f1` are the labels').
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MultiLabelScores {
    pub micro_f1: f64,
    pub macro_f1: f64,
    /// Rows whose every label is right.
    pub subset_accuracy: f64,
    pub hamming_loss: f64,
    /// Each label's threshold on its probability, in label order.
    pub thresholds: Vec<f64>,
    pub rule: ThresholdRule,
}

/// A dev row of a multi-label run: id, text and its label set.
#[derive(Debug, Clone)]
pub struct DevRow {
    pub id: String,
    pub text: String,
    pub gold: Vec<bool>,
}

/// A multi-label run's rows as a probe or contrastive objective trains on them.
#[derive(Debug, Clone)]
pub struct Targets {
    pub rule: ThresholdRule,
    pub labels: Vec<String>,
    /// The training rows' label sets.
    pub train: Vec<Vec<bool>>,
    pub dev: Vec<DevRow>,
}

impl Targets {
    /// The label sets of the training and dev rows over `labels`.
    pub fn new(rule: ThresholdRule, labels: Vec<String>, train: &[Example], dev: &[Example]) -> Result<Self> {
        let hot_train = targets(train, &labels, "training")?;
        let hot_dev = targets(dev, &labels, "dev")?;
        let dev = dev
            .iter()
            .zip(hot_dev)
            .map(|(r, gold)| DevRow { id: r.id.clone(), text: r.text_a.clone(), gold })
            .collect();
        Ok(Self { rule, labels, train: hot_train, dev })
    }

    /// [`score_probe`] on these dev rows.
    pub fn score(&self, probe: &Probe, x: &Tensor, keep: bool) -> Result<(EvalMetrics, Vec<DevPrediction>)> {
        score_probe(probe, x, &self.dev, &self.labels, self.rule, keep)
    }
}

/// Per-label thresholds on the probabilities `probs` of rows whose label sets are `gold`.
pub fn thresholds(
    probs: &[Vec<f32>],
    gold: &[Vec<bool>],
    labels: usize,
    rule: ThresholdRule,
) -> Vec<Threshold> {
    match rule {
        ThresholdRule::FitOnDev if !probs.is_empty() => multilabel::fit_thresholds(probs, gold),
        _ => (0..labels)
            .map(|j| {
                let positives = gold.iter().filter(|g| g[j]).count();
                let tp = probs.iter().zip(gold).filter(|(p, g)| g[j] && p[j] >= DEFAULT_THRESHOLD).count();
                let predicted = probs.iter().filter(|p| p[j] >= DEFAULT_THRESHOLD).count();
                let f1 = if predicted + positives == 0 {
                    0.0
                } else {
                    2.0 * tp as f64 / (predicted + positives) as f64
                };
                Threshold { value: DEFAULT_THRESHOLD, f1, positives }
            })
            .collect(),
    }
}

/// The metrics of per-label probabilities on dev rows: thresholds by `rule`, then micro/macro-F1,
/// subset accuracy and Hamming loss of the label sets they predict, scored by micro-F1; the loss is
/// the mean binary cross-entropy. With `keep`, every row's prediction (its probability of the gold
/// label set under the independent sigmoids as `p_label`).
pub fn evaluate(
    probs: &[Vec<f32>],
    dev: &[DevRow],
    labels: &[String],
    rule: ThresholdRule,
    keep: bool,
) -> Result<(EvalMetrics, Vec<DevPrediction>)> {
    let gold: Vec<Vec<bool>> = dev.iter().map(|r| r.gold.clone()).collect();
    let cut = thresholds(probs, &gold, labels.len(), rule);
    let predicted = multilabel::predict(probs, &cut);
    let m = multilabel::metrics(&predicted, &gold, labels);
    let mut loss = 0f64;
    let mut kept = Vec::new();
    for ((row, p), hat) in dev.iter().zip(probs).zip(&predicted) {
        let mut p_set = 1f64;
        for (&pj, &gj) in p.iter().zip(&row.gold) {
            let pj = f64::from(pj).clamp(1e-7, 1.0 - 1e-7);
            let right = if gj { pj } else { 1.0 - pj };
            loss -= right.ln();
            p_set *= right;
        }
        if keep {
            kept.push(DevPrediction {
                id: row.id.clone(),
                text: row.text.clone(),
                label: join(&row.gold, labels),
                predicted: join(hat, labels),
                p_label: p_set,
                probs: p.iter().map(|&x| f64::from(x)).collect(),
            });
        }
    }
    let cells = (dev.len() * labels.len()).max(1) as f64;
    let metrics = EvalMetrics {
        rows: dev.len() as u32,
        score: m.micro_f1,
        accuracy: None,
        macro_f1: Some(m.macro_f1),
        per_class_f1: m.per_label.iter().map(|(_, s)| s.f1).collect(),
        classes: labels.to_vec(),
        confusion: Vec::new(),
        loss: (!dev.is_empty()).then(|| loss / cells),
        multi_label: Some(MultiLabelScores {
            micro_f1: m.micro_f1,
            macro_f1: m.macro_f1,
            subset_accuracy: m.subset_accuracy,
            hamming_loss: m.hamming_loss,
            thresholds: cut.iter().map(|t| f64::from(t.value)).collect(),
            rule,
        }),
    };
    Ok((metrics, kept))
}

/// Element-wise sigmoid of `[rows, labels]` logits.
pub fn sigmoid_rows(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(candle_nn::ops::sigmoid(&logits.to_dtype(DType::F32)?)?.to_vec2::<f32>()?)
}

/// A probe's (or a contrastive head's) multi-label evaluation on the dev rows' features `x`.
pub fn score_probe(
    probe: &Probe,
    x: &Tensor,
    dev: &[DevRow],
    labels: &[String],
    rule: ThresholdRule,
    keep: bool,
) -> Result<(EvalMetrics, Vec<DevPrediction>)> {
    evaluate(&sigmoid_rows(&probe.logits(x)?)?, dev, labels, rule, keep)
}

/// SetFit's multi-label head (`multi_target_strategy="one-vs-rest"`, scikit-learn's
/// `OneVsRestClassifier(LogisticRegression())`): one binary logistic regression with C = 1 per
/// label on the unit-length features `x` `[rows, hidden]`, as a probe with one logit per label. A
/// label every row has, or none, gets zero weights and the log-odds of its smoothed frequency.
pub fn fit_one_vs_rest(x: &Tensor, hot: &[Vec<bool>], labels: usize) -> Result<Probe> {
    let unit = probe::unit_rows(&x.to_dtype(DType::F32)?)?;
    let rows: Vec<Vec<f64>> =
        unit.to_vec2::<f32>()?.into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect();
    let n = rows.len();
    let h = unit.dim(1)?;
    let mut w = Vec::with_capacity(labels * h);
    let mut b = Vec::with_capacity(labels);
    for j in 0..labels {
        let y: Vec<usize> = hot.iter().map(|r| usize::from(r[j])).collect();
        let pos = y.iter().sum::<usize>();
        if pos == 0 || pos == n {
            w.extend(std::iter::repeat_n(0f32, h));
            b.push(((pos as f64 + 0.5) / ((n - pos) as f64 + 0.5)).ln() as f32);
            continue;
        }
        let model = LogisticRegression::fit(
            &rows,
            &logreg::one_hot(&y, 2),
            super::contrastive::sklearn_l2(1.0, n, 2),
        )?;
        w.extend(model.weights[1].iter().zip(&model.weights[0]).map(|(a, z)| (a - z) as f32));
        b.push((model.bias[1] - model.bias[0]) as f32);
    }
    let device = x.device();
    Ok(Probe {
        normalise: true,
        mean: Tensor::zeros((1, h), DType::F32, device)?,
        std: Tensor::ones((1, h), DType::F32, device)?,
        layers: vec![(Tensor::from_vec(w, (labels, h), device)?, Tensor::from_vec(b, labels, device)?)],
    })
}

/// The thresholds a finished multi-label run predicts with: its final dev evaluation's, else 0.5
/// for every label.
pub fn run_thresholds(summary: Option<&super::Summary>, labels: usize) -> Vec<f32> {
    summary
        .and_then(|s| s.final_metrics.as_ref())
        .and_then(|m| m.multi_label.as_ref())
        .map(|m| m.thresholds.iter().map(|&t| t as f32).collect::<Vec<_>>())
        .filter(|t| t.len() == labels)
        .unwrap_or_else(|| vec![DEFAULT_THRESHOLD; labels])
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Reference values from PyTorch 2 (CPU, float64), made with
    /// `torch.nn.BCEWithLogitsLoss()(torch.tensor(x, dtype=torch.float64), torch.tensor(t, dtype=torch.float64))`
    /// in /tmp/torch-venv; the large logits check the stable form (a naive
    /// `-(t log σ(x) + (1-t) log(1-σ(x)))` in f32 gives inf or 0 there).
    #[test]
    fn bce_matches_torch() {
        let cases: [(&[f32], &[f32], f64); 6] = [
            (&[0.0], &[1.0], std::f64::consts::LN_2),
            (&[2.0, -1.0], &[1.0, 0.0], 0.22009484928059764),
            (&[0.5, -0.5, 3.0], &[1.0, 1.0, 0.0], 1.4989137733113183),
            (&[100.0, -100.0], &[0.0, 1.0], 100.0),
            (&[100.0, -100.0], &[1.0, 0.0], 1.860037988010418e-44),
            (&[-20.0, 20.0], &[0.3, 0.7], 6.000000002061154),
        ];
        let dev = Device::Cpu;
        for (x, t, want) in cases {
            let xs = Tensor::new(x, &dev).unwrap().reshape((1, x.len())).unwrap();
            let ts = Tensor::new(t, &dev).unwrap().reshape((1, t.len())).unwrap();
            let got = f64::from(bce_with_logits(&xs, &ts).unwrap().to_scalar::<f32>().unwrap());
            assert!((got - want).abs() < 1e-5 * want.max(1.0), "{x:?} {t:?}: {got} vs {want}");
        }
    }

    /// The gradient candle's backward pass gives equals central finite differences of the loss.
    #[test]
    fn bce_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let x0 = [0.3f64, -1.7, 2.5, 0.0, -4.0, 8.0];
        let t = [1.0f64, 0.0, 1.0, 0.0, 1.0, 0.0];
        let xv = Var::from_tensor(&Tensor::new(&x0, &dev).unwrap().reshape((2, 3)).unwrap()).unwrap();
        let tt = Tensor::new(&t, &dev).unwrap().reshape((2, 3)).unwrap();
        // in f64 for the finite differences: the loss as the engine computes it, but without the cast
        let f64_loss = |x: &Tensor| -> f64 {
            let sp = (x.abs().unwrap().neg().unwrap().exp().unwrap() + 1.0).unwrap().log().unwrap();
            let l = (x.relu().unwrap() - (x * &tt).unwrap()).unwrap().add(&sp).unwrap().mean_all().unwrap();
            l.to_scalar::<f64>().unwrap()
        };
        let loss = bce_with_logits(xv.as_tensor(), &tt).unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<f64> = grads
            .get(xv.as_tensor())
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let eps = 1e-6;
        for i in 0..x0.len() {
            let mut plus = x0;
            let mut minus = x0;
            plus[i] += eps;
            minus[i] -= eps;
            let fp = f64_loss(&Tensor::new(&plus, &dev).unwrap().reshape((2, 3)).unwrap());
            let fm = f64_loss(&Tensor::new(&minus, &dev).unwrap().reshape((2, 3)).unwrap());
            let numeric = (fp - fm) / (2.0 * eps);
            // and the closed form (σ(x) − t)/n
            let closed = (1.0 / (1.0 + (-x0[i]).exp()) - t[i]) / 6.0;
            assert!((g[i] - numeric).abs() < 1e-5, "x{i}: {} vs {numeric}", g[i]);
            assert!((numeric - closed).abs() < 1e-8, "x{i}: {numeric} vs {closed}");
        }
    }

    fn row(id: &str, label: Option<&str>) -> Example {
        Example { label: label.map(Into::into), ..Example::new(id, id) }
    }

    #[test]
    fn label_sets_parse_and_pair() {
        let labels: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let rows = [row("1", Some("a;b")), row("2", Some("c")), row("3", Some("b; a")), row("4", Some(""))];
        let hot = targets(&rows, &labels, "training").unwrap();
        assert_eq!(hot[0], vec![true, true, false]);
        assert_eq!(hot[3], vec![false, false, false]);
        assert_eq!(set_ids(&hot), vec![0, 1, 0, 2]);
        assert_eq!(join(&hot[0], &labels), "a;b");
        let t = batch_targets(&hot, &[1, 0], &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(t, vec![vec![0.0, 0.0, 1.0], vec![1.0, 1.0, 0.0]]);
        let cases = [(row("9", Some("a;z")), "label \"z\""), (row("9", None), "has no label")];
        for (r, needle) in cases {
            let e = targets(&[r], &labels, "dev").unwrap_err().to_string();
            assert!(e.contains("dev row 1") && e.contains(needle), "{e}");
        }
        let ml = MultiLabel::default();
        assert_eq!(ml.labels_for(None, &rows).unwrap(), labels);
        for bad in [vec!["a;b".to_string()], vec!["a".into(), "a".into()], vec![" ".into()]] {
            assert!(MultiLabel { labels: bad, ..Default::default() }.validate().is_err());
        }
    }

    /// Thresholds, metrics and the kept predictions by hand: two labels, three rows.
    #[test]
    fn evaluation_by_hand() {
        let labels: Vec<String> = vec!["a".into(), "b".into()];
        let dev = vec![
            DevRow { id: "1".into(), text: "x".into(), gold: vec![true, false] },
            DevRow { id: "2".into(), text: "y".into(), gold: vec![true, true] },
            DevRow { id: "3".into(), text: "z".into(), gold: vec![false, true] },
        ];
        let probs = vec![vec![0.9, 0.2], vec![0.4, 0.3], vec![0.1, 0.8]];
        // At 0.5: a predicted on row 1 only (tp 1, fn 1), b on row 3 only (tp 1, fn 1):
        // micro-F1 = 2·2/(2+4) = 2/3; per label F1 = 2/3; rows 1 and 3 wholly right: subset accuracy 2/3.
        let (m, kept) = evaluate(&probs, &dev, &labels, ThresholdRule::Half, true).unwrap();
        let ml = m.multi_label.as_ref().unwrap();
        assert!((ml.micro_f1 - 2.0 / 3.0).abs() < 1e-12 && (m.score - 2.0 / 3.0).abs() < 1e-12);
        assert!((ml.subset_accuracy - 2.0 / 3.0).abs() < 1e-12, "{ml:?}");
        assert!((ml.hamming_loss - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(ml.thresholds, vec![0.5, 0.5]);
        assert_eq!(m.accuracy, None);
        assert_eq!((kept[1].label.as_str(), kept[1].predicted.as_str()), ("a;b", ""));
        // p(gold set) of row 1 = 0.9 · 0.8
        assert!((kept[0].p_label - 0.72).abs() < 1e-6);
        let want_loss = -[0.9f64, 0.8, 0.4, 0.3, 0.9, 0.8].iter().map(|p| p.ln()).sum::<f64>() / 6.0;
        assert!((m.loss.unwrap() - want_loss).abs() < 1e-6);
        // Fitted on these rows: a at (0.1+0.4)/2 = 0.25, b at (0.2+0.3)/2 = 0.25 — every row right.
        let (m, _) = evaluate(&probs, &dev, &labels, ThresholdRule::FitOnDev, false).unwrap();
        let ml = m.multi_label.unwrap();
        assert_eq!((ml.micro_f1, ml.subset_accuracy), (1.0, 1.0));
        assert!((ml.thresholds[0] - 0.25).abs() < 1e-6 && (ml.thresholds[1] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn one_vs_rest_head_separates_labels() {
        let dev = Device::Cpu;
        // label a: first coordinate positive; label b: second; label c: never.
        let x =
            Tensor::new(&[[1f32, 0.1], [0.9, 1.0], [0.1, 1.0], [-1.0, -0.2], [1.0, -0.5], [-0.3, 0.8]], &dev)
                .unwrap();
        let hot: Vec<Vec<bool>> = [[1, 0], [1, 1], [0, 1], [0, 0], [1, 0], [0, 1]]
            .iter()
            .map(|r| vec![r[0] == 1, r[1] == 1, false])
            .collect();
        let probe = fit_one_vs_rest(&x, &hot, 3).unwrap();
        let p = sigmoid_rows(&probe.logits(&x).unwrap()).unwrap();
        for (pr, h) in p.iter().zip(&hot) {
            assert_eq!(pr[0] >= 0.5, h[0], "{p:?}");
            assert_eq!(pr[1] >= 0.5, h[1], "{p:?}");
            // never seen: log-odds of 0.5/6.5
            assert!((pr[2] - 0.5 / 7.0).abs() < 1e-5, "{pr:?}");
        }
    }
}
