//! Tuning: soft prompts anywhere in the template, prompt-based fine-tuning, prompted continued
//! pretraining and the feature-extractor probe, all through one training loop ([`trainer`]).
//!
//! A run lives in a folder:
//! - `config.json` — the [`TuneConfig`]: strategy, model, template, verbalizer, data, hyperparameters
//!   and seed; enough to run it again;
//! - `metrics.jsonl` — every update's loss and learning rate and every evaluation, one JSON per line;
//! - `prompt.safetensors` (soft prompt, soft verbalizer) or `probe.safetensors` (probe, contrastive
//!   head), and for fine-tuning, pretraining and contrastive tuning `model/`, a checkpoint folder
//!   that [`crate::plm::Plm::load`] and transformers read; `head.json` for a contrastive run;
//! - `dev_predictions.jsonl`, then `summary.json`, written last: a run is finished when it has one;
//! - `checkpoints/` to resume an interrupted run (see [`checkpoint`]; removed once the run finishes).
//!
//! Every file is written under a temporary name and renamed into place (the model folder as a
//! whole), except `metrics.jsonl`, which grows by one line per event so that the app can chart a
//! run while it trains: a line cut short by a crash is ignored when read, and a resumed run
//! rewrites the file (atomically) up to its checkpoint.
//!
//! [`TunedRun::load`] reads a finished run back for classification (`cloze classify --prompt DIR`).

pub mod auto;
pub mod checkpoint;
pub mod config;
pub mod contrastive;
pub mod distill;
pub mod estimate;
pub mod fewshot;
pub mod multi;
pub mod optim;
pub mod pretrain;
pub mod probe;
pub mod prompt_model;
pub mod prompt_task;
pub mod seeds;
pub mod trainer;
pub mod trials;

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

pub use config::{
    DataSource, HeadInit, Hyper, Pooling, ProbeHead, SoftInit, SoftPlacement, TuneConfig, TuneStrategy,
    VerbalizerKind,
};
pub use contrastive::{ContrastiveHead, ContrastiveOptions, PairSampling};
pub use estimate::{Estimate, estimate};
pub use multi::{MultiLabel, MultiLabelScores, ThresholdRule};
pub use prompt_model::PromptModel;
pub use trainer::{Checkpoints, DevPrediction, EvalMetrics, Summary, TuneEvent};

use crate::classify::Prediction;
use crate::data::Example;
use crate::demo;
use crate::error::{Error, Result, Setting, Text};
use crate::files::{remove_dir_whole, remove_stale_temps, write_atomic};
use crate::plm::layers::Dropout;
use crate::plm::{GgufWeights, Plm};
use crate::template::Template;

/// The files of a run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn metrics(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }
    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.json")
    }
    pub fn prompt(&self) -> PathBuf {
        self.path.join("prompt.safetensors")
    }
    pub fn probe(&self) -> PathBuf {
        self.path.join("probe.safetensors")
    }
    pub fn model(&self) -> PathBuf {
        self.path.join("model")
    }
    /// A contrastive run's head and pair counts ([`contrastive::HeadRecord`]).
    pub fn head(&self) -> PathBuf {
        self.path.join("head.json")
    }
    /// The cost predicted before the run started, when one was made.
    pub fn estimate(&self) -> PathBuf {
        self.path.join("estimate.json")
    }
    pub fn read_estimate(&self) -> Result<Option<Estimate>> {
        read_json_if_there(&self.estimate())
    }
    pub fn predictions(&self) -> PathBuf {
        self.path.join("dev_predictions.jsonl")
    }
    pub fn checkpoints(&self, resume: bool) -> Checkpoints {
        Checkpoints::new(self.path.join("checkpoints"), resume)
    }

    pub fn read_config(&self) -> Result<TuneConfig> {
        let p = self.config();
        let text = std::fs::read_to_string(&p).map_err(|e| {
            Error::io_while(
                &p,
                format!("{} is not a run folder (one a tuning run wrote)", self.path.display()),
                e,
            )
        })?;
        serde_json::from_str(&text).map_err(|e| Error::io_while(&p, "not a run config", e))
    }

    pub fn read_summary(&self) -> Result<Option<Summary>> {
        read_json_if_there(&self.summary())
    }

    /// Every event line of `metrics.jsonl` (steps and evaluations). A last line without its
    /// newline is one being written, or cut short by a crash: it is left out.
    pub fn read_metrics(&self) -> Result<Vec<TuneEvent>> {
        let p = self.metrics();
        if !p.is_file() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::io_while(&p, format!("line {}", i + 1), e))
            })
            .collect()
    }

    pub fn read_predictions(&self) -> Result<Vec<DevPrediction>> {
        let p = self.predictions();
        if !p.is_file() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| Error::io_while(&p, format!("line {}", i + 1), e))
            })
            .collect()
    }

    /// Keeps the metric lines up to `step` (a resumed run rewrites what follows); none when the run
    /// starts over from update 0, whose evaluation it logs again.
    fn truncate_metrics(&self, step: u32) -> Result<()> {
        let kept: Vec<String> = self
            .read_metrics()?
            .into_iter()
            .filter(|e| match e {
                TuneEvent::Step { step: s, .. } | TuneEvent::Eval { step: s, .. } => step > 0 && *s <= step,
                _ => false,
            })
            .map(|e| serde_json::to_string(&e).unwrap_or_default())
            .collect();
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_atomic(self.metrics(), text.as_bytes())
    }
}

/// A JSON file of the run folder, `None` when it is not there.
fn read_json_if_there<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| Error::io(p, e))
}

/// Writes `value` as pretty JSON, atomically.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::io(path, e))?;
    write_atomic(path, text.as_bytes())
}

/// The run folder's name, for messages.
fn run_name(run_dir: &Path) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| run_dir.display().to_string())
}

/// The training and dev rows a config asks for: `shots` per class sampled with the seed, and a
/// held-out dev part when no dev rows are given and `dev_fraction` is set.
pub fn select_rows(
    config: &TuneConfig,
    train: Vec<Example>,
    dev: Vec<Example>,
) -> Result<(Vec<Example>, Vec<Example>)> {
    let seed = config.hyper.seed;
    // Distillation: the unlabelled rows are set aside from the split and the sample, and kept.
    let (train, unlabelled) = match config.distill {
        Some(_) => distill::split_unlabelled(train),
        None => (train, Vec::new()),
    };
    let (train, dev) = match (dev.is_empty(), config.dev_fraction) {
        (true, Some(f)) if f > 0.0 => {
            let mut parts = crate::data::split(train, &[1.0 - f, f], seed);
            let dev = parts.pop().unwrap_or_default();
            (parts.pop().unwrap_or_default(), dev)
        }
        _ => (train, dev),
    };
    let mut train = match config.shots {
        Some(k) if config.strategy != TuneStrategy::Pretrain => {
            crate::data::few_shot(&train, k as usize, seed)?
        }
        _ => train,
    };
    train.extend(unlabelled);
    Ok((train, dev))
}

/// `bytes` as people read memory sizes: "540 MB", "3.2 GB".
pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 1000.0 { format!("{:.1} GB", mb / 1000.0) } else { format!("{mb:.0} MB") }
}

/// The model as a run trains it: loaded, in the run's precision, a GGUF model's quantised layers
/// dequantised to f32 (what that costs is said first, as a `Notice`). [`estimate`] loads it the
/// same way.
pub(crate) fn load_for_training(
    config: &TuneConfig,
    device: &Device,
    on_event: &mut dyn FnMut(&TuneEvent) -> bool,
) -> Result<Plm> {
    let mut plm = Plm::load(&config.model, device)?;
    plm.set_precision(config.precision)?;
    if config.precision != crate::plm::Precision::F32 {
        let message = format!("precision: {}", config.precision.kernel());
        if !on_event(&TuneEvent::Notice { message }) {
            return Err(Error::Cancelled);
        }
    }
    if plm.is_quantised() {
        // Gradients need the weights' values: a GGUF model's quantised layers become f32 here.
        let (held, full) = plm.weight_bytes();
        let message = format!(
            "the model's weights are stored as {}; tuning dequantises them to f32, which takes {} of memory \
             (the quantised model takes {}), plus what training itself needs",
            plm.quantisation().unwrap_or("quantised blocks"),
            megabytes(full),
            megabytes(held)
        );
        if !on_event(&TuneEvent::Notice { message }) {
            return Err(Error::Cancelled);
        }
        plm.dequantise()?;
    }
    Ok(plm)
}

/// Runs a tuning job into `run_dir` (created; with `resume`, an interrupted run there continues).
/// Rows are used as given (see [`select_rows`]). Returns the summary, which records the run's
/// wall time and peak memory.
pub fn run(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
    run_dir: &Path,
    device: &Device,
    resume: bool,
    on_event: &mut dyn FnMut(&TuneEvent) -> bool,
) -> Result<Summary> {
    run_estimated(config, train, dev, run_dir, device, resume, None, on_event)
}

/// [`run`], keeping `estimate` (made by [`estimate()`] for these settings) in the run folder as
/// `estimate.json`, beside the summary's wall time and peak memory.
#[allow(clippy::too_many_arguments)]
pub fn run_estimated(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
    run_dir: &Path,
    device: &Device,
    resume: bool,
    estimate: Option<&Estimate>,
    on_event: &mut dyn FnMut(&TuneEvent) -> bool,
) -> Result<Summary> {
    config.validate()?;
    let started = std::time::Instant::now();
    estimate::reset_peak_rss();
    let dir = RunDir::new(run_dir);
    if dir.config().is_file() {
        let stored = dir.read_config()?;
        if resume && let Some(summary) = dir.read_summary()? {
            return Err(Error::precondition(
                Text::from(format!(
                    "run {} finished at step {}; nothing to resume — start a new run",
                    run_name(run_dir),
                    summary.steps
                ))
                .cli_only(" in another folder")
                .then(", or export it")
                .cli_only(format!(" (`cloze classify --prompt {} …`)", run_dir.display())),
            ));
        }
        if !resume {
            return Err(Error::precondition(
                Text::from(format!("{} already holds a run; choose a new folder, or ", run_dir.display()))
                    .turn_on(Setting::Resume)
                    .then(" to continue it"),
            ));
        }
        if stored.strategy != config.strategy
            || stored.hyper != config.hyper
            || stored.template != config.template
            || stored.chat != config.chat
            || stored.contrastive != config.contrastive
        {
            return Err(Error::invalid(format!(
                "the run in {} was made with another configuration; resume it with the same settings, or start a \
                 new folder",
                run_dir.display()
            )));
        }
    }
    if resume && run_dir.join("checkpoint").is_dir() && !dir.checkpoints(true).exists() {
        return Err(Error::precondition(
            Text::from(format!(
                "the checkpoint in {} was written by an older version of Cloze Studio and cannot be verified; ",
                run_dir.display()
            ))
            .append(checkpoint::start_again()),
        ));
    }
    // The model is loaded before the run folder is made, so a model that does not load leaves
    // nothing behind.
    let plm = load_for_training(config, device, on_event)?;
    std::fs::create_dir_all(run_dir).map_err(|e| Error::io(run_dir, e))?;
    remove_stale_temps(run_dir);
    write_json(&dir.config(), config)?;
    if let Some(e) = estimate {
        write_json(&dir.estimate(), e)?;
    }

    let hyper = &config.hyper;
    let max_len = hyper.max_len.map(|m| m as usize);
    let template = config.template.as_deref().map(Template::parse).transpose()?;
    // `{demo}`: the pool is kept in the run folder so that classifying with the run fills `{demo}`
    // the same way.
    let (mut train, dev, pool) = with_demos(config, &plm, template.as_ref(), train, dev)?;
    if let Some(pool) = pool {
        write_atomic(run_dir.join("demos.jsonl"), pool.as_bytes())?;
    }
    if let Some(d) = &config.distill {
        let todo = train.iter().filter(|r| r.label.is_none()).count();
        let message = format!(
            "distillation: the ensemble of {} prompts labels {todo} unlabelled rows (soft labels, temperature {})",
            d.ensemble.members.len(),
            d.temperature
        );
        if !on_event(&TuneEvent::Notice { message }) {
            return Err(Error::Cancelled);
        }
        // The teacher: the ensemble's own model when it is not the one being trained.
        let other = match &d.teacher {
            Some(t) if t != &config.model => Some(Plm::load(t, device)?),
            _ => None,
        };
        let stage = format!("pseudo-labelling {todo} rows");
        let mut progress = |done: usize, total: usize| {
            on_event(&TuneEvent::Preparing { stage: stage.clone(), done: done as u32, total: total as u32 })
        };
        distill::pseudo_label(d, other.as_ref().unwrap_or(&plm), &mut train, run_dir, &mut progress)?;
    }
    let (train, dev) = (train.as_slice(), dev.as_slice());
    // Demonstrations are written through the plain template; the model reads the rows through the
    // chat template when asked.
    let template = template.map(|t| config.chat.apply(&plm, &t)).transpose()?;

    let checkpoints = dir.checkpoints(resume);
    // Events go to `metrics.jsonl`, one line each. When the loop starts (from a checkpoint or from
    // the beginning), the file is cut back to the lines up to that update: a resumed run writes
    // what follows again.
    let metrics_error: std::cell::Cell<Option<Error>> = std::cell::Cell::new(None);
    let mut writer = |event: &TuneEvent| -> bool {
        match event {
            TuneEvent::Started { resumed_from, .. } => {
                if let Err(e) = dir.truncate_metrics(*resumed_from) {
                    metrics_error.set(Some(e));
                    return false;
                }
            }
            TuneEvent::Step { .. } | TuneEvent::Eval { .. } => {
                if let Ok(line) = serde_json::to_string(event)
                    && let Ok(mut f) =
                        std::fs::OpenOptions::new().create(true).append(true).open(dir.metrics())
                {
                    let _ = f.write_all(format!("{line}\n").as_bytes());
                }
            }
            _ => {}
        }
        on_event(event)
    };
    let (summary, predictions) = match config.strategy {
        TuneStrategy::SoftPrompt | TuneStrategy::Finetune => {
            let template = template.ok_or_else(|| Error::invalid("a template is needed"))?;
            let mut objective = prompt_objective(config, plm, template, train, dev)?;
            let out = trainer::train(&mut objective, hyper, Some(&checkpoints), &mut writer)
                .map_err(|e| metrics_error.take().unwrap_or(e))?;
            let model = &objective.model;
            let tensors = model.prompt_tensors();
            if !tensors.is_empty() {
                checkpoint::save_tensors_atomic(&tensors, &dir.prompt())?;
            }
            if config.strategy == TuneStrategy::Finetune {
                model.plm().save_pretrained(&dir.model())?;
            }
            out
        }
        TuneStrategy::Probe => {
            let (classes, train_y, dev_meta) = probe_labels(config, train, dev)?;
            let limit = max_len.unwrap_or(plm.max_len());
            write_json(&run_dir.join("classes.json"), &classes)?;
            // Feature extraction runs before the loop's first event; cancellation is honoured from
            // the first update on.
            let mut feature_progress = |_: usize, _: usize| true;
            let train_x = probe::features(&plm, train, config.pooling, limit, &mut feature_progress)?;
            let dev_x = if dev.is_empty() {
                None
            } else {
                Some(probe::features(&plm, dev, config.pooling, limit, &mut feature_progress)?)
            };
            let head = probe::Probe::new(&train_x, classes.len(), config.probe_head, hyper.seed)?;
            let mut objective = probe::ProbeObjective::new(head, train_x, train_y, dev_x, dev_meta, classes)?;
            objective.soft =
                train.iter().map(|r| distill::soft_target(r, &objective.classes)).collect::<Result<_>>()?;
            objective.multi = multi_targets(config, train, dev)?;
            let out = trainer::train(&mut objective, hyper, Some(&checkpoints), &mut writer)
                .map_err(|e| metrics_error.take().unwrap_or(e))?;
            checkpoint::save_tensors_atomic(&objective.probe.tensors(), &dir.probe())?;
            out
        }
        TuneStrategy::Pretrain => {
            let template = template.ok_or_else(|| Error::invalid("a template is needed"))?;
            let mut objective = pretrain_objective(config, plm, template, train, dev)?;
            let out = trainer::train(&mut objective, hyper, Some(&checkpoints), &mut writer)
                .map_err(|e| metrics_error.take().unwrap_or(e))?;
            objective.plm.save_pretrained(&dir.model())?;
            out
        }
        TuneStrategy::Contrastive => {
            let mut objective = contrastive_objective(config, plm, template.as_ref(), train, dev)?;
            write_json(&run_dir.join("classes.json"), &objective.classes)?;
            let c = objective.counts;
            let message = format!(
                "contrastive pairs: {} positive and {} negative per epoch ({} and {} unique)",
                c.positive, c.negative, c.unique_positive, c.unique_negative
            );
            if !writer(&TuneEvent::Notice { message }) {
                return Err(Error::Cancelled);
            }
            let out = trainer::train(&mut objective, hyper, Some(&checkpoints), &mut writer)
                .map_err(|e| metrics_error.take().unwrap_or(e))?;
            let (head, _) = objective.head()?;
            checkpoint::save_tensors_atomic(&head.tensors(), &dir.probe())?;
            write_json(&dir.head(), &objective.record()?)?;
            objective.plm.save_pretrained(&dir.model())?;
            out
        }
    };
    let mut text = String::new();
    for p in &predictions {
        text.push_str(&serde_json::to_string(p).map_err(|e| Error::io(dir.predictions(), e))?);
        text.push('\n');
    }
    write_atomic(dir.predictions(), text.as_bytes())?;
    let summary = Summary {
        wall_seconds: Some(started.elapsed().as_secs_f64()),
        peak_bytes: estimate::peak_rss(),
        ..summary
    };
    // summary.json last: with it, the run is finished.
    write_json(&dir.summary(), &summary)?;
    // The checkpoints (weights plus optimiser moments, several times the size of what the run
    // keeps) served only to resume the run. Failing to delete them loses nothing.
    let _ = remove_dir_whole(&checkpoints.dir);
    Ok(summary)
}

/// The rows with `{demo}` filled from the training rows when the template has one, and the pool
/// of demonstrations as `demos.jsonl` holds it (one JSON row a line).
pub(crate) fn with_demos(
    config: &TuneConfig,
    plm: &Plm,
    template: Option<&Template>,
    train: &[Example],
    dev: &[Example],
) -> Result<(Vec<Example>, Vec<Example>, Option<String>)> {
    let mut train = train.to_vec();
    let mut dev = dev.to_vec();
    // Soft labels are written by distillation alone, after this: a data column of that name (a
    // file's header can say anything) is dropped, never read as one.
    for r in train.iter_mut().chain(dev.iter_mut()) {
        r.meta.remove(distill::SOFT_FIELD);
    }
    let (Some(t), Some(v)) = (template, &config.verbalizer) else { return Ok((train, dev, None)) };
    if !demo::uses_demos(t) {
        return Ok((train, dev, None));
    }
    let demos =
        demo::Demonstrations::new(plm, t, v, &train, config.demos.unwrap_or_default(), config.hyper.seed)?;
    demos.fill(plm, &mut train)?;
    demos.fill(plm, &mut dev)?;
    let pool: Vec<String> = train
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.meta.remove(demo::DEMO_FIELD);
            serde_json::to_string(&e).unwrap_or_default()
        })
        .collect();
    Ok((train, dev, Some(pool.join("\n") + "\n")))
}

/// The dropout a run trains with: the config's, else the model's own, seeded from the run's seed.
fn training_dropout(config: &TuneConfig, plm: &Plm) -> Dropout {
    let hyper = &config.hyper;
    Dropout::new(hyper.dropout.unwrap_or_else(|| plm.config_dropout()), hyper.seed ^ 0xD0D0_0D0D)
}

/// Soft-prompt tuning's and fine-tuning's objective over the rendered rows (`template` as the model
/// reads it, chat template applied).
pub(crate) fn prompt_objective(
    config: &TuneConfig,
    mut plm: Plm,
    template: Template,
    train: &[Example],
    dev: &[Example],
) -> Result<prompt_task::PromptObjective> {
    let verbalizer = config.verbalizer.as_ref().ok_or_else(|| Error::invalid("a verbalizer is needed"))?;
    let mut base_vars = Vec::new();
    if config.strategy == TuneStrategy::Finetune {
        base_vars = plm.trainable()?;
    }
    plm.set_dropout(Some(training_dropout(config, &plm)));
    let mut model = PromptModel::from_config(plm, template, verbalizer, config.verbalizer_kind, config)?;
    let multi = config.multi_label.as_ref().map(|m| m.thresholds);
    let train_rows = prompt_task::render_rows_as(&model, train, "training", multi.is_some())?;
    let dev_rows = prompt_task::render_rows_as(&model, dev, "dev", multi.is_some())?;
    if multi.is_some() {
        let bias = label_bias_init(&model, &train_rows)?;
        model = model.with_label_bias(&bias)?;
    } else if config.verbalizer_kind == VerbalizerKind::Soft
        && config.head_init.resolve(model.plm().lm_head().is_ok()) == HeadInit::Probe
    {
        // LP-FT's probe stage (single-label: one softmax over the classes).
        model.fit_soft_verbalizer(&train_rows)?;
    }
    let mut vars = model.prompt_vars()?;
    vars.extend(base_vars);
    Ok(prompt_task::PromptObjective { model, train: train_rows, dev: dev_rows, vars, multi })
}

/// A multi-label prompt model's starting bias per label: `logit(prior) − mean logit`, so that before
/// training each label's mean probability over the training rows (up to 256 of them) is about its
/// share of the rows (smoothed) — the raw label-word logits sit far from 0.
fn label_bias_init(model: &PromptModel, rows: &[prompt_task::PromptRow]) -> Result<Vec<f32>> {
    let rows = &rows[..rows.len().min(256)];
    let labels = model.classes().len();
    let refs: Vec<&crate::template::Rendered> = rows.iter().map(|r| &r.rendered).collect();
    let eval = model.detached();
    let mut sum = vec![0f64; labels];
    for chunk in refs.chunks(32) {
        for row in eval.label_logits(chunk)?.to_vec2::<f32>()? {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
    }
    let n = rows.len() as f64;
    Ok((0..labels)
        .map(|j| {
            let pos = rows.iter().filter(|r| r.hot.as_ref().is_some_and(|h| h[j])).count() as f64;
            let prior = (pos + 0.5) / (n + 1.0);
            ((prior / (1.0 - prior)).ln() - sum[j] / n.max(1.0)) as f32
        })
        .collect())
}

/// A multi-label run's label sets of the training and dev rows (`None` for a single-label run).
pub(crate) fn multi_targets(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
) -> Result<Option<multi::Targets>> {
    let Some(m) = &config.multi_label else { return Ok(None) };
    // The probe and the contrastive head read no label words: a verbalizer's classes name the
    // labels only when the config does not.
    let labels = m.labels_for(config.verbalizer.as_ref(), train)?;
    multi::Targets::new(m.thresholds, labels, train, dev).map(Some)
}

/// A dev row of the probe: id, text and class index.
pub(crate) type ProbeDevRow = (String, String, usize);

/// The probe's classes, the training rows' class indices and the dev rows'.
pub(crate) fn probe_labels(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
) -> Result<(Vec<String>, Vec<u32>, Vec<ProbeDevRow>)> {
    if let Some(m) = multi_targets(config, train, dev)? {
        let dev_meta = m.dev.iter().map(|r| (r.id.clone(), r.text.clone(), 0)).collect();
        return Ok((m.labels, multi::set_ids(&m.train), dev_meta));
    }
    let classes = probe_classes(config, train)?;
    let label_of = |ex: &Example, what: &str, i: usize| -> Result<usize> {
        let l = ex
            .label
            .as_deref()
            .ok_or_else(|| Error::invalid(format!("{what} row {} (id {:?}) has no label", i + 1, ex.id)))?;
        classes.iter().position(|c| c == l).ok_or_else(|| {
            Error::invalid(format!(
                "{what} row {} (id {:?}) has label {l:?}, which no training row has ({})",
                i + 1,
                ex.id,
                classes.join(", ")
            ))
        })
    };
    let train_y = train
        .iter()
        .enumerate()
        .map(|(i, ex)| label_of(ex, "training", i).map(|c| c as u32))
        .collect::<Result<Vec<_>>>()?;
    let dev_meta = dev
        .iter()
        .enumerate()
        .map(|(i, ex)| Ok((ex.id.clone(), ex.text_a.clone(), label_of(ex, "dev", i)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok((classes, train_y, dev_meta))
}

/// The template a contrastive run renders its rows through (`template` as the model reads it,
/// chat template applied), when its options ask for one.
fn contrastive_template<'a>(config: &TuneConfig, template: Option<&'a Template>) -> Option<&'a Template> {
    template.filter(|_| config.contrastive_options().render_template)
}

/// Contrastive fine-tuning's objective: the rows' tokens (rendered through the template when
/// asked), the pairs, the model made trainable with the run's dropout.
pub(crate) fn contrastive_objective(
    config: &TuneConfig,
    plm: Plm,
    template: Option<&Template>,
    train: &[Example],
    dev: &[Example],
) -> Result<contrastive::ContrastiveObjective> {
    let (classes, train_y, dev_meta) = probe_labels(config, train, dev)?;
    let limit = config.hyper.max_len.map(|m| m as usize).unwrap_or(plm.max_len());
    let template = contrastive_template(config, template);
    let rows = contrastive::encode_rows(&plm, train, template, limit)?;
    let dev_rows = contrastive::encode_rows(&plm, dev, template, limit)?;
    let dropout = training_dropout(config, &plm);
    let multi = multi_targets(config, train, dev)?;
    let mut objective = contrastive::ContrastiveObjective::new(
        plm,
        &config.contrastive_options(),
        config.pooling,
        dropout,
        config.hyper.seed,
        (rows, train_y),
        (dev_rows, dev_meta),
        classes,
    )?;
    objective.multi = multi;
    Ok(objective)
}

/// Prompted continued pretraining's objective: the rows prepared with the family's own objective,
/// and zero-shot evaluation of labelled dev rows when there is a verbalizer.
pub(crate) fn pretrain_objective(
    config: &TuneConfig,
    mut plm: Plm,
    template: Template,
    train: &[Example],
    dev: &[Example],
) -> Result<pretrain::PretrainObjective> {
    let hyper = &config.hyper;
    let max_len = hyper.max_len.map(|m| m as usize);
    plm.lm_head()?;
    let vars = plm.trainable()?;
    plm.set_dropout(Some(training_dropout(config, &plm)));
    let limit = max_len.unwrap_or(plm.max_len());
    // A multi-label run's label sets are no verbalizer class: its text trains, unlabelled.
    let zero_shot = match &config.verbalizer {
        Some(v) if config.multi_label.is_none() => {
            let model = PromptModel::new(
                plm.clone(),
                template.clone(),
                v,
                VerbalizerKind::Manual,
                config.soft_init,
                max_len,
                hyper.seed,
            )?;
            let labelled: Vec<Example> = dev.iter().filter(|e| e.label.is_some()).cloned().collect();
            let rows = prompt_task::render_rows(&model, &labelled, "dev")?;
            Some((model, rows))
        }
        _ => None,
    };
    // A labelled row's answer: its class's first label word, as the model reads it.
    let answer_ids: Vec<(String, Vec<u32>)> = match &zero_shot {
        Some((m, _)) => m
            .verbalizer()
            .verbalizer
            .classes
            .iter()
            .enumerate()
            .filter_map(|(ci, c)| {
                m.verbalizer().words.iter().find(|w| w.class == ci).map(|w| (c.name.clone(), w.ids.clone()))
            })
            .collect(),
        None => Vec::new(),
    };
    let answer = |ex: &Example| {
        ex.label.as_deref().and_then(|l| answer_ids.iter().find(|(c, _)| c == l).map(|(_, ids)| ids.clone()))
    };
    let (train_from, dev_from) = row_sources(config);
    let train_rows = pretrain::prepare(&plm, &template, limit, train, &answer, hyper.seed, &train_from)?;
    let no_answer = |_: &Example| None;
    let dev_rows = pretrain::prepare(&plm, &template, limit, dev, &no_answer, hyper.seed ^ 1, &dev_from)?;
    Ok(pretrain::PretrainObjective { plm, vars, train: train_rows, dev: dev_rows, zero_shot })
}

/// Where the training and dev rows of a run come from, to name a row in an error.
fn row_sources(config: &TuneConfig) -> (pretrain::RowSource, pretrain::RowSource) {
    let (train, dev) = match &config.data {
        DataSource::Files { train, dev, .. } => {
            let t = train.display().to_string();
            (Some(t.clone()), Some(dev.as_ref().map_or(t, |d| d.display().to_string())))
        }
        DataSource::Project { path, dataset, .. } => {
            let d = format!("dataset {dataset:?} of {}", path.display());
            (Some(d.clone()), Some(d))
        }
        DataSource::Inline => (None, None),
    };
    (pretrain::RowSource { part: "training", from: train }, pretrain::RowSource { part: "dev", from: dev })
}

/// The probe's classes: from the verbalizer when given, else the training labels in sorted order.
fn probe_classes(config: &TuneConfig, train: &[Example]) -> Result<Vec<String>> {
    if let Some(v) = &config.verbalizer {
        return Ok(v.classes.iter().map(|c| c.name.clone()).collect());
    }
    let set: std::collections::BTreeSet<String> = train.iter().filter_map(|e| e.label.clone()).collect();
    if set.len() < 2 {
        return Err(Error::precondition(format!(
            "the probe needs labelled training rows of at least two classes; found {}",
            set.len()
        )));
    }
    Ok(set.into_iter().collect())
}

/// A finished run, loaded to classify new rows.
pub enum TunedRun {
    Prompt {
        model: Box<PromptModel>,
        demos: Option<demo::Demonstrations>,
        /// A multi-label run's per-label thresholds (its probabilities are per label then).
        multi: Option<Vec<f32>>,
    },
    /// A probe, or a contrastive run's head over its tuned encoder (whose rows may be rendered
    /// through its template first).
    Probe {
        plm: Box<Plm>,
        probe: probe::Probe,
        pooling: Pooling,
        max_len: usize,
        classes: Vec<String>,
        template: Option<Template>,
        /// A multi-label run's per-label thresholds (its probabilities are per label then).
        multi: Option<Vec<f32>>,
    },
}

impl TunedRun {
    /// Loads the run in `run_dir`: the tuned or pretrained model folder when there is one, else the
    /// original model, plus the trained prompt tensors.
    pub fn load(run_dir: &Path, device: &Device) -> Result<(TuneConfig, TunedRun)> {
        Self::load_over(run_dir, None, device)
    }

    /// [`TunedRun::load`] over `base_model` instead of the model folder the run's config names
    /// (a prompt bundle's model, found and checked by its manifest). A run with its own model
    /// folder (fine-tuning, pretraining) always uses that one.
    pub fn load_over(
        run_dir: &Path,
        base_model: Option<&Path>,
        device: &Device,
    ) -> Result<(TuneConfig, TunedRun)> {
        let dir = RunDir::new(run_dir);
        let config = dir.read_config()?;
        let summary = dir.read_summary()?;
        if summary.is_none() {
            return Err(Error::precondition(
                Text::from(format!(
                    "the run in {} has not finished (no summary.json); resume it",
                    run_dir.display()
                ))
                .cli_only(format!(" with `cloze tune --resume --out {}`", run_dir.display()))
                .app_only(" on the Tune screen"),
            ));
        }
        let model_dir = match base_model {
            _ if dir.model().is_dir() => dir.model(),
            Some(m) => m.to_path_buf(),
            None => config.model.clone(),
        };
        // As the run was trained and evaluated: a GGUF model's weights dequantised to f32.
        let mut plm = Plm::load_with(&model_dir, device, DType::F32, GgufWeights::Dequantised)?;
        plm.set_precision(config.precision)?;
        let max_len = config.hyper.max_len.map(|m| m as usize);
        let run = match config.strategy {
            TuneStrategy::Probe | TuneStrategy::Contrastive => {
                let tensors = candle_core::safetensors::load(dir.probe(), device)
                    .map_err(|e| Error::io(dir.probe(), e))?;
                let probe = probe::Probe::from_tensors(&tensors, device)?;
                let path = run_dir.join("classes.json");
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                let classes: Vec<String> = serde_json::from_str(&text).map_err(|e| Error::io(&path, e))?;
                let max_len = max_len.unwrap_or(plm.max_len());
                let multi = config
                    .multi_label
                    .as_ref()
                    .map(|_| multi::run_thresholds(summary.as_ref(), classes.len()));
                let template = match (config.strategy, config.template.as_deref()) {
                    (TuneStrategy::Contrastive, Some(t)) if config.contrastive_options().render_template => {
                        Some(config.chat.apply(&plm, &Template::parse(t)?)?)
                    }
                    _ => None,
                };
                TunedRun::Probe {
                    plm: Box::new(plm),
                    probe,
                    pooling: config.pooling,
                    max_len,
                    classes,
                    template,
                    multi,
                }
            }
            _ => {
                let plain = Template::parse(
                    config
                        .template
                        .as_deref()
                        .ok_or_else(|| Error::invalid("the run's config has no template"))?,
                )?;
                let template = config.chat.apply(&plm, &plain)?;
                let verbalizer = config.verbalizer.as_ref().ok_or_else(|| {
                    Error::invalid(
                        Text::from("this run has no verbalizer; classify with ")
                            .setting(Setting::Model)
                            .then(" RUN/model and a verbalizer"),
                    )
                })?;
                let kind = if config.strategy == TuneStrategy::Pretrain {
                    VerbalizerKind::Manual
                } else {
                    config.verbalizer_kind
                };
                let mut model = PromptModel::from_config(plm, template, verbalizer, kind, &config)?;
                let multi = match &config.multi_label {
                    Some(_) if config.strategy != TuneStrategy::Pretrain => {
                        let labels = model.classes().len();
                        model = model.with_label_bias(&vec![0.0; labels])?;
                        Some(multi::run_thresholds(summary.as_ref(), labels))
                    }
                    _ => None,
                };
                if dir.prompt().is_file() {
                    let tensors = candle_core::safetensors::load(dir.prompt(), device)
                        .map_err(|e| Error::io(dir.prompt(), e))?;
                    model.load_prompt_tensors(&tensors)?;
                }
                let demos = if demo::uses_demos(&plain) {
                    let path = run_dir.join("demos.jsonl");
                    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                    let pool = text
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .enumerate()
                        .map(|(i, l)| {
                            serde_json::from_str(l)
                                .map_err(|e| Error::io_while(&path, format!("line {}", i + 1), e))
                        })
                        .collect::<Result<Vec<Example>>>()?;
                    Some(demo::Demonstrations::new(
                        model.plm(),
                        &plain,
                        verbalizer,
                        &pool,
                        config.demos.unwrap_or_default(),
                        config.hyper.seed,
                    )?)
                } else {
                    None
                };
                TunedRun::Prompt { model: Box::new(model), demos, multi }
            }
        };
        Ok((config, run))
    }

    /// The classes, in the order of each prediction's probabilities.
    /// Scores with another precision than the run's own (`cloze classify --prompt RUN
    /// --precision …`).
    pub fn set_precision(&mut self, precision: crate::plm::Precision) -> Result<()> {
        match self {
            TunedRun::Prompt { model, .. } => model.set_precision(precision),
            TunedRun::Probe { plm, .. } => plm.set_precision(precision),
        }
    }

    /// A multi-label run's per-label thresholds: [`Self::classify`] then gives each label's own
    /// probability and predicts the set of labels at or above their thresholds (`a;b`).
    pub fn thresholds(&self) -> Option<&[f32]> {
        match self {
            TunedRun::Prompt { multi, .. } | TunedRun::Probe { multi, .. } => multi.as_deref(),
        }
    }

    pub fn classes(&self) -> Vec<String> {
        match self {
            TunedRun::Prompt { model, .. } => model.classes(),
            TunedRun::Probe { classes, .. } => classes.clone(),
        }
    }

    /// Classifies rows; `progress(done, total)` returning `false` cancels. Rows whose label is not
    /// one of the run's classes are refused before any scoring.
    pub fn classify(
        &self,
        rows: &[Example],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<Prediction>> {
        let thresholds = self.thresholds();
        match thresholds {
            Some(_) => {
                let classes = self.classes();
                for r in rows {
                    crate::multilabel::parse_labels(r, &classes)?;
                }
            }
            None => crate::classify::check_labels(rows, &self.classes())?,
        }
        let (classes, probs): (Vec<String>, Vec<Vec<f32>>) = match self {
            TunedRun::Prompt { model, demos, multi } => {
                let mut filled;
                let rows = match demos {
                    Some(d) => {
                        filled = rows.to_vec();
                        d.fill(model.plm(), &mut filled)?;
                        filled.as_slice()
                    }
                    None => rows,
                };
                let rendered = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        model.render(r).map_err(|e| match e {
                            Error::Template { position, message } => {
                                Error::Template { position, message: format!("row {}: {message}", i + 1) }
                            }
                            other => other,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut out = Vec::with_capacity(rows.len());
                for chunk in rendered.chunks(256) {
                    let refs: Vec<_> = chunk.iter().collect();
                    out.extend(match multi {
                        Some(_) => prompt_task::predict_labels(model, &refs, 32)?,
                        None => prompt_task::predict(model, &refs, 32)?,
                    });
                    if !progress(out.len(), rows.len()) {
                        return Err(Error::Cancelled);
                    }
                }
                (model.classes(), out)
            }
            TunedRun::Probe { plm, probe, pooling, max_len, classes, template, multi } => {
                let ids = contrastive::encode_rows(plm, rows, template.as_ref(), *max_len)?;
                let x = probe::features_of_ids(plm, &ids, *pooling, progress)?;
                let logits = probe.logits(&x)?;
                let p = match multi {
                    Some(_) => multi::sigmoid_rows(&logits)?,
                    None => candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?,
                };
                (classes.clone(), p)
            }
        };
        Ok(rows
            .iter()
            .zip(probs)
            .enumerate()
            .map(|(i, (row, p))| {
                let predicted = match thresholds {
                    Some(t) => {
                        let hot: Vec<bool> = p.iter().zip(t).map(|(p, t)| p >= t).collect();
                        multi::join(&hot, &classes)
                    }
                    None => classes[crate::verbalizer::argmax(&p)].clone(),
                };
                Prediction {
                    id: if row.id.is_empty() { (i + 1).to_string() } else { row.id.clone() },
                    label: row.label.clone(),
                    predicted,
                    probs: classes.iter().cloned().zip(p).collect(),
                    label_word_logits: Vec::new(),
                    top_words: Vec::new(),
                    truncated: 0,
                }
            })
            .collect())
    }
}
