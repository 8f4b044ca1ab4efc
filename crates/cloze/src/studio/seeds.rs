//! Runs over seeds from the app ("Repeat over seeds" on the Tune form): one request run once per
//! seed through [`tune::seeds::run_seed`] — with `shots`, each seed draws its own few-shot sample
//! (LM-BFF's protocol) —, and the spread of their metrics.
//!
//! Every seed is an ordinary run, `<project>.runs/<name>-seed-<N>/`, listed, opened, exported and
//! compared like any other. The group is recorded in `<project>.runs/<name>/seeds.json` (the
//! engine's [`SeedsSummary`], its runs named by run name), written when the job starts and after
//! each seed, so a cancelled job keeps its finished seeds and resumes the rest. The group's view is
//! read from the runs' own folders, so it always shows what they hold.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Studio;
use super::tuning::{RunProgress, RunSummaryView, TuneRequest, valid_name};
use super::views::{Progress, ProgressFn};
use crate::error::{Error, Result};
use crate::tune::RunDir;
use crate::tune::seeds::{SEEDS_FILE, SeedRun, SeedsSummary, Spread, check_seeds, run_seed};

#[cfg(feature = "specta")]
use specta::Type;

/// One seed's run in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct SeedRunView {
    pub seed: u64,
    /// The run as the run list shows it (its name opens it).
    pub run: RunSummaryView,
    /// Its final dev F1 per class, in the group's class order (empty until it finishes).
    pub per_class_f1: Vec<f64>,
}

/// One class's F1 over the group's finished runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ClassSpread {
    pub class: String,
    pub f1: Spread,
}

/// A group of runs over seeds: its runs and the spread of their final dev metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct SeedGroupView {
    pub name: String,
    /// Every seed the group repeats over, in order.
    pub seeds: Vec<u64>,
    /// Whether each seed drew its own few-shot sample (the request's rows per class).
    pub resampled: bool,
    /// The runs that exist, in seed order.
    pub runs: Vec<SeedRunView>,
    /// How many of the runs finished (the spreads are over these).
    pub finished: u32,
    pub accuracy: Option<Spread>,
    pub macro_f1: Option<Spread>,
    pub classes: Vec<String>,
    pub per_class_f1: Vec<ClassSpread>,
}

/// The run of `seed` in group `group`.
pub fn seed_run_name(group: &str, seed: u64) -> String {
    format!("{group}-seed-{seed}")
}

/// Refuses a single run named like a group of runs over seeds.
pub(super) fn refuse_group_name(root: &Path, name: &str) -> Result<()> {
    if root.join(name).join(SEEDS_FILE).is_file() {
        return Err(Error::already_exists(format!(
            "{name} is a group of runs over seeds; give the run another name"
        )));
    }
    Ok(())
}

fn write_group(dir: &Path, summary: &SeedsSummary) -> Result<()> {
    let json = serde_json::to_vec_pretty(summary)
        .map_err(|e| Error::internal(format!("the group's seeds.json: {e}")))?;
    crate::files::write_atomic(dir.join(SEEDS_FILE), &json)
}

/// A seed's run progress as the job's: "seed 2 of 5 · update 14/40", the bar over every seed's
/// updates (`before` of them done; each seed taken to have as many as this one).
fn seed_progress(p: Progress, index: usize, count: usize, before: u64) -> Progress {
    let stage = match p.total {
        Some(t) => format!("seed {} of {count} · update {}/{t}", index + 1, p.done),
        None => format!("seed {} of {count}", index + 1),
    };
    let total = p.total.map(|t| (before + t * (count - index) as u64).max(before + p.done));
    Progress { stage, done: before + p.done, total, message: p.message }
}

impl Studio {
    /// Runs `request` once per seed of `request.seeds` (see the module documentation), reporting
    /// "seed i of n · update k/m". Cancelling stops the job: the finished seeds stay, the group
    /// records them, and `resume` (with the group's name) finishes the rest with the group's settings.
    pub fn tune_over_seeds(&self, request: &TuneRequest, progress: ProgressFn) -> Result<SeedGroupView> {
        let name = valid_name(&request.name)?;
        let root = self.runs_dir()?;
        let group_dir = root.join(name);
        let seeds = match (&request.seeds, request.resume) {
            (_, true) => {
                if !group_dir.join(SEEDS_FILE).is_file() {
                    return Err(Error::precondition(format!(
                        "there is no group of runs over seeds named {name} to resume; start it with Resume off"
                    )));
                }
                SeedsSummary::read(&group_dir)?.seeds
            }
            (Some(seeds), false) => seeds.clone(),
            (None, false) => {
                return Err(Error::invalid(
                    "give the seeds to repeat the run over (e.g. 13, 21, 42, 87, 100)".to_string(),
                ));
            }
        };
        check_seeds(&seeds)?;
        let (mut config, rows) = self.tune_inputs(request)?;
        // Resuming goes on with the group's own settings (its first run's), whatever the form holds.
        let first = RunDir::new(root.join(seed_run_name(name, seeds[0])));
        if request.resume && first.config().is_file() {
            config = first.read_config()?;
        }
        if !request.resume {
            let taken = std::iter::once(name.to_string())
                .chain(seeds.iter().map(|&s| seed_run_name(name, s)))
                .find(|n| root.join(n).exists());
            if let Some(taken) = taken {
                return Err(Error::already_exists(format!(
                    "a run or group named {taken} exists; choose another name for the group, or resume it"
                )));
            }
        }
        std::fs::create_dir_all(&group_dir).map_err(|e| Error::io(&group_dir, e))?;
        let resampled = config.shots.is_some();
        let mut runs: Vec<SeedRun> = Vec::with_capacity(seeds.len());
        write_group(&group_dir, &SeedsSummary::from_runs(seeds.clone(), resampled, runs.clone()))?;
        let device = self.model()?.plm.device().clone();
        let mut before = 0;
        for (index, &seed) in seeds.iter().enumerate() {
            let dir = root.join(seed_run_name(name, seed));
            let mut events = RunProgress::default();
            let run = run_seed(
                &config,
                &rows,
                &[],
                &dir,
                &device,
                seed,
                request.resume,
                &mut |e| match events.of(e) {
                    Some(p) => progress(seed_progress(p, index, seeds.len(), before)),
                    None => true,
                },
            )?;
            before += u64::from(run.steps);
            runs.push(run);
            write_group(&group_dir, &SeedsSummary::from_runs(seeds.clone(), resampled, runs.clone()))?;
        }
        self.seed_group(name)
    }

    /// A group's runs and the spread of their final dev metrics, read from the runs' folders.
    pub fn seed_group(&self, name: &str) -> Result<SeedGroupView> {
        let name = valid_name(name)?;
        let root = self.runs_dir()?;
        let record = SeedsSummary::read(&root.join(name))?;
        let mut views = Vec::new();
        let mut finished = Vec::new();
        for &seed in &record.seeds {
            let run_name = seed_run_name(name, seed);
            let dir = RunDir::new(root.join(&run_name));
            if !dir.config().is_file() {
                continue;
            }
            let summary = dir.read_summary()?;
            let metrics = summary.as_ref().and_then(|s| s.final_metrics.clone());
            views.push(SeedRunView {
                seed,
                run: self.run_summary(&run_name)?,
                per_class_f1: metrics.as_ref().map(|m| m.per_class_f1.clone()).unwrap_or_default(),
            });
            if let Some(s) = summary {
                finished.push(SeedRun {
                    seed,
                    dir: run_name,
                    train_rows: 0,
                    dev_rows: 0,
                    steps: s.steps,
                    metrics,
                    wall_seconds: s.wall_seconds,
                });
            }
        }
        let count = finished.len() as u32;
        let classes =
            finished.iter().find_map(|r| r.metrics.as_ref()).map(|m| m.classes.clone()).unwrap_or_default();
        let spread = SeedsSummary::from_runs(record.seeds.clone(), record.resampled, finished);
        Ok(SeedGroupView {
            name: name.to_string(),
            seeds: record.seeds,
            resampled: record.resampled,
            runs: views,
            finished: count,
            accuracy: spread.accuracy,
            macro_f1: spread.macro_f1,
            classes,
            per_class_f1: spread
                .per_class_f1
                .into_iter()
                .map(|(class, f1)| ClassSpread { class, f1 })
                .collect(),
        })
    }

    /// The project's groups of runs over seeds, newest first.
    pub fn list_seed_groups(&self) -> Result<Vec<SeedGroupView>> {
        let root = self.runs_dir()?;
        let Ok(entries) = std::fs::read_dir(&root) else { return Ok(Vec::new()) };
        let mut groups = Vec::new();
        for entry in entries.flatten() {
            let file = entry.path().join(SEEDS_FILE);
            let Ok(modified) = file.metadata().and_then(|m| m.modified()) else { continue };
            // A group folder damaged by hand is left out of the list, as unreadable runs are.
            if let Ok(g) = self.seed_group(&entry.file_name().to_string_lossy()) {
                groups.push((modified, g));
            }
        }
        groups.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
        Ok(groups.into_iter().map(|(_, g)| g).collect())
    }
}
