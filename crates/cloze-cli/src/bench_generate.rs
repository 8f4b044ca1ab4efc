//! `cloze bench generate`: greedy generation speed (new tokens/s) of a decoder or an
//! encoder–decoder, as `cloze generate` runs it (a decoder's key/value cache), and with
//! `--no-cache` the same tokens from a full forward pass per step — the cache's gain — for
//! comparison with llama.cpp (llama-cpp-python) on the same GGUF file.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use cloze::generate::{GenerateOptions, generate, next_token_logits};
use cloze::plm::{DeviceChoice, Kind};
use cloze::{Error, Result};

#[derive(Args, Debug)]
pub struct GenerateBenchArgs {
    /// The model folder or .gguf file.
    #[arg(long, short = 'm', value_name = "PATH")]
    model: PathBuf,
    #[arg(long, default_value = "cpu", value_parser = crate::choices::engine::<DeviceChoice>)]
    device: DeviceChoice,
    #[arg(long, default_value = "The capital of France is")]
    prompt: String,
    /// New tokens per run (end-of-sequence does not stop a run early unless it is produced).
    #[arg(long, default_value_t = 32)]
    max_new_tokens: usize,
    /// Run every step over the whole row instead of the key/value cache (decoders).
    #[arg(long)]
    no_cache: bool,
    /// Dequantise a GGUF file's weights to f32 when loading (as transformers does) instead of
    /// running the products on the quantised blocks.
    #[arg(long)]
    dequantise: bool,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

pub fn run(args: GenerateBenchArgs) -> Result<()> {
    let device = args.device.open()?;
    let plm = crate::bench::load_for_bench(&args.model, &device, args.dequantise)?;
    if args.no_cache && plm.kind() != Kind::Decoder {
        return Err(Error::invalid(
            "--no-cache compares a decoder's cache with full passes; this model is not a decoder",
        ));
    }
    let options = GenerateOptions { max_new_tokens: args.max_new_tokens, ..Default::default() };
    let prompt_ids = plm.tokenizer().encode_with_specials(&args.prompt)?.get_ids().to_vec();
    let once = || -> Result<usize> {
        if args.no_cache {
            let mut ids = prompt_ids.clone();
            for _ in 0..args.max_new_tokens {
                let logits = next_token_logits(&plm, &ids)?;
                ids.push(logits.argmax(0)?.to_scalar::<u32>()?);
            }
            Ok(ids.len() - prompt_ids.len())
        } else {
            Ok(generate(&plm, &args.prompt, &options, &mut |_| true)?.ids.len())
        }
    };
    for _ in 0..args.warmup {
        once()?;
    }
    let mut rates = Vec::new();
    let mut produced = 0;
    for _ in 0..args.reps.max(1) {
        let t = Instant::now();
        produced = once()?;
        rates.push(produced as f64 / t.elapsed().as_secs_f64());
    }
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let out = serde_json::json!({
        "case": "generate", "engine": "cloze", "model": args.model, "cache": !args.no_cache,
        "weights": if plm.is_quantised() { "quantised" } else { "f32" },
        "prompt_tokens": prompt_ids.len(), "new_tokens": produced, "tokens_per_s": rates,
        "tokens_per_s_median": sorted[sorted.len() / 2], "cpu": crate::bench_tune::cpu_model(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    outln!("{out}")?;
    Ok(())
}
