//! Cost before you start: a run's time and peak memory on this machine, predicted from a short
//! measurement of the model's own step before anything trains (`cloze tune --estimate`, the Tune
//! form's Estimate).
//!
//! The model is loaded as [`super::run`] loads it (same precision, a GGUF model dequantised) and
//! the rows are prepared as the run prepares them (`{demo}` filled, rendered through the
//! template). The run's exact schedule is laid out — which rows each update takes, padded to the
//! longest row of its batch — so the cost of every update is known in tokens (rows × padded
//! width). A few real updates (forward, backward, clipping, AdamW) are timed at the longest and
//! at the typical update of that schedule, after one warm-up update whose extra cost the run
//! pays once too; a line through those points prices every update. Evaluations are priced the
//! same way from timed batches of the dev rows (32 rows, longest first, as the run evaluates),
//! times the number of evaluations the run makes (every `eval_every` updates, after the last
//! one, and the final evaluation of the kept weights). The probe's feature extraction, one
//! forward pass per training and dev row, is priced from timed batches too. Checkpoints (one per
//! evaluation: weights, optimiser moments and the best weights, written, read back and hashed)
//! and the final model folder are priced from the hash's speed on this machine, plus a fixed
//! cost per checkpoint for its synced files (assumed, not measured: nothing is written).
//!
//! Memory is the process's peak resident set size (`VmHWM` of `/proc/self/status`, reset before
//! the measurement through `/proc/self/clear_refs`; Linux only, `None` elsewhere) over the
//! measured updates and evaluations — optimiser state included, since it exists after the first
//! update —, plus what the run adds: a copy of the best weights, and a checkpoint's largest file
//! read back to hash it.
//!
//! Nothing is written to disk; the measurement takes seconds (one warm-up and two to four timed
//! updates, three evaluation batches). Early stopping (`patience`) can end a run sooner: the
//! estimate is the whole run's.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{TuneConfig, TuneStrategy};
use super::optim::{AdamW, AdamWConfig};
use super::trainer::{Objective, Plan, update};
use super::{
    TuneEvent, contrastive_objective, load_for_training, pretrain_objective, probe, probe_labels,
    prompt_objective, with_demos,
};
use crate::data::Example;
use crate::error::{Error, Result};
use crate::plm::batch::longest_first;
use crate::template::Template;

/// Rows per evaluation batch, as [`super::prompt_task::predict`] and [`probe::features`] batch.
const EVAL_BATCH: usize = 32;
/// A checkpoint's cost beyond its bytes: a folder, five files and the `latest` pointer each synced
/// to disk, the previous checkpoint removed. Not measured (the estimate writes nothing): 3 to 55
/// ms on the shared virtual disk the README's figures were taken on, less on a local SSD.
const CHECKPOINT_FIXED_S: f64 = 0.015;
/// A timed update slower than this is not repeated.
const REPEAT_BELOW_S: f64 = 1.5;

/// A run's predicted cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Estimate {
    pub strategy: TuneStrategy,
    /// The whole run's predicted wall time in seconds (the sum of the parts below).
    pub seconds: f64,
    /// Loading the model (as measured here) and preparing the rows.
    pub load_seconds: f64,
    /// The probe's feature extraction: one forward pass per training and dev row (0 otherwise).
    pub features_seconds: f64,
    /// Every update of the run.
    pub train_seconds: f64,
    /// Every evaluation on the dev rows.
    pub eval_seconds: f64,
    /// Checkpoints and the run's final files.
    pub save_seconds: f64,
    /// Updates the run makes (at most: early stopping can end it sooner).
    pub steps: u32,
    /// Mean predicted seconds per update.
    pub seconds_per_step: f64,
    /// Evaluations on the dev rows, the final one included.
    pub evaluations: u32,
    pub train_rows: u32,
    pub dev_rows: u32,
    /// The run's predicted peak resident memory of the process, in bytes (`None` where it cannot
    /// be measured).
    pub peak_bytes: Option<u64>,
    /// What `peak_bytes` is and how it was measured.
    pub memory: String,
    pub measurement: Measurement,
    /// Things to know (a model dequantised, early stopping).
    pub notes: Vec<String>,
}

/// What was measured to make an [`Estimate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Measurement {
    /// Updates run, the warm-up included.
    pub updates_timed: u32,
    /// Seconds of each timed update, in order (the first is the warm-up).
    pub update_seconds: Vec<f64>,
    /// Tokens (rows × padded width, summed over micro-batches) of each timed update.
    pub update_tokens: Vec<u32>,
    /// Evaluation (or feature) batches timed.
    pub eval_batches_timed: u32,
    /// Training rows the timed updates read.
    pub rows: u32,
    /// The training rows' lengths in tokens: shortest, median and longest.
    pub shortest: u32,
    pub typical: u32,
    pub longest: u32,
    /// The batch size and gradient accumulation of the run.
    pub batch_size: u32,
    pub grad_accumulation: u32,
    /// How long the estimate itself took, model loading included.
    pub seconds: f64,
}

/// The process's peak resident set size in bytes since it started or since [`reset_peak_rss`]
/// (`VmHWM`; Linux only).
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// The process's resident set size in bytes now (`VmRSS`; Linux only).
pub fn current_rss() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Starts [`peak_rss`] again from the current resident set size (Linux ≥ 4.0; elsewhere nothing).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// `seconds` as people read durations: "0.4 s", "45 s", "3 min 20 s", "1 h 05 min".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 60.0 {
        format!("{s:.0} s")
    } else if s < 3600.0 {
        let m = (s / 60.0).floor();
        format!("{m:.0} min {:02.0} s", (s - m * 60.0).floor())
    } else {
        let h = (s / 3600.0).floor();
        format!("{h:.0} h {:02.0} min", ((s - h * 3600.0) / 60.0).floor())
    }
}

/// What [`Estimate::memory`] says.
fn memory_note(measured: bool) -> String {
    if measured {
        "peak resident memory of the process (VmHWM), measured over the timed updates and evaluations, plus a \
         copy of the best weights and a checkpoint read back"
            .into()
    } else {
        "not measured: the peak resident memory is read from /proc/self/status, on Linux only".into()
    }
}

/// Seconds against tokens: a line through the timed points (a fixed cost per batch plus a cost
/// per token), or through the origin when the points do not give a positive intercept.
#[derive(Debug, Default, Clone)]
struct Fit {
    points: Vec<(f64, f64)>,
}

impl Fit {
    fn add(&mut self, tokens: f64, seconds: f64) {
        self.points.push((tokens, seconds));
    }

    fn predict(&self, tokens: f64) -> f64 {
        let n = self.points.len() as f64;
        if n == 0.0 {
            return 0.0;
        }
        let (sx, sy) = self.points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let sxx: f64 = self.points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
        let sxy: f64 = self.points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        if sxx > 0.0 {
            let slope = sxy / sxx;
            let intercept = my - slope * mx;
            if slope >= 0.0 && intercept >= 0.0 {
                return intercept + slope * tokens;
            }
        }
        // One width only, or a line that does not fit a cost: proportional to tokens.
        let sxx0: f64 = self.points.iter().map(|(x, _)| x * x).sum();
        if sxx0 > 0.0 { tokens * self.points.iter().map(|(x, y)| x * y).sum::<f64>() / sxx0 } else { my }
    }
}

/// Tokens of a batch: rows × the longest row.
fn batch_tokens(rows: &[usize], len: &dyn Fn(usize) -> usize) -> usize {
    rows.len() * rows.iter().map(|&i| len(i)).max().unwrap_or(0)
}

/// Seconds `f` takes.
fn timed(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

/// The measured updates: the cost of every update of the run, and what was timed.
struct Updates {
    train_seconds: f64,
    seconds: Vec<f64>,
    tokens: Vec<u32>,
    rows: usize,
    /// Resident memory right after an update (activations freed, optimiser state kept).
    rss_after: Option<u64>,
}

/// Lays out the run's updates and times a warm-up update and two to four more (the longest and
/// the median update of the schedule), then prices every update.
fn time_updates(
    objective: &mut dyn Objective,
    config: &TuneConfig,
    len: &dyn Fn(usize) -> usize,
    progress: &mut dyn FnMut(&str, u32, u32) -> bool,
) -> Result<Updates> {
    let hyper = &config.hyper;
    let n = objective.train_len();
    if n == 0 {
        return Err(Error::precondition(
            "there are no training rows; give a training set with labelled rows",
        ));
    }
    let plan = Plan::new(n, hyper);
    let mut steps: Vec<(usize, Vec<Vec<usize>>)> = Vec::with_capacity(plan.total as usize);
    plan.for_each_update(n, hyper, &mut |_, batches| {
        let tokens = batches.iter().map(|b| batch_tokens(b, len)).sum();
        steps.push((tokens, batches.iter().map(|b| b.to_vec()).collect()));
    });
    let mut by_tokens: Vec<usize> = (0..steps.len()).collect();
    by_tokens.sort_by_key(|&i| steps[i].0);
    let longest = *by_tokens.last().expect("a run has an update");
    let typical = by_tokens[by_tokens.len() / 2];
    let vars = objective.vars();
    if vars.is_empty() {
        return Err(Error::invalid(
            "nothing to train: the template has no {soft} tokens and the verbalizer is manual; add {soft} to the \
             template or choose a soft verbalizer",
        ));
    }
    let mut opt =
        AdamW::new(vars.clone(), AdamWConfig { weight_decay: hyper.weight_decay, ..Default::default() })?;
    let mut fit = Fit::default();
    let mut seconds = Vec::new();
    let mut tokens = Vec::new();
    let mut rows = std::collections::BTreeSet::new();
    let mut rss_after = None;
    // Warm-up, then longest and typical, again while they are quick.
    let mut order = vec![typical, longest, typical];
    let planned = 5;
    let mut k = 0;
    while k < order.len() {
        if !progress("timing updates", k as u32, planned) {
            return Err(Error::Cancelled);
        }
        let (t, batches) = &steps[order[k]];
        let refs: Vec<&[usize]> = batches.iter().map(Vec::as_slice).collect();
        let s = timed(|| {
            update(objective, &mut opt, &vars, &refs, hyper.learning_rate, hyper.max_grad_norm).map(|_| ())
        })?;
        rss_after = current_rss().max(rss_after);
        rows.extend(batches.iter().flatten().copied());
        seconds.push(s);
        tokens.push(*t as u32);
        if k > 0 {
            fit.add(*t as f64, s);
        }
        if k == 2 && order.len() == 3 && s.max(seconds[1]) < REPEAT_BELOW_S {
            order.extend([longest, typical]);
        }
        k += 1;
    }
    let warmup = (seconds[0] - fit.predict(tokens[0] as f64)).max(0.0);
    let train_seconds = warmup + steps.iter().map(|(t, _)| fit.predict(*t as f64)).sum::<f64>();
    Ok(Updates { train_seconds, seconds, tokens, rows: rows.len(), rss_after })
}

/// Times evaluation batches (the longest, the median, the longest again: the first pays the
/// warm-up) and prices `batches` of the run with them. `time(rows)` evaluates those rows.
fn price_batches(
    batches: &[Vec<usize>],
    len: &dyn Fn(usize) -> usize,
    time: &mut dyn FnMut(&[usize]) -> Result<f64>,
    progress: &mut dyn FnMut(&str, u32, u32) -> bool,
    stage: &str,
) -> Result<(f64, f64, u32)> {
    if batches.is_empty() {
        return Ok((0.0, 0.0, 0));
    }
    let mut by_tokens: Vec<usize> = (0..batches.len()).collect();
    by_tokens.sort_by_key(|&i| batch_tokens(&batches[i], len));
    let longest = *by_tokens.last().expect("non-empty");
    let typical = by_tokens[by_tokens.len() / 2];
    let mut fit = Fit::default();
    let mut first = 0.0;
    for (k, &b) in [longest, typical, longest].iter().enumerate() {
        if !progress(stage, k as u32, 3) {
            return Err(Error::Cancelled);
        }
        let s = time(&batches[b])?;
        if k == 0 {
            first = s;
        } else {
            fit.add(batch_tokens(&batches[b], len) as f64, s);
        }
    }
    let warmup = (first - fit.predict(batch_tokens(&batches[longest], len) as f64)).max(0.0);
    let all = batches.iter().map(|b| fit.predict(batch_tokens(b, len) as f64)).sum::<f64>();
    Ok((all, warmup, 3))
}

/// Seconds per byte to write a file, read it back and hash it, as checkpoints do (measured on a
/// buffer in memory: the hash is the slow part; the write goes to the page cache).
fn checkpoint_seconds_per_byte() -> f64 {
    let buffer = vec![0x5Au8; 8 << 20];
    let t = Instant::now();
    let digest = Sha256::digest(&buffer);
    let hash = t.elapsed().as_secs_f64().max(1e-6);
    std::hint::black_box(digest);
    // Serialising the tensors, writing, reading back and hashing: about three passes of the hash.
    3.0 * hash / buffer.len() as f64
}

fn var_bytes(vars: &[(String, Var)]) -> u64 {
    vars.iter().map(|(_, v)| (v.elem_count() * v.dtype().size_in_bytes()) as u64).sum()
}

/// Predicts the cost of `tune::run(config, train, dev, …)` on this machine by timing a few of its
/// updates and evaluations (see the module). `progress(stage, done, total)` returning `false`
/// cancels. Nothing is written to disk.
pub fn estimate(
    config: &TuneConfig,
    train: &[Example],
    dev: &[Example],
    device: &Device,
    progress: &mut dyn FnMut(&str, u32, u32) -> bool,
) -> Result<Estimate> {
    config.validate()?;
    let started = Instant::now();
    reset_peak_rss();
    let mut notes = Vec::new();
    if !progress("loading the model", 0, 1) {
        return Err(Error::Cancelled);
    }
    let plm = load_for_training(config, device, &mut |e| {
        if let TuneEvent::Notice { message } = e {
            notes.push(message.clone());
        }
        true
    })?;
    let hyper = &config.hyper;
    let template = config.template.as_deref().map(Template::parse).transpose()?;
    let (train, dev, _) = with_demos(config, &plm, template.as_ref(), train, dev)?;
    let template = template.map(|t| config.chat.apply(&plm, &t)).transpose()?;
    let model_bytes = plm.weight_bytes().1;
    let mut features_seconds = 0.0;
    let mut eval_batches_timed = 0;
    let (updates, eval_once, eval_warmup, vars, lengths, load_seconds) = match config.strategy {
        TuneStrategy::SoftPrompt | TuneStrategy::Finetune => {
            let template = template.ok_or_else(|| Error::invalid("a template is needed"))?;
            let mut objective = prompt_objective(config, plm, template, &train, &dev)?;
            let load_seconds = started.elapsed().as_secs_f64();
            let lens: Vec<usize> = objective.train.iter().map(|r| r.rendered.ids.len()).collect();
            let updates = time_updates(&mut objective, config, &|i| lens[i], progress)?;
            let dev_lens: Vec<usize> = objective.dev.iter().map(|r| r.rendered.ids.len()).collect();
            let batches = longest_first(&dev_lens, EVAL_BATCH);
            let all_dev = std::mem::take(&mut objective.dev);
            let mut time = |rows: &[usize]| {
                objective.dev = rows.iter().map(|&i| all_dev[i].clone()).collect();
                timed(|| objective.evaluate(false).map(|_| ()))
            };
            let (once, warm, n) =
                price_batches(&batches, &|i| dev_lens[i], &mut time, progress, "timing evaluation")?;
            eval_batches_timed += n;
            (updates, once, warm, objective.vars(), lens, load_seconds)
        }
        TuneStrategy::Pretrain => {
            let template = template.ok_or_else(|| Error::invalid("a template is needed"))?;
            let mut objective = pretrain_objective(config, plm, template, &train, &dev)?;
            let load_seconds = started.elapsed().as_secs_f64();
            let lens: Vec<usize> = objective.train.iter().map(|r| r.tokens()).collect();
            let updates = time_updates(&mut objective, config, &|i| lens[i], progress)?;
            // The dev loss runs in chunks of 16 rows in their order, the zero-shot evaluation
            // longest first: a sample of both is timed and scaled to every dev row.
            let (once, n) = if objective.dev.is_empty() {
                (0.0, 0)
            } else {
                let all_dev = std::mem::take(&mut objective.dev);
                let all_zero = objective.zero_shot.as_mut().map(|(_, rows)| std::mem::take(rows));
                let sample = all_dev.len().min(16);
                objective.dev = all_dev[..sample].to_vec();
                if let (Some((_, rows)), Some(all)) = (objective.zero_shot.as_mut(), &all_zero) {
                    *rows = all[..all.len().min(sample)].to_vec();
                }
                let _ = objective.evaluate(false)?;
                let s = timed(|| objective.evaluate(false).map(|_| ()))?;
                (s * all_dev.len() as f64 / sample as f64, 2)
            };
            eval_batches_timed += n;
            (updates, once, 0.0, objective.vars(), lens, load_seconds)
        }
        TuneStrategy::Probe => {
            let (classes, train_y, dev_meta) = probe_labels(config, &train, &dev)?;
            let limit = hyper.max_len.map(|m| m as usize).unwrap_or(plm.max_len());
            let load_seconds = started.elapsed().as_secs_f64();
            // Feature extraction: the training rows, then the dev rows, each in batches of 32
            // longest first.
            let train_lens: Vec<usize> = probe::encode(&plm, &train, limit)?.iter().map(Vec::len).collect();
            let dev_lens: Vec<usize> = probe::encode(&plm, &dev, limit)?.iter().map(Vec::len).collect();
            let all: Vec<&Example> = train.iter().chain(&dev).collect();
            let lens: Vec<usize> = train_lens.iter().chain(&dev_lens).copied().collect();
            let mut batches = longest_first(&train_lens, EVAL_BATCH);
            batches.extend(
                longest_first(&dev_lens, EVAL_BATCH)
                    .into_iter()
                    .map(|b| b.into_iter().map(|i| i + train.len()).collect()),
            );
            let mut time = |rows: &[usize]| {
                let examples: Vec<Example> = rows.iter().map(|&i| all[i].clone()).collect();
                timed(|| {
                    probe::features(&plm, &examples, config.pooling, limit, &mut |_, _| true).map(|_| ())
                })
            };
            let (all_features, warm, n) =
                price_batches(&batches, &|i| lens[i], &mut time, progress, "timing feature extraction")?;
            features_seconds = all_features + warm;
            eval_batches_timed += n;
            // The probe trains on the cached vectors: zeros of the same shape time it.
            let h = plm.hidden_size();
            let train_x = Tensor::zeros((train.len(), h), DType::F32, device)?;
            let dev_x =
                if dev.is_empty() { None } else { Some(Tensor::zeros((dev.len(), h), DType::F32, device)?) };
            let head = probe::Probe::new(&train_x, classes.len(), config.probe_head, hyper.seed)?;
            let mut objective = probe::ProbeObjective::new(head, train_x, train_y, dev_x, dev_meta, classes)?;
            objective.multi = super::multi_targets(config, &train, &dev)?;
            let updates = time_updates(&mut objective, config, &|_| 1, progress)?;
            let _ = objective.evaluate(false)?;
            let once = timed(|| objective.evaluate(false).map(|_| ()))?;
            (updates, once, 0.0, objective.vars(), train_lens, load_seconds)
        }
        TuneStrategy::Contrastive => {
            let mut objective = contrastive_objective(config, plm, template.as_ref(), &train, &dev)?;
            let load_seconds = started.elapsed().as_secs_f64();
            let (rows, dev_rows) = objective.token_rows();
            let (rows, dev_rows) = (rows.to_vec(), dev_rows.to_vec());
            let row_lens: Vec<usize> = rows.iter().map(Vec::len).collect();
            let dev_lens: Vec<usize> = dev_rows.iter().map(Vec::len).collect();
            // An update encodes each side of its pairs as a batch: twice the longer row's tokens.
            let pair_lens: Vec<usize> = objective
                .pairs
                .iter()
                .map(|p| 2 * row_lens[p.a as usize].max(row_lens[p.b as usize]))
                .collect();
            let updates = time_updates(&mut objective, config, &|i| pair_lens[i], progress)?;
            // Each evaluation embeds the training rows (for the head) and the dev rows, in batches
            // of 32 longest first, and fits the head; the final one is reused when nothing changed.
            let all: Vec<Vec<u32>> = rows.iter().chain(&dev_rows).cloned().collect();
            let lens: Vec<usize> = row_lens.iter().chain(&dev_lens).copied().collect();
            let mut batches = longest_first(&row_lens, EVAL_BATCH);
            if !dev.is_empty() {
                batches.extend(
                    longest_first(&dev_lens, EVAL_BATCH)
                        .into_iter()
                        .map(|b| b.into_iter().map(|i| i + rows.len()).collect()),
                );
            }
            let pooling = config.pooling;
            let mut time = |batch: &[usize]| {
                let ids: Vec<Vec<u32>> = batch.iter().map(|&i| all[i].clone()).collect();
                timed(|| probe::features_of_ids(&objective.plm, &ids, pooling, &mut |_, _| true).map(|_| ()))
            };
            let (embed, warm, n) =
                price_batches(&batches, &|i| lens[i], &mut time, progress, "timing evaluation")?;
            eval_batches_timed += n;
            let fit = timed(|| objective.head().map(|_| ()))?;
            // The head is fitted once more after the loop when there is no dev set.
            if dev.is_empty() {
                features_seconds = embed + warm + fit;
            }
            // The plan counts pairs: one length per pair (its longer row's tokens).
            let lengths = pair_lens.iter().map(|l| l / 2).collect();
            (updates, embed + fit, warm, objective.vars(), lengths, load_seconds)
        }
    };
    let plan = Plan::new(lengths.len(), hyper);
    let evaluations = if dev.is_empty() {
        0
    } else {
        (1..=plan.total).filter(|&s| plan.evaluates_after(s)).count() as u32 + 1
    };
    let eval_seconds = if evaluations > 0 { eval_warmup + eval_once * f64::from(evaluations) } else { 0.0 };
    let trained = var_bytes(&vars);
    let best = if dev.is_empty() { 0 } else { trained };
    let per_byte = checkpoint_seconds_per_byte();
    let checkpoints = (1..=plan.total).filter(|&s| plan.evaluates_after(s)).count() as f64;
    let final_files = match config.strategy {
        TuneStrategy::Finetune | TuneStrategy::Pretrain | TuneStrategy::Contrastive => model_bytes,
        _ => trained,
    };
    let save_seconds = checkpoints * CHECKPOINT_FIXED_S
        + per_byte * (checkpoints * (3 * trained + best) as f64 + final_files as f64);
    let peak_bytes = peak_rss().map(|peak| {
        let during_updates = peak + best;
        // A checkpoint reads its largest file (the optimiser's two moments) back to hash it.
        let during_checkpoint = updates.rss_after.unwrap_or(0) + best + 2 * trained;
        during_updates.max(during_checkpoint)
    });
    if hyper.patience > 0 {
        notes.push(format!(
            "early stopping after {} evaluations without improvement can end the run sooner",
            hyper.patience
        ));
    }
    let mut sorted = lengths.clone();
    sorted.sort_unstable();
    let at = |q: usize| sorted.get(q).copied().unwrap_or(0) as u32;
    let seconds = load_seconds + features_seconds + updates.train_seconds + eval_seconds + save_seconds;
    Ok(Estimate {
        strategy: config.strategy,
        seconds,
        load_seconds,
        features_seconds,
        train_seconds: updates.train_seconds,
        eval_seconds,
        save_seconds,
        steps: plan.total,
        seconds_per_step: updates.train_seconds / f64::from(plan.total),
        evaluations,
        train_rows: train.len() as u32,
        dev_rows: dev.len() as u32,
        peak_bytes,
        memory: memory_note(peak_bytes.is_some()),
        measurement: Measurement {
            updates_timed: updates.seconds.len() as u32,
            update_seconds: updates.seconds,
            update_tokens: updates.tokens,
            eval_batches_timed,
            rows: updates.rows as u32,
            shortest: at(0),
            typical: at(sorted.len() / 2),
            longest: at(sorted.len().saturating_sub(1)),
            batch_size: hyper.batch_size,
            grad_accumulation: hyper.grad_accumulation,
            seconds: started.elapsed().as_secs_f64(),
        },
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_through_the_points_prices_tokens() {
        let mut f = Fit::default();
        f.add(100.0, 1.5);
        f.add(300.0, 3.5);
        assert!((f.predict(200.0) - 2.5).abs() < 1e-9);
        // A falling line is no cost model: proportional to tokens instead.
        let mut g = Fit::default();
        g.add(100.0, 2.0);
        g.add(200.0, 1.0);
        assert!(g.predict(0.0).abs() < 1e-12);
        let mut one = Fit::default();
        one.add(50.0, 1.0);
        assert!((one.predict(100.0) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn durations_read_as_people_read_them() {
        assert_eq!(duration(0.42), "0.4 s");
        assert_eq!(duration(45.2), "45 s");
        assert_eq!(duration(200.0), "3 min 20 s");
        assert_eq!(duration(3900.0), "1 h 05 min");
    }

    #[test]
    fn memory_is_read_from_proc_on_linux() {
        if cfg!(target_os = "linux") {
            let (now, peak) = (current_rss().unwrap(), peak_rss().unwrap());
            assert!(now > 0 && peak >= now / 2, "{now} {peak}");
        } else {
            assert_eq!(peak_rss(), None);
        }
    }
}
