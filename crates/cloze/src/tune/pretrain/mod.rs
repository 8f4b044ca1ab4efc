//! Prompted continued pretraining (Gururangan et al., 2020's domain-adaptive pretraining, on text
//! rendered through the template) with the family's own objective ([`Pretraining`], read from the
//! family registry): masked LM on encoders ([`mlm`]), causal LM on decoders ([`causal`]), span
//! corruption on T5 and text infilling on BART ([`noising`]).
//!
//! Each row is the template filled with the row. Where a row has a label and a verbalizer is given,
//! the class's first label word takes the place of `{mask}` and is always a target, so the model
//! also learns the prompt's task: encoders predict its first token at the mask, decoders read it
//! as the text goes, T5 writes it after a sentinel and BART where it stands (the span holding it is
//! always corrupted). Rows without a label leave the mask out (encoders keep the mask token, never
//! a target). Soft slots are not words: the encoders keep them, never as targets; the other
//! objectives leave them out.
//!
//! Corruption is drawn once per row from the seed (static masking), so a resumed run sees exactly
//! the same targets. The trained model is saved as a model folder ([`crate::plm::Plm::save_pretrained`]).

pub mod causal;
pub mod mlm;
pub mod noising;

use std::ops::Range;

use candle_core::{Tensor, Var};

pub use crate::plm::Pretraining;
pub use mlm::{MlmRow, mask_row, mlm_loss};
pub use noising::{Corrupted, SpanCorruption, TextInfilling};

use super::prompt_model::PromptModel;
use super::prompt_task::{PromptRow, evaluate_rows};
use super::trainer::{DevPrediction, EvalMetrics, Objective};
use crate::data::{Example, SplitMix64};
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::{Rendered, Renderer, Template};

/// One row prepared for the family's objective.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PretrainRow {
    /// Masked LM: the masked ids and the targets.
    Masked(MlmRow),
    /// Causal LM: the text; every token after the first is a target.
    Causal(Vec<u32>),
    /// Span corruption or denoising: the encoder's input and the decoder's targets.
    Seq2Seq(Corrupted),
}

impl PretrainRow {
    /// The tokens the model reads for this row (encoder input plus decoder targets for
    /// encoder–decoders): what a batch's cost grows with.
    pub fn tokens(&self) -> usize {
        match self {
            PretrainRow::Masked(m) => m.ids.len(),
            PretrainRow::Causal(c) => c.len(),
            PretrainRow::Seq2Seq(c) => c.input.len() + c.labels.len(),
        }
    }
}

/// Where a set of rows came from, to name a row in an error.
#[derive(Debug, Clone)]
pub struct RowSource {
    /// "training" or "dev".
    pub part: &'static str,
    /// The file or dataset, when there is one.
    pub from: Option<String>,
}

impl RowSource {
    /// "training row 3 (id "r7") of reviews.csv".
    pub fn row(&self, i: usize, ex: &Example) -> String {
        let mut s = format!("{} row {}", self.part, i + 1);
        if !ex.id.is_empty() {
            s.push_str(&format!(" (id {:?})", ex.id));
        }
        if let Some(f) = &self.from {
            s.push_str(&format!(" of {f}"));
        }
        s
    }
}

/// The words of a rendered row: soft slots and mask tokens left out, and `answer` (the label
/// word's tokens) in place of the first mask; with the range the answer takes.
pub fn words(r: &Rendered, answer: Option<&[u32]>) -> (Vec<u32>, Option<Range<usize>>) {
    let mut out = Vec::with_capacity(r.ids.len() + answer.map_or(0, <[u32]>::len));
    let mut span = None;
    for (p, &id) in r.ids.iter().enumerate() {
        if r.mask_positions.first() == Some(&p)
            && let Some(a) = answer
        {
            span = Some(out.len()..out.len() + a.len());
            out.extend_from_slice(a);
        }
        if r.mask_positions.contains(&p) || r.soft_slots.iter().any(|s| s.position == p) {
            continue;
        }
        out.push(id);
    }
    (out, span)
}

/// Renders `examples` and prepares each for `plm`'s objective. `answer` gives a labelled row's
/// label-word tokens; corruption is drawn from `seed`.
pub fn prepare(
    plm: &Plm,
    template: &Template,
    max_len: usize,
    examples: &[Example],
    answer: &dyn Fn(&Example) -> Option<Vec<u32>>,
    seed: u64,
    source: &RowSource,
) -> Result<Vec<PretrainRow>> {
    let limit = max_len.min(plm.max_len());
    let renderer = Renderer::new(plm.tokenizer(), limit);
    let objective = plm.family().pretraining();
    let mut rng = SplitMix64::new(seed ^ 0x3A5C_0FFE);
    let specials = plm.tokenizer().special().ids();
    let span_corruption = match objective {
        Pretraining::SpanCorruption => Some(SpanCorruption::new(plm.tokenizer())?),
        _ => None,
    };
    let infilling = TextInfilling::new(plm.tokenizer());
    examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let r = renderer.render(template, ex).map_err(|e| match e {
                Error::Template { position, message } => {
                    Error::Template { position, message: format!("{}: {message}", source.row(i, ex)) }
                }
                other => other,
            })?;
            let answer = answer(ex);
            if objective == Pretraining::MaskedLm {
                let first = answer.as_ref().and_then(|a| a.first().copied());
                return Ok(PretrainRow::Masked(mlm::mask_rendered(plm, &r, first, &mut rng)));
            }
            let (mut text, mut forced) = words(&r, answer.as_deref());
            // A label word longer than one token can push the row past the model's limit.
            text.truncate(plm.max_len());
            forced = forced.map(|f| f.start.min(text.len())..f.end.min(text.len())).filter(|f| !f.is_empty());
            let protected: Vec<bool> = text.iter().map(|id| specials.contains(id)).collect();
            match (&span_corruption, objective) {
                (_, Pretraining::CausalLm) => {
                    if text.len() < causal::MIN_TOKENS {
                        return Err(Error::invalid(format!(
                            "{} renders to {} token(s), and causal-LM pretraining needs at least {} (one to \
                             read, one to predict); give the row some text, or put words around the fields in \
                             the template (e.g. \"{{text_a}} It was {{mask}}.\")",
                            source.row(i, ex),
                            text.len(),
                            causal::MIN_TOKENS
                        )));
                    }
                    Ok(PretrainRow::Causal(text))
                }
                (span, _) => {
                    if protected.iter().all(|p| *p) {
                        return Err(Error::invalid(format!(
                            "{} renders to no text to corrupt ({} pretrains on text with spans left out); give \
                             the row some text, or put words around the fields in the template",
                            source.row(i, ex),
                            objective.name()
                        )));
                    }
                    let original = noising::Original { ids: &text, protected: &protected, forced };
                    Ok(PretrainRow::Seq2Seq(match span {
                        Some(sc) => sc.corrupt(&original, &mut rng),
                        None => infilling.corrupt(&original, &mut rng),
                    }))
                }
            }
        })
        .collect()
}

/// The loss of a batch of rows prepared by [`prepare`] for this model.
pub fn loss(plm: &Plm, rows: &[&PretrainRow]) -> Result<Tensor> {
    let wrong = || {
        Error::internal(format!(
            "rows prepared for another objective reached the {} loss of {} (a bug)",
            plm.family().pretraining().name(),
            plm.family().name()
        ))
    };
    match plm.family().pretraining() {
        Pretraining::MaskedLm => {
            let r: Vec<&MlmRow> = rows
                .iter()
                .map(|r| if let PretrainRow::Masked(m) = r { Ok(m) } else { Err(wrong()) })
                .collect::<Result<_>>()?;
            mlm_loss(plm, &r)
        }
        Pretraining::CausalLm => {
            let r: Vec<&[u32]> = rows
                .iter()
                .map(|r| if let PretrainRow::Causal(c) = r { Ok(c.as_slice()) } else { Err(wrong()) })
                .collect::<Result<_>>()?;
            causal::causal_loss(plm, &r)
        }
        Pretraining::SpanCorruption | Pretraining::Denoising => {
            let r: Vec<&Corrupted> = rows
                .iter()
                .map(|r| if let PretrainRow::Seq2Seq(c) = r { Ok(c) } else { Err(wrong()) })
                .collect::<Result<_>>()?;
            noising::seq2seq_loss(plm, &r)
        }
    }
}

/// Mean cross-entropy over the whole vocabulary of the LM head's predictions from `states`
/// (`[targets, hidden]`) against the token ids `want` ([`crate::plm::layers::LmHead::token_nll`]).
fn token_cross_entropy(plm: &Plm, states: &Tensor, want: &[u32]) -> Result<Tensor> {
    let head = plm.lm_head()?;
    let nll = head.token_nll(&head.transform(states)?, &Tensor::new(want, plm.device())?)?;
    Ok(nll.mean(0)?)
}

/// The objective of prompted continued pretraining.
pub struct PretrainObjective {
    /// The model being trained (its weights are the variables).
    pub plm: Plm,
    pub vars: Vec<(String, Var)>,
    pub train: Vec<PretrainRow>,
    pub dev: Vec<PretrainRow>,
    /// Zero-shot evaluation with the template and verbalizer, when dev rows have labels.
    pub zero_shot: Option<(PromptModel, Vec<PromptRow>)>,
}

impl PretrainObjective {
    /// The mean loss over the dev rows, with the model as it stands (no dropout, no gradients).
    pub fn dev_loss(&self) -> Result<Option<f64>> {
        if self.dev.is_empty() {
            return Ok(None);
        }
        let eval = self.plm.detached();
        let mut sum = 0f64;
        let mut n = 0usize;
        for chunk in self.dev.chunks(16) {
            let rows: Vec<&PretrainRow> = chunk.iter().collect();
            let l = loss(&eval, &rows)?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            sum += l * chunk.len() as f64;
            n += chunk.len();
        }
        Ok(Some(sum / n as f64))
    }
}

impl Objective for PretrainObjective {
    fn train_len(&self) -> usize {
        self.train.len()
    }

    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&mut self, batch: &[usize]) -> Result<Tensor> {
        let rows: Vec<&PretrainRow> = batch.iter().map(|&i| &self.train[i]).collect();
        loss(&self.plm, &rows)
    }

    fn evaluate(&mut self, keep: bool) -> Result<Option<(EvalMetrics, Vec<DevPrediction>)>> {
        let dev_loss = self.dev_loss()?;
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
                    multi_label: None,
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
    use crate::template::SoftSlot;

    /// Ids, masks, soft slots, answer; the words and the answer's range expected.
    type Case = (Vec<u32>, Vec<usize>, Vec<usize>, Option<Vec<u32>>, Vec<u32>, Option<Range<usize>>);

    #[test]
    fn words_put_the_answer_in_place_of_the_mask() {
        let rendered = |ids: Vec<u32>, masks: Vec<usize>, soft: Vec<usize>| Rendered {
            ids,
            mask_positions: masks,
            soft_slots: soft
                .into_iter()
                .map(|position| SoftSlot { position, index: 0, init_id: None })
                .collect(),
            truncated: 0,
            text: String::new(),
            segments: vec![],
            cuts: vec![],
        };
        // (ids, masks, soft slots, answer) → (words, answer range)
        let cases: [Case; 4] = [
            (vec![1, 2, 99, 3], vec![2], vec![], Some(vec![7, 8]), vec![1, 2, 7, 8, 3], Some(2..4)),
            (vec![1, 2, 99, 3], vec![2], vec![], None, vec![1, 2, 3], None),
            (vec![50, 1, 2, 99], vec![3], vec![0], Some(vec![7]), vec![1, 2, 7], Some(2..3)),
            (vec![1, 2], vec![], vec![], Some(vec![7]), vec![1, 2], None),
        ];
        for (ids, masks, soft, answer, want, want_span) in cases {
            let r = rendered(ids.clone(), masks, soft);
            assert_eq!(words(&r, answer.as_deref()), (want, want_span), "{ids:?}");
        }
    }
}
