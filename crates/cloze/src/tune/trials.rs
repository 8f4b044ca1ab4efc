//! `auto` with dev rows: the strategy [`super::auto::choose`] picked and a cheap alternative are
//! both trained, and the one with the better accuracy on the dev rows is kept (ties keep the rule's
//! choice) — LM-BFF's model selection applied to the choice of strategy. The rule alone is right on
//! average; on a given sample the probe now and then beats contrastive tuning by points, and the dev
//! rows can tell (all-MiniLM-L6-v2, SST-2, 16 rows per class: README, "Few-shot: what to expect").
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

/// Which of `scores` (in the candidates' order, the rule's choice first) is kept: the best dev
/// accuracy, the earliest on a tie; a candidate without one never wins over one with it.
pub fn pick(scores: &[Option<f64>]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate().skip(1) {
        match (s, scores[best]) {
            (Some(a), Some(b)) if *a > b => best = i,
            (Some(_), None) => best = i,
            _ => {}
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
                    "auto: trying {} too, to keep the better on the dev rows",
                    c.strategy.name()
                ),
            })
        {
            return Err(Error::Cancelled);
        }
        let again = RunDir::new(&sub).config().is_file();
        summaries.push(super::run(c, train, dev, &sub, device, again, on_event)?);
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
    let why = if kept == 0 { "kept the rule's choice" } else { "kept the better" };
    format!("tried {}: {why}, {kept_name}", tried.join(" and "))
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
    let kept = pick(scores);
    choice.reasons.push(trial_reason(candidates, scores, kept, dev_rows));
    choice.strategy = candidates[kept].strategy;
    (kept, choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_better_dev_accuracy_wins_and_ties_keep_the_rule() {
        let cases: [(&[Option<f64>], usize); 6] = [
            (&[Some(0.7), Some(0.6)], 0),
            (&[Some(0.6), Some(0.7)], 1),
            (&[Some(0.7), Some(0.7)], 0),
            (&[None, Some(0.1)], 1),
            (&[Some(0.1), None], 0),
            (&[Some(0.5), Some(0.6), Some(0.6)], 1),
        ];
        for (scores, want) in cases {
            assert_eq!(pick(scores), want, "{scores:?}");
        }
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
        let choice = AutoChoice { strategy: TuneStrategy::Contrastive, reasons: vec!["few rows".into()] };
        let (kept, made) = record(choice, &[&c, &p], &[Some(0.5625), Some(0.75)], 32);
        assert_eq!((kept, made.strategy), (1, TuneStrategy::Probe));
        assert_eq!(
            made.reasons,
            [
                "few rows",
                "tried contrastive (56.2 % on the 32 dev rows) and probe (75.0 %): kept the better, probe"
            ]
        );
    }
}
