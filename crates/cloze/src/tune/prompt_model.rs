//! The prompt model (OpenPrompt's `PromptForClassification`): a [`Plm`], a template whose `{soft}`
//! vectors are spliced into the input embeddings wherever the template puts them, and a verbalizer
//! head — the label words' logits from the MLM head (manual) or a trained projection of the mask's
//! hidden state (soft, Hambardzumyan et al. 2021's WARP / OpenPrompt's `SoftVerbalizer`).
//!
//! Every step from the input embeddings to the class scores is differentiable, so the same forward
//! pass serves soft-prompt tuning (only the soft vectors and the soft verbalizer are variables),
//! prompt-based fine-tuning (every weight is) and inference (nothing is, and the fast kernels run).

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};

use super::config::{SoftInit, SoftPlacement, VerbalizerKind};
use crate::classify::space_before_mask;
use crate::data::SplitMix64;
use crate::error::{Error, Result};
use crate::plm::{Batch, Plm};
use crate::template::{FieldSource, Rendered, Renderer, Template, mask_batch};
use crate::verbalizer::soft::{self, SoftVerbalizer};
use crate::verbalizer::{BoundVerbalizer, Verbalizer};

/// The name of the trained soft prompt in `prompt.safetensors` (a soft verbalizer's tensors are
/// named in [`crate::verbalizer::soft`]).
pub const SOFT_PROMPT: &str = "soft_prompt";
/// The name of a multi-label run's per-label bias in `prompt.safetensors`.
pub const LABEL_BIAS: &str = "multi_label.bias";

/// How class scores are computed from the mask.
#[derive(Debug, Clone)]
enum ClassHead {
    /// Label-word logits from the MLM head, aggregated per class as the verbalizer says.
    Manual { label_ids: Tensor },
    /// A trained projection of the mask state.
    Soft(SoftVerbalizer),
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
    placement: SoftPlacement,
    /// A multi-label run's per-label bias `[classes]`, added to [`Self::label_logits`] (the
    /// intercept of each label's logistic model; see [`Self::with_label_bias`]).
    label_bias: Option<Tensor>,
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
            plm.lm_head()?;
        }
        let leading_space = if plm.tokenizer().space_sensitive() { space_before_mask(&template) } else { "" };
        let bound = BoundVerbalizer::bind(&verbalizer.for_kind(plm.kind()), plm.tokenizer(), leading_space)?;
        let device = plm.device().clone();
        let max_len = max_len
            .unwrap_or(plm.max_len())
            .min(plm.max_len().saturating_sub(bound.continuation_room(plm.kind())));
        let label_ids = Tensor::new(bound.token_ids.as_slice(), &device)?;
        let embeddings = Self::word_embeddings(&plm)?;
        let head = match kind {
            VerbalizerKind::Manual => ClassHead::Manual { label_ids },
            VerbalizerKind::Soft => {
                ClassHead::Soft(SoftVerbalizer::from_label_words(&plm, &bound, &embeddings)?)
            }
        };
        let mut model = Self {
            plm,
            template,
            bound,
            head,
            soft: None,
            max_len,
            placement: SoftPlacement::InTemplate,
            label_bias: None,
        };
        model.soft = model.init_soft(&embeddings, soft_init, seed)?;
        Ok(model)
    }

    fn word_embeddings(plm: &Plm) -> Result<Tensor> {
        Ok(plm.network().word_embeddings().clone())
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

    /// The prompt model a run's config describes over `plm`: its soft-vector initialisation and
    /// placement, length limit and seed, with `template` (the config's, chat-wrapped as the run
    /// uses it), `verbalizer` and `kind` — what training, classifying with the run and exporting
    /// it as a job all build.
    pub fn from_config(
        plm: Plm,
        template: Template,
        verbalizer: &Verbalizer,
        kind: VerbalizerKind,
        config: &super::config::TuneConfig,
    ) -> Result<Self> {
        let max_len = config.hyper.max_len.map(|m| m as usize);
        Self::new(plm, template, verbalizer, kind, config.soft_init, max_len, config.hyper.seed)?
            .with_soft_placement(config.soft_placement)
    }

    /// Puts the template's leading soft vectors before every token ([`SoftPlacement::BeforeInput`],
    /// PEFT's place) or leaves them where the template puts them. Checked against the template.
    pub fn with_soft_placement(mut self, placement: SoftPlacement) -> Result<Self> {
        if placement == SoftPlacement::BeforeInput {
            super::config::check_before_input(&self.template)?;
        }
        self.placement = placement;
        Ok(self)
    }

    pub fn soft_placement(&self) -> SoftPlacement {
        self.placement
    }

    /// The row rendered through the template, soft vectors placed as [`Self::soft_placement`] says.
    pub fn render<F: FieldSource + ?Sized>(&self, row: &F) -> Result<Rendered> {
        let rendered = self.renderer().render(&self.template, row)?;
        match self.placement {
            SoftPlacement::InTemplate => Ok(rendered),
            SoftPlacement::BeforeInput => soft_first(rendered),
        }
    }

    /// Sets the linear layers' precision for scoring (see [`crate::plm::precision`]).
    pub fn set_precision(&mut self, precision: crate::plm::Precision) -> Result<()> {
        self.plm.set_precision(precision)
    }

    pub fn plm(&self) -> &Plm {
        &self.plm
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
            ClassHead::Soft(_) => VerbalizerKind::Soft,
        }
    }

    /// Starts the soft verbalizer from a logistic regression on the frozen model's states at the
    /// mask for `rows` (their labels, or a pseudo-labelled row's soft label): LP-FT's probe stage
    /// ([`super::HeadInit::Probe`]). Call before [`Self::prompt_vars`]. A manual verbalizer has
    /// nothing to fit.
    pub fn fit_soft_verbalizer(&mut self, rows: &[super::prompt_task::PromptRow]) -> Result<()> {
        if !matches!(self.head, ClassHead::Soft(_)) || rows.is_empty() {
            return Ok(());
        }
        let frozen = self.detached();
        let classes = self.bound.num_classes();
        let mut states = Vec::with_capacity(rows.len().div_ceil(16));
        for chunk in rows.chunks(16) {
            let refs: Vec<&Rendered> = chunk.iter().map(|r| &r.rendered).collect();
            states.push(frozen.mask_states(&refs)?);
        }
        let states = Tensor::cat(&states, 0)?;
        let targets: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| match &r.soft {
                Some(p) => p.iter().map(|&v| f64::from(v)).collect(),
                None => (0..classes).map(|c| f64::from(u8::from(c == r.label))).collect(),
            })
            .collect();
        if let ClassHead::Soft(v) = &mut self.head {
            // scikit-learn's C = 1 is an L2 penalty of 1/n on the mean loss.
            let x: Vec<Vec<f64>> = v.features(&self.plm, &states)?.to_dtype(DType::F64)?.to_vec2::<f64>()?;
            let fitted = crate::logreg::LogisticRegression::fit(&x, &targets, 1.0 / x.len().max(1) as f64)?;
            v.set(fitted.weights.into_iter().flatten().collect(), fitted.bias)?;
        }
        Ok(())
    }

    /// Makes the prompt's own tensors (soft vectors, soft verbalizer) variables and returns them.
    pub fn prompt_vars(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        if let Some(s) = &mut self.soft {
            let v = Var::from_tensor(s)?;
            *s = v.as_tensor().clone();
            vars.push((SOFT_PROMPT.to_string(), v));
        }
        if let ClassHead::Soft(v) = &mut self.head {
            vars.extend(v.vars()?);
        }
        if let Some(b) = &mut self.label_bias {
            let v = Var::from_tensor(b)?;
            *b = v.as_tensor().clone();
            vars.push((LABEL_BIAS.to_string(), v));
        }
        Ok(vars)
    }

    /// The prompt's own tensors by name (what `prompt.safetensors` holds).
    pub fn prompt_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        if let Some(s) = &self.soft {
            out.insert(SOFT_PROMPT.to_string(), s.detach());
        }
        if let ClassHead::Soft(v) = &self.head {
            out.extend(v.tensors().map(|(name, t)| (name.to_string(), t)));
        }
        if let Some(b) = &self.label_bias {
            out.insert(LABEL_BIAS.to_string(), b.detach());
        }
        out
    }

    /// Replaces the prompt's tensors with saved ones (checked for shape).
    pub fn load_prompt_tensors(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        if let Some(s) = &self.soft {
            self.soft = Some(soft::take(tensors, SOFT_PROMPT, s)?);
        }
        if let ClassHead::Soft(v) = &mut self.head {
            v.load(tensors)?;
        }
        if let Some(b) = &self.label_bias {
            self.label_bias = Some(soft::take(tensors, LABEL_BIAS, b)?);
        }
        Ok(())
    }

    /// A copy for evaluation: every tensor detached (fast kernels, no graph), no dropout.
    pub fn detached(&self) -> PromptModel {
        let mut copy = self.clone();
        copy.plm = self.plm.detached();
        copy.soft = self.soft.as_ref().map(|s| s.detach());
        copy.label_bias = self.label_bias.as_ref().map(|b| b.detach());
        copy.head = match &self.head {
            ClassHead::Manual { label_ids } => ClassHead::Manual { label_ids: label_ids.clone() },
            ClassHead::Soft(v) => ClassHead::Soft(v.detached()),
        };
        copy
    }

    /// Input embeddings with the soft vectors in their slots: `[batch, seq, hidden]`.
    pub fn input_embeddings(&self, rows: &[&Rendered], batch: &Batch) -> Result<Tensor> {
        let embeds = self.plm.embed_tokens(batch.ids())?;
        let Some(soft) = &self.soft else { return Ok(embeds) };
        let (b, t, h) = embeds.dims3()?;
        let mut index: Vec<u32> = (0..(b * t) as u32).collect();
        let mut any = false;
        for (i, r) in rows.iter().enumerate() {
            for s in &r.soft_slots {
                index[batch.flat(i, s.position)] = (b * t + s.index) as u32;
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
        let (batch, at_mask) = mask_batch(&self.plm, rows)?;
        let embeds = self.input_embeddings(rows, &batch)?;
        self.plm.encode_at(&embeds, batch.attention(), &at_mask)
    }

    /// Class scores `[batch, classes]` (log-probabilities up to a constant per row for the manual
    /// verbalizer; logits for the soft one). Softmax over them gives the class probabilities.
    pub fn class_scores(&self, rows: &[&Rendered]) -> Result<Tensor> {
        if matches!(self.head, ClassHead::Manual { .. })
            && self.bound.verbalizer.multi_token.reads_sequence(self.plm.kind())
        {
            // A decoder's exact rule: each word scored as the continuation, soft vectors spliced in.
            let embed = |rows: &[&Rendered], batch: &Batch| self.input_embeddings(rows, batch);
            let s = crate::scoring::continuation_scores(&self.plm, &self.bound, rows, &embed)?;
            return self.bound.class_scores_from_words(&s.words);
        }
        let at_mask = self.mask_states(rows)?;
        match &self.head {
            ClassHead::Soft(v) => v.scores(&self.plm, &at_mask),
            ClassHead::Manual { label_ids } => {
                let head = self.plm.lm_head()?;
                self.bound.class_scores(&head.logits_for(&head.transform(&at_mask)?, label_ids)?)
            }
        }
    }

    /// Makes this a multi-label model: a bias per label (`bias`, one value per class), added to
    /// [`Self::label_logits`], trained with the prompt's tensors and saved with them.
    pub fn with_label_bias(mut self, bias: &[f32]) -> Result<Self> {
        let n = self.bound.num_classes();
        if bias.len() != n {
            return Err(Error::internal(format!("{} label biases for {n} labels", bias.len())));
        }
        self.label_bias = Some(Tensor::new(bias, self.plm.device())?);
        Ok(self)
    }

    /// Each label's own logit `[batch, classes]` for multi-label runs: the label words' logits at
    /// the mask aggregated per label with no softmax across labels (a decoder's exact rule: each
    /// word's continuation log-probability; a soft verbalizer: its projection), plus the label's
    /// bias when there is one. A sigmoid of each is that label's probability.
    pub fn label_logits(&self, rows: &[&Rendered]) -> Result<Tensor> {
        let raw = if matches!(self.head, ClassHead::Manual { .. })
            && self.bound.verbalizer.multi_token.reads_sequence(self.plm.kind())
        {
            let embed = |rows: &[&Rendered], batch: &Batch| self.input_embeddings(rows, batch);
            let s = crate::scoring::continuation_scores(&self.plm, &self.bound, rows, &embed)?;
            self.bound.aggregate_classes(&s.words)?
        } else {
            let at_mask = self.mask_states(rows)?;
            match &self.head {
                ClassHead::Soft(v) => v.scores(&self.plm, &at_mask)?,
                ClassHead::Manual { label_ids } => {
                    let head = self.plm.lm_head()?;
                    self.bound.label_logits(&head.logits_for(&head.transform(&at_mask)?, label_ids)?)?
                }
            }
        };
        let raw = raw.to_dtype(DType::F32)?;
        Ok(match &self.label_bias {
            Some(b) => raw.broadcast_add(&b.unsqueeze(0)?)?,
            None => raw,
        })
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

/// Moves a rendered row's soft slots before the special tokens the tokenizer put ahead of them
/// (`<s>`, `[CLS]`, BOS), so they are the first positions of the input, as PEFT's virtual tokens
/// are. The soft slots must be the first tokens after those special tokens, in order.
pub fn soft_first(mut r: Rendered) -> Result<Rendered> {
    let n = r.soft_slots.len();
    let Some(first) = r.soft_slots.iter().map(|s| s.position).min() else { return Ok(r) };
    let in_order = r.soft_slots.iter().enumerate().all(|(i, s)| s.position == first + i && s.index == i);
    let only_specials_before = r.segments[..first].iter().all(Option::is_none);
    if !in_order || !only_specials_before || r.mask_positions.iter().any(|&m| m < first + n) {
        return Err(Error::invalid(format!(
            "the soft vectors do not open the rendered input (soft tokens at positions {:?}); put {{soft}} \
             at the very start of the template",
            r.soft_slots.iter().map(|s| s.position).collect::<Vec<_>>()
        )));
    }
    r.ids[..first + n].rotate_left(first);
    r.segments[..first + n].rotate_left(first);
    for (i, s) in r.soft_slots.iter_mut().enumerate() {
        s.position = i;
    }
    Ok(r)
}
