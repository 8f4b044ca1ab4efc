//! Prompted continued pretraining (Gururangan et al., 2020's domain-adaptive pretraining, on text
//! rendered through the template): masked-LM training where 15% of the tokens of each rendered row
//! are chosen, and of those 80% become the mask token, 10% a random token, 10% stay (BERT's
//! recipe). Where a row has a label and a verbalizer is given, the template's `{mask}` is a target
//! too, with the class's first label word as the answer, so the model also learns the prompt's
//! task. The choice of positions is made once per row from the seed (static masking), so a resumed
//! run sees exactly the same targets.

use candle_core::{Tensor, Var};

use super::prompt_model::PromptModel;
use super::prompt_task::PromptRow;
use super::prompt_task::evaluate_rows;
use super::trainer::{DevPrediction, EvalMetrics, Objective};
use crate::data::{Example, SplitMix64};
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::{Renderer, Template};

/// One row prepared for masked-LM training.
#[derive(Debug, Clone)]
pub struct MlmRow {
    /// Input ids after masking.
    pub ids: Vec<u32>,
    /// (position, original token id) of every target.
    pub targets: Vec<(usize, u32)>,
}

/// Chooses and corrupts positions of `ids` as BERT does. `protected` positions (special tokens,
/// soft slots, the template's mask) are never chosen.
pub fn mask_row(
    ids: &[u32],
    protected: &[bool],
    mask_id: u32,
    vocab: usize,
    rng: &mut SplitMix64,
    rate: f64,
) -> MlmRow {
    let candidates: Vec<usize> = (0..ids.len()).filter(|&i| !protected[i]).collect();
    let n = ((candidates.len() as f64 * rate).round() as usize).max(usize::from(!candidates.is_empty()));
    let mut chosen = candidates.clone();
    for i in (1..chosen.len()).rev() {
        let j = rng.below(i + 1);
        chosen.swap(i, j);
    }
    chosen.truncate(n);
    chosen.sort_unstable();
    let mut out = ids.to_vec();
    let mut targets = Vec::with_capacity(n);
    for p in chosen {
        targets.push((p, ids[p]));
        let r = rng.next_f64();
        if r < 0.8 {
            out[p] = mask_id;
        } else if r < 0.9 {
            out[p] = rng.below(vocab) as u32;
        }
    }
    MlmRow { ids: out, targets }
}

/// Renders and masks rows for MLM training.
pub fn prepare(
    plm: &Plm,
    template: &Template,
    max_len: usize,
    examples: &[Example],
    answer: &dyn Fn(&Example) -> Option<u32>,
    seed: u64,
) -> Result<Vec<MlmRow>> {
    let renderer = Renderer::new(plm.tokenizer(), max_len.min(plm.max_len()));
    let specials = plm.tokenizer().special().ids();
    let mask_id = plm.tokenizer().special().mask.1;
    let vocab = plm.tokenizer().vocab_size();
    let mut rng = SplitMix64::new(seed ^ 0x3A5C_0FFE);
    examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let r = renderer.render(template, ex).map_err(|e| match e {
                Error::Template { position, message } => {
                    Error::Template { position, message: format!("row {}: {message}", i + 1) }
                }
                other => other,
            })?;
            let mut protected: Vec<bool> = r.ids.iter().map(|id| specials.contains(id)).collect();
            for s in &r.soft_slots {
                protected[s.position] = true;
            }
            for &m in &r.mask_positions {
                protected[m] = true;
            }
            let mut row = mask_row(&r.ids, &protected, mask_id, vocab, &mut rng, 0.15);
            if let (Some(&m), Some(word)) = (r.mask_positions.first(), answer(ex)) {
                row.targets.push((m, word));
            }
            Ok(row)
        })
        .collect()
}

/// Masked-LM loss of a batch: cross-entropy over the whole vocabulary at the target positions.
pub fn mlm_loss(plm: &Plm, rows: &[&MlmRow]) -> Result<Tensor> {
    let ids: Vec<&[u32]> = rows.iter().map(|r| r.ids.as_slice()).collect();
    let batch = plm.batch(&ids)?;
    let mut at = Vec::new();
    let mut targets = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        for &(p, id) in &r.targets {
            at.push(batch.flat(i, p) as u32);
            targets.push(id);
        }
    }
    if targets.is_empty() {
        return Err(Error::invalid("a masked-LM batch has no target tokens; the rows are too short"));
    }
    let at = batch.select(&plm.encode_batch(&batch)?, &at)?;
    let head = plm.lm_head()?;
    let logits = head.logits_full(&head.transform(&at)?)?;
    Ok(candle_nn::loss::cross_entropy(&logits, &Tensor::new(targets.as_slice(), plm.device())?)?)
}

/// The objective of prompted continued pretraining.
pub struct MlmObjective {
    /// The model being trained (its weights are the variables).
    pub plm: Plm,
    pub vars: Vec<(String, Var)>,
    pub train: Vec<MlmRow>,
    pub dev: Vec<MlmRow>,
    /// Zero-shot evaluation with the template and verbalizer, when dev rows have labels.
    pub zero_shot: Option<(PromptModel, Vec<PromptRow>)>,
}

impl Objective for MlmObjective {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&mut self, batch: &[usize]) -> Result<Tensor> {
        let rows: Vec<&MlmRow> = batch.iter().map(|&i| &self.train[i]).collect();
        mlm_loss(&self.plm, &rows)
    }

    fn evaluate(&mut self, keep: bool) -> Result<Option<(EvalMetrics, Vec<DevPrediction>)>> {
        let dev_loss = if self.dev.is_empty() {
            None
        } else {
            let eval = self.plm.detached();
            let mut sum = 0f64;
            let mut n = 0usize;
            for chunk in self.dev.chunks(16) {
                let rows: Vec<&MlmRow> = chunk.iter().collect();
                let l = mlm_loss(&eval, &rows)?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
                sum += l * chunk.len() as f64;
                n += chunk.len();
            }
            Some(sum / n as f64)
        };
        if let Some((model, rows)) = &self.zero_shot
            && !rows.is_empty()
        {
            let (mut m, kept) = evaluate_rows(model, rows, keep)?;
            m.loss = dev_loss;
            return Ok(Some((m, kept)));
        }
        Ok(dev_loss.map(|l| {
            (
                EvalMetrics {
                    rows: self.dev.len() as u32,
                    score: -l,
                    accuracy: None,
                    macro_f1: None,
                    per_class_f1: vec![],
                    classes: vec![],
                    confusion: vec![],
                    loss: Some(l),
                },
                vec![],
            )
        }))
    }

    fn rng_state(&self) -> Option<u64> {
        self.plm.dropout().map(|d| d.state())
    }

    fn set_rng_state(&mut self, state: u64) {
        if let Some(d) = self.plm.dropout() {
            d.set_state(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_follows_bert() {
        let ids: Vec<u32> = (100..1100).collect();
        let mut protected = vec![false; ids.len()];
        protected[0] = true;
        let mut rng = SplitMix64::new(1);
        let row = mask_row(&ids, &protected, 7, 5000, &mut rng, 0.15);
        assert_eq!(row.targets.len(), 150); // 15% of the 999 candidates, rounded
        assert!(row.targets.iter().all(|&(p, id)| p != 0 && ids[p] == id));
        let masked = row.targets.iter().filter(|&&(p, _)| row.ids[p] == 7).count();
        let kept = row.targets.iter().filter(|&&(p, id)| row.ids[p] == id).count();
        assert!((100..=135).contains(&masked), "{masked} of 150 masked");
        assert!(kept <= 30, "{kept} kept");
        let untouched =
            (0..ids.len()).filter(|p| !row.targets.iter().any(|t| t.0 == *p)).all(|p| row.ids[p] == ids[p]);
        assert!(untouched);
        // A short row still gets one target.
        let one = mask_row(&[5, 6], &[true, false], 7, 10, &mut rng, 0.15);
        assert_eq!(one.targets, vec![(1, 6)]);
    }
}
