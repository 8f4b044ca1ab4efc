//! The prompt model (OpenPrompt's `PromptForClassification`): a [`Plm`], a template whose `{soft}`
//! vectors are spliced into the input embeddings wherever the template puts them, and a verbalizer
//! head — the label words' logits from the MLM head (manual) or a trained projection of the mask's
//! hidden state (soft, Hambardzumyan et al. 2021's WARP / OpenPrompt's `SoftVerbalizer`).
//!
//! Every step from the input embeddings to the class scores is differentiable, so the same forward
//! pass serves soft-prompt tuning (only the soft vectors and the soft verbalizer are variables),
//! prompt-based fine-tuning (every weight is) and inference (nothing is, and the fast kernels run).

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};

use super::config::{SoftInit, VerbalizerKind};
use crate::classify::space_before_mask;
use crate::data::SplitMix64;
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::template::{FieldSource, Rendered, Renderer, Template};
use crate::verbalizer::{Aggregate, BoundVerbalizer, MultiToken, Verbalizer};

/// The names of the trained tensors in `prompt.safetensors`.
pub const SOFT_PROMPT: &str = "soft_prompt";
pub const SOFT_VERBALIZER_WEIGHT: &str = "verbalizer.weight";
pub const SOFT_VERBALIZER_BIAS: &str = "verbalizer.bias";

/// How class scores are computed from the mask.
#[derive(Debug, Clone)]
enum ClassHead {
    /// Label-word logits from the MLM head, aggregated per class as the verbalizer says.
    Manual { label_ids: Tensor },
    /// `h · Wᵀ + b` over the head-transformed mask state (or the raw state for bare encoders).
    Soft { weight: Tensor, bias: Tensor },
}

/// A template and verbalizer over a model, with trainable prompt tensors.
#[derive(Debug, Clone)]
pub struct PromptModel {
    plm: Plm,
    template: Template,
    bound: BoundVerbalizer,
    head: ClassHead,
    /// `[soft tokens, hidden]`, when the template has `{soft}` segments.
    soft: Option<Tensor>,
    max_len: usize,
}

/// Box–Muller normal numbers from the seeded generator.
fn normals(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let u1 = rng.next_f64().max(1e-300);
        let u2 = rng.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        out.push((r * (std::f64::consts::TAU * u2).cos()) as f32);
        out.push((r * (std::f64::consts::TAU * u2).sin()) as f32);
    }
    out.truncate(n);
    out
}

impl PromptModel {
    /// Builds the prompt model. Soft vectors start from their init text's embeddings, else as
    /// `soft_init` says; a soft verbalizer starts from the label words' output embeddings (mean
    /// over a class's words and their tokens), so before training it scores as the manual one.
    pub fn new(
        plm: Plm,
        template: Template,
        verbalizer: &Verbalizer,
        kind: VerbalizerKind,
        soft_init: SoftInit,
        max_len: Option<usize>,
        seed: u64,
    ) -> Result<Self> {
        template.check_classification()?;
        if kind == VerbalizerKind::Manual {
            plm.mlm_head()?;
        }
        let leading_space = plm.tokenizer().space_sensitive() && space_before_mask(&template);
        let bound = BoundVerbalizer::bind(verbalizer, plm.tokenizer(), leading_space)?;
        let device = plm.device().clone();
        let max_len = max_len.unwrap_or(plm.max_len()).min(plm.max_len());
        let label_ids = Tensor::new(bound.token_ids.as_slice(), &device)?;
        let embeddings = Self::word_embeddings(&plm)?;
        let head = match kind {
            VerbalizerKind::Manual => ClassHead::Manual { label_ids },
            VerbalizerKind::Soft => {
                let (rows, bias_rows) = match plm.mlm_head() {
                    Ok(h) => (h.decoder_weight.clone(), Some(h.decoder_bias.clone())),
                    Err(_) => (embeddings.clone(), None),
                };
                let mut ws = Vec::new();
                let mut bs = Vec::new();
                for c in 0..bound.num_classes() {
                    let ids: Vec<u32> =
                        bound.words.iter().filter(|w| w.class == c).flat_map(|w| w.ids.clone()).collect();
                    let idx = Tensor::new(ids.as_slice(), &device)?;
                    ws.push(rows.index_select(&idx, 0)?.mean_keepdim(0)?);
                    bs.push(match &bias_rows {
                        Some(b) => b.index_select(&idx, 0)?.mean_keepdim(0)?,
                        None => Tensor::zeros(1, rows.dtype(), &device)?,
                    });
                }
                ClassHead::Soft { weight: Tensor::cat(&ws, 0)?, bias: Tensor::cat(&bs, 0)? }
            }
        };
        let mut model = Self { plm, template, bound, head, soft: None, max_len };
        model.soft = model.init_soft(&embeddings, soft_init, seed)?;
        Ok(model)
    }

    fn word_embeddings(plm: &Plm) -> Result<Tensor> {
        plm.named_weights()
            .into_iter()
            .find(|(n, _)| n == "embeddings.word_embeddings")
            .map(|(_, t)| t)
            .ok_or_else(|| Error::invalid("the model has no word embeddings (a bug)"))
    }

    /// The soft vectors' starting values, from a rendering of an empty row.
    fn init_soft(&self, embeddings: &Tensor, init: SoftInit, seed: u64) -> Result<Option<Tensor>> {
        if self.template.soft_token_count() == 0 && self.template.soft_tokens().next().is_none() {
            return Ok(None);
        }
        let names: Vec<String> = self.template.fields().map(|f| f.name.clone()).collect();
        let row: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
        let rendered = self.renderer().render(&self.template, row.as_slice())?;
        let n = rendered.soft_slots.iter().map(|s| s.index + 1).max().unwrap_or(0);
        if n == 0 {
            return Ok(None);
        }
        let mut init_ids: Vec<Option<u32>> = vec![None; n];
        for s in &rendered.soft_slots {
            init_ids[s.index] = s.init_id;
        }
        let (vocab, hidden) = embeddings.dims2()?;
        let mut rng = SplitMix64::new(seed ^ 0x50F7_9A0B);
        let specials: Vec<u32> = self.plm.tokenizer().special().ids();
        let std = embeddings.to_dtype(DType::F64)?.flatten_all()?.var(0)?.to_scalar::<f64>()?.sqrt();
        let mut rows = Vec::with_capacity(n);
        for id in init_ids {
            let row = match (id, init) {
                (Some(id), _) => embeddings.get(id as usize)?,
                (None, SoftInit::Vocab) => {
                    let mut id = rng.below(vocab) as u32;
                    while specials.contains(&id) {
                        id = rng.below(vocab) as u32;
                    }
                    embeddings.get(id as usize)?
                }
                (None, SoftInit::Random) => {
                    let v: Vec<f32> = normals(&mut rng, hidden).into_iter().map(|x| x * std as f32).collect();
                    Tensor::from_vec(v, hidden, embeddings.device())?.to_dtype(embeddings.dtype())?
                }
            };
            rows.push(row.unsqueeze(0)?);
        }
        Ok(Some(Tensor::cat(&rows, 0)?.detach()))
    }

    pub fn renderer(&self) -> Renderer<'_> {
        Renderer::new(self.plm.tokenizer(), self.max_len)
    }

    pub fn render<F: FieldSource + ?Sized>(&self, row: &F) -> Result<Rendered> {
        self.renderer().render(&self.template, row)
    }

    pub fn plm(&self) -> &Plm {
        &self.plm
    }

    pub fn plm_mut(&mut self) -> &mut Plm {
        &mut self.plm
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn verbalizer(&self) -> &BoundVerbalizer {
        &self.bound
    }

    pub fn classes(&self) -> Vec<String> {
        self.bound.verbalizer.classes.iter().map(|c| c.name.clone()).collect()
    }

    pub fn kind(&self) -> VerbalizerKind {
        match self.head {
            ClassHead::Manual { .. } => VerbalizerKind::Manual,
            ClassHead::Soft { .. } => VerbalizerKind::Soft,
        }
    }

    /// Makes the prompt's own tensors (soft vectors, soft verbalizer) variables and returns them.
    pub fn prompt_vars(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        if let Some(s) = &mut self.soft {
            let v = Var::from_tensor(s)?;
            *s = v.as_tensor().clone();
            vars.push((SOFT_PROMPT.to_string(), v));
        }
        if let ClassHead::Soft { weight, bias } = &mut self.head {
            let w = Var::from_tensor(weight)?;
            let b = Var::from_tensor(bias)?;
            *weight = w.as_tensor().clone();
            *bias = b.as_tensor().clone();
            vars.push((SOFT_VERBALIZER_WEIGHT.to_string(), w));
            vars.push((SOFT_VERBALIZER_BIAS.to_string(), b));
        }
        Ok(vars)
    }

    /// The prompt's own tensors by name (what `prompt.safetensors` holds).
    pub fn prompt_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        if let Some(s) = &self.soft {
            out.insert(SOFT_PROMPT.to_string(), s.detach());
        }
        if let ClassHead::Soft { weight, bias } = &self.head {
            out.insert(SOFT_VERBALIZER_WEIGHT.to_string(), weight.detach());
            out.insert(SOFT_VERBALIZER_BIAS.to_string(), bias.detach());
        }
        out
    }

    /// Replaces the prompt's tensors with saved ones (checked for shape).
    pub fn load_prompt_tensors(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let device = self.plm.device().clone();
        let take = |name: &str, current: &Tensor| -> Result<Tensor> {
            let t = tensors.get(name).ok_or_else(|| {
                Error::invalid(format!(
                    "prompt.safetensors has no {name:?}; was it saved by another template?"
                ))
            })?;
            if t.dims() != current.dims() {
                return Err(Error::invalid(format!(
                    "{name} has shape {:?} but this template and model need {:?}; the run was made with a \
                     different template or model",
                    t.dims(),
                    current.dims()
                )));
            }
            Ok(t.to_device(&device)?.to_dtype(current.dtype())?)
        };
        if let Some(s) = &self.soft {
            self.soft = Some(take(SOFT_PROMPT, s)?);
        }
        if let ClassHead::Soft { weight, bias } = &self.head {
            self.head = ClassHead::Soft {
                weight: take(SOFT_VERBALIZER_WEIGHT, weight)?,
                bias: take(SOFT_VERBALIZER_BIAS, bias)?,
            };
        }
        Ok(())
    }

    /// A copy for evaluation: every tensor detached (fast kernels, no graph), no dropout.
    pub fn detached(&self) -> PromptModel {
        let mut copy = self.clone();
        copy.plm = self.plm.detached();
        copy.soft = self.soft.as_ref().map(|s| s.detach());
        copy.head = match &self.head {
            ClassHead::Manual { label_ids } => ClassHead::Manual { label_ids: label_ids.clone() },
            ClassHead::Soft { weight, bias } => {
                ClassHead::Soft { weight: weight.detach(), bias: bias.detach() }
            }
        };
        copy
    }

    /// Input ids, attention mask and the flat index of each row's mask, right-padded.
    fn batch_tensors(&self, rows: &[&Rendered]) -> Result<(Tensor, Tensor, Vec<u32>, usize)> {
        let device: &Device = self.plm.device();
        let b = rows.len();
        let t = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let pad = self.plm.tokenizer().special().pad.1;
        let mut ids = vec![pad; b * t];
        let mut mask = vec![0u32; b * t];
        let mut gather = Vec::with_capacity(b);
        for (i, r) in rows.iter().enumerate() {
            ids[i * t..i * t + r.ids.len()].copy_from_slice(&r.ids);
            mask[i * t..i * t + r.ids.len()].iter_mut().for_each(|m| *m = 1);
            let pos =
                *r.mask_positions.first().ok_or_else(|| Error::invalid("a rendered row has no mask"))?;
            gather.push((i * t + pos) as u32);
        }
        Ok((Tensor::from_vec(ids, (b, t), device)?, Tensor::from_vec(mask, (b, t), device)?, gather, t))
    }

    /// Input embeddings with the soft vectors in their slots: `[batch, seq, hidden]`.
    pub fn input_embeddings(&self, rows: &[&Rendered], ids: &Tensor, t: usize) -> Result<Tensor> {
        let embeds = self.plm.embed_tokens(ids)?;
        let Some(soft) = &self.soft else { return Ok(embeds) };
        let (b, _, h) = embeds.dims3()?;
        let mut index: Vec<u32> = (0..(b * t) as u32).collect();
        let mut any = false;
        for (i, r) in rows.iter().enumerate() {
            for s in &r.soft_slots {
                index[i * t + s.position] = (b * t + s.index) as u32;
                any = true;
            }
        }
        if !any {
            return Ok(embeds);
        }
        let table = Tensor::cat(&[embeds.reshape((b * t, h))?, soft.clone()], 0)?;
        let index = Tensor::from_vec(index, b * t, self.plm.device())?;
        Ok(table.index_select(&index, 0)?.reshape((b, t, h))?)
    }

    /// The encoder's hidden state at each row's mask: `[batch, hidden]`.
    pub fn mask_states(&self, rows: &[&Rendered]) -> Result<Tensor> {
        let (ids, mask, gather, t) = self.batch_tensors(rows)?;
        let embeds = self.input_embeddings(rows, &ids, t)?;
        let hidden = self.plm.encode(&embeds, &mask)?;
        let (b, _, h) = hidden.dims3()?;
        let gather = Tensor::new(gather.as_slice(), self.plm.device())?;
        Ok(hidden.reshape((b * t, h))?.index_select(&gather, 0)?)
    }

    /// Class scores `[batch, classes]` (log-probabilities up to a constant per row for the manual
    /// verbalizer; logits for the soft one). Softmax over them gives the class probabilities.
    pub fn class_scores(&self, rows: &[&Rendered]) -> Result<Tensor> {
        let at_mask = self.mask_states(rows)?;
        match &self.head {
            ClassHead::Soft { weight, bias } => {
                let x = match self.plm.mlm_head() {
                    Ok(head) => head.transform(&at_mask)?,
                    Err(_) => at_mask,
                };
                Ok(x.matmul(&weight.t()?)?.broadcast_add(bias)?)
            }
            ClassHead::Manual { label_ids } => {
                let head = self.plm.mlm_head()?;
                let token_logits = head.logits_for(&head.transform(&at_mask)?, label_ids)?;
                self.manual_scores(&token_logits)
            }
        }
    }

    /// The manual verbalizer's scoring ([`BoundVerbalizer::class_probs`]) in differentiable ops.
    fn manual_scores(&self, token_logits: &Tensor) -> Result<Tensor> {
        let device = token_logits.device();
        let v = &self.bound.verbalizer;
        let mut words = Vec::with_capacity(self.bound.words.len());
        for w in &self.bound.words {
            let cols: Vec<u32> = w.columns.iter().map(|&c| c as u32).collect();
            let x = token_logits.index_select(&Tensor::new(cols.as_slice(), device)?, 1)?;
            words.push(match v.multi_token {
                MultiToken::First => x.narrow(1, 0, 1)?,
                MultiToken::Mean => x.mean_keepdim(1)?,
                MultiToken::Max => x.max_keepdim(1)?,
            });
        }
        let word_logp = candle_nn::ops::log_softmax(&Tensor::cat(&words, 1)?, D::Minus1)?;
        let mut classes = Vec::with_capacity(self.bound.num_classes());
        for c in 0..self.bound.num_classes() {
            let idx: Vec<u32> = self
                .bound
                .words
                .iter()
                .enumerate()
                .filter(|(_, w)| w.class == c)
                .map(|(i, _)| i as u32)
                .collect();
            let lp = word_logp.index_select(&Tensor::new(idx.as_slice(), device)?, 1)?;
            classes.push(match v.aggregate {
                Aggregate::MeanProb => (log_sum_exp(&lp)? - (idx.len() as f64).ln())?,
                Aggregate::MeanLogProb => lp.mean_keepdim(1)?,
                Aggregate::Max => lp.max_keepdim(1)?,
            });
        }
        Ok(Tensor::cat(&classes, 1)?)
    }

    /// Mean cross-entropy of the class scores against `labels` (class indices).
    pub fn loss(&self, rows: &[&Rendered], labels: &[u32]) -> Result<Tensor> {
        let scores = self.class_scores(rows)?;
        let target = Tensor::new(labels, self.plm.device())?;
        Ok(candle_nn::loss::cross_entropy(&scores, &target)?)
    }

    /// Class probabilities per row, `[batch][classes]`.
    pub fn probabilities(&self, rows: &[&Rendered]) -> Result<Vec<Vec<f32>>> {
        let scores = self.class_scores(rows)?;
        let p = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?.contiguous()?)?;
        Ok(p.to_vec2::<f32>()?)
    }
}

/// `log Σ exp` over dim 1, keeping it, from differentiable ops (max-shifted for stability).
fn log_sum_exp(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(1)?.detach();
    Ok((x.broadcast_sub(&m)?.exp()?.sum_keepdim(1)?.log()? + m)?)
}
