//! Numeric parity of the encoder–decoder families with PyTorch/transformers, on the tiny random
//! checkpoints `tests/fixtures/parity/{t5,t5-v1_0,bart}` (made by `make_families.py`, kind
//! `seq2seq`; fields in `tests/fixtures/parity/README.md`): the tokenizer reproduces the encoder's
//! ids (with the sentinel `<extra_id_0>` or `<mask>`) and the label words' ids (leading space);
//! encoder then decoder, teacher-forced on each word's `decoder_input_ids`, reproduce the label
//! words' logits, the first 50 vocabulary logits at `position` and each word token's
//! log-probability within 1e-4; a plain greedy loop reproduces `generation` exactly; and a model
//! written with `save_pretrained` loads back with the same logits.

use std::path::{Path, PathBuf};

use candle_core::{D, Device, Tensor};
use cloze::plm::{Family, Kind, Plm};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(d <= TOLERANCE, "{what}[{i}]: got {g}, transformers {w} (|Δ| = {d})");
        worst = worst.max(d);
    }
    worst
}

fn row(plm: &Plm, ids: &[u32]) -> (Tensor, Tensor) {
    let t = Tensor::new(ids, plm.device()).unwrap().unsqueeze(0).unwrap();
    let mask = Tensor::ones((1, ids.len()), candle_core::DType::U32, plm.device()).unwrap();
    (t, mask)
}

/// The encoder's states and mask for one row of token ids.
fn encode(plm: &Plm, input: &[u32]) -> (Tensor, Tensor) {
    let (t, mask) = row(plm, input);
    (plm.encode(&plm.embed_tokens(&t).unwrap(), &mask).unwrap(), mask)
}

/// Full-vocabulary logits `[dec_len, vocab]` of the decoder run on `dec` (teacher forcing).
fn decoder_logits(plm: &Plm, encoded: &(Tensor, Tensor), dec: &[u32]) -> Tensor {
    let (t, mask) = row(plm, dec);
    let states = plm.decode(&encoded.0, &encoded.1, &plm.embed_tokens(&t).unwrap(), &mask).unwrap();
    let head = plm.lm_head().unwrap();
    head.logits_full(&head.transform(&states.squeeze(0).unwrap()).unwrap()).unwrap()
}

/// Runs every check of one fixture and returns the largest difference seen.
fn check(dir: &Path, family: Family) -> f32 {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let plm = Plm::load(dir, &Device::Cpu).unwrap();
    assert_eq!(plm.family(), family);
    assert_eq!(plm.kind(), Kind::EncoderDecoder);
    let start = reference["decoder_start_token_id"].as_u64().unwrap() as u32;
    assert_eq!(plm.decoder_start_id(), Some(start), "decoder start token");
    let mask_token = reference["mask_token"].as_str().unwrap();
    assert_eq!(plm.tokenizer().special().mask.0, mask_token, "the family's mask token");
    let prefix = reference["label_word_prefix"].as_str().unwrap();
    let mut worst = 0f32;
    let cases = reference["cases"].as_array().unwrap();
    for (n, case) in cases.iter().enumerate() {
        let rendered = case["rendered"].as_str().unwrap();
        let input = plm.tokenizer().encode_with_specials(rendered).unwrap().get_ids().to_vec();
        assert_eq!(input, ids(&case["input_ids"]), "case {n}: encoder ids of {rendered:?}");
        let m = case["encoder_mask_position"].as_u64().unwrap() as usize;
        assert_eq!(input[m], plm.tokenizer().special().mask.1, "case {n}: the mask token's place");
        let encoded = encode(&plm, &input);
        let position = case["position"].as_u64().unwrap() as usize;
        let words = case["label_word_ids"].as_object().unwrap();
        let mut first: Option<Vec<f32>> = None;
        for (word, want_ids) in words {
            let word_ids = plm.tokenizer().encode_plain(&format!("{prefix}{word}")).unwrap();
            assert_eq!(word_ids, ids(want_ids), "case {n}: ids of {word:?}");
            let dec = ids(&case["decoder_input_ids"][word]);
            let logits = decoder_logits(&plm, &encoded, &dec).to_vec2::<f32>().unwrap();
            let at = &logits[position];
            let got: Vec<f32> = word_ids.iter().map(|&i| at[i as usize]).collect();
            worst = worst.max(assert_close(&got, &floats(&case["label_word_logits"][word]), word));
            worst = worst.max(assert_close(&at[..50], &floats(&case["first_50_logits"]), "first_50_logits"));
            if let Some(f) = &first {
                // The logits at `position` do not depend on the word that follows.
                worst = worst.max(assert_close(at, f, "logits at position across words"));
            }
            first.get_or_insert_with(|| at.clone());
            // Teacher-forced log-probabilities: word token k is predicted at `position + k`.
            let lp =
                candle_nn::ops::log_softmax(&Tensor::new(logits.clone(), plm.device()).unwrap(), D::Minus1)
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap();
            let got: Vec<f32> =
                word_ids.iter().enumerate().map(|(k, &i)| lp[position + k][i as usize]).collect();
            worst = worst.max(assert_close(&got, &floats(&case["label_word_logprobs"][word]), "logprobs"));
            let score: f32 = got.iter().sum();
            let want = case["label_word_scores"][word].as_f64().unwrap() as f32;
            worst = worst.max(assert_close(&[score], &[want], "label_word_scores"));
        }
    }
    // Greedy generation: 8 argmax steps from the decoder start, re-running the whole decoder each
    // step (no cache).
    let generation = &reference["generation"];
    let encoded = encode(&plm, &ids(&generation["input_ids"]));
    let mut dec = ids(&generation["decoder_input_ids"]);
    let mut maxima = Vec::new();
    for _ in 0..generation["max_new_tokens"].as_u64().unwrap() {
        let logits = decoder_logits(&plm, &encoded, &dec);
        let last = logits.get(dec.len() - 1).unwrap();
        dec.push(last.argmax(0).unwrap().to_scalar::<u32>().unwrap());
        maxima.push(last.max(0).unwrap().to_scalar::<f32>().unwrap());
    }
    assert_eq!(dec[1..].to_vec(), ids(&generation["new_ids"]), "greedy generation");
    worst = worst.max(assert_close(&maxima, &floats(&generation["step_max_logits"]), "step_max_logits"));
    eprintln!("{}: {} cases and generation, largest |Δ| {worst:.2e}", dir.display(), cases.len());
    worst
}

/// A model written by `save_pretrained` loads back with the same family, parameters and logits.
fn round_trip(dir: &Path) {
    let plm = Plm::load(dir, &Device::Cpu).unwrap();
    let out = std::env::temp_dir().join(format!(
        "cloze-seq2seq-save-{}-{}",
        dir.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    plm.save_pretrained(&out).unwrap();
    let back = Plm::load(&out, &Device::Cpu).unwrap();
    assert_eq!(back.family(), plm.family());
    assert_eq!(back.named_weights().len(), plm.named_weights().len(), "same parameters");
    assert_eq!(
        back.network().head().unwrap().decoder_weight.id() == back.network().word_embeddings().id(),
        plm.network().head().unwrap().decoder_weight.id() == plm.network().word_embeddings().id(),
        "tied stays tied, untied stays untied"
    );
    let input = plm.tokenizer().encode_with_specials("the film was fine It was <extra_id_0>.").unwrap();
    let input = input.get_ids().to_vec();
    let start = plm.decoder_start_id().unwrap();
    let dec = [start, input[0], input[1]];
    let a =
        decoder_logits(&plm, &encode(&plm, &input), &dec).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b =
        decoder_logits(&back, &encode(&back, &input), &dec).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b, "logits after save_pretrained and load");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn t5_v1_1_matches_transformers() {
    check(&fixture("t5"), Family::T5);
}

#[test]
fn t5_v1_0_matches_transformers() {
    check(&fixture("t5-v1_0"), Family::T5);
}

#[test]
fn bart_matches_transformers() {
    check(&fixture("bart"), Family::Bart);
}

#[test]
fn seq2seq_models_load_back_after_save_pretrained() {
    for name in ["t5", "t5-v1_0", "bart"] {
        round_trip(&fixture(name));
    }
}

#[test]
fn only_encoder_decoders_decode() {
    let plm = Plm::load(fixture("llama"), &Device::Cpu).unwrap();
    assert_eq!(plm.decoder_start_id(), None);
    let x = Tensor::zeros((1, 2, plm.hidden_size()), candle_core::DType::F32, plm.device()).unwrap();
    let m = Tensor::ones((1, 2), candle_core::DType::U32, plm.device()).unwrap();
    let err = plm.decode(&x, &m, &x, &m).unwrap_err().to_string();
    assert!(err.contains("only encoder–decoders (T5, BART)"), "{err}");
}
