//! Every strategy's code is device-generic: the same run with the CPU kernels turned off
//! (`cpu_kernels::force_composed`, the path a CUDA or Metal device takes, since the fused kernels
//! are CPU-only) trains, saves and classifies, and its class probabilities match the kernels' run.
//! With the switch on a kernel refuses to run, so a dispatch that would not happen on another device
//! fails here instead of on a GPU nobody tested on. One test, alone in its binary, because the
//! switch is process-wide.

use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::data::Example;
use cloze::plm::cpu_kernels;
use cloze::tune::{self, DataSource, Hyper, TuneConfig, TuneStrategy, TunedRun};
use cloze::verbalizer::Verbalizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

fn fixture(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

fn rows(n: usize) -> Vec<Example> {
    let texts = [
        ("the film was good", "positive"),
        ("a slow and boring story", "negative"),
        ("wonderful music", "positive"),
        ("the actors were awful", "negative"),
        ("nice and warm", "positive"),
        ("bad service", "negative"),
    ];
    (0..n)
        .map(|i| {
            let (t, l) = texts[i % texts.len()];
            let mut e = Example::new(format!("r{i}"), format!("{t} {i}"));
            e.label = Some(l.into());
            e
        })
        .collect()
}

fn config(strategy: TuneStrategy, model: &str) -> TuneConfig {
    let mut c = TuneConfig::new(strategy, fixture(model), DataSource::Inline);
    c.template = Some(match strategy {
        TuneStrategy::SoftPrompt => "{soft:2} {text_a} It was {mask}.".into(),
        _ => "{text_a} It was {mask}.".into(),
    });
    c.verbalizer =
        Some(Verbalizer::from_json(r#"{"negative": ["terrible"], "positive": ["great"]}"#).unwrap());
    c.hyper = Hyper {
        learning_rate: if strategy == TuneStrategy::SoftPrompt { 1e-2 } else { 1e-3 },
        epochs: 2,
        batch_size: 4,
        // Without dropout, so the two paths compute the same function: the attention kernel draws
        // its dropout masks in another order than the composed ops (both seeded).
        dropout: Some(0.0),
        seed: 5,
        ..Hyper::default()
    };
    if strategy == TuneStrategy::Contrastive {
        c.contrastive = Some(tune::ContrastiveOptions { iterations: Some(2), ..Default::default() });
    }
    c
}

/// Trains `cfg` into a fresh folder and returns each test row's class probabilities.
fn train_and_classify(cfg: &TuneConfig, name: &str) -> Result<Vec<Vec<f32>>, String> {
    let dir = std::env::temp_dir().join(format!("cloze-composed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let device = Device::Cpu;
    let out = (|| {
        tune::run(cfg, &rows(8), &rows(4), &dir, &device, false, &mut |_| true).map_err(|e| e.to_string())?;
        let (_, run) = TunedRun::load(&dir, &device).map_err(|e| e.to_string())?;
        let predictions = run.classify(&rows(6), &mut |_, _| true).map_err(|e| e.to_string())?;
        Ok(predictions.into_iter().map(|p| p.probs.into_iter().map(|(_, q)| q).collect()).collect())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn every_strategy_runs_on_the_composed_path_and_matches_the_kernels() {
    let cases = [
        // (model, strategy): an encoder with an MLM head, a decoder, a quantised GGUF decoder,
        // an encoder–decoder.
        ("bert", TuneStrategy::SoftPrompt),
        ("bert", TuneStrategy::Finetune),
        ("bert", TuneStrategy::Probe),
        ("bert", TuneStrategy::Contrastive),
        ("bert", TuneStrategy::Pretrain),
        ("llama", TuneStrategy::SoftPrompt),
        ("llama", TuneStrategy::Finetune),
        ("llama", TuneStrategy::Pretrain),
        ("gguf-llama/model-q4_0.gguf", TuneStrategy::Finetune),
        ("gguf-llama/model-q4_0.gguf", TuneStrategy::Probe),
        ("t5", TuneStrategy::Finetune),
    ];
    // The guard this relies on: with the switch on, a kernel reached anyway says so.
    let x = candle_core::Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
    assert!(x.apply_op1_no_bwd(&cpu_kernels::SoftmaxOp).is_ok());
    cpu_kernels::force_composed(true);
    let refused = x.apply_op1_no_bwd(&cpu_kernels::SoftmaxOp);
    cpu_kernels::force_composed(false);
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("composed path"), "{message}");

    let mut failures = Vec::new();
    for (model, strategy) in cases {
        let cfg = config(strategy, model);
        let name = format!("{}-{}", model.replace('/', "-"), strategy.name());
        cpu_kernels::force_composed(false);
        let kernels = train_and_classify(&cfg, &format!("{name}-kernels"));
        cpu_kernels::force_composed(true);
        let composed = train_and_classify(&cfg, &format!("{name}-composed"));
        cpu_kernels::force_composed(false);
        match (kernels, composed) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.len(), b.len(), "{name}");
                let worst = a
                    .iter()
                    .flatten()
                    .zip(b.iter().flatten())
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                eprintln!("{name}: class probabilities, kernels against composed ops: max |Δ| {worst:.2e}");
                if worst > 1e-4 {
                    failures.push(format!("{name}: probabilities differ by {worst:.2e}"));
                }
            }
            (Err(e), _) => failures.push(format!("{name}: with the kernels: {e}")),
            (_, Err(e)) => failures.push(format!("{name}: on the composed path: {e}")),
        }
    }
    // Dropout on the composed path: the masks differ from the kernel's, the run must still work.
    let mut cfg = config(TuneStrategy::Finetune, "bert");
    cfg.hyper.dropout = Some(0.1);
    cpu_kernels::force_composed(true);
    let with_dropout = train_and_classify(&cfg, "bert-finetune-dropout");
    cpu_kernels::force_composed(false);
    if let Err(e) = with_dropout {
        failures.push(format!("bert finetune with dropout on the composed path: {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
