//! `--strategy auto` (the Tune screen's "Recommended"): which strategy to train with, chosen from
//! what the model can do (read a label word or not, its size), the labelled rows per class, the
//! template, and the time the user allows — and why, in words the run keeps in its config.
//!
//! The rules follow what was measured on this kind of machine (README, "Few-shot: what to expect"):
//! on an encoder without its LM head (all-MiniLM-L6-v2), 16 rows per class of SST-2 gave prompt-based
//! fine-tuning 56.4 %, the probe 64.9 % and SetFit's contrastive method 70.4 %; a model that reads
//! label words is tuned through its prompt (LM-BFF's prompt-based fine-tuning, or soft prompts when
//! the template has `{soft}` or the model is too large to fine-tune on a CPU).

use serde::{Deserialize, Serialize};

use super::config::TuneStrategy;
use crate::error::{Error, Result};
use crate::plm::{Kind, ModelInfo};

/// Above this many parameters, full fine-tuning on a laptop's CPU is slow enough that `auto`
/// prefers a frozen model (soft prompt or probe).
pub const FINETUNE_MAX_PARAMETERS: usize = 400_000_000;
/// Up to this many rows per class, contrastive pairs add signal the probe misses (SetFit's
/// setting); above it the probe has rows enough and costs far less.
pub const CONTRASTIVE_MAX_ROWS_PER_CLASS: usize = 64;
/// Up to this many rows per class, `auto` trains contrastive fine-tuning on
/// [`CONTRASTIVE_ITERATIONS`] pairs per row (the SetFit paper's setting) instead of SetFit 1.x's
/// default, every unique pair once: at 8 and 16 rows per class that is 9 and 34 updates, too few
/// (README, "Few-shot: what to expect").
pub const CONTRASTIVE_ITERATIONS_MAX_ROWS: usize = 32;
/// Positive (and as many negative) pairs per training row when `auto` sets the pairs.
pub const CONTRASTIVE_ITERATIONS: u32 = 20;

/// What `auto` decides from.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoInput {
    pub kind: Kind,
    /// The model can read a label word (bare encoders cannot).
    pub has_lm_head: bool,
    pub parameters: usize,
    /// The fewest labelled training rows of any class (after the few-shot sample).
    pub rows_per_class: usize,
    /// The run has a template with `{mask}`.
    pub template_has_mask: bool,
    /// The template has `{soft}` vectors.
    pub template_has_soft: bool,
}

impl AutoInput {
    /// The input for a model (`kind`, LM head, parameters), the training rows' labels and the
    /// template (if any).
    pub fn new(
        (kind, has_lm_head, parameters): (Kind, bool, usize),
        labels: &[Option<String>],
        template: Option<&crate::template::Template>,
    ) -> Self {
        AutoInput {
            kind,
            has_lm_head,
            parameters,
            rows_per_class: rows_per_class(labels),
            template_has_mask: template.is_some_and(|t| t.mask_count() > 0),
            template_has_soft: template.is_some_and(|t| t.soft_token_count() > 0),
        }
    }

    /// The input for a loaded model's [`ModelInfo`].
    pub fn for_model(
        model: &ModelInfo,
        labels: &[Option<String>],
        template: Option<&crate::template::Template>,
    ) -> Self {
        Self::new((model.kind, model.has_lm_head, model.parameters), labels, template)
    }

    /// The input once the few-shot sample is drawn: `shots` rows of a class at most (`None`: every
    /// row).
    pub fn with_shots(mut self, shots: Option<u32>) -> Self {
        if let Some(k) = shots {
            self.rows_per_class = self.rows_per_class.min(k as usize);
        }
        self
    }
}

/// The decision `--strategy auto` and the Tune screen's "Recommended" make: [`choose`] for
/// `input`; with a time budget (seconds; a positive number, or refused before anything is
/// estimated), the chosen run is estimated by `estimate` (with the choice [applied](AutoChoice::apply)
/// to its config) and a choice over the budget first drops its extra pairs, then falls back to the
/// probe ([`within_budget`]).
pub fn decide(
    input: &AutoInput,
    budget_seconds: Option<f64>,
    mut estimate: impl FnMut(&AutoChoice) -> Result<f64>,
) -> Result<AutoChoice> {
    if let Some(budget) = budget_seconds.filter(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(Error::invalid(
            crate::error::Text::default()
                .cli_only("--budget")
                .app_only("“Time budget”")
                .then(format!(" {budget} must be a positive number of seconds (e.g. 600 for ten minutes)")),
        ));
    }
    let choice = choose(input);
    let Some(budget) = budget_seconds else { return Ok(choice) };
    let seconds = estimate(&choice)?;
    if seconds > budget && choice.contrastive_iterations.is_some() {
        let mut fewer = choice.clone();
        fewer.contrastive_iterations = None;
        let fewer_seconds = estimate(&fewer)?;
        if fewer_seconds <= budget {
            fewer.reasons.push(format!(
                "{CONTRASTIVE_ITERATIONS} pairs per row were estimated at {}, over the budget of {}: every unique \
                 pair once instead, estimated at {}",
                super::estimate::duration(seconds),
                super::estimate::duration(budget),
                super::estimate::duration(fewer_seconds)
            ));
            return Ok(fewer);
        }
    }
    Ok(within_budget(choice, seconds, budget))
}

/// The fewest labelled rows of any class (0 without labels).
pub fn rows_per_class(labels: &[Option<String>]) -> usize {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for l in labels.iter().flatten() {
        *counts.entry(l.as_str()).or_default() += 1;
    }
    counts.values().copied().min().unwrap_or(0)
}

/// The strategy `auto` chose, the settings it chose for it, and why (kept in the run's
/// config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AutoChoice {
    pub strategy: TuneStrategy,
    /// One sentence per consideration, in the order they were weighed.
    pub reasons: Vec<String>,
    /// Contrastive fine-tuning's pairs per row (`iterations`), when `auto` sets them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrastive_iterations: Option<u32>,
}

impl AutoChoice {
    /// Puts the choice's settings into `config` (built for [`Self::strategy`]) and keeps the
    /// choice in it. Settings the user gave explicitly (pairs per row) win.
    pub fn apply(&self, config: &mut super::TuneConfig) {
        if config.strategy == TuneStrategy::Contrastive
            && let Some(n) = self.contrastive_iterations
        {
            let options = config.contrastive.get_or_insert_with(Default::default);
            if options.iterations.is_none() && options.max_pairs.is_none() {
                options.iterations = Some(n);
            }
        }
        config.auto = Some(self.clone());
    }
}

/// `auto`'s choice for `input`: a pure function (the same input, the same choice).
pub fn choose(input: &AutoInput) -> AutoChoice {
    let mut reasons = Vec::new();
    // "135 M", or "0.3 M" for a tiny model (not "0 M").
    let millions = input.parameters as f64 / 1e6;
    let millions = if millions < 10.0 { format!("{millions:.1}") } else { format!("{millions:.0}") };
    let k = input.rows_per_class;
    let reads_words = input.has_lm_head && input.template_has_mask;
    if !input.has_lm_head {
        reasons.push(
            "the model has no LM head, so it cannot read a label word: prompt-based strategies would train a \
             verbalizer from scratch (56.4 % on SST-2 with 16 rows per class on all-MiniLM-L6-v2, against \
             64.9 % for the probe and 70.4 % for SetFit's contrastive method)"
                .to_string(),
        );
    } else if !input.template_has_mask {
        reasons.push("the run has no template with {mask}, so no label word can be read".to_string());
    }
    let strategy = if !reads_words {
        if k <= CONTRASTIVE_MAX_ROWS_PER_CLASS {
            reasons.push(format!(
                "{k} rows per class (at most {CONTRASTIVE_MAX_ROWS_PER_CLASS}): contrastive fine-tuning learns from \
                 pairs of rows, many more than the rows themselves (SetFit's few-shot method)"
            ));
            TuneStrategy::Contrastive
        } else {
            reasons.push(format!(
                "{k} rows per class (more than {CONTRASTIVE_MAX_ROWS_PER_CLASS}): a probe on frozen embeddings has \
                 rows enough and trains in a fraction of the time pairs would take"
            ));
            TuneStrategy::Probe
        }
    } else if input.template_has_soft {
        reasons.push(
            "the template has {soft} vectors: soft-prompt tuning trains them with the model frozen"
                .to_string(),
        );
        TuneStrategy::SoftPrompt
    } else if input.parameters <= FINETUNE_MAX_PARAMETERS {
        reasons.push(format!(
            "the model reads label words at the template's {{mask}} and has {millions} M parameters (at most \
             {} M): prompt-based fine-tuning (LM-BFF) trains every weight through the prompt, the strongest \
             few-shot method for such a model",
            FINETUNE_MAX_PARAMETERS / 1_000_000
        ));
        TuneStrategy::Finetune
    } else {
        reasons.push(format!(
            "the model has {millions} M parameters (more than {} M), too many to fine-tune quickly on a CPU; \
             without {{soft}} in the template a probe on its frozen states is the cheap choice (add {{soft}} \
             to tune a soft prompt instead)",
            FINETUNE_MAX_PARAMETERS / 1_000_000
        ));
        TuneStrategy::Probe
    };
    let mut contrastive_iterations = None;
    if strategy == TuneStrategy::Contrastive && k <= CONTRASTIVE_ITERATIONS_MAX_ROWS {
        reasons.push(format!(
            "{k} rows per class (at most {CONTRASTIVE_ITERATIONS_MAX_ROWS}): {CONTRASTIVE_ITERATIONS} positive and \
             {CONTRASTIVE_ITERATIONS} negative pairs per row (the SetFit paper's setting), not just the unique pairs \
             (SetFit 1.x's default, a handful of updates at this size)"
        ));
        contrastive_iterations = Some(CONTRASTIVE_ITERATIONS);
    }
    if input.kind != Kind::Encoder && strategy == TuneStrategy::Contrastive {
        reasons.push(format!(
            "the model is {}; its pooled states embed the rows as an encoder's do",
            match input.kind {
                Kind::Decoder => "a decoder",
                _ => "an encoder–decoder",
            }
        ));
    }
    AutoChoice { strategy, reasons, contrastive_iterations }
}

/// `choice` again within `budget_seconds`, when the chosen strategy's estimate (`estimated`
/// seconds) exceeds it: the probe instead (the cheapest), with the reason.
pub fn within_budget(mut choice: AutoChoice, estimated: f64, budget_seconds: f64) -> AutoChoice {
    if estimated <= budget_seconds || choice.strategy == TuneStrategy::Probe {
        choice.reasons.push(format!(
            "estimated at {} for a budget of {}",
            super::estimate::duration(estimated),
            super::estimate::duration(budget_seconds)
        ));
        return choice;
    }
    choice.reasons.push(format!(
        "{} was estimated at {}, over the budget of {}: the probe instead, which trains only a small head on \
         frozen embeddings",
        choice.strategy.name(),
        super::estimate::duration(estimated),
        super::estimate::duration(budget_seconds)
    ));
    choice.strategy = TuneStrategy::Probe;
    choice.contrastive_iterations = None;
    choice
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: Kind, head: bool, millions: usize, k: usize, mask: bool, soft: bool) -> AutoInput {
        AutoInput {
            kind,
            has_lm_head: head,
            parameters: millions * 1_000_000,
            rows_per_class: k,
            template_has_mask: mask,
            template_has_soft: soft,
        }
    }

    #[test]
    fn choices_follow_the_model_the_rows_and_the_template() {
        use Kind::*;
        use TuneStrategy::*;
        let cases = [
            // MiniLM: no head, few rows → contrastive; many rows → probe.
            (input(Encoder, false, 22, 16, true, false), Contrastive, "no LM head"),
            (input(Encoder, false, 22, 64, false, false), Contrastive, "64 rows per class"),
            (input(Encoder, false, 22, 65, true, false), Probe, "more than 64"),
            // A masked LM with its head and a {mask} template.
            (input(Encoder, true, 125, 16, true, false), Finetune, "LM-BFF"),
            (input(Encoder, true, 125, 16, true, true), SoftPrompt, "{soft}"),
            (input(Encoder, true, 125, 8, false, false), Contrastive, "no template with {mask}"),
            // Decoders and encoder–decoders read label words too.
            (input(Decoder, true, 135, 16, true, false), Finetune, "135 M parameters"),
            // A tiny model's size is not rounded away.
            (
                AutoInput { parameters: 300_000, ..input(Encoder, true, 0, 16, true, false) },
                Finetune,
                "has 0.3 M parameters",
            ),
            (input(Decoder, true, 1700, 16, true, false), Probe, "too many to fine-tune"),
            (input(Decoder, true, 1700, 16, true, true), SoftPrompt, "model frozen"),
            (input(EncoderDecoder, true, 60, 200, false, false), Probe, "a probe on frozen embeddings"),
            (input(Decoder, true, 135, 4, false, false), Contrastive, "a decoder; its pooled states"),
        ];
        for (i, (input, want, why)) in cases.iter().enumerate() {
            let choice = choose(input);
            assert_eq!(choice.strategy, *want, "case {i}: {:?}", choice.reasons);
            assert!(
                choice.reasons.iter().any(|r| r.contains(why)),
                "case {i}: {:?} lacks {why:?}",
                choice.reasons
            );
            assert_eq!(choose(input), choice, "case {i}: the same input, the same choice");
        }
    }

    #[test]
    fn over_budget_falls_back_to_the_probe() {
        let chosen = choose(&input(Kind::Encoder, false, 22, 16, false, false));
        let kept = within_budget(chosen.clone(), 50.0, 60.0);
        assert_eq!(kept.strategy, TuneStrategy::Contrastive);
        assert!(kept.reasons.last().unwrap().starts_with("estimated at"), "{:?}", kept.reasons);
        let cut = within_budget(chosen, 600.0, 60.0);
        assert_eq!(cut.strategy, TuneStrategy::Probe);
        assert!(cut.reasons.last().unwrap().contains("over the budget"), "{:?}", cut.reasons);
    }

    #[test]
    fn decide_caps_rows_at_the_shots_checks_the_budget_and_estimates_only_with_one() {
        let headless = input(Kind::Encoder, false, 22, 100, false, false);
        let never = |_: &AutoChoice| -> Result<f64> { panic!("estimated without a budget") };
        // (shots, budget, estimated seconds with 20 pairs per row and with the unique pairs,
        // strategy, pairs per row, last reason contains)
        let cases = [
            (None::<u32>, None::<f64>, (0.0, 0.0), TuneStrategy::Probe, None, "100 rows per class"),
            (Some(8), None, (0.0, 0.0), TuneStrategy::Contrastive, Some(20), "8 rows per class"),
            (Some(48), None, (0.0, 0.0), TuneStrategy::Contrastive, None, "48 rows per class"),
            (Some(200), None, (0.0, 0.0), TuneStrategy::Probe, None, "100 rows per class"),
            (Some(8), Some(60.0), (30.0, 10.0), TuneStrategy::Contrastive, Some(20), "estimated at"),
            (Some(8), Some(60.0), (90.0, 40.0), TuneStrategy::Contrastive, None, "every unique pair once"),
            (Some(8), Some(60.0), (90.0, 70.0), TuneStrategy::Probe, None, "over the budget"),
        ];
        for (i, (shots, budget, (with_pairs, unique), want, pairs, why)) in cases.into_iter().enumerate() {
            let input = headless.clone().with_shots(shots);
            let choice = match budget {
                None => decide(&input, None, never).unwrap(),
                Some(b) => decide(&input, Some(b), |c| {
                    assert_eq!(
                        c.strategy,
                        TuneStrategy::Contrastive,
                        "case {i}: the chosen strategy is estimated"
                    );
                    Ok(if c.contrastive_iterations.is_some() { with_pairs } else { unique })
                })
                .unwrap(),
            };
            assert_eq!(choice.strategy, want, "case {i}: {:?}", choice.reasons);
            assert_eq!(choice.contrastive_iterations, pairs, "case {i}: {:?}", choice.reasons);
            assert!(choice.reasons.last().unwrap().contains(why), "case {i}: {:?}", choice.reasons);
        }
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let e = decide(&headless, Some(bad), never).unwrap_err();
            assert!(e.to_string().contains("positive number of seconds"), "{bad}: {e}");
        }
        let failed = decide(&headless, Some(1.0), |_| Err(Error::invalid("no rows"))).unwrap_err();
        assert!(failed.to_string().contains("no rows"), "{failed}");
    }

    #[test]
    fn applying_the_choice_sets_the_pairs_unless_the_user_did() {
        use super::super::{ContrastiveOptions, DataSource, TuneConfig};
        let choice = choose(&input(Kind::Encoder, false, 22, 16, true, false));
        assert_eq!(choice.contrastive_iterations, Some(CONTRASTIVE_ITERATIONS));
        let mut config = TuneConfig::new(TuneStrategy::Contrastive, "m", DataSource::Inline);
        choice.apply(&mut config);
        assert_eq!(config.contrastive.as_ref().and_then(|c| c.iterations), Some(CONTRASTIVE_ITERATIONS));
        assert_eq!(config.auto.as_ref(), Some(&choice));
        for given in [
            ContrastiveOptions { iterations: Some(3), ..Default::default() },
            ContrastiveOptions { max_pairs: Some(100), ..Default::default() },
        ] {
            let mut config = TuneConfig::new(TuneStrategy::Contrastive, "m", DataSource::Inline);
            config.contrastive = Some(given.clone());
            choice.apply(&mut config);
            assert_eq!(config.contrastive, Some(given));
        }
        // Another strategy's config takes nothing but the choice itself.
        let mut probe = TuneConfig::new(TuneStrategy::Probe, "m", DataSource::Inline);
        choice.apply(&mut probe);
        assert!(probe.contrastive.is_none());
    }

    #[test]
    fn the_input_counts_the_rarest_class_and_reads_the_template() {
        let labels: Vec<Option<String>> =
            ["a", "a", "b", "a", "b", "c"].iter().map(|s| Some(s.to_string())).chain([None]).collect();
        assert_eq!(rows_per_class(&labels), 1);
        assert_eq!(rows_per_class(&[None]), 0);
        let t = crate::template::Template::parse("{soft:2} {text_a} It was {mask}.").unwrap();
        let a = AutoInput::new((Kind::Encoder, true, 1), &labels, Some(&t));
        assert!(a.template_has_mask && a.template_has_soft);
        let plain = crate::template::Template::parse("Review: {text_a}").unwrap();
        let b = AutoInput::new((Kind::Encoder, true, 1), &labels, Some(&plain));
        assert!(!b.template_has_mask && !b.template_has_soft);
        assert!(!AutoInput::new((Kind::Encoder, true, 1), &labels, None).template_has_mask);
    }
}
