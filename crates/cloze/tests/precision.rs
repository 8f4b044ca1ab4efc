//! `--precision bf16` against transformers in f32: on every classification fixture (masked LMs and
//! decoders), the class probabilities over the fixture's label words stay within 0.02 of what
//! transformers computed in f32, while f32 keeps its 1e-4 parity (tests/parity.rs); training in
//! bf16 gives gradients within a few percent of the f32 ones, and the run records its precision.
//!
//! `scripts/bench-bf16.sh` prints the same differences for PyTorch's
//! `torch.autocast("cpu", dtype=torch.bfloat16)` beside these.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use cloze::classify::{Classifier, ClassifyOptions};
use cloze::plm::{Plm, Precision};
use cloze::template::Template;
use cloze::verbalizer::{Class, Verbalizer};
use serde_json::Value;

mod common;
use common::parity::floats;

fn fixture(name: &str) -> PathBuf {
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name);
    match repo.is_dir() {
        true => repo,
        false => {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/parity")).join(name)
        }
    }
}

fn softmax(xs: &[f32]) -> Vec<f32> {
    let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = xs.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
}

/// Per case, the probabilities over the fixture's label words (each word's first-token logit at
/// the mask) as cloze computes them in `precision`, and as transformers did in f32.
fn class_probabilities(name: &str, precision: Precision) -> Vec<(Vec<f32>, Vec<f32>)> {
    let dir = fixture(name);
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let mut plm = Plm::load(&dir, &Device::Cpu).unwrap();
    plm.set_precision(precision).unwrap();
    let words: Vec<String> = reference["label_words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let verbalizer =
        Verbalizer::new(words.iter().map(|w| Class { name: w.clone(), words: vec![w.clone()] }).collect())
            .unwrap();
    let masked_lm = reference["kind"].as_str() == Some("mlm");
    let mut out = Vec::new();
    for case in reference["cases"].as_array().unwrap() {
        let src = match (masked_lm, case["template"].as_str()) {
            (true, _) => {
                let mask = &plm.tokenizer().special().mask.0;
                reference["template"]
                    .as_str()
                    .unwrap()
                    .replace("{}", "{text_a}")
                    .replace(mask.as_str(), "{mask}")
            }
            (false, Some(t)) => t.to_string(),
            (false, None) => {
                format!("{} {{mask}}", reference["template"].as_str().unwrap().replace("{}", "{text_a}"))
            }
        };
        let classifier =
            Classifier::new(&plm, Template::parse(&src).unwrap(), &verbalizer, ClassifyOptions::default())
                .unwrap();
        let rendered = classifier.render(&[("text_a", case["text_a"].as_str().unwrap())]).unwrap();
        let (logits, _) = classifier.mask_logits(&[&rendered], false).unwrap();
        let bound = classifier.verbalizer();
        let got: Vec<f32> = bound.words.iter().map(|w| logits[0][w.columns[0]]).collect();
        let want: Vec<f32> =
            bound.words.iter().map(|w| floats(&case["label_word_logits"][&w.word])[0]).collect();
        out.push((softmax(&got), softmax(&want)));
    }
    out
}

fn largest_difference(pairs: &[(Vec<f32>, Vec<f32>)]) -> f32 {
    pairs.iter().flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0.0, f32::max)
}

#[test]
fn bf16_class_probabilities_stay_close_to_transformers_f32() {
    let fixtures =
        ["bert", "roberta", "distilbert", "xlm-roberta", "albert", "gpt2", "llama", "qwen2", "gemma3"];
    let mut table = Vec::new();
    for name in fixtures {
        let f32_diff = largest_difference(&class_probabilities(name, Precision::F32));
        let bf16_diff = largest_difference(&class_probabilities(name, Precision::Bf16));
        assert!(f32_diff < 1e-4, "{name}: f32 class probabilities differ from transformers by {f32_diff:e}");
        assert!(
            bf16_diff < 0.02,
            "{name}: bf16 class probabilities differ from transformers by {bf16_diff:e}"
        );
        table.push(format!("{name}: f32 {f32_diff:.1e}, bf16 {bf16_diff:.1e}"));
    }
    eprintln!(
        "largest |Δ class probability| against transformers in f32 ({}):\n  {}",
        Precision::Bf16.kernel(),
        table.join("\n  ")
    );
}

/// A soft-prompt-and-weights loss on the BERT fixture in f32 and in bf16: the bf16 gradients are
/// the f32 ones up to bf16 rounding (a few percent), and not the same numbers (the bf16 products
/// ran in both passes).
#[test]
fn bf16_gradients_follow_the_f32_gradients() {
    let dir = fixture("bert");
    let mut grads = Vec::new();
    for precision in Precision::ALL {
        let mut plm = Plm::load(&dir, &Device::Cpu).unwrap();
        plm.set_precision(precision).unwrap();
        let vars = plm.trainable().unwrap();
        let ids = Tensor::new(
            &[[2u32, 53, 168, 56, 162, 68, 56, 4, 6, 3], [2, 16, 183, 68, 68, 56, 4, 6, 3, 0]],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32; 10], [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]], &Device::Cpu).unwrap();
        let embeds = candle_core::Var::from_tensor(&plm.embed_tokens(&ids).unwrap()).unwrap();
        let hidden = plm.encode(embeds.as_tensor(), &mask).unwrap();
        let loss = hidden.sqr().unwrap().mean_all().unwrap();
        let g = loss.backward().unwrap();
        let mut flat = vec![("input embeddings".to_string(), g.get(embeds.as_tensor()).unwrap().clone())];
        for (name, var) in &vars {
            if let Some(t) = g.get(var.as_tensor()) {
                flat.push((name.clone(), t.clone()));
            }
        }
        grads.push((loss.to_scalar::<f32>().unwrap(), flat));
    }
    let ((l32, g32), (l16, g16)) = (&grads[0], &grads[1]);
    assert!((l32 - l16).abs() < 0.01 * l32.abs(), "loss {l32} in f32, {l16} in bf16");
    assert_eq!(g32.len(), g16.len());
    let norm = |t: &Tensor| {
        t.to_dtype(DType::F64).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap().sqrt()
    };
    let mut worst: f64 = 0.0;
    let mut identical = true;
    for ((name, a), (_, b)) in g32.iter().zip(g16) {
        let diff = norm(&(a - b).unwrap());
        let relative = diff / norm(a).max(1e-12);
        identical &= diff == 0.0;
        worst = worst.max(relative);
        assert!(
            relative < 0.05,
            "{name}: the bf16 gradient is {relative:.3} away from the f32 one (relative)"
        );
    }
    assert!(!identical, "bf16 and f32 gave the same gradients: the bf16 products did not run");
    eprintln!("{} gradients: largest relative difference bf16 vs f32 {worst:.2e}", g32.len());
}
