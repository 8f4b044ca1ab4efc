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
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

pub fn run(args: TuneBenchArgs) -> Result<()> {
    let full = args.case == Case::FullFinetuneStep;
    let device = args.device.open()?;
    let mut plm = Plm::load(&args.model, &device)?;
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
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let out = serde_json::json!({
        "case": if full { "full_finetune_step" } else { "prompt_tuning_step" },
        "engine": "cloze",
        "model": args.model.file_name().map(|f| f.to_string_lossy().to_string()),
        "batch": args.batch, "seq_len": args.seq, "n_virtual_tokens": args.soft, "total_len": rows[0].ids.len(),
        "head": "mask", "dropout": false,
        "trainable_params": opt.vars().map(|(_, v)| v.elem_count()).sum::<usize>(),
        "times_s": times, "forward_backward_s": phases, "median_s": median, "steps_per_s": 1.0 / median,
        "loss_first": losses.first(), "loss_last": losses.last(),
        "peak_rss_mib": peak_rss_mib(),
    });
    outln!("{out}")?;
    Ok(())
}
