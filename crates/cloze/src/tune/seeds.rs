//! Runs over seeds: one configuration repeated with several seeds, and — when the config samples
//! `shots` rows per class — a few-shot sample drawn with each seed (LM-BFF's protocol: Gao, Fisch
//! & Chen, "Making Pre-trained Language Models Better Few-shot Learners", ACL 2021, §6.1: five
//! samples of K per class, mean and standard deviation). Few-shot accuracy swings by many points
//! between seeds and samples; the spread is the result, not one run.
//!
//! Each seed's run is an ordinary run folder, `DIR/seed-N/`, beside the rows it trained and was
//! evaluated on (`train.jsonl`, `dev.jsonl`: the sample another tool can reuse); `DIR/seeds.json`
//! holds every run's final dev metrics and their [`Spread`]. A seed whose run finished is not run
//! again when the job is resumed.

use std::path::Path;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::{EvalMetrics, RunDir, Summary, TuneConfig, TuneEvent};
use crate::data::Example;
use crate::error::{Error, Result};

/// The file in the parent folder that sums the runs up.
pub const SEEDS_FILE: &str = "seeds.json";
/// The most seeds one job repeats over.
pub const MAX_SEEDS: usize = 100;
/// LM-BFF's seeds for its five samples.
pub const LM_BFF_SEEDS: [u64; 5] = [13, 21, 42, 87, 100];

/// Mean, sample standard deviation (n − 1 in the denominator; 0 for one run), minimum and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
    pub n: u32,
}

impl Spread {
    /// The spread of `xs`; `None` when there is none.
    pub fn of(xs: &[f64]) -> Option<Self> {
        if xs.is_empty() {
            return None;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let sd = if xs.len() > 1 {
            (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self { mean, sd, min, max, n: xs.len() as u32 })
    }

    /// "71.2 ± 2.4" for fractions shown as percentages.
    pub fn percent(&self) -> String {
        format!("{:.1} ± {:.1}", 100.0 * self.mean, 100.0 * self.sd)
    }
}

/// One seed's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedRun {
    pub seed: u64,
    /// The run folder's name inside the parent (`seed-N`).
    pub dir: String,
    pub train_rows: u32,
    pub dev_rows: u32,
    pub steps: u32,
    /// Dev metrics of the weights the run kept.
    pub metrics: Option<EvalMetrics>,
    pub wall_seconds: Option<f64>,
}

/// Every run and the spread of their metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedsSummary {
    pub seeds: Vec<u64>,
    /// Whether each seed drew its own few-shot sample (the config's `shots`).
    pub resampled: bool,
    pub runs: Vec<SeedRun>,
    pub accuracy: Option<Spread>,
    pub macro_f1: Option<Spread>,
    pub loss: Option<Spread>,
    /// F1 per class over the runs, in class order.
    pub per_class_f1: Vec<(String, Spread)>,
}

impl SeedsSummary {
    /// The spread of the runs' metrics (the runs without metrics count in none).
    pub fn from_runs(seeds: Vec<u64>, resampled: bool, runs: Vec<SeedRun>) -> Self {
        let metrics: Vec<&EvalMetrics> = runs.iter().filter_map(|r| r.metrics.as_ref()).collect();
        let collect = |f: &dyn Fn(&EvalMetrics) -> Option<f64>| -> Option<Spread> {
            Spread::of(&metrics.iter().filter_map(|m| f(m)).collect::<Vec<_>>())
        };
        let classes = metrics.first().map(|m| m.classes.clone()).unwrap_or_default();
        let per_class_f1 = classes
            .iter()
            .enumerate()
            .filter_map(|(c, name)| {
                collect(&|m| m.per_class_f1.get(c).copied().filter(|_| m.classes.get(c) == Some(name)))
                    .map(|s| (name.clone(), s))
            })
            .collect();
        Self {
            accuracy: collect(&|m| m.accuracy),
            macro_f1: collect(&|m| m.macro_f1),
            loss: collect(&|m| m.loss),
            per_class_f1,
            seeds,
            resampled,
            runs,
        }
    }

    /// Reads `DIR/seeds.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(SEEDS_FILE);
        let text = crate::files::read_text_limited(&path, 64 << 20, "a runs-over-seeds summary")?;
        serde_json::from_str(&text)
            .map_err(|e| Error::invalid(format!("{}: not a runs-over-seeds summary ({e})", path.display())))
    }
}

/// Checks a list of seeds: 1 to [`MAX_SEEDS`] of them, none twice.
pub fn check_seeds(seeds: &[u64]) -> Result<()> {
    if seeds.is_empty() || seeds.len() > MAX_SEEDS {
        return Err(Error::invalid(format!(
            "give between 1 and {MAX_SEEDS} seeds to repeat the run over (there are {}), e.g. 13,21,42,87,100",
            seeds.len()
        )));
    }
    let mut sorted = seeds.to_vec();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::invalid(format!("seed {} is given twice; each seed runs once", w[0])));
    }
    Ok(())
}

/// What a runs-over-seeds job reports: which seed (its index and value) an event belongs to.
#[derive(Debug)]
pub struct SeedEvent<'a> {
    pub index: usize,
    pub seed: u64,
    pub event: &'a TuneEvent,
}

fn write_rows(path: &Path, rows: &[Example]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r).map_err(|e| Error::internal(format!("row to JSON: {e}")))?);
        text.push('\n');
    }
    crate::files::write_atomic(path, text.as_bytes())
}

/// Runs one seed of a runs-over-seeds job into the run folder `sub` (named in [`SeedRun::dir`] by
/// its last component): `config` with `seed`, on the rows [`super::select_rows`] draws with it,
/// which are written beside the run (`train.jsonl`, `dev.jsonl`). With `resume`, a finished run is
/// read back and an interrupted one continues. The desktop app runs its groups through this, one
/// ordinary run per seed.
#[allow(clippy::too_many_arguments)]
pub fn run_seed(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
    sub: &Path,
    device: &Device,
    seed: u64,
    resume: bool,
    on_event: &mut dyn FnMut(&TuneEvent) -> bool,
) -> Result<SeedRun> {
    let mut c = config.clone();
    c.hyper.seed = seed;
    let run_dir = RunDir::new(sub);
    let (train_rows, dev_rows) = super::select_rows(&c, train.to_vec(), dev.to_vec())?;
    let finished = if resume { run_dir.read_summary()? } else { None };
    let summary: Summary = match finished {
        Some(s) => s,
        None => {
            std::fs::create_dir_all(sub).map_err(|e| Error::io(sub, e))?;
            write_rows(&sub.join("train.jsonl"), &train_rows)?;
            write_rows(&sub.join("dev.jsonl"), &dev_rows)?;
            let resume_this = resume && run_dir.config().is_file();
            super::run(&c, &train_rows, &dev_rows, sub, device, resume_this, on_event)?
        }
    };
    Ok(SeedRun {
        seed,
        dir: sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        train_rows: train_rows.len() as u32,
        dev_rows: dev_rows.len() as u32,
        steps: summary.steps,
        metrics: summary.final_metrics.clone(),
        wall_seconds: summary.wall_seconds,
    })
}

/// Runs `config` once per seed into `dir/seed-N` (see the module documentation). `train` and
/// `dev` are the rows before [`super::select_rows`], which each seed applies with its own seed.
/// With `resume`, finished seeds are read back and an interrupted one continues.
#[allow(clippy::too_many_arguments)]
pub fn run_seeds(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
    dir: &Path,
    device: &Device,
    seeds: &[u64],
    resume: bool,
    on_event: &mut dyn FnMut(SeedEvent) -> bool,
) -> Result<SeedsSummary> {
    check_seeds(seeds)?;
    config.validate()?;
    if !resume && dir.join(SEEDS_FILE).exists() {
        return Err(Error::precondition(format!(
            "{} already holds runs over seeds; choose a new folder, or resume it",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let resampled = config.shots.is_some();
    let mut runs = Vec::with_capacity(seeds.len());
    for (index, &seed) in seeds.iter().enumerate() {
        let sub = dir.join(format!("seed-{seed}"));
        runs.push(run_seed(config, train, dev, &sub, device, seed, resume, &mut |e| {
            on_event(SeedEvent { index, seed, event: e })
        })?);
    }
    let summary = SeedsSummary::from_runs(seeds.to_vec(), resampled, runs);
    let json =
        serde_json::to_vec_pretty(&summary).map_err(|e| Error::internal(format!("seeds.json: {e}")))?;
    crate::files::write_atomic(dir.join(SEEDS_FILE), &json)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_by_hand() {
        // 0.6, 0.7, 0.8: mean 0.7, sample variance (0.01 + 0 + 0.01) / 2 = 0.01, sd 0.1.
        let s = Spread::of(&[0.6, 0.7, 0.8]).unwrap();
        assert!((s.mean - 0.7).abs() < 1e-12 && (s.sd - 0.1).abs() < 1e-12, "{s:?}");
        assert_eq!((s.min, s.max, s.n), (0.6, 0.8, 3));
        assert_eq!(s.percent(), "70.0 ± 10.0");
        assert_eq!(Spread::of(&[0.5]).unwrap().sd, 0.0);
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn seed_lists_are_checked() {
        let cases: [(&[u64], Option<&str>); 4] = [
            (&[13, 21], None),
            (&[], Some("between 1 and")),
            (&[1, 2, 1], Some("seed 1 is given twice")),
            (&[7], None),
        ];
        for (seeds, want) in cases {
            match (check_seeds(seeds), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, want) => panic!("{seeds:?}: {got:?}, wanted {want:?}"),
            }
        }
        assert!(check_seeds(&(0..=MAX_SEEDS as u64).collect::<Vec<_>>()).is_err());
    }
}
