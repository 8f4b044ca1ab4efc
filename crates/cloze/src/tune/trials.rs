//! `auto` with dev rows: the strategy [`super::auto::choose`] picked and a cheap alternative are
//! both trained, and the alternative replaces the rule's choice only when its accuracy on the dev
//! rows is higher by more than their noise ([`margin`]: two standard errors of the difference) —
//! LM-BFF's model selection applied to the choice of strategy, made robust to few dev rows. The
//! plain "better dev accuracy wins" rule was measured and lost: on all-MiniLM-L6-v2 with 8 and 16
//! rows per class of SST-2, SUBJ and CR, the probe won on the dev rows of 7 of 30 samples and was
//! better on the test rows in 1 of them (README, "Few-shot: what to expect").
//!
//! The candidates train as ordinary runs in `RUN/candidates/<strategy>/` (an interrupted job
//! resumes them); the winner's files are then moved into `RUN/` — `summary.json` last, so the run
//! is finished only once it is whole — its config records the choice with every candidate's dev
//! accuracy among the reasons, and the other candidates are deleted.

use std::path::Path;

use candle_core::Device;

use super::auto::AutoChoice;
use super::{RunDir, Summary, TuneConfig, TuneEvent, TuneStrategy};
use crate::data::Example;
use crate::error::{Error, Result};

/// The folder the candidates train in, inside the run folder.
pub const CANDIDATES: &str = "candidates";

/// The strategies worth trying beside `choice` (the rule's pick): the probe — a fraction of any
/// other strategy's cost — unless the choice is the probe already.
pub fn alternatives(choice: TuneStrategy) -> Vec<TuneStrategy> {
    match choice {
        TuneStrategy::Probe | TuneStrategy::Pretrain => Vec::new(),
        _ => vec![TuneStrategy::Probe],
    }
}

/// A candidate's accuracy on the dev rows (`None` when it has none).
pub fn dev_accuracy(summary: &Summary) -> Option<f64> {
    summary.final_metrics.as_ref().and_then(|m| m.accuracy)
}

/// How much higher than the rule's choice's dev accuracy `rule` an alternative's `other` must be
/// to replace it: two standard errors of the difference of two accuracies on `dev_rows` rows
/// (0.22 at 75 % on 32 rows; 0.05 on 600).
pub fn margin(rule: f64, other: f64, dev_rows: usize) -> f64 {
    let variance = rule * (1.0 - rule) + other * (1.0 - other);
    2.0 * (variance / dev_rows.max(1) as f64).sqrt()
}

/// Which of `scores` (dev accuracies on `dev_rows` rows, in the candidates' order, the rule's
/// choice first) is kept: the rule's choice, unless an alternative is above it by more than the
/// [`margin`] (the best such one); a candidate without a score never wins over one with it.
pub fn pick(scores: &[Option<f64>], dev_rows: usize) -> usize {
    let Some(rule) = scores.first().copied().flatten() else {
        return scores.iter().position(Option::is_some).unwrap_or(0);
    };
    let mut best = 0;
    for (i, s) in scores.iter().enumerate().skip(1) {
        if let Some(a) = *s
            && a > rule + margin(rule, a, dev_rows)
            && scores[best].is_none_or(|b| a > b)
        {
            best = i;
        }
    }
    best
}

/// Trains `config` (the rule's choice, `config.auto` set) and each of `others` on `train`, keeps
/// the one with the best accuracy on `dev`, and makes it the run in `run_dir` (see the module
/// documentation). Without labelled dev rows or alternatives it is [`super::run`]. A finished run
/// is read back.
#[allow(clippy::too_many_arguments)]
pub fn run(
    config: &TuneConfig,
    others: &[TuneConfig],
    train: &[Example],
    dev: &[Example],
    run_dir: &Path,
    device: &Device,
    resume: bool,
    on_event: &mut dyn FnMut(&TuneEvent) -> bool,
) -> Result<Summary> {
    let dir = RunDir::new(run_dir);
    if resume && let Some(done) = dir.read_summary()? {
        return Ok(done);
    }
    if !resume && dir.config().is_file() {
        return Err(Error::precondition(format!(
            "{} already holds a run; choose a new folder, or resume it",
            run_dir.display()
        )));
    }
    let choice = config.auto.clone().ok_or_else(|| Error::internal("trials need the auto choice"))?;
    let labelled_dev = dev.iter().filter(|r| r.label.is_some()).count();
    if others.is_empty() || labelled_dev == 0 {
        return super::run(config, train, dev, run_dir, device, resume, on_event);
    }
    let root = run_dir.join(CANDIDATES);
    let candidates: Vec<&TuneConfig> = std::iter::once(config).chain(others).collect();
    let mut summaries = Vec::with_capacity(candidates.len());
    for (i, c) in candidates.iter().enumerate() {
        let sub = root.join(c.strategy.name());
        if i > 0
            && !on_event(&TuneEvent::Notice {
                message: format!(
                    "auto: trying {} too; it replaces {} only if better beyond the dev rows' noise",
                    c.strategy.name(),
                    config.strategy.name()
                ),
            })
        {
            return Err(Error::Cancelled);
        }
        // A candidate finished before the job stopped (or copied in) is read back; an
        // unfinished one continues from its checkpoint.
        let candidate = RunDir::new(&sub);
        let summary = match candidate.read_summary()? {
            Some(done) => done,
            None => super::run(c, train, dev, &sub, device, candidate.config().is_file(), on_event)?,
        };
        summaries.push(summary);
    }
    let scores: Vec<Option<f64>> = summaries.iter().map(dev_accuracy).collect();
    let (kept, chosen) = record(choice, &candidates, &scores, labelled_dev);
    let mut winner = candidates[kept].clone();
    winner.auto = Some(chosen);
    adopt(&root.join(winner.strategy.name()), run_dir, &winner)?;
    crate::files::remove_dir_whole(&root)?;
    Ok(summaries.swap_remove(kept))
}

fn percent(score: Option<f64>) -> String {
    score.map_or_else(|| "no dev accuracy".into(), |a| format!("{:.1} %", 100.0 * a))
}

/// "tried contrastive (71.9 % on the 32 dev rows) and probe (65.6 %): kept contrastive".
fn trial_reason(candidates: &[&TuneConfig], scores: &[Option<f64>], kept: usize, dev_rows: usize) -> String {
    let tried: Vec<String> = candidates
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(i, (c, s))| {
            if i == 0 {
                format!("{} ({} on the {dev_rows} dev rows)", c.strategy.name(), percent(*s))
            } else {
                format!("{} ({})", c.strategy.name(), percent(*s))
            }
        })
        .collect();
    let kept_name = candidates[kept].strategy.name();
    let leader =
        (1..scores.len()).filter_map(|i| scores[i].map(|s| (i, s))).max_by(|a, b| a.1.total_cmp(&b.1));
    let why = match (kept, scores[0], leader) {
        (0, Some(rule), Some((i, other))) if other > rule => format!(
            "kept the rule's choice, {kept_name}: {}'s lead of {:.1} points is within the noise of {dev_rows} dev \
             rows (±{:.1})",
            candidates[i].strategy.name(),
            100.0 * (other - rule),
            100.0 * margin(rule, other, dev_rows)
        ),
        (0, ..) => format!("kept the rule's choice, {kept_name}"),
        _ => format!("kept {kept_name}, better beyond the dev rows' noise"),
    };
    format!("tried {}: {why}", tried.join(" and "))
}

/// Moves the finished run in `from` into `to` (`summary.json` last) with `config` as its config.
fn adopt(from: &Path, to: &Path, config: &TuneConfig) -> Result<()> {
    let summary = RunDir::new(from).summary();
    let entries = std::fs::read_dir(from).map_err(|e| Error::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let path = entry.path();
        if path == summary || entry.file_name() == "config.json" {
            continue;
        }
        let target = to.join(entry.file_name());
        std::fs::rename(&path, &target).map_err(|e| Error::io(&target, e))?;
    }
    let json = serde_json::to_vec_pretty(config).map_err(|e| Error::internal(format!("config.json: {e}")))?;
    crate::files::write_atomic(RunDir::new(to).config(), &json)?;
    let target = RunDir::new(to).summary();
    std::fs::rename(&summary, &target).map_err(|e| Error::io(&target, e))
}

/// The choice `auto` made, as `trials::run` records it (for callers that pick from runs trained
/// elsewhere, such as the few-shot bench's columns).
pub fn record(
    mut choice: AutoChoice,
    candidates: &[&TuneConfig],
    scores: &[Option<f64>],
    dev_rows: usize,
) -> (usize, AutoChoice) {
    let kept = pick(scores, dev_rows);
    choice.reasons.push(trial_reason(candidates, scores, kept, dev_rows));
    choice.strategy = candidates[kept].strategy;
    if choice.strategy != TuneStrategy::Contrastive {
        choice.contrastive_iterations = None;
    }
    (kept, choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alternative_wins_only_beyond_the_dev_noise() {
        // (scores, dev rows, kept)
        let cases: [(&[Option<f64>], usize, usize); 9] = [
            (&[Some(0.7), Some(0.6)], 32, 0),
            (&[Some(0.7), Some(0.8)], 32, 0),
            (&[Some(0.7), Some(0.8)], 1000, 1),
            (&[Some(0.5), Some(1.0)], 32, 1),
            (&[Some(0.7), Some(0.7)], 1000, 0),
            (&[None, Some(0.1)], 32, 1),
            (&[Some(0.1), None], 32, 0),
            (&[None, None], 32, 0),
            (&[Some(0.5), Some(0.9), Some(0.95)], 100, 2),
        ];
        for (scores, rows, want) in cases {
            assert_eq!(pick(scores, rows), want, "{scores:?} on {rows} rows");
        }
        assert!((margin(0.75, 0.75, 32) - 0.2165).abs() < 1e-3);
        assert!((margin(0.75, 0.75, 600) - 0.05).abs() < 1e-3);
    }

    #[test]
    fn alternatives_are_the_probe_unless_it_was_chosen() {
        assert_eq!(alternatives(TuneStrategy::Contrastive), [TuneStrategy::Probe]);
        assert_eq!(alternatives(TuneStrategy::Finetune), [TuneStrategy::Probe]);
        assert!(alternatives(TuneStrategy::Probe).is_empty());
    }

    #[test]
    fn the_reason_names_every_candidate_and_the_kept_one() {
        let c = TuneConfig::new(TuneStrategy::Contrastive, "m", super::super::DataSource::Inline);
        let p = TuneConfig::new(TuneStrategy::Probe, "m", super::super::DataSource::Inline);
        let choice = AutoChoice {
            strategy: TuneStrategy::Contrastive,
            reasons: vec!["few rows".into()],
            contrastive_iterations: None,
        };
        let (kept, made) = record(choice.clone(), &[&c, &p], &[Some(0.5625), Some(0.75)], 32);
        assert_eq!((kept, made.strategy), (0, TuneStrategy::Contrastive));
        assert_eq!(
            made.reasons,
            [
                "few rows",
                "tried contrastive (56.2 % on the 32 dev rows) and probe (75.0 %): kept the rule's choice, \
                 contrastive: probe's lead of 18.8 points is within the noise of 32 dev rows (±23.3)"
            ]
        );
        let (kept, made) = record(choice, &[&c, &p], &[Some(0.25), Some(0.9375)], 32);
        assert_eq!((kept, made.strategy), (1, TuneStrategy::Probe));
        assert_eq!(
            made.reasons[1],
            "tried contrastive (25.0 % on the 32 dev rows) and probe (93.8 %): kept probe, better beyond the dev \
             rows' noise"
        );
    }
}
