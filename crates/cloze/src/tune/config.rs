//! What a tuning run is: the strategy, the prompt, the data and the hyperparameters. Saved as the
//! run directory's `config.json`, it is enough to run the same thing again.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Setting, Text};
use crate::verbalizer::Verbalizer;

/// The five ways of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum TuneStrategy {
    /// Only the template's `{soft}` vectors (and a soft verbalizer, if chosen) train; the model is
    /// frozen and gets no gradient computed.
    SoftPrompt,
    /// Every weight trains on data rendered by the template, cross-entropy over the verbalizer's
    /// classes at the mask (PET / LM-BFF).
    Finetune,
    /// Continued pretraining on (unlabelled) text rendered through the template with the model
    /// family's own objective (masked LM, causal LM, span corruption or denoising), saved as a new
    /// checkpoint folder to use zero-shot.
    Pretrain,
    /// A logistic regression or small MLP on frozen, pooled sentence embeddings.
    Probe,
    /// Contrastive sentence fine-tuning (SetFit): the whole encoder trains on pairs of labelled
    /// rows with a cosine-similarity loss (same class 1, different class 0), then a logistic
    /// regression is fitted on the tuned, normalised sentence embeddings. See
    /// [`super::contrastive`].
    Contrastive,
}

impl TuneStrategy {
    pub const ALL: [TuneStrategy; 5] = [
        TuneStrategy::SoftPrompt,
        TuneStrategy::Finetune,
        TuneStrategy::Pretrain,
        TuneStrategy::Probe,
        TuneStrategy::Contrastive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TuneStrategy::SoftPrompt => "soft-prompt",
            TuneStrategy::Finetune => "finetune",
            TuneStrategy::Pretrain => "pretrain",
            TuneStrategy::Probe => "probe",
            TuneStrategy::Contrastive => "contrastive",
        }
    }
}

impl std::str::FromStr for TuneStrategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TuneStrategy::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            Error::invalid(format!(
                "unknown strategy {s:?}; use soft-prompt, finetune, pretrain, probe or contrastive"
            ))
        })
    }
}

/// How the mask's hidden state becomes class scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum VerbalizerKind {
    /// The label words' logits from the MLM head (needs a head).
    #[default]
    Manual,
    /// A trained projection from the mask's hidden state to the classes, initialised from the label
    /// words' output embeddings (works on bare encoders too).
    Soft,
}

/// How a soft verbalizer's projection starts before training.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum HeadInit {
    /// From the label words on a model with an LM head (the head's rows for them), from a probe on
    /// a model without one: the rule below, recorded as such in the run's config.
    #[default]
    Auto,
    /// Each class's row is the mean of its label words' decoder rows (input embeddings when the
    /// model has no LM head), so before training it scores as the manual verbalizer does.
    LabelWords,
    /// A logistic regression fitted on the frozen model's states at the mask for the training rows
    /// (C = 1, as scikit-learn's default), then fine-tuned with the rest: LP-FT (Kumar et al.,
    /// "Fine-Tuning can Distort Pretrained Features and Underperform Out-of-Distribution", ICLR
    /// 2022). On an encoder without an LM head the label words' input embeddings say nothing of
    /// its final states, so the projection starts as noise and fine-tuning at 2e-5 barely moves it.
    Probe,
}

impl HeadInit {
    /// What `Auto` means for a model with (`true`) or without an LM head.
    pub fn resolve(self, has_lm_head: bool) -> HeadInit {
        match self {
            HeadInit::Auto if has_lm_head => HeadInit::LabelWords,
            HeadInit::Auto => HeadInit::Probe,
            other => other,
        }
    }

    /// Configs written before the choice existed started from the label words.
    fn before_the_choice() -> Self {
        HeadInit::LabelWords
    }
}

/// How soft tokens without init text start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SoftInit {
    /// Embeddings of tokens drawn from the vocabulary (Lester et al. found this better than random).
    #[default]
    Vocab,
    /// Normal noise with the word embeddings' standard deviation.
    Random,
}

/// Where the template's leading `{soft}` vectors stand in the model's input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SoftPlacement {
    /// Where the template puts them: after the model's own leading special token (`<s>`, `[CLS]`,
    /// BOS) when the template starts with `{soft}`.
    #[default]
    InTemplate,
    /// Before every token, the model's special tokens included — where PEFT's prompt tuning puts
    /// its virtual tokens, so the run exports as a PEFT adapter. The template must start with its
    /// only `{soft}` segment.
    BeforeInput,
}

impl SoftPlacement {
    pub fn name(self) -> &'static str {
        match self {
            SoftPlacement::InTemplate => "in-template",
            SoftPlacement::BeforeInput => "before-input",
        }
    }
}

/// Pooling of token states into one sentence vector for the probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Pooling {
    #[default]
    Mean,
    Cls,
}

/// The probe's classifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ProbeHead {
    #[default]
    Logistic,
    /// One hidden layer of 256 units with ReLU.
    Mlp,
}

/// The optimiser and loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Hyper {
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Fraction of the updates spent warming up.
    pub warmup_ratio: f64,
    pub epochs: u32,
    /// Stop after this many updates (overrides epochs when set).
    pub max_steps: Option<u32>,
    pub batch_size: u32,
    /// Batches whose gradients are summed before one update.
    pub grad_accumulation: u32,
    /// Clip the global gradient norm to this (0 = no clipping).
    pub max_grad_norm: f64,
    /// Evaluate on the dev rows every this many updates (0 = at the end of every epoch).
    pub eval_every: u32,
    /// Stop when dev accuracy has not improved for this many evaluations (0 = never).
    pub patience: u32,
    pub seed: u64,
    /// Dropout while training; `None` takes the model's config.json value.
    pub dropout: Option<f64>,
    /// Longest rendered input in tokens (`None` = the model's limit).
    pub max_len: Option<u32>,
}

impl Default for Hyper {
    fn default() -> Self {
        Self {
            learning_rate: 2e-5,
            weight_decay: 0.01,
            warmup_ratio: 0.06,
            epochs: 10,
            max_steps: None,
            batch_size: 8,
            grad_accumulation: 1,
            max_grad_norm: 1.0,
            eval_every: 0,
            patience: 0,
            seed: 13,
            dropout: None,
            max_len: None,
        }
    }
}

impl Hyper {
    /// Sensible defaults for a strategy (learning rates from the papers' small-data settings).
    pub fn for_strategy(strategy: TuneStrategy) -> Self {
        let base = Hyper::default();
        match strategy {
            TuneStrategy::SoftPrompt => Hyper { learning_rate: 3e-2, weight_decay: 0.0, epochs: 20, ..base },
            TuneStrategy::Finetune => Hyper { learning_rate: 2e-5, epochs: 10, ..base },
            TuneStrategy::Pretrain => Hyper { learning_rate: 5e-5, epochs: 3, ..base },
            TuneStrategy::Probe => {
                Hyper { learning_rate: 1e-2, weight_decay: 0.0, epochs: 100, batch_size: 32, ..base }
            }
            // SetFit 1.x's defaults: body learning rate 2e-5, one epoch of pairs in batches of 16,
            // AdamW with weight decay 0.01 (`l2_weight`), 10 % linear warmup, clipping at 1.
            TuneStrategy::Contrastive => {
                Hyper { learning_rate: 2e-5, warmup_ratio: 0.1, epochs: 1, batch_size: 16, ..base }
            }
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, fix: Text| Err(Error::invalid(Text::from(format!("{what}; ")).append(fix)));
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(
                &format!("learning rate {} is not a positive number", self.learning_rate),
                "use e.g. 2e-5".into(),
            );
        }
        if self.batch_size == 0 || self.grad_accumulation == 0 {
            return bad(
                "batch size and gradient accumulation must be at least 1",
                Text::from("set ").setting(Setting::BatchSize).then(" to e.g. 8"),
            );
        }
        if self.epochs == 0 && self.max_steps.is_none() {
            return bad(
                "0 epochs and no step limit trains nothing",
                Text::from("set ").setting(Setting::Epochs).cli_only(" or --max-steps"),
            );
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return bad(
                &format!("warmup ratio {} is outside [0, 1)", self.warmup_ratio),
                "use e.g. 0.06".into(),
            );
        }
        if let Some(p) = self.dropout
            && !(0.0..1.0).contains(&p)
        {
            return bad(&format!("dropout {p} is outside [0, 1)"), "use e.g. 0.1".into());
        }
        if self.weight_decay < 0.0 || self.max_grad_norm < 0.0 {
            return bad(
                "weight decay and the clipping norm cannot be negative",
                "use 0 to turn them off".into(),
            );
        }
        Ok(())
    }
}

/// Where the rows came from, recorded so the run can be repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DataSource {
    /// Files read with column options (CLI).
    Files {
        train: PathBuf,
        dev: Option<PathBuf>,
        columns: Option<String>,
        /// Rows read without their labels, for distillation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unlabelled: Option<PathBuf>,
    },
    /// Rows of a Cloze Studio project (the app).
    Project { path: PathBuf, dataset: String, label_set: Option<String> },
    /// Rows given directly by the caller (tests, benchmarks).
    Inline,
}

fn is_f32(p: &crate::plm::Precision) -> bool {
    *p == crate::plm::Precision::F32
}

fn is_in_template(p: &SoftPlacement) -> bool {
    *p == SoftPlacement::InTemplate
}

/// The complete description of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneConfig {
    pub strategy: TuneStrategy,
    /// The model folder.
    pub model: PathBuf,
    /// Template source (either syntax). The probe does not use one.
    pub template: Option<String>,
    pub verbalizer: Option<Verbalizer>,
    #[serde(default)]
    pub verbalizer_kind: VerbalizerKind,
    /// How the soft verbalizer starts (soft verbalizers only).
    #[serde(default = "HeadInit::before_the_choice")]
    pub head_init: HeadInit,
    #[serde(default)]
    pub soft_init: SoftInit,
    /// Where the leading soft vectors stand (PEFT's place, or the template's).
    #[serde(default, skip_serializing_if = "is_in_template")]
    pub soft_placement: SoftPlacement,
    #[serde(default)]
    pub pooling: Pooling,
    #[serde(default)]
    pub probe_head: ProbeHead,
    /// The contrastive strategy's options (pairs, input, head); `None` = the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrastive: Option<super::contrastive::ContrastiveOptions>,
    /// Few-shot: k training rows per class, sampled with the seed (`None` = all rows).
    pub shots: Option<u32>,
    /// Dev rows to hold out of the training rows when no dev set is given.
    #[serde(default)]
    pub dev_fraction: Option<f64>,
    /// How `{demo}` is filled (k per class, random or similar), when the template has one.
    #[serde(default)]
    pub demos: Option<crate::demo::DemoConfig>,
    /// Whether the template is wrapped in the model's chat template (decoders with one).
    #[serde(default)]
    pub chat: crate::template::chat::Chat,
    pub data: DataSource,
    pub hyper: Hyper,
    /// The linear layers' precision while training and evaluating (f32 master weights and
    /// optimiser state either way; see [`crate::plm::precision`]).
    #[serde(default, skip_serializing_if = "is_f32")]
    pub precision: crate::plm::Precision,
    /// Distillation: the training rows without a label are labelled by this ensemble's soft
    /// labels before training (see [`super::distill`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<super::distill::Distill>,
    /// Multi-label: every row carries a set of labels (`a;b`) and the strategies train with a
    /// per-label binary loss (see [`super::multi`]); `None` = one label per row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_label: Option<super::multi::MultiLabel>,
    /// `--strategy auto` / "Recommended": the strategy it chose for `strategy`, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<super::auto::AutoChoice>,
    /// The engine's version, for the record.
    #[serde(default)]
    pub engine: String,
}

impl TuneConfig {
    /// A config with the strategy's default hyperparameters.
    pub fn new(strategy: TuneStrategy, model: impl Into<PathBuf>, data: DataSource) -> Self {
        Self {
            strategy,
            model: model.into(),
            template: None,
            verbalizer: None,
            verbalizer_kind: VerbalizerKind::default(),
            head_init: HeadInit::default(),
            soft_init: SoftInit::default(),
            soft_placement: SoftPlacement::default(),
            pooling: Pooling::default(),
            probe_head: ProbeHead::default(),
            contrastive: (strategy == TuneStrategy::Contrastive)
                .then(super::contrastive::ContrastiveOptions::default),
            shots: None,
            dev_fraction: None,
            demos: None,
            chat: Default::default(),
            data,
            hyper: Hyper::for_strategy(strategy),
            precision: Default::default(),
            distill: None,
            multi_label: None,
            auto: None,
            engine: env!("CARGO_PKG_VERSION").into(),
        }
    }

    /// Checks that the parts the strategy needs are there.
    pub fn validate(&self) -> Result<()> {
        self.hyper.validate()?;
        let needs_prompt = match self.strategy {
            TuneStrategy::Probe => false,
            TuneStrategy::Contrastive => self.contrastive_options().render_template,
            _ => true,
        };
        if needs_prompt && self.template.is_none() {
            return Err(Error::invalid(
                Text::from(format!("the {} strategy needs a template; add one", self.strategy.name()))
                    .cli_only(", e.g. --template \"{text_a} It was {mask}.\""),
            ));
        }
        if matches!(self.strategy, TuneStrategy::SoftPrompt | TuneStrategy::Finetune)
            && self.verbalizer.is_none()
        {
            return Err(Error::invalid(
                Text::from(format!("the {} strategy needs a verbalizer; add one", self.strategy.name()))
                    .cli_only(
                        ", e.g. --verbalizer '{\"negative\": [\"terrible\"], \"positive\": [\"great\"]}'",
                    ),
            ));
        }
        if self.strategy == TuneStrategy::SoftPrompt
            && self.verbalizer_kind == VerbalizerKind::Manual
            && let Some(text) = self.template.as_deref()
            && crate::template::Template::parse(text)?.soft_token_count() == 0
        {
            // Refused here, before a run folder is made or the model loaded.
            return Err(Error::invalid(
                "nothing to train: the template has no {soft} tokens and the verbalizer is manual; add {soft} to \
                 the template (e.g. \"{soft} {text_a} It was {mask}.\") or choose a soft verbalizer",
            ));
        }
        if self.soft_placement == SoftPlacement::BeforeInput {
            let template = crate::template::Template::parse(self.template.as_deref().unwrap_or_default())?;
            check_before_input(&template)?;
        }
        if self.strategy == TuneStrategy::Contrastive {
            self.contrastive_options().validate(self.template.as_deref())?;
        } else if self.contrastive.is_some() {
            return Err(Error::invalid(format!(
                "contrastive options were given to a {} run; they apply to the contrastive strategy only",
                self.strategy.name()
            )));
        }
        if let Some(m) = &self.multi_label {
            self.validate_multi_label(m)?;
        }
        if let Some(d) = &self.distill {
            d.validate()?;
            if self.strategy == TuneStrategy::Contrastive {
                return Err(Error::invalid(
                    "contrastive fine-tuning draws its pairs from hard labels, so it cannot distil an ensemble's \
                     soft labels; choose the probe, soft-prompt or fine-tuning strategy",
                ));
            }
            if self.strategy == TuneStrategy::Pretrain {
                return Err(Error::invalid(
                    "prompted pretraining trains on text, not labels, so it cannot distil an ensemble; choose the \
                     probe, soft-prompt or fine-tuning strategy",
                ));
            }
            let template = self.template.as_deref().map(crate::template::Template::parse).transpose()?;
            if template.as_ref().is_some_and(crate::demo::uses_demos) {
                return Err(Error::invalid(
                    "distillation with {demo} in the template is not supported: the demonstrations would be drawn \
                     from pseudo-labelled rows; remove {demo}",
                ));
            }
            if let Some(v) = &self.verbalizer {
                let mut ours: Vec<&str> = v.class_names();
                let mut theirs: Vec<&str> = d.ensemble.classes.iter().map(String::as_str).collect();
                ours.sort();
                theirs.sort();
                if ours != theirs {
                    return Err(Error::invalid(format!(
                        "the ensemble to distil has the classes {:?} and the verbalizer {:?}; they must be the same",
                        d.ensemble.classes,
                        v.class_names()
                    )));
                }
            }
        }
        Ok(())
    }
}

impl TuneConfig {
    /// A multi-label run's settings against the rest: no distillation (its soft labels are one
    /// distribution over classes), no `{demo}` (demonstrations are drawn per class), the
    /// verbalizer's classes the labels when both are given.
    fn validate_multi_label(&self, m: &super::multi::MultiLabel) -> Result<()> {
        m.validate()?;
        if self.distill.is_some() {
            return Err(Error::invalid(
                "distillation cannot train a multi-label run: the ensemble's soft labels are one distribution over \
                 classes, not a probability per label; turn off multi-label or distillation",
            ));
        }
        let template = self.template.as_deref().map(crate::template::Template::parse).transpose()?;
        if self.strategy != TuneStrategy::Pretrain && template.as_ref().is_some_and(crate::demo::uses_demos) {
            return Err(Error::invalid(
                "{demo} is not supported in a multi-label run: demonstrations are drawn per class, and a row here \
                 has a set of labels; remove {demo}",
            ));
        }
        // The prompt strategies read each label's score from its label words.
        if let Some(v) = &self.verbalizer
            && !m.labels.is_empty()
            && matches!(self.strategy, TuneStrategy::SoftPrompt | TuneStrategy::Finetune)
        {
            let mut ours: Vec<&str> = m.labels.iter().map(String::as_str).collect();
            let mut theirs = v.class_names();
            ours.sort();
            theirs.sort();
            if ours != theirs {
                return Err(Error::invalid(format!(
                    "the multi-label run's labels {:?} and the verbalizer's classes {:?} must be the same; give the \
                     verbalizer a class per label",
                    m.labels,
                    v.class_names()
                )));
            }
        }
        Ok(())
    }

    /// The contrastive options in force (the defaults when none are set).
    pub fn contrastive_options(&self) -> super::contrastive::ContrastiveOptions {
        self.contrastive.clone().unwrap_or_default()
    }
}

/// Checks that a template can put its soft vectors before the input ([`SoftPlacement::BeforeInput`]):
/// it starts with `{soft}` and has no other soft segment.
pub fn check_before_input(template: &crate::template::Template) -> Result<()> {
    use crate::template::Segment;
    let softs = template.segments().iter().filter(|s| matches!(s, Segment::Soft(_))).count();
    if !matches!(template.segments().first(), Some(Segment::Soft(_))) || softs != 1 {
        return Err(Error::invalid(format!(
            "soft vectors before the input need a template that starts with its only {{soft}} segment, e.g. \
             \"{{soft:20}} {{text_a}} It was {{mask}}.\"; {:?} has {softs} soft segment(s){}",
            template.source(),
            if softs > 0 { " and does not start with one" } else { "" }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_and_explain() {
        for s in TuneStrategy::ALL {
            assert_eq!(s.name().parse::<TuneStrategy>().unwrap(), s);
        }
        let msg = "lora".parse::<TuneStrategy>().unwrap_err().to_string();
        assert!(msg.contains("soft-prompt, finetune, pretrain, probe or contrastive"), "{msg}");
    }

    #[test]
    fn hyperparameters_are_checked() {
        let cases: [(Hyper, &str); 5] = [
            (Hyper { learning_rate: 0.0, ..Hyper::default() }, "learning rate"),
            (Hyper { batch_size: 0, ..Hyper::default() }, "batch size"),
            (Hyper { epochs: 0, ..Hyper::default() }, "--epochs"),
            (Hyper { warmup_ratio: 1.5, ..Hyper::default() }, "warmup"),
            (Hyper { dropout: Some(1.0), ..Hyper::default() }, "dropout"),
        ];
        for (h, needle) in cases {
            let msg = h.validate().unwrap_err().to_string();
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
        for s in TuneStrategy::ALL {
            Hyper::for_strategy(s).validate().unwrap();
        }
    }

    #[test]
    fn the_head_init_resolves_and_old_configs_keep_the_label_words() {
        use HeadInit::*;
        let cases = [
            (Auto, true, LabelWords),
            (Auto, false, Probe),
            (LabelWords, false, LabelWords),
            (Probe, true, Probe),
        ];
        for (init, head, want) in cases {
            assert_eq!(init.resolve(head), want, "{init:?} with head {head}");
        }
        let new = TuneConfig::new(TuneStrategy::Finetune, "m", DataSource::Inline);
        assert_eq!(new.head_init, Auto);
        // A config written before the choice existed trained from the label words; read back, it
        // still does.
        let mut json = serde_json::to_value(&new).unwrap();
        json.as_object_mut().unwrap().remove("head_init");
        assert_eq!(serde_json::from_value::<TuneConfig>(json).unwrap().head_init, LabelWords);
    }

    #[test]
    fn configs_say_what_is_missing() {
        let c = TuneConfig::new(TuneStrategy::SoftPrompt, "m", DataSource::Inline);
        assert!(c.validate().unwrap_err().to_string().contains("needs a template"));
        let c = TuneConfig { template: Some("{text_a} {mask}".into()), ..c };
        assert!(c.validate().unwrap_err().to_string().contains("needs a verbalizer"));
        // A soft prompt with nothing to train is refused before any run folder is made.
        let words = Verbalizer::from_json(r#"{"a": ["good"], "b": ["bad"]}"#).unwrap();
        let c = TuneConfig { verbalizer: Some(words), ..c };
        assert!(c.validate().unwrap_err().to_string().contains("nothing to train"));
        let soft_head = TuneConfig { verbalizer_kind: VerbalizerKind::Soft, ..c.clone() };
        soft_head.validate().unwrap();
        let soft_tokens = TuneConfig { template: Some("{soft} {text_a} {mask}".into()), ..c };
        soft_tokens.validate().unwrap();
        let probe = TuneConfig::new(TuneStrategy::Probe, "m", DataSource::Inline);
        probe.validate().unwrap();
        let json = serde_json::to_string(&probe).unwrap();
        assert_eq!(serde_json::from_str::<TuneConfig>(&json).unwrap(), probe);
    }
}
