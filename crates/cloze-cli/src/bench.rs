//! `cloze bench`: benchmarks. `infer` measures zero-shot classification throughput the way
//! `../shared/bench/bench.py --case mlm_infer` measures PyTorch, so the two can be run alternately
//! and compared as ratios: batch × length prompts `[CLS] body it was [MASK] . [SEP]` with no
//! padding, label-word logits at the mask (`--head mask`) or the whole vocabulary at every position
//! (`--head full`, what fill-mask computes), median of the timed repetitions, matmul FLOPs only.

use std::time::Instant;

use candle_core::Tensor;
use clap::{Args, Subcommand};
use cloze::plm::{DeviceChoice, GgufWeights, Kind, Plm};
use cloze::{Error, Result};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Zero-shot classification throughput (sequences/s, GFLOP/s), comparable with
    /// ../shared/bench/bench.py --case mlm_infer.
    Infer(BenchArgs),
    /// Importing a generated CSV into a project: rows/s and peak memory.
    Import(crate::bench_store::ImportBenchArgs),
    /// Fetching the next row to label from a large project, for every queue strategy.
    Queue(crate::bench_store::QueueBenchArgs),
    /// The prompt studio's live zero-shot preview: latency per template edit.
    Live(crate::bench_live::LiveBenchArgs),
    /// One labelling key in the desktop app on a large project.
    Label(crate::bench_live::LabelBenchArgs),
    /// One training step (soft prompt, or full fine-tuning), comparable with
    /// ../shared/bench/bench.py --case prompt_tuning_step / full_finetune_step.
    Tune(crate::bench_tune::TuneBenchArgs),
    /// Rendering one row whose field is far longer than the model takes (truncation's cost).
    Render(crate::bench_render::RenderBenchArgs),
    /// Greedy generation speed (new tokens/s), with the key/value cache or without.
    Generate(crate::bench_generate::GenerateBenchArgs),
    /// LM-BFF's few-shot protocol: K rows per class for training and K for model selection, drawn
    /// with each of 5 seeds; every method on the same samples; mean ± s.d. on the test rows.
    Fewshot(Box<crate::bench_fewshot::FewshotBenchArgs>),
    /// Gradients against central finite differences in f64, on a device: the input embeddings and
    /// a spread of weights of a masked LM (scripts/gpu-check.sh runs it on CUDA). Fails above 1e-4.
    Gradcheck(GradcheckArgs),
}

#[derive(Args, Debug)]
pub struct GradcheckArgs {
    /// A masked LM's folder (e.g. tests/fixtures/parity/bert: the check runs the model in f64).
    #[arg(long, short = 'm', value_name = "DIR")]
    model: std::path::PathBuf,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = crate::choices::engine::<DeviceChoice>)]
    device: DeviceChoice,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// The largest relative error a correct backward pass leaves against f64 finite differences here.
const GRADCHECK_TOLERANCE: f64 = 1e-4;

fn gradcheck(args: GradcheckArgs) -> Result<()> {
    let device = args.device.open()?;
    let c = cloze::plm::gradcheck::check_gradients(&args.model, &device)?;
    if args.json {
        let mut v = serde_json::to_value(&c).expect("a check serialises");
        v["device"] = args.device.to_string().into();
        v["device_name"] = cloze::plm::describe_device(&device).into();
        outln!("{v}")?;
    } else {
        outln!(
            "{}: {} coordinates on {} ({}), {} of {} weights with a gradient; largest relative error {:.1e} at {}",
            args.model.display(),
            c.checked,
            args.device,
            cloze::plm::describe_device(&device),
            c.weights_with_gradient,
            c.weights,
            c.worst_relative_error,
            c.worst_at
        )?;
    }
    if c.worst_relative_error > GRADCHECK_TOLERANCE || c.weights_with_gradient < c.weights {
        return Err(Error::internal(format!(
            "the gradients on {} differ from finite differences by {:.1e} (at {}; tolerance {GRADCHECK_TOLERANCE:.0e}), \
             or a weight got none: training on this device would be wrong",
            args.device, c.worst_relative_error, c.worst_at
        )));
    }
    Ok(())
}

pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Infer(args) => infer(args),
        BenchCommand::Import(args) => crate::bench_store::import(args),
        BenchCommand::Queue(args) => crate::bench_store::queue(args),
        BenchCommand::Live(args) => crate::bench_live::live(args),
        BenchCommand::Label(args) => crate::bench_live::label(args),
        BenchCommand::Tune(args) => crate::bench_tune::run(args),
        BenchCommand::Render(args) => crate::bench_render::render(args),
        BenchCommand::Generate(args) => crate::bench_generate::run(args),
        BenchCommand::Fewshot(args) => crate::bench_fewshot::run(*args),
        BenchCommand::Gradcheck(args) => gradcheck(args),
    }
}

/// What the benchmarked forward pass computes at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Head {
    /// Label-word logits at the mask.
    Mask,
    /// The whole vocabulary at every position.
    Full,
    /// The whole vocabulary at the last position only (a decoder's next token; bench.py
    /// `clm_infer --head last`).
    Last,
}

impl Head {
    fn name(self) -> &'static str {
        match self {
            Head::Mask => "mask",
            Head::Full => "full",
            Head::Last => "last",
        }
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The model folder (e.g. $BENCH_DIR/models/bert-base from ../shared/bench/make_models.py).
    #[arg(long, short = 'm', value_name = "DIR")]
    model: std::path::PathBuf,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = crate::choices::engine::<DeviceChoice>)]
    device: DeviceChoice,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Tokens per sequence, special tokens included.
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// mask: label words at the mask only; full: whole vocabulary at every position.
    #[arg(long, value_enum, default_value_t = Head::Mask)]
    head: Head,
    /// Untimed warm-up passes.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed passes.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Print one JSON line (for ../shared/bench/report.py-style tables) instead of text.
    #[arg(long)]
    json: bool,
    /// Dequantise a GGUF file's weights to f32 when loading (as transformers does) instead of
    /// running the products on the quantised blocks.
    #[arg(long)]
    dequantise: bool,
    /// The linear layers' precision: f32 or bf16 (bf16 factors, f32 sums).
    #[arg(long, default_value = "f32", value_parser = crate::choices::engine::<cloze::plm::Precision>)]
    precision: cloze::plm::Precision,
}

/// Loads a model for a benchmark: a GGUF file on its quantised blocks, or dequantised.
pub fn load_for_bench(
    model: &std::path::Path,
    device: &candle_core::Device,
    dequantise: bool,
) -> Result<Plm> {
    let gguf = if dequantise { GgufWeights::Dequantised } else { GgufWeights::Quantised };
    Plm::load_with(model, device, candle_core::DType::F32, gguf)
}

/// CPU jiffies of the whole machine (busy) and of this process, from /proc.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> =
        stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = fields.iter().take(8).sum::<u64>() - fields.get(3)? - fields.get(4).copied().unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = own.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((busy, own))
}

fn gflop(plm: &Plm, b: usize, l: usize, full: bool) -> f64 {
    // The layers' matrices (every 2-D weight but the vocabulary and position tables): each costs
    // 2 FLOPs per element per token.
    let dims = plm.dims();
    let matrices: usize = plm
        .named_weights()
        .iter()
        .filter(|(name, t)| {
            t.rank() == 2
                && t.dim(0).ok() != Some(dims.vocab_size)
                && !["position", "wpe", "token_type"].iter().any(|p| name.contains(p))
        })
        .map(|(_, t)| t.elem_count())
        .sum();
    let (d, n, v) = (dims.hidden_size as f64, dims.layers as f64, dims.vocab_size as f64);
    let (b, l, m) = (b as f64, l as f64, matrices as f64);
    // A masked LM's head has a dense transform before the vocabulary projection; a decoder's not.
    let t = if plm.kind() == Kind::Encoder { d * d } else { 0.0 };
    let mut lin = 2.0 * b * l * m;
    let attn = 2.0 * b * l * n * (2.0 * l * d);
    lin += if full { 2.0 * b * l * (t + d * v) } else { 2.0 * b * (t + 2.0 * d) };
    (lin + attn) / 1e9
}

fn infer(args: BenchArgs) -> Result<()> {
    let device = args.device.open()?;
    let t0 = Instant::now();
    let mut plm = load_for_bench(&args.model, &device, args.dequantise)?;
    plm.set_precision(args.precision)?;
    let load_s = t0.elapsed().as_secs_f64();
    if plm.kind() == Kind::Decoder {
        return clm_infer(&args, &plm, load_s);
    }
    if args.head == Head::Last {
        return Err(Error::invalid(
            "--head last is for decoders (the next token's logits); use --head mask or full for a masked LM",
        ));
    }
    let tok = plm.tokenizer();
    let special = tok.special();
    let (cls, sep) = match (&special.cls, &special.sep) {
        (Some(c), Some(s)) => (c.1, s.1),
        _ => return Err(Error::invalid("the benchmark needs a tokenizer with CLS and SEP tokens")),
    };
    let mut suffix = tok.encode_plain("it was")?;
    suffix.push(special.mask.1);
    suffix.extend(tok.encode_plain(".")?);
    let body_len = args
        .seq_len
        .checked_sub(2 + suffix.len())
        .filter(|_| args.seq_len <= plm.max_len())
        .ok_or_else(|| {
            Error::invalid(format!("--seq-len must be between {} and {}", 3 + suffix.len(), plm.max_len()))
        })?;
    // Deterministic body tokens from the ordinary vocabulary (ids past the first 1000).
    let vocab = tok.vocab_size() as u64;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (1000 + (state >> 33) % (vocab - 1000)) as u32
    };
    let mut ids = Vec::with_capacity(args.batch * args.seq_len);
    let mut gather = Vec::with_capacity(args.batch);
    for row in 0..args.batch {
        ids.push(cls);
        ids.extend((0..body_len).map(|_| next()));
        gather.push((row * args.seq_len + ids.len() - row * args.seq_len + suffix.len() - 2) as u32);
        ids.extend(&suffix);
        ids.push(sep);
    }
    let ids = Tensor::from_vec(ids, (args.batch, args.seq_len), &device)?;
    let attention = ids.ones_like()?;
    let gather = Tensor::from_vec(gather, args.batch, &device)?;
    let labels: Vec<u32> =
        ["great", "terrible"].iter().filter_map(|w| tok.encode_plain(w).ok()?.first().copied()).collect();
    let labels = Tensor::new(labels.as_slice(), &device)?;
    let head = plm.lm_head()?;
    let full = args.head == Head::Full;
    let h = plm.hidden_size();

    let pass = || -> Result<Vec<u32>> {
        let hidden = plm.encode(&plm.embed_tokens(&ids)?, &attention)?;
        let flat = hidden.reshape((args.batch * args.seq_len, h))?;
        let logits = if full {
            let all = head.logits_full(&head.transform(&flat)?)?; // [b*l, vocab]
            all.index_select(&gather, 0)?.index_select(&labels, 1)?
        } else {
            head.logits_for(&head.transform(&flat.index_select(&gather, 0)?)?, &labels)?
        };
        Ok(logits.argmax(1)?.to_vec1::<u32>()?)
    };
    let g = gflop(&plm, args.batch, args.seq_len, full);
    report(&args, "mlm_infer", load_s, g, pass)
}

/// Runs `pass` `args.warmup` + `args.reps` times and prints the throughput (sequences/s), the
/// achieved GFLOP/s for `g` GFLOP per pass and the share of the CPU other processes took.
fn report<T>(args: &BenchArgs, case: &str, load_s: f64, g: f64, pass: impl Fn() -> Result<T>) -> Result<()> {
    if args.reps == 0 || args.batch == 0 {
        return Err(Error::invalid("--reps and --batch must be at least 1"));
    }
    for _ in 0..args.warmup {
        pass()?;
    }
    let before = cpu_jiffies();
    let wall = Instant::now();
    let mut times = Vec::with_capacity(args.reps);
    for _ in 0..args.reps {
        let t = Instant::now();
        pass()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let wall = wall.elapsed().as_secs_f64();
    let foreign = match (before, cpu_jiffies()) {
        (Some((b0, o0)), Some((b1, o1))) => {
            let hz = 100.0;
            let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
            Some((((b1 - b0) as f64 - (o1 - o0) as f64) / hz / (wall * cpus)).max(0.0))
        }
        _ => None,
    };
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let seq_per_s = args.batch as f64 / median;
    if args.json {
        let out = serde_json::json!({
            "case": case, "impl": "cloze", "model": args.model, "head": args.head.name(),
            "batch": args.batch, "seq_len": args.seq_len, "load_s": load_s,
            "times_s": times, "median_s": median, "unit": "sequences/s",
            "throughput_median": seq_per_s, "gflop_per_iter": g, "gflops_achieved_median": g / median,
            "foreign_cpu_frac": foreign, "weights": if args.dequantise { "f32" } else { "as stored" },
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "precision": args.precision.name(), "kernel": args.precision.kernel(),
            "cpu": crate::bench_tune::cpu_model(),
        });
        outln!("{out}")?;
    } else {
        outln!(
            "{case} {} head, {}, batch {} x {} tokens: {:.3} sequences/s, {:.1} GFLOP/s (median of {} in \
             {:.3}-{:.3} s; other processes used {} of the CPU; {})",
            args.head.name(),
            args.precision.kernel(),
            args.batch,
            args.seq_len,
            seq_per_s,
            g / median,
            args.reps,
            sorted[0],
            sorted[sorted.len() - 1],
            foreign.map(|f| format!("{:.0}%", f * 100.0)).unwrap_or_else(|| "?".into()),
            crate::bench_tune::cpu_model(),
        )?;
    }
    Ok(())
}

/// A decoder's forward pass as bench.py's `clm_infer` times it: batch × seq_len ordinary tokens,
/// no padding, logits over the whole vocabulary at every position (`--head full`) or at the last
/// one (`--head last`).
fn clm_infer(args: &BenchArgs, plm: &Plm, load_s: f64) -> Result<()> {
    if args.head == Head::Mask {
        return Err(Error::invalid(
            "--head mask is for masked LMs; a decoder benchmark takes --head full (every position) or last",
        ));
    }
    if args.seq_len < 2 || args.seq_len > plm.max_len() {
        return Err(Error::invalid(format!("--seq-len must be between 2 and {}", plm.max_len())));
    }
    let device = plm.device();
    let vocab = plm.tokenizer().vocab_size() as u64;
    let mut rng = cloze::data::SplitMix64::new(0x9E37_79B9);
    let low = 1000.min(vocab / 2);
    let ids: Vec<u32> = (0..args.batch * args.seq_len)
        .map(|_| (low + rng.below((vocab - low) as usize) as u64) as u32)
        .collect();
    let ids = Tensor::from_vec(ids, (args.batch, args.seq_len), device)?;
    let attention = ids.ones_like()?;
    let head = plm.lm_head()?;
    let full = args.head == Head::Full;
    let h = plm.hidden_size();
    let (b, l) = (args.batch, args.seq_len);
    let pass = || -> Result<Vec<u32>> {
        let hidden = plm.encode(&plm.embed_tokens(&ids)?, &attention)?;
        let logits = if full {
            head.logits_full(&head.transform(&hidden.reshape((b * l, h))?)?)?
        } else {
            head.logits_full(&head.transform(&hidden.narrow(1, l - 1, 1)?.reshape((b, h))?)?)?
        };
        Ok(logits.argmax(1)?.to_vec1::<u32>()?)
    };
    // Matmul FLOPs: the layers' matrices per token, causal attention (scores and values, the full
    // square as the kernels compute it) and the vocabulary projection where it is taken.
    let mut g = gflop(plm, b, l, true);
    if !full {
        let (d, v) = (plm.dims().hidden_size as f64, plm.dims().vocab_size as f64);
        g -= 2.0 * (b * (l - 1)) as f64 * (d * v) / 1e9;
    }
    report(args, "clm_infer", load_s, g, pass)
}
