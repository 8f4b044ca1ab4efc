//! Training a prompt model for classification: soft-prompt tuning (model frozen) and prompt-based
//! fine-tuning (every weight), both with cross-entropy over the verbalizer's classes at the mask.

use candle_core::{Tensor, Var};

use super::prompt_model::PromptModel;
use super::trainer::{DevPrediction, EvalMetrics, Objective};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::template::Rendered;

/// A rendered, labelled row.
#[derive(Debug, Clone)]
pub struct PromptRow {
    pub id: String,
    pub text: String,
    pub rendered: Rendered,
    pub label: usize,
    /// A pseudo-labelled row's soft label (distillation).
    pub soft: Option<Vec<f32>>,
    /// A multi-label row's label set over the classes (`label` is 0 then).
    pub hot: Option<Vec<bool>>,
}

/// Renders labelled examples, mapping labels to class indices (an unknown label is an error naming
/// the row and the classes).
pub fn render_rows(model: &PromptModel, examples: &[Example], what: &str) -> Result<Vec<PromptRow>> {
    render_rows_as(model, examples, what, false)
}

/// [`render_rows`]; with `multi`, each row's label field is a label set (`a;b`) over the classes.
pub fn render_rows_as(
    model: &PromptModel,
    examples: &[Example],
    what: &str,
    multi: bool,
) -> Result<Vec<PromptRow>> {
    let classes = model.classes();
    let hot = if multi { Some(super::multi::targets(examples, &classes, what)?) } else { None };
    examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let rendered = |ex: &Example| {
                model.render(ex).map_err(|e| match e {
                    Error::Template { position, message } => {
                        Error::Template { position, message: format!("{what} row {}: {message}", i + 1) }
                    }
                    other => other,
                })
            };
            if let Some(hot) = &hot {
                let (id, text, rendered) = (ex.id.clone(), ex.text_a.clone(), rendered(ex)?);
                return Ok(PromptRow { id, text, rendered, label: 0, soft: None, hot: Some(hot[i].clone()) });
            }
            let label = ex.label.as_deref().ok_or_else(|| {
                Error::invalid(format!("{what} row {} (id {:?}) has no label; every training row needs one", i + 1, ex.id))
            })?;
            let label = classes.iter().position(|c| c == label).ok_or_else(|| {
                Error::invalid(format!(
                    "{what} row {} (id {:?}) has label {label:?}, which is not a class of the verbalizer ({}); \
                     name the verbalizer's classes by the label values",
                    i + 1,
                    ex.id,
                    classes.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
                ))
            })?;
            let rendered = rendered(ex)?;
            let soft = super::distill::soft_target(ex, &classes)?;
            Ok(PromptRow { id: ex.id.clone(), text: ex.text_a.clone(), rendered, label, soft, hot: None })
        })
        .collect()
}

/// Class probabilities for many rows with the model's current weights, in length-sorted batches,
/// through the fast inference kernels.
pub fn predict(model: &PromptModel, rows: &[&Rendered], batch_size: usize) -> Result<Vec<Vec<f32>>> {
    predict_by(model, rows, batch_size, &|m, batch| m.probabilities(batch))
}

/// A multi-label model's per-label probabilities (a sigmoid of each label's logit) for many rows.
pub fn predict_labels(model: &PromptModel, rows: &[&Rendered], batch_size: usize) -> Result<Vec<Vec<f32>>> {
    predict_by(model, rows, batch_size, &|m, batch| super::multi::sigmoid_rows(&m.label_logits(batch)?))
}

type Scorer<'a> = &'a dyn Fn(&PromptModel, &[&Rendered]) -> Result<Vec<Vec<f32>>>;

fn predict_by(
    model: &PromptModel,
    rows: &[&Rendered],
    batch_size: usize,
    score: Scorer,
) -> Result<Vec<Vec<f32>>> {
    let eval = model.detached();
    let lengths: Vec<usize> = rows.iter().map(|r| r.ids.len()).collect();
    let mut out = vec![Vec::new(); rows.len()];
    for chunk in crate::plm::batch::longest_first(&lengths, batch_size) {
        let batch: Vec<&Rendered> = chunk.iter().map(|&i| rows[i]).collect();
        for (k, p) in score(&eval, &batch)?.into_iter().enumerate() {
            out[chunk[k]] = p;
        }
    }
    Ok(out)
}

/// Metrics and per-row predictions of `rows` under `model`.
pub fn evaluate_rows(
    model: &PromptModel,
    rows: &[PromptRow],
    keep: bool,
) -> Result<(EvalMetrics, Vec<DevPrediction>)> {
    evaluate_rows_as(model, rows, None, keep)
}

/// [`evaluate_rows`]; with `multi`, the multi-label metrics of the rows' label sets at thresholds
/// by that rule.
pub fn evaluate_rows_as(
    model: &PromptModel,
    rows: &[PromptRow],
    multi: Option<super::multi::ThresholdRule>,
    keep: bool,
) -> Result<(EvalMetrics, Vec<DevPrediction>)> {
    let refs: Vec<&Rendered> = rows.iter().map(|r| &r.rendered).collect();
    let classes = model.classes();
    if let Some(rule) = multi {
        let probs = predict_labels(model, &refs, 32)?;
        let dev: Vec<super::multi::DevRow> = rows
            .iter()
            .map(|r| super::multi::DevRow {
                id: r.id.clone(),
                text: r.text.clone(),
                gold: r.hot.clone().unwrap_or_else(|| vec![false; classes.len()]),
            })
            .collect();
        return super::multi::evaluate(&probs, &dev, &classes, rule, keep);
    }
    let probs = predict(model, &refs, 32)?;
    let mut pairs = Vec::with_capacity(rows.len());
    let mut loss = 0f64;
    let mut kept = Vec::new();
    for (row, p) in rows.iter().zip(&probs) {
        let best = crate::verbalizer::argmax(p);
        pairs.push((row.label, best));
        loss -= f64::from(p[row.label].max(1e-12)).ln();
        if keep {
            kept.push(DevPrediction {
                id: row.id.clone(),
                text: row.text.clone(),
                label: classes[row.label].clone(),
                predicted: classes[best].clone(),
                p_label: f64::from(p[row.label]),
                probs: p.iter().map(|&x| f64::from(x)).collect(),
            });
        }
    }
    let loss = if rows.is_empty() { None } else { Some(loss / rows.len() as f64) };
    Ok((EvalMetrics::classification(&pairs, &classes, loss)?, kept))
}

/// The objective of soft-prompt tuning and prompt-based fine-tuning.
pub struct PromptObjective {
    pub model: PromptModel,
    pub train: Vec<PromptRow>,
    pub dev: Vec<PromptRow>,
    pub vars: Vec<(String, Var)>,
    /// Multi-label: the per-label binary loss, and the dev thresholds' rule.
    pub multi: Option<super::multi::ThresholdRule>,
}

impl Objective for PromptObjective {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&mut self, batch: &[usize]) -> Result<Tensor> {
        let rows: Vec<&Rendered> = batch.iter().map(|&i| &self.train[i].rendered).collect();
        if self.multi.is_some() {
            let hot: Vec<Vec<bool>> =
                batch.iter().map(|&i| self.train[i].hot.clone().unwrap_or_default()).collect();
            let order: Vec<usize> = (0..batch.len()).collect();
            let targets = super::multi::batch_targets(&hot, &order, self.model.plm().device())?;
            return super::multi::bce_with_logits(&self.model.label_logits(&rows)?, &targets);
        }
        let labels: Vec<u32> = batch.iter().map(|&i| self.train[i].label as u32).collect();
        let soft: Vec<Option<Vec<f32>>> = batch.iter().map(|&i| self.train[i].soft.clone()).collect();
        let order: Vec<usize> = (0..batch.len()).collect();
        let classes = self.model.classes().len();
        match super::distill::batch_targets(&soft, &order, &labels, classes, self.model.plm().device())? {
            Some(targets) => super::distill::soft_cross_entropy(&self.model.class_scores(&rows)?, &targets),
            None => self.model.loss(&rows, &labels),
        }
    }

    fn evaluate(&mut self, keep: bool) -> Result<Option<(EvalMetrics, Vec<DevPrediction>)>> {
        if self.dev.is_empty() {
            return Ok(None);
        }
        evaluate_rows_as(&self.model, &self.dev, self.multi, keep).map(Some)
    }

    fn rng_state(&self) -> Option<u64> {
        self.model.plm().dropout().map(|d| d.state())
    }

    fn set_rng_state(&mut self, state: u64) {
        if let Some(d) = self.model.plm().dropout() {
            d.set_state(state);
        }
    }
}
