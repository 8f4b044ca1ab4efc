//! `cloze bench tune`: one training step as ../shared/bench/bench.py's `prompt_tuning_step` and
//! `full_finetune_step` time it — batch 8 × 128 tokens (`[CLS]` body `it was [MASK] .` `[SEP]`),
//! 20 soft tokens prepended, cross-entropy over the label words "great" / "terrible" at the mask,
//! AdamW (lr 1e-3 for the prompt, 2e-5 for full fine-tuning), dropout off — and reports steps/s and
//! peak memory as JSON, for the ratio against PyTorch measured in the same session.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use cloze::data::SplitMix64;
use cloze::plm::{DeviceChoice, Plm};
use cloze::template::{Rendered, SoftSlot, Template};
use cloze::tune::optim::{AdamW, AdamWConfig};
use cloze::tune::{PromptModel, SoftInit, VerbalizerKind};
use cloze::verbalizer::Verbalizer;
use cloze::{Error, Result};

/// The training step to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Case {
    /// Soft-prompt tuning: the model is frozen.
    PromptTuningStep,
    /// Every weight trains.
    FullFinetuneStep,
    /// PEFT's prompt tuning on a decoder as bench.py's `prompt_tuning_step_peft` times it: soft
    /// tokens before the row, the model frozen, the causal-LM loss over every token of the row
    /// (the whole vocabulary at every position).
    PromptTuningStepPeft,
}

#[derive(Args, Debug)]
pub struct TuneBenchArgs {
    /// prompt-tuning-step (model frozen) or full-finetune-step.
    #[arg(long, value_enum)]
    case: Case,
    /// The model folder ($BENCH_DIR/models/bert-base from make_models.py).
    #[arg(long, short = 'm', value_name = "DIR")]
    model: PathBuf,
    #[arg(long, default_value = "cpu", value_parser = crate::choices::engine::<DeviceChoice>)]
    device: DeviceChoice,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Tokens per row before the soft tokens.
    #[arg(long, default_value_t = 128)]
    seq: usize,
    #[arg(long, default_value_t = 20)]
    soft: usize,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// The linear layers' precision: f32 or bf16 (bf16 factors, f32 sums and master weights).
    #[arg(long, default_value = "f32", value_parser = crate::choices::engine::<cloze::plm::Precision>)]
    precision: cloze::plm::Precision,
}

pub use cloze::plm::cpu_model;

/// The middle value (the upper one of an even count); `xs` is not empty.
fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

pub fn run(args: TuneBenchArgs) -> Result<()> {
    if args.reps == 0 || args.batch == 0 {
        return Err(Error::invalid("--reps and --batch must be at least 1"));
    }
    let full = args.case == Case::FullFinetuneStep;
    let device = args.device.open()?;
    let mut plm = Plm::load(&args.model, &device)?;
    plm.set_precision(args.precision)?;
    if args.case == Case::PromptTuningStepPeft {
        return peft_step(&args, &plm);
    }
    let base_vars = if full { plm.trainable()? } else { Vec::new() };
    let tok = plm.tokenizer().clone();
    let template = Template::parse(&format!("{{soft:{}}}{{text_a}} it was {{mask}}.", args.soft))?;
    let verbalizer = Verbalizer::from_json(r#"{"great": ["great"], "terrible": ["terrible"]}"#)?;
    let mut model =
        PromptModel::new(plm, template, &verbalizer, VerbalizerKind::Manual, SoftInit::Vocab, None, 0)?;
    let mut vars = model.prompt_vars()?;
    vars.extend(base_vars);
    let specials = tok.special().clone();
    let cls = specials.cls.as_ref().map(|c| c.1).ok_or_else(|| Error::invalid("the model has no [CLS]"))?;
    let sep = specials.sep.as_ref().map(|c| c.1).ok_or_else(|| Error::invalid("the model has no [SEP]"))?;
    let suffix = tok.encode_plain("it was")?;
    if args.seq < suffix.len() + 5 {
        return Err(Error::invalid(format!("--seq must be at least {} for this template", suffix.len() + 5)));
    }
    let vocab = tok.vocab_size();
    let mut rng = SplitMix64::new(0);
    let rows: Vec<Rendered> = (0..args.batch)
        .map(|_| {
            let body = args.seq - 2 - suffix.len() - 2;
            let mut ids: Vec<u32> = vec![cls];
            ids.extend(std::iter::repeat_n(specials.mask.1, args.soft));
            let low = 1000.min(vocab / 2);
            ids.extend((0..body).map(|_| (low + rng.below(vocab - low)) as u32));
            ids.extend(&suffix);
            let mask_pos = ids.len();
            ids.push(specials.mask.1);
            ids.extend(tok.encode_plain(".").unwrap_or_default());
            ids.push(sep);
            let n = ids.len();
            Rendered {
                ids,
                mask_positions: vec![mask_pos],
                soft_slots: (0..args.soft)
                    .map(|k| SoftSlot { position: 1 + k, index: k, init_id: None })
                    .collect(),
                truncated: 0,
                text: String::new(),
                segments: vec![None; n],
                cuts: vec![],
            }
        })
        .collect();
    let refs: Vec<&Rendered> = rows.iter().collect();
    let labels: Vec<u32> = (0..args.batch).map(|_| rng.below(2) as u32).collect();
    let lr = if full { 2e-5 } else { 1e-3 };
    let mut opt = AdamW::new(vars, AdamWConfig { weight_decay: 0.01, ..Default::default() })?;
    let mut times = Vec::new();
    let mut phases = Vec::new();
    let mut losses = Vec::new();
    for i in 0..args.warmup + args.reps {
        let t = Instant::now();
        let loss = model.loss(&refs, &labels)?;
        let forward = t.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        let backward = t.elapsed().as_secs_f64() - forward;
        opt.step(&grads, lr, 1.0)?;
        losses.push(loss.to_scalar::<f32>()?);
        if i >= args.warmup {
            times.push(t.elapsed().as_secs_f64());
            phases.push((forward, backward));
        }
    }
    let median = median(&times);
    let out = serde_json::json!({
        "case": if full { "full_finetune_step" } else { "prompt_tuning_step" },
        "engine": "cloze",
        "model": args.model.file_name().map(|f| f.to_string_lossy().to_string()),
        "batch": args.batch, "seq_len": args.seq, "n_virtual_tokens": args.soft, "total_len": rows[0].ids.len(),
        "head": "mask", "dropout": false,
        "trainable_params": opt.vars().map(|(_, v)| v.elem_count()).sum::<usize>(),
        "times_s": times, "forward_backward_s": phases, "median_s": median, "steps_per_s": 1.0 / median,
        "loss_first": losses.first(), "loss_last": losses.last(),
        "peak_rss_mib": peak_rss_mib(), "precision": args.precision.name(),
        "kernel": args.precision.kernel(), "cpu": cpu_model(),
    });
    outln!("{out}")?;
    Ok(())
}

/// One PEFT-style prompt-tuning step on a decoder: `soft` trainable embeddings (initialised from
/// random vocabulary rows) before `batch × seq` ordinary tokens, next-token cross-entropy over the
/// row's tokens (the last soft position predicts the first token), AdamW at lr 1e-3.
fn peft_step(args: &TuneBenchArgs, plm: &Plm) -> Result<()> {
    use candle_core::{DType, Tensor, Var};
    if plm.kind() != cloze::plm::Kind::Decoder {
        return Err(Error::invalid("prompt-tuning-step-peft needs a decoder (e.g. $BENCH_DIR/models/gpt2)"));
    }
    if args.soft == 0 || args.seq < 2 || args.reps == 0 || args.batch == 0 {
        return Err(Error::invalid(
            "prompt-tuning-step-peft needs --soft, --batch and --reps ≥ 1 and --seq ≥ 2",
        ));
    }
    let device = plm.device();
    let vocab = plm.tokenizer().vocab_size();
    let low = 1000.min(vocab / 2);
    let mut rng = SplitMix64::new(0);
    let mut draw = |n: usize| -> Vec<u32> { (0..n).map(|_| (low + rng.below(vocab - low)) as u32).collect() };
    let init = Tensor::from_vec(draw(args.soft), (1, args.soft), device)?;
    let soft = Var::from_tensor(&plm.embed_tokens(&init)?.squeeze(0)?.detach())?;
    let (b, l, s, h) = (args.batch, args.seq, args.soft, plm.hidden_size());
    let ids = Tensor::from_vec(draw(b * l), (b, l), device)?;
    let embeds = plm.embed_tokens(&ids)?.detach();
    let attention = Tensor::ones((b, s + l), DType::U32, device)?;
    let targets = ids.flatten_all()?;
    let head = plm.lm_head()?;
    let mut opt = AdamW::new(vec![("soft".into(), soft.clone())], AdamWConfig::default())?;
    let mut times = Vec::new();
    let mut phases = Vec::new();
    let mut losses = Vec::new();
    for i in 0..args.warmup + args.reps {
        let t = Instant::now();
        let prompt = soft.as_tensor().unsqueeze(0)?.broadcast_as((b, s, h))?;
        let hidden = plm.encode(&Tensor::cat(&[&prompt, &embeds], 1)?, &attention)?;
        let reads = hidden.narrow(1, s - 1, l)?.reshape((b * l, h))?;
        let loss = head.token_nll(&head.transform(&reads)?, &targets)?.mean_all()?;
        losses.push(loss.to_scalar::<f32>()?);
        let forward = t.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        let backward = t.elapsed().as_secs_f64() - forward;
        opt.step(&grads, 1e-3, 1.0)?;
        if i >= args.warmup {
            times.push(t.elapsed().as_secs_f64());
            phases.push((forward, backward));
        }
    }
    let median = median(&times);
    let out = serde_json::json!({
        "case": "prompt_tuning_step_peft", "engine": "cloze",
        "model": args.model.file_name().map(|f| f.to_string_lossy().to_string()),
        "batch": b, "seq_len": l, "n_virtual_tokens": s, "total_len": s + l, "head": "full", "dropout": false,
        "trainable_params": s * h, "times_s": times, "forward_backward_s": phases, "median_s": median, "steps_per_s": 1.0 / median,
        "sequences_per_s_median": b as f64 / median,
        "loss_first": losses.first(), "loss_last": losses.last(),
        "peak_rss_mib": peak_rss_mib(), "cpu": cpu_model(),
    });
    outln!("{out}")?;
    Ok(())
}
