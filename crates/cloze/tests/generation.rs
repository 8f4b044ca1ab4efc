//! Generation against transformers' `generate(do_sample=False)` on the tiny fixtures: a decoder
//! with its key/value cache (the prompt once, then one token per step) and an encoder–decoder
//! (encoder once, decoder over the answer so far) give transformers' token ids, and a decoder's
//! cached logits equal a full forward pass over the whole row at every step.

use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::generate::{GenerateOptions, StopReason, generate, greedy_ids, next_token_logits};
use cloze::plm::Plm;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity").join(name)
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn greedy_generation_gives_transformers_token_ids_for_every_generating_family() {
    for name in ["llama", "llama3-rope", "qwen2", "gemma3", "t5", "t5-v1_0", "bart"] {
        let dir = fixture(name);
        let reference: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
        let g = &reference["generation"];
        let plm = Plm::load(&dir, &Device::Cpu).unwrap();
        let n = g["max_new_tokens"].as_u64().unwrap() as usize;
        let got = greedy_ids(&plm, &ids(&g["input_ids"]), n).unwrap();
        assert_eq!(got, ids(&g["new_ids"]), "{name}: greedy ids");
    }
}

#[test]
fn a_decoders_cached_steps_equal_full_forward_passes() {
    let gpt2 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/parity/gpt2");
    for dir in [gpt2, fixture("llama"), fixture("qwen2"), fixture("gemma3")] {
        let plm = Plm::load(&dir, &Device::Cpu).unwrap();
        let mut row = plm
            .tokenizer()
            .encode_with_specials("The movie was great. The story")
            .unwrap()
            .get_ids()
            .to_vec();
        let mut cache = plm.kv_cache();
        let head = plm.lm_head().unwrap();
        let mut fed = row.clone();
        let mut worst = 0f32;
        for _ in 0..6 {
            let hidden = plm.forward_cached(&fed, &mut cache).unwrap();
            let t = hidden.dim(1).unwrap();
            let last = hidden.get(0).unwrap().get(t - 1).unwrap().unsqueeze(0).unwrap();
            let cached = head.logits_full(&head.transform(&last).unwrap()).unwrap().get(0).unwrap();
            let cached = cached.to_vec1::<f32>().unwrap();
            let full = next_token_logits(&plm, &row).unwrap().to_vec1::<f32>().unwrap();
            worst = cached.iter().zip(&full).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
            let next = full.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as u32;
            row.push(next);
            fed = vec![next];
            assert_eq!(cache.len(), row.len() - 1);
        }
        assert!(worst < 1e-5, "{}: cached vs full logits differ by {worst}", dir.display());
    }
}

#[test]
fn an_encoder_decoder_generates_text_and_a_masked_lm_says_what_to_pick() {
    let plm = Plm::load(fixture("t5"), &Device::Cpu).unwrap();
    let mut pieces = Vec::new();
    let options = GenerateOptions { max_new_tokens: 5, ..Default::default() };
    let out = generate(&plm, "the film was fine", &options, &mut |p| {
        pieces.push(p.to_string());
        true
    })
    .unwrap();
    assert_eq!(out.ids.len(), 5);
    assert_eq!(out.stop, StopReason::Length);
    assert_eq!(pieces.concat(), out.text, "the streamed pieces make the text");
    // Cancelling from the callback stops it.
    let err = generate(&plm, "the film was fine", &options, &mut |_| false).unwrap_err();
    assert!(matches!(err, cloze::Error::Cancelled), "{err}");

    // A byte-level BPE splits characters over tokens: the streamed pieces still join to the text.
    let llama = Plm::load(fixture("llama"), &Device::Cpu).unwrap();
    for seed in [7, 8, 9] {
        let options = GenerateOptions {
            decoding: cloze::generate::Decoding::Sample { temperature: 1.0, top_p: 1.0, seed },
            max_new_tokens: 12,
            stop: Vec::new(),
        };
        let mut pieces = Vec::new();
        let out = generate(&llama, "The movie was", &options, &mut |p| {
            pieces.push(p.to_string());
            true
        })
        .unwrap();
        assert_eq!(pieces.concat(), out.text, "seed {seed}: pieces {pieces:?}");
    }

    let bert = Plm::load(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/parity/bert"),
        &Device::Cpu,
    )
    .unwrap();
    let msg = generate(&bert, "hello", &options, &mut |_| true).unwrap_err().to_string();
    assert!(msg.contains("masked-LM") && msg.contains("T5"), "{msg}");
}
