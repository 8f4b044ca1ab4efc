//! The few-shot protocol of LM-BFF (Gao, Fisch & Chen, "Making Pre-trained Language Models Better
//! Few-shot Learners", ACL 2021, §3 and §6.1), as `cloze bench fewshot` runs it: for each of five
//! seeds, K labelled rows per class are drawn from the training file for training and K more per
//! class for model selection (the dev rows), every method trains on that same sample, and the whole
//! test file scores it; the table gives the mean ± sample standard deviation over the seeds.
//!
//! A protocol folder holds everything, so that another tool can score the same samples and a long
//! job can stop and go on:
//! - `k-K/seed-S/train.jsonl`, `dev.jsonl` — the sample (written once; re-read when resumed);
//! - `k-K/seed-S/METHOD/` — the method's run folder (an ordinary run, see [`super::RunDir`]);
//! - `k-K/seed-S/METHOD.json` — its [`CellResult`] on the test rows, written last: a cell with one
//!   is done. `scripts/setfit-fewshot.py --protocol DIR` writes `setfit.json` the same way;
//! - `test.jsonl` — the test rows (held out of the training file with [`HOLD_OUT_SEED`] when the
//!   data set has no test file), and `table.md` / `results.json`, rewritten after every cell.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::auto::{AutoChoice, AutoInput};
use super::seeds::Spread;
use super::{TuneConfig, TuneEvent, TuneStrategy, TunedRun};
use crate::data::Example;
use crate::demo::DemoConfig;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::metrics::Metrics;
use crate::plm::ModelInfo;
use crate::template::Template;
use crate::verbalizer::Verbalizer;

/// The seed that holds test rows out of a data set without a test file (fixed, so every seed's
/// sample is drawn from the same pool).
pub const HOLD_OUT_SEED: u64 = 2021;
/// LM-BFF's test size for the data sets that come without a test split (MR, CR, SUBJ, MPQA).
pub const DEFAULT_TEST_ROWS: usize = 2000;

/// A column of the table: a strategy trained by Cloze, `auto`, the untrained prompt (zero-shot,
/// and with in-context demonstrations drawn from the sample — the baselines a few-shot method must
/// beat on a model that reads label words), or SetFit (run by `scripts/setfit-fewshot.py` on the
/// same samples; its results are read, never made here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Strategy(TuneStrategy),
    Auto,
    /// The template and verbalizer as they are, on the test rows: no sample is read, so every cell
    /// has the same result (scored once, in `zero-shot.json` at the folder's root).
    ZeroShot,
    /// The template with `{demo}` filled from the sample's training rows (LM-BFF §6, seeded with
    /// the sample's seed).
    Demos,
    SetFit,
}

impl Method {
    /// The strategies the protocol compares: every supervised one (pretraining learns from text
    /// alone and has no place in a few-shot table).
    pub fn all() -> Vec<Method> {
        let mut all: Vec<Method> = TuneStrategy::ALL
            .into_iter()
            .filter(|s| *s != TuneStrategy::Pretrain)
            .map(Method::Strategy)
            .collect();
        all.extend([Method::Auto, Method::ZeroShot, Method::Demos, Method::SetFit]);
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Strategy(s) => s.name(),
            Method::Auto => "auto",
            Method::ZeroShot => "zero-shot",
            Method::Demos => "demos",
            Method::SetFit => "setfit",
        }
    }

    /// Cloze trains it (SetFit's column comes from the script).
    pub fn trained_here(self) -> bool {
        self != Method::SetFit
    }
}

impl std::str::FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let all = Method::all();
        if s == TuneStrategy::Pretrain.name() {
            return Err(Error::invalid(
                "pretrain learns from text alone, so the few-shot protocol has nothing to compare it on; \
                 pretrain a model with `cloze tune --strategy pretrain` and bench that model instead",
            ));
        }
        all.iter().copied().find(|m| m.name() == s).ok_or_else(|| {
            Error::invalid(format!(
                "unknown method {s:?}; choose from {}",
                all.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The test rows and the pool samples are drawn from: the test file's rows when there is one,
/// else `test_rows` rows held out of `train` with [`HOLD_OUT_SEED`] (stratification is not needed
/// at 2000 rows).
pub fn pool_and_test(
    train: Vec<Example>,
    test: Option<Vec<Example>>,
    test_rows: usize,
) -> Result<(Vec<Example>, Vec<Example>)> {
    let train: Vec<Example> = train.into_iter().filter(|r| r.label.is_some()).collect();
    if let Some(test) = test {
        let test: Vec<Example> = test.into_iter().filter(|r| r.label.is_some()).collect();
        if test.is_empty() {
            return Err(Error::invalid("the test file has no labelled rows; give one with a label column"));
        }
        return Ok((train, test));
    }
    if test_rows == 0 || test_rows >= train.len() {
        return Err(Error::invalid(format!(
            "cannot hold {test_rows} test rows out of {} labelled training rows; give --test FILE or a smaller \
             --test-rows",
            train.len()
        )));
    }
    let mut rows = train;
    crate::data::shuffle(&mut rows, HOLD_OUT_SEED);
    let pool = rows.split_off(test_rows);
    Ok((pool, rows))
}

/// One method's result on one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub method: String,
    pub k: u32,
    pub seed: u64,
    /// The strategy that trained (`auto`'s choice for the auto column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<TuneStrategy>,
    /// `auto`'s choice and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoChoice>,
    pub train_rows: u32,
    pub dev_rows: u32,
    pub test_rows: u32,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Accuracy on the sample's dev rows of the weights kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_accuracy: Option<f64>,
    /// Training (with its evaluations) and scoring the test rows, in seconds (`auto`: every
    /// candidate's).
    pub seconds: f64,
    /// `auto` picked between the runs of the strategies' own columns (the same configs on the same
    /// sample) instead of training them again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused_runs: bool,
}

/// The files of a protocol folder (see the module documentation).
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    pub fn sample_dir(&self, k: u32, seed: u64) -> PathBuf {
        self.root.join(format!("k-{k}")).join(format!("seed-{seed}"))
    }
    pub fn run_dir(&self, k: u32, seed: u64, method: Method) -> PathBuf {
        self.sample_dir(k, seed).join(method.name())
    }
    pub fn result(&self, k: u32, seed: u64, method: Method) -> PathBuf {
        self.sample_dir(k, seed).join(format!("{}.json", method.name()))
    }
    pub fn test(&self) -> PathBuf {
        self.root.join("test.jsonl")
    }
    /// The zero-shot column's one result, which every cell of the column copies.
    pub fn zero_shot(&self) -> PathBuf {
        self.root.join("zero-shot.json")
    }

    /// The sample for `k` and `seed`: read back when it was written before (so a resumed job and
    /// other tools see the same rows), else drawn from `pool` ([`crate::data::few_shot_split`]) and
    /// written.
    pub fn sample(&self, pool: &[Example], k: u32, seed: u64) -> Result<(Vec<Example>, Vec<Example>)> {
        let dir = self.sample_dir(k, seed);
        let (train_path, dev_path) = (dir.join("train.jsonl"), dir.join("dev.jsonl"));
        if train_path.is_file() && dev_path.is_file() {
            return Ok((read_rows(&train_path)?, read_rows(&dev_path)?));
        }
        let (train, dev) = crate::data::few_shot_split(pool, k as usize, seed)?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        write_rows(&dev_path, &dev)?;
        write_rows(&train_path, &train)?;
        Ok((train, dev))
    }

    /// The result of a cell, when it is done.
    pub fn read_result(&self, k: u32, seed: u64, method: Method) -> Result<Option<CellResult>> {
        read_cell(&self.result(k, seed, method))
    }

    /// Every result in the folder, for the table.
    pub fn results(&self, ks: &[u32], seeds: &[u64], methods: &[Method]) -> Result<Vec<CellResult>> {
        let mut out = Vec::new();
        for &k in ks {
            for &seed in seeds {
                for &m in methods {
                    out.extend(self.read_result(k, seed, m)?);
                }
            }
        }
        Ok(out)
    }
}

fn read_cell(path: &Path) -> Result<Option<CellResult>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Data {
            path: path.to_path_buf(),
            line: None,
            message: format!("not a cell result ({e}); delete it to run the cell again").into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

pub fn write_rows(path: &Path, rows: &[Example]) -> Result<()> {
    let mut text = String::new();
    for r in rows {
        text.push_str(&serde_json::to_string(r).map_err(|e| Error::internal(format!("row to JSON: {e}")))?);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

pub fn read_rows(path: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Data {
                path: path.to_path_buf(),
                line: Some(i as u64 + 1),
                message: format!("not a row ({e}); delete the sample folder to draw it again").into(),
            })
        })
        .collect()
}

/// What one cell needs besides its sample.
pub struct Cell<'a> {
    pub k: u32,
    pub seed: u64,
    pub method: Method,
    /// The run's config for a strategy (the command line's template, verbalizer and options, the
    /// strategy's default hyperparameters).
    pub config_for: &'a dyn Fn(TuneStrategy) -> Result<TuneConfig>,
    /// The model's facts and the template, for `auto`.
    pub model: &'a ModelInfo,
    pub template: Option<&'a str>,
    /// The prompt the zero-shot and demonstration columns classify with.
    pub prompt: Option<&'a PromptColumns>,
}

/// What the untrained columns need: the model, the classification template and the verbalizer;
/// for [`Method::Demos`], the template with `{demo}` and how many demonstrations per class.
#[derive(Debug, Clone)]
pub struct PromptColumns {
    pub model: PathBuf,
    pub template: Template,
    pub verbalizer: Verbalizer,
    pub demo_template: Option<Template>,
    pub demos: DemoConfig,
}

impl PromptColumns {
    /// Checks the templates: both classify (one `{mask}`); the demonstrations' has `{demo}`.
    pub fn new(
        model: PathBuf,
        template: &str,
        verbalizer: Verbalizer,
        demo_template: Option<&str>,
        demos: DemoConfig,
    ) -> Result<Self> {
        let template = Template::parse(template)?;
        template.check_classification()?;
        let demo_template = demo_template.map(Template::parse).transpose()?;
        if let Some(t) = &demo_template {
            t.check_classification()?;
            if !crate::demo::uses_demos(t) {
                return Err(Error::invalid(format!(
                    "the demonstrations' template {:?} has no {{demo}}; add one where the examples go, e.g. \
                     \"{{demo}}{}\"",
                    t.source(),
                    template.source()
                )));
            }
        }
        Ok(Self { model, template, verbalizer, demo_template, demos })
    }

    /// The test rows classified with `template`, the rows' `{demo}` filled from `pool` first when
    /// the template has one.
    fn score(
        &self,
        template: &Template,
        pool: &[Example],
        seed: u64,
        test: &[Example],
        device: &Device,
    ) -> Result<Metrics> {
        let plm = crate::plm::Plm::load(&self.model, device)?;
        let mut rows = test.to_vec();
        if crate::demo::uses_demos(template) {
            let demos =
                crate::demo::Demonstrations::new(&plm, template, &self.verbalizer, pool, self.demos, seed)?;
            demos.fill(&plm, &mut rows)?;
        }
        let classifier = crate::classify::Classifier::new(
            &plm,
            template.clone(),
            &self.verbalizer,
            crate::classify::ClassifyOptions::default(),
        )?;
        let predictions = classifier.classify(&rows, &mut |_, _| true)?;
        let pairs = rows
            .iter()
            .zip(&predictions)
            .filter_map(|(row, p)| Some((row.label.as_deref()?, p.predicted.as_str())));
        Metrics::from_labels(pairs, &self.verbalizer.class_names())
    }
}

/// `auto`'s choice for a sample: the model, the training rows per class and the template decide
/// ([`super::auto::choose`]).
pub fn auto_choice(model: &ModelInfo, train: &[Example], template: Option<&str>) -> Result<AutoChoice> {
    let labels: Vec<Option<String>> = train.iter().map(|r| r.label.clone()).collect();
    let template = template.map(crate::template::Template::parse).transpose()?;
    Ok(super::auto::choose(&AutoInput::for_model(model, &labels, template.as_ref())))
}

/// Trains `cell`'s method on the sample into its run folder (seeded with the sample's seed), scores
/// the test rows, and writes the cell's result. `auto` trains the rule's choice and the probe and
/// keeps the better on the dev rows ([`super::trials`]); when the bench has already trained both
/// on this sample with the very same configs (the columns of those strategies — a CPU run repeats
/// bit for bit), their runs are used instead of training them again, and the cell says so.
/// `on_event` sees the run's events; returning `false` cancels.
pub fn run_cell(
    layout: &Layout,
    cell: &Cell,
    (train, dev): (&[Example], &[Example]),
    test: &[Example],
    device: &Device,
    on_event: &mut dyn FnMut(&TuneEvent) -> bool,
) -> Result<CellResult> {
    let started = std::time::Instant::now();
    let config_for = |s: TuneStrategy| -> Result<TuneConfig> {
        let mut c = (cell.config_for)(s)?;
        c.hyper.seed = cell.seed;
        c.shots = None;
        c.dev_fraction = None;
        Ok(c)
    };
    let sample = (train.len() as u32, dev.len() as u32, test.len() as u32);
    let run_dir = layout.run_dir(cell.k, cell.seed, cell.method);
    let result = match cell.method {
        Method::Strategy(s) => {
            let config = config_for(s)?;
            // A run left unfinished by an earlier, stopped job continues from its checkpoint.
            let resume = super::RunDir::new(&run_dir).config().is_file();
            let summary = super::run(&config, train, dev, &run_dir, device, resume, on_event)?;
            let metrics = score_test(&run_dir, test, device)?;
            cell_result(cell, sample, Some(s), None, &metrics, super::trials::dev_accuracy(&summary), false)
        }
        Method::Auto => {
            let choice = auto_choice(cell.model, train, cell.template)?;
            let mut chosen = config_for(choice.strategy)?;
            choice.apply(&mut chosen);
            let others = super::trials::alternatives(choice.strategy)
                .into_iter()
                .map(config_for)
                .collect::<Result<Vec<_>>>()?;
            let candidates: Vec<&TuneConfig> = std::iter::once(&chosen).chain(&others).collect();
            let labelled_dev = dev.iter().filter(|r| r.label.is_some()).count();
            match columns_trained(layout, cell, &candidates)? {
                Some(cells) if labelled_dev > 0 => {
                    let scores: Vec<Option<f64>> = cells.iter().map(|c| c.dev_accuracy).collect();
                    let (kept, made) = super::trials::record(choice, &candidates, &scores, labelled_dev);
                    let mut r = cells[kept].clone();
                    r.method = Method::Auto.name().to_string();
                    r.auto = Some(made);
                    r.seconds = cells.iter().map(|c| c.seconds).sum();
                    r.reused_runs = true;
                    r
                }
                _ => {
                    let resume = super::RunDir::new(&run_dir).config().is_file();
                    // A candidate a column trained with the very same config on this sample (the
                    // rule's choice too) is copied in rather than trained again; its time is
                    // counted.
                    let mut borrowed = 0.0;
                    for other in &candidates {
                        if let Some(done) = column_trained(layout, cell, other)? {
                            let to = run_dir.join(super::trials::CANDIDATES).join(other.strategy.name());
                            if !resume && !to.exists() {
                                let from =
                                    layout.run_dir(cell.k, cell.seed, Method::Strategy(other.strategy));
                                copy_run(&from, &to)?;
                            }
                            borrowed += done.seconds;
                        }
                    }
                    let summary =
                        super::trials::run(&chosen, &others, train, dev, &run_dir, device, resume, on_event)?;
                    let (config, _) = TunedRun::load(&run_dir, device)?;
                    let metrics = score_test(&run_dir, test, device)?;
                    let dev_accuracy = super::trials::dev_accuracy(&summary);
                    let mut r = cell_result(
                        cell,
                        sample,
                        Some(config.strategy),
                        config.auto,
                        &metrics,
                        dev_accuracy,
                        false,
                    );
                    r.seconds = borrowed;
                    r
                }
            }
        }
        Method::ZeroShot | Method::Demos => {
            let prompt = cell.prompt.ok_or_else(|| {
                Error::invalid(format!(
                    "the {} column classifies with the template and verbalizer; give --template and --verbalizer",
                    cell.method
                ))
            })?;
            if cell.method == Method::ZeroShot {
                let (mut r, reused) = match read_cell(&layout.zero_shot())? {
                    Some(r) => (r, true),
                    None => {
                        let metrics = prompt.score(&prompt.template, &[], cell.seed, test, device)?;
                        let mut r = cell_result(cell, sample, None, None, &metrics, None, false);
                        (r.train_rows, r.dev_rows) = (0, 0);
                        r.seconds = started.elapsed().as_secs_f64();
                        let json = serde_json::to_vec_pretty(&r)
                            .map_err(|e| Error::internal(format!("cell result: {e}")))?;
                        write_atomic(layout.zero_shot(), &json)?;
                        // The time is counted once, below.
                        r.seconds = 0.0;
                        (r, false)
                    }
                };
                (r.k, r.seed) = (cell.k, cell.seed);
                r.reused_runs = reused;
                r
            } else {
                let template = prompt.demo_template.as_ref().ok_or_else(|| {
                    Error::invalid(
                        "the demos column needs a template with {demo}; give one with --demo-template, e.g. \
                         \"{demo}{text_a} It was {mask}.\"",
                    )
                })?;
                let metrics = prompt.score(template, train, cell.seed, test, device)?;
                cell_result(cell, sample, None, None, &metrics, None, false)
            }
        }
        Method::SetFit => {
            return Err(Error::invalid(format!(
                "SetFit's cells are made by scripts/setfit-fewshot.py --protocol {}, not by cloze",
                layout.root.display()
            )));
        }
    };
    let result = CellResult {
        // Trained here: the time it took, plus any candidate's borrowed from a column.
        seconds: if result.reused_runs {
            result.seconds
        } else {
            result.seconds + started.elapsed().as_secs_f64()
        },
        ..result
    };
    let json =
        serde_json::to_vec_pretty(&result).map_err(|e| Error::internal(format!("cell result: {e}")))?;
    write_atomic(layout.result(cell.k, cell.seed, cell.method), &json)?;
    Ok(result)
}

/// The finished cells of the columns that trained exactly `candidates` (configs equal but for
/// `auto`) on this sample, in their order; `None` when any is missing or differs.
fn columns_trained(
    layout: &Layout,
    cell: &Cell,
    candidates: &[&TuneConfig],
) -> Result<Option<Vec<CellResult>>> {
    let mut cells = Vec::with_capacity(candidates.len());
    for c in candidates {
        match column_trained(layout, cell, c)? {
            Some(done) => cells.push(done),
            None => return Ok(None),
        }
    }
    Ok(Some(cells))
}

/// The finished cell of the column that trained exactly `candidate` (its config equal but for
/// `auto`) on this sample, if any.
fn column_trained(layout: &Layout, cell: &Cell, candidate: &TuneConfig) -> Result<Option<CellResult>> {
    let comparable = |c: &TuneConfig| -> Result<serde_json::Value> {
        let mut v = serde_json::to_value(c).map_err(|e| Error::internal(format!("config: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.remove("auto");
            // Only a soft verbalizer reads how it starts (configs written before the setting
            // existed read back as label-words).
            if !matches!(c.strategy, TuneStrategy::SoftPrompt | TuneStrategy::Finetune) {
                o.remove("head_init");
            }
        }
        Ok(v)
    };
    let method = Method::Strategy(candidate.strategy);
    let Some(done) = layout.read_result(cell.k, cell.seed, method)? else { return Ok(None) };
    let run = super::RunDir::new(layout.run_dir(cell.k, cell.seed, method));
    if !run.config().is_file()
        || comparable(&run.read_config()?)? != comparable(candidate)?
        || done.reused_runs
    {
        return Ok(None);
    }
    Ok(Some(done))
}

/// Copies the folder `from` to `to` through a temporary folder beside `to`, renamed into place.
fn copy_run(from: &Path, to: &Path) -> Result<()> {
    fn copy_tree(from: &Path, to: &Path) -> Result<()> {
        std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
        for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
            let entry = entry.map_err(|e| Error::io(from, e))?;
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type().map_err(|e| Error::io(&src, e))?.is_dir() {
                copy_tree(&src, &dst)?;
            } else {
                std::fs::copy(&src, &dst).map_err(|e| Error::io(&dst, e))?;
            }
        }
        Ok(())
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = crate::files::temp_path_for(to);
    copy_tree(from, &tmp)?;
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// The finished run in `run_dir` scored on the test rows.
fn score_test(run_dir: &Path, test: &[Example], device: &Device) -> Result<Metrics> {
    let (_, tuned) = TunedRun::load(run_dir, device)?;
    let predictions = tuned.classify(test, &mut |_, _| true)?;
    let pairs = test
        .iter()
        .zip(&predictions)
        .filter_map(|(row, p)| Some((row.label.as_deref()?, p.predicted.as_str())));
    Metrics::from_labels(pairs, &tuned.classes())
}

fn cell_result(
    cell: &Cell,
    (train_rows, dev_rows, test_rows): (u32, u32, u32),
    strategy: Option<TuneStrategy>,
    auto: Option<AutoChoice>,
    metrics: &Metrics,
    dev_accuracy: Option<f64>,
    reused_runs: bool,
) -> CellResult {
    CellResult {
        method: cell.method.name().to_string(),
        k: cell.k,
        seed: cell.seed,
        strategy,
        auto,
        train_rows,
        dev_rows,
        test_rows,
        accuracy: metrics.accuracy,
        macro_f1: metrics.macro_f1,
        dev_accuracy,
        seconds: 0.0,
        reused_runs,
    }
}

/// One line of the table: a method at one K, over the seeds it has results for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub method: String,
    pub k: u32,
    pub accuracy: Spread,
    pub macro_f1: Spread,
    pub seconds: Spread,
    /// The strategies `auto` chose, with how many samples each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chose: BTreeMap<String, u32>,
}

/// The table of `results` in `methods` order, for each K in `ks`.
pub fn table(results: &[CellResult], ks: &[u32], methods: &[Method]) -> Vec<TableRow> {
    let mut rows = Vec::new();
    for &m in methods {
        for &k in ks {
            let cells: Vec<&CellResult> =
                results.iter().filter(|r| r.k == k && r.method == m.name()).collect();
            let spread =
                |f: &dyn Fn(&CellResult) -> f64| Spread::of(&cells.iter().map(|c| f(c)).collect::<Vec<_>>());
            let (Some(accuracy), Some(macro_f1), Some(seconds)) =
                (spread(&|c| c.accuracy), spread(&|c| c.macro_f1), spread(&|c| c.seconds))
            else {
                continue;
            };
            let mut chose = BTreeMap::new();
            if m == Method::Auto {
                for c in &cells {
                    if let Some(s) = c.strategy {
                        *chose.entry(s.name().to_string()).or_insert(0) += 1;
                    }
                }
            }
            rows.push(TableRow { method: m.name().to_string(), k, accuracy, macro_f1, seconds, chose });
        }
    }
    rows
}

/// The table as Markdown: a line per method, a column per K with accuracy (and macro-F1 when
/// `macro_f1`), mean ± s.d. in percent and the number of seeds, then the mean seconds per run.
pub fn markdown(rows: &[TableRow], ks: &[u32], macro_f1: bool) -> String {
    let mut methods: Vec<&str> = Vec::new();
    for r in rows {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let mut out = String::from("| method |");
    for k in ks {
        out.push_str(&format!(" K={k} accuracy |"));
        if macro_f1 {
            out.push_str(&format!(" K={k} macro-F1 |"));
        }
        out.push_str(&format!(" K={k} s/run |"));
    }
    out.push_str("\n|---|");
    for _ in ks {
        out.push_str(if macro_f1 { "---:|---:|---:|" } else { "---:|---:|" });
    }
    out.push('\n');
    for m in methods {
        out.push_str(&format!("| {m} |"));
        for &k in ks {
            match rows.iter().find(|r| r.method == m && r.k == k) {
                Some(r) => {
                    out.push_str(&format!(" {} (n={}) |", r.accuracy.percent(), r.accuracy.n));
                    if macro_f1 {
                        out.push_str(&format!(" {} |", r.macro_f1.percent()));
                    }
                    out.push_str(&format!(" {:.0} |", r.seconds.mean));
                }
                None => out.push_str(if macro_f1 { " — | — | — |" } else { " — | — |" }),
            }
        }
        out.push('\n');
    }
    let chose: Vec<String> = rows
        .iter()
        .filter(|r| !r.chose.is_empty())
        .map(|r| {
            let picks: Vec<String> = r.chose.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
            format!("K={}: {}", r.k, picks.join(", "))
        })
        .collect();
    if !chose.is_empty() {
        out.push_str(&format!("\nauto chose: {}\n", chose.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(method: &str, k: u32, seed: u64, accuracy: f64, strategy: Option<TuneStrategy>) -> CellResult {
        CellResult {
            method: method.into(),
            k,
            seed,
            strategy,
            auto: None,
            train_rows: 2 * k,
            dev_rows: 2 * k,
            test_rows: 100,
            accuracy,
            macro_f1: accuracy - 0.01,
            dev_accuracy: None,
            seconds: 10.0 * seed as f64,
            reused_runs: false,
        }
    }

    #[test]
    fn methods_parse_by_name() {
        let cases: [(&str, std::result::Result<Method, &str>); 7] = [
            ("probe", Ok(Method::Strategy(TuneStrategy::Probe))),
            ("auto", Ok(Method::Auto)),
            ("zero-shot", Ok(Method::ZeroShot)),
            ("demos", Ok(Method::Demos)),
            ("setfit", Ok(Method::SetFit)),
            ("pretrain", Err("learns from text alone")),
            (
                "svm",
                Err(
                    "unknown method \"svm\"; choose from soft-prompt, finetune, probe, contrastive, auto, zero-shot, \
                     demos, setfit",
                ),
            ),
        ];
        for (text, want) in cases {
            match (text.parse::<Method>(), want) {
                (Ok(m), Ok(w)) => assert_eq!(m, w, "{text}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{text}: {e}"),
                (got, want) => panic!("{text}: {got:?}, want {want:?}"),
            }
        }
        for m in Method::all() {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
        }
    }

    #[test]
    fn the_table_is_the_mean_and_spread_over_seeds() {
        let results = vec![
            cell("probe", 16, 1, 0.6, Some(TuneStrategy::Probe)),
            cell("probe", 16, 2, 0.8, Some(TuneStrategy::Probe)),
            cell("auto", 16, 1, 0.7, Some(TuneStrategy::Contrastive)),
            cell("auto", 16, 2, 0.7, Some(TuneStrategy::Probe)),
            cell("setfit", 8, 1, 0.5, None),
        ];
        let methods = [Method::Strategy(TuneStrategy::Probe), Method::Auto, Method::SetFit];
        let rows = table(&results, &[8, 16], &methods);
        assert_eq!(rows.len(), 3, "{rows:?}");
        let probe = &rows[0];
        assert_eq!((probe.method.as_str(), probe.k), ("probe", 16));
        assert!((probe.accuracy.mean - 0.7).abs() < 1e-12 && (probe.accuracy.sd - 0.1414).abs() < 1e-4);
        assert_eq!(probe.seconds.mean, 15.0);
        assert_eq!(rows[1].chose, BTreeMap::from([("contrastive".into(), 1), ("probe".into(), 1)]));
        let md = markdown(&rows, &[8, 16], false);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| method | K=8 accuracy | K=8 s/run | K=16 accuracy | K=16 s/run |");
        assert_eq!(lines[2], "| probe | — | — | 70.0 ± 14.1 (n=2) | 15 |");
        assert_eq!(lines[4], "| setfit | 50.0 ± 0.0 (n=1) | 10 | — | — |");
        assert!(md.contains("auto chose: K=16: contrastive ×1, probe ×1"), "{md}");
    }

    #[test]
    fn test_rows_are_held_out_once_and_the_same_every_time() {
        let rows: Vec<Example> = (0..50)
            .map(|i| {
                let mut e = Example::new(i.to_string(), format!("t{i}"));
                e.label = (i != 0).then(|| format!("c{}", i % 2));
                e
            })
            .collect();
        let (pool, test) = pool_and_test(rows.clone(), None, 9).unwrap();
        assert_eq!((pool.len(), test.len()), (40, 9), "the unlabelled row is dropped");
        assert!(pool.iter().all(|p| !test.iter().any(|t| t.id == p.id)));
        assert_eq!(pool_and_test(rows.clone(), None, 9).unwrap(), (pool, test));
        let err = pool_and_test(rows.clone(), None, 49).unwrap_err().to_string();
        assert!(err.contains("cannot hold 49 test rows out of 49"), "{err}");
        let (all, given) = pool_and_test(rows.clone(), Some(rows[..3].to_vec()), 9).unwrap();
        assert_eq!((all.len(), given.len()), (49, 2));
    }

    #[test]
    fn samples_are_written_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let pool: Vec<Example> = (0..40)
            .map(|i| {
                let mut e = Example::new(i.to_string(), format!("t{i}"));
                e.label = Some(format!("c{}", i % 2));
                e
            })
            .collect();
        let first = layout.sample(&pool, 4, 13).unwrap();
        assert_eq!((first.0.len(), first.1.len()), (8, 8));
        // Read back, not drawn again: a changed pool does not change a written sample.
        assert_eq!(layout.sample(&pool[..20], 4, 13).unwrap(), first);
        assert!(layout.sample_dir(4, 13).join("train.jsonl").is_file());
        assert_eq!(layout.read_result(4, 13, Method::Auto).unwrap(), None);
        std::fs::write(layout.result(4, 13, Method::Auto), "{").unwrap();
        let err = layout.read_result(4, 13, Method::Auto).unwrap_err().to_string();
        assert!(err.contains("auto.json") && err.contains("delete it to run the cell again"), "{err}");
    }
}
