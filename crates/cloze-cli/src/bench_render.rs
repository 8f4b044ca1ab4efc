//! `cloze bench render`: rendering one row whose shortenable field is far longer than the model
//! takes (100 KB, 1 MB, 5 MB by default), with the model folder's own tokenizer and length limit —
//! the time truncation costs. The figures say which CPU ran them.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use cloze::data::SplitMix64;
use cloze::plm::{Family, PlmTokenizer};
use cloze::template::{Renderer, Template};
use cloze::{Error, Result};

#[derive(Args, Debug)]
pub struct RenderBenchArgs {
    /// The model folder (config.json and its tokenizer), e.g. tests/fixtures/parity/roberta.
    #[arg(long, short = 'm', value_name = "DIR")]
    model: PathBuf,
    /// Field lengths in bytes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [100_000usize, 1_000_000, 5_000_000])]
    sizes: Vec<usize>,
    /// Tokens the model takes, special tokens included.
    #[arg(long, default_value_t = 512)]
    max_len: usize,
    /// Timed renders per size (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
}

/// Deterministic English-like text of `bytes` bytes: words of 1-10 letters and some punctuation.
pub fn words(bytes: usize, seed: u64) -> String {
    let mut rng = SplitMix64::new(seed);
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        let n = 1 + (rng.next_u64() % 10) as usize;
        for _ in 0..n {
            text.push((b'a' + (rng.next_u64() % 26) as u8) as char);
        }
        text.push(if rng.next_u64().is_multiple_of(12) { '.' } else { ' ' });
    }
    text.truncate(bytes);
    text
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

pub fn render(args: RenderBenchArgs) -> Result<()> {
    let config_path = args.model.join("config.json");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?)
            .map_err(|e| Error::invalid(format!("{}: {e}", config_path.display())))?;
    let family = Family::from_config(&config, &config_path)?;
    let tokenizer = PlmTokenizer::load(&args.model, family)?;
    let template = Template::parse("{text_a} It was {mask}.")?;
    let renderer = Renderer::new(&tokenizer, args.max_len);
    outln!(
        "render: {} ({}), max {} tokens, cpu {}",
        args.model.display(),
        family.name(),
        args.max_len,
        cpu_model()
    )?;
    for &size in &args.sizes {
        let text = words(size, size as u64);
        let mut times = Vec::new();
        let mut truncated = 0;
        for _ in 0..args.reps.max(1) {
            let start = Instant::now();
            let r = renderer.render(&template, &[("text_a", text.as_str())])?;
            times.push(start.elapsed().as_secs_f64());
            truncated = r.truncated;
        }
        times.sort_by(f64::total_cmp);
        outln!(
            "  field {:>9} bytes: {:>9.3} s (median of {}), {} tokens removed",
            size,
            times[times.len() / 2],
            times.len(),
            truncated
        )?;
    }
    Ok(())
}
