//! Numeric parity with PyTorch/transformers: for each tiny random checkpoint, the rendered token ids
//! equal what the Hugging Face tokenizer produced, and every logit transformers computed at the
//! mask (label words, the first 50 vocabulary entries, and a right-padded batch) is reproduced
//! within 1e-4.
//!
//! Fixtures in `tests/fixtures/parity/`: `bert` (a copy of `../shared/fixtures/parity/bert`, its
//! `batch` added by `make_parity.py --add-batch`) and `roberta`, `distilbert`, `xlm-roberta` (made
//! by `make_parity.py` there); `albert`, `gemma3` and the decoders (made by `make_families.py`).
//! Every masked-LM fixture must have the `batch` entry.

use std::path::PathBuf;

use candle_core::{DType, Device};
use cloze::classify::{Classifier, ClassifyOptions};
use cloze::plm::{Family, GgufWeights, Plm};
use cloze::template::{Rendered, Template};
use cloze::verbalizer::{Class, Verbalizer};
use serde_json::Value;

mod common;
use common::parity::{assert_close, floats, ids};

fn repo_fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity"))
}

/// Runs every check of one fixture folder and returns the largest logit difference seen.
fn check(dir: PathBuf, family: Family) -> f32 {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let plm = Plm::load(&dir, &common::test_device()).unwrap();
    assert_eq!(plm.family(), family);
    let mask = &plm.tokenizer().special().mask.0;
    let template_src =
        reference["template"].as_str().unwrap().replace("{}", "{text_a}").replace(mask.as_str(), "{mask}");
    let template = Template::parse(&template_src).unwrap();
    let words: Vec<String> = reference["label_words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    // One class per word, so every word's logits are reported.
    let verbalizer =
        Verbalizer::new(words.iter().map(|w| Class { name: w.clone(), words: vec![w.clone()] }).collect())
            .unwrap();
    let classifier = Classifier::new(&plm, template, &verbalizer, ClassifyOptions::default()).unwrap();
    let bound = classifier.verbalizer();
    let mut worst = 0f32;

    let cases = reference["cases"].as_array().unwrap();
    let mut rendered_all: Vec<Rendered> = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let text = case["text_a"].as_str().unwrap();
        let rendered = classifier.render(&[("text_a", text)]).unwrap();
        assert_eq!(rendered.text, case["rendered"].as_str().unwrap(), "case {n}: rendered string");
        assert_eq!(rendered.ids, ids(&case["input_ids"]), "case {n} ({text:?}): token ids");
        assert_eq!(
            rendered.mask_positions,
            vec![case["position"].as_u64().unwrap() as usize],
            "case {n}: mask"
        );
        for w in &bound.words {
            assert_eq!(
                w.ids,
                ids(&case["label_word_ids"][&w.word]),
                "case {n}: token ids of label word {:?}",
                w.word
            );
        }
        let (logits, full) = classifier.mask_logits(&[&rendered], true).unwrap();
        for w in &bound.words {
            let got: Vec<f32> = w.columns.iter().map(|&c| logits[0][c]).collect();
            worst = worst.max(assert_close(&got, &floats(&case["label_word_logits"][&w.word]), &w.word));
        }
        let full = full.unwrap().narrow(1, 0, 50).unwrap().to_vec2::<f32>().unwrap();
        worst = worst.max(assert_close(&full[0], &floats(&case["first_50_logits"]), "first_50_logits"));
        rendered_all.push(rendered);
    }

    let Some(batch) = reference.get("batch") else {
        panic!(
            "{}: reference.json has no `batch` entry, so the right-padded batch is not checked; \
             add it with `python tests/fixtures/parity/make_parity.py --add-batch {}` \
             (needs torch and transformers, see tests/fixtures/parity/README.md)",
            dir.display(),
            dir.display()
        );
    };
    // The same rows as one right-padded batch: padding must not change any row's logits.
    let refs: Vec<&Rendered> = rendered_all.iter().collect();
    let (logits, _) = classifier.mask_logits(&refs, false).unwrap();
    let want = batch["label_word_logits"].as_array().unwrap();
    assert_eq!(want.len(), cases.len(), "batch: one row per case");
    let mut batch_worst = 0f32;
    for (row, want_row) in want.iter().enumerate() {
        for w in &bound.words {
            let got: Vec<f32> = w.columns.iter().map(|&c| logits[row][c]).collect();
            batch_worst = batch_worst.max(assert_close(
                &got,
                &floats(&want_row[&w.word]),
                &format!("batch row {row} {}", w.word),
            ));
        }
    }
    worst = worst.max(batch_worst);
    eprintln!(
        "{}: {} cases, largest |Δ| {worst:.2e}, in the padded batch {batch_worst:.2e}",
        dir.display(),
        cases.len()
    );
    worst
}

#[test]
fn bert_matches_transformers() {
    check(repo_fixtures().join("bert"), Family::Bert);
}

#[test]
fn roberta_matches_transformers() {
    check(repo_fixtures().join("roberta"), Family::Roberta);
}

#[test]
fn distilbert_matches_transformers() {
    check(repo_fixtures().join("distilbert"), Family::DistilBert);
}

#[test]
fn xlm_roberta_matches_transformers() {
    check(repo_fixtures().join("xlm-roberta"), Family::XlmRoberta);
}

#[test]
fn albert_matches_transformers() {
    check(repo_fixtures().join("albert"), Family::Albert);
}

/// Saves a fixture with `save_pretrained` into a fresh folder beside its `reference.json` (copied),
/// so the saved checkpoint is held to the same transformers logits as the original.
fn saved_copy(name: &str) -> PathBuf {
    let src = repo_fixtures().join(name);
    let dir = std::env::temp_dir().join(format!("cloze-parity-save-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Plm::load(&src, &Device::Cpu).unwrap().save_pretrained(&dir).unwrap();
    std::fs::copy(src.join("reference.json"), dir.join("reference.json")).unwrap();
    dir
}

#[test]
fn albert_saved_with_save_pretrained_still_matches_transformers() {
    let dir = saved_copy("albert");
    let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    // The shared layer is written once, under the checkpoint's names; the decoder stays tied.
    assert!(tensors.contains_key("albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"));
    assert!(tensors.contains_key("albert.encoder.embedding_hidden_mapping_in.weight"));
    assert!(
        !tensors.keys().any(|k| k.contains("albert_layer_groups.1") || k == "predictions.decoder.weight")
    );
    check(dir.clone(), Family::Albert);
    let _ = std::fs::remove_dir_all(dir);
}

// ---- decoders ------------------------------------------------------------------------------------
//
// `../shared/fixtures/parity/gpt2` and `tests/fixtures/parity/{llama,llama3-rope,qwen2}` (made by
// `make_families.py`): `position` is the last prompt token, whose next-token logits are the label
// words' (they follow the prompt with a leading space); `batch` is a right-padded batch.

fn shared_fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/parity"))
}

/// Runs every check of one decoder fixture and returns the largest logit difference seen.
fn check_decoder(dir: PathBuf, family: Family) -> f32 {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let plm = Plm::load(&dir, &common::test_device()).unwrap();
    assert_eq!(plm.family(), family);
    let words: Vec<String> = reference["label_words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let verbalizer =
        Verbalizer::new(words.iter().map(|w| Class { name: w.clone(), words: vec![w.clone()] }).collect())
            .unwrap();
    let mut worst = 0f32;
    let cases = reference["cases"].as_array().unwrap();
    let mut plain = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        // The shared GPT-2 fixture states its template once, with `{}` and no mask (the label word
        // is the next token); the family fixtures state it per case.
        let src = case["template"].as_str().map(String::from).unwrap_or_else(|| {
            format!("{} {{mask}}", reference["template"].as_str().unwrap().replace("{}", "{text_a}"))
        });
        let template = Template::parse(&src).unwrap();
        let classifier = Classifier::new(&plm, template, &verbalizer, ClassifyOptions::default()).unwrap();
        let text = case["text_a"].as_str().unwrap();
        let rendered = classifier.render(&[("text_a", text)]).unwrap();
        let m = rendered.mask_positions[0];
        let before: Vec<u32> = rendered.ids[..m].to_vec();
        assert_eq!(before, ids(&case["input_ids"]), "case {n} ({text:?}): token ids before the mask");
        assert_eq!(m - 1, case["position"].as_u64().unwrap() as usize, "case {n}: read position");
        if let Some(suffix) = case.get("suffix_ids") {
            assert_eq!(rendered.ids[m + 1..].to_vec(), ids(suffix), "case {n}: token ids after the mask");
        }
        let bound = classifier.verbalizer();
        for w in &bound.words {
            assert_eq!(w.ids, ids(&case["label_word_ids"][&w.word]), "case {n}: ids of {:?}", w.word);
        }
        let (logits, full) = classifier.mask_logits(&[&rendered], true).unwrap();
        for w in &bound.words {
            let got: Vec<f32> = w.columns.iter().map(|&c| logits[0][c]).collect();
            worst = worst.max(assert_close(&got, &floats(&case["label_word_logits"][&w.word]), &w.word));
        }
        let full = full.unwrap().narrow(1, 0, 50).unwrap().to_vec2::<f32>().unwrap();
        worst = worst.max(assert_close(&full[0], &floats(&case["first_50_logits"]), "first_50_logits"));
        // The exact rule (auto = sum on a decoder): each word's log-probability by teacher forcing,
        // plus the text after the mask, equals transformers' `label_word_scores`.
        if let Some(scores) = case.get("label_word_scores") {
            let (words, tokens, _) = classifier.word_scores(&[&rendered], false).unwrap();
            for (k, w) in bound.words.iter().enumerate() {
                let want = scores[&w.word].as_f64().unwrap() as f32;
                worst = worst.max(assert_close(
                    &[words[0][k]],
                    &[want],
                    &format!("case {n}: score of {}", w.word),
                ));
                let per_token = floats(&case["label_word_logprobs"][&w.word]);
                worst = worst.max(assert_close(&tokens[0][k], &per_token[..w.ids.len()], "token log-probs"));
            }
        }
        if case.get("suffix").and_then(Value::as_str) == Some("") {
            plain.push((n, rendered));
        }
    }
    if let Some(batch) = reference.get("batch") {
        let src = format!("{} {{mask}}", "{text_a} It was");
        let classifier =
            Classifier::new(&plm, Template::parse(&src).unwrap(), &verbalizer, ClassifyOptions::default())
                .unwrap();
        let rows: Vec<&Rendered> = batch["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &plain.iter().find(|(n, _)| *n as u64 == c.as_u64().unwrap()).expect("a batch case").1)
            .collect();
        let (logits, _) = classifier.mask_logits(&rows, false).unwrap();
        for (row, want_row) in batch["label_word_logits"].as_array().unwrap().iter().enumerate() {
            for w in &classifier.verbalizer().words {
                let got: Vec<f32> = w.columns.iter().map(|&c| logits[row][c]).collect();
                worst =
                    worst.max(assert_close(&got, &floats(&want_row[&w.word]), &format!("batch row {row}")));
            }
        }
    }
    eprintln!("{}: {} cases, largest |Δ| {worst:.2e}", dir.display(), cases.len());
    worst
}

#[test]
fn gpt2_matches_transformers() {
    check_decoder(shared_fixtures().join("gpt2"), Family::Gpt2);
}

#[test]
fn llama_matches_transformers() {
    check_decoder(repo_fixtures().join("llama"), Family::Llama);
}

#[test]
fn llama3_rope_scaling_matches_transformers() {
    check_decoder(repo_fixtures().join("llama3-rope"), Family::Llama);
}

#[test]
fn qwen2_matches_transformers() {
    check_decoder(repo_fixtures().join("qwen2"), Family::Llama);
}

#[test]
fn gemma3_matches_transformers() {
    check_decoder(repo_fixtures().join("gemma3"), Family::Gemma3);
}

#[test]
fn gemma3_saved_with_save_pretrained_still_matches_transformers() {
    let dir = saved_copy("gemma3");
    let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(tensors.contains_key("model.layers.1.self_attn.k_norm.weight"));
    assert!(!tensors.contains_key("lm_head.weight"), "the tied head is written once, as the embeddings");
    check_decoder(dir.clone(), Family::Gemma3);
    let _ = std::fs::remove_dir_all(dir);
}

/// The tiny Llama as llama.cpp GGUF files (`gguf-llama/`): the f32 file reads as the safetensors
/// model does; the Q8_0 and Q4_0 files, dequantised, give what transformers computes from them (it
/// dequantises too), and differ from the f32 model by the quantisation error measured here.
#[test]
fn gguf_llama_files_match_transformers_and_their_quantisation_error_is_measured() {
    let dir = repo_fixtures().join("gguf-llama");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let words: Vec<String> = reference["label_words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let verbalizer =
        Verbalizer::new(words.iter().map(|w| Class { name: w.clone(), words: vec![w.clone()] }).collect())
            .unwrap();
    let f32_cases = reference["cases"].as_array().unwrap();
    for (name, cases) in [
        ("f32", f32_cases),
        ("q8_0", reference["quantised"]["q8_0"]["cases"].as_array().unwrap()),
        ("q4_0", reference["quantised"]["q4_0"]["cases"].as_array().unwrap()),
    ] {
        let file = dir.join(reference["files"][name]["file"].as_str().unwrap());
        // As transformers reads the file (`gguf_file=`: dequantised), then held quantised.
        let plm = Plm::load_with(&file, &Device::Cpu, DType::F32, GgufWeights::Dequantised).unwrap();
        let quantised = Plm::load(&file, &Device::Cpu).unwrap();
        assert_eq!(plm.family(), Family::Llama);
        assert_eq!(quantised.is_quantised(), name != "f32", "{name}");
        let (mut worst, mut vs_f32, mut q_vs_f32) = (0f32, 0f32, 0f32);
        for (n, (case, f32_case)) in cases.iter().zip(f32_cases).enumerate() {
            let template = Template::parse(f32_case["template"].as_str().unwrap()).unwrap();
            let c = Classifier::new(&plm, template.clone(), &verbalizer, ClassifyOptions::default()).unwrap();
            let rendered = c.render(&[("text_a", f32_case["text_a"].as_str().unwrap())]).unwrap();
            let m = rendered.mask_positions[0];
            assert_eq!(rendered.ids[..m].to_vec(), ids(&case["input_ids"]), "{name} case {n}: ids");
            let (scores, _, _) = c.word_scores(&[&rendered], false).unwrap();
            let cq = Classifier::new(&quantised, template, &verbalizer, ClassifyOptions::default()).unwrap();
            let (q_scores, _, _) = cq.word_scores(&[&rendered], false).unwrap();
            for (k, w) in c.verbalizer().words.iter().enumerate() {
                let want = case["label_word_scores"][&w.word].as_f64().unwrap() as f32;
                worst =
                    worst.max(assert_close(&[scores[0][k]], &[want], &format!("{name} case {n} {}", w.word)));
                let exact = f32_case["label_word_scores"][&w.word].as_f64().unwrap() as f32;
                vs_f32 = vs_f32.max((scores[0][k] - exact).abs());
                q_vs_f32 = q_vs_f32.max((q_scores[0][k] - exact).abs());
            }
        }
        eprintln!(
            "gguf-llama {name}: word scores vs transformers |Δ| ≤ {worst:.2e}; vs the f32 model {vs_f32:.3e} \
             dequantised, {q_vs_f32:.3e} on the quantised blocks"
        );
        // Held quantised, a prompt's products run on each layer's weight dequantised for the
        // call: the same scores as the dequantised load (only generation steps go block by block).
        assert_eq!(q_vs_f32, vs_f32, "{name}");
        if name == "f32" {
            assert!(vs_f32 < 1e-4);
        }
    }
}
