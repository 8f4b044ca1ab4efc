//! Model folders built to crash the loader: PyTorch pickles declaring tensors far larger than the
//! file, safetensors headers that lie, config.json values that would divide by zero or underflow,
//! weights that are NaN. Each is refused with an error naming the file and the tensor or key,
//! before anything large is allocated (these tests must never take gigabytes).
//!
//! The checkpoints are the tiny parity fixtures (tests/fixtures/parity), copied and altered.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use cloze::plm::{Plm, checks};

fn fixture(family: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(family)
}

/// A copy of a parity fixture's files (without reference.json) in a fresh folder.
fn copy_of(family: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(family)).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "reference.json" {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn load_err(dir: &Path) -> String {
    match Plm::load(dir, &Device::Cpu) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

/// One tensor of a hand-written `pytorch_model.bin`: name, shape, offset (elements) and storage
/// record key; f32, contiguous.
struct PthTensor<'a> {
    name: &'a str,
    shape: &'a [u32],
    offset: u32,
    storage: &'a str,
    storage_elems: u32,
}

/// A pickle as `torch.save(state_dict)` writes it (protocol 2): a dict of
/// `_rebuild_tensor_v2(persistent_load(("storage", FloatStorage, key, "cpu", n)), offset, size,
/// stride, False, {})`.
fn pickle(tensors: &[PthTensor]) -> Vec<u8> {
    fn string(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend((s.len() as u32).to_le_bytes());
        p.extend(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, n: u32) {
        p.push(b'J');
        p.extend(n.to_le_bytes());
    }
    let mut p = vec![0x80, 2, b'}'];
    for t in tensors {
        string(&mut p, t.name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        string(&mut p, "storage");
        p.extend(b"ctorch\nFloatStorage\n");
        string(&mut p, t.storage);
        string(&mut p, "cpu");
        int(&mut p, t.storage_elems);
        p.extend(b"tQ");
        int(&mut p, t.offset);
        p.push(b'(');
        for &d in t.shape {
            int(&mut p, d);
        }
        p.extend(b"t(");
        let mut stride = 1u32;
        let mut strides = Vec::new();
        for &d in t.shape.iter().rev() {
            strides.push(stride);
            stride = stride.wrapping_mul(d);
        }
        for s in strides.into_iter().rev() {
            int(&mut p, s);
        }
        p.extend(b"t\x89}tRs");
    }
    p.push(b'.');
    p
}

/// Writes a `pytorch_model.bin`: `archive/data.pkl` and each storage record with `bytes` bytes.
fn write_pth(path: &Path, tensors: &[PthTensor], records: &[(&str, usize)]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(&pickle(tensors)).unwrap();
    for (key, bytes) in records {
        zip.start_file(format!("archive/data/{key}"), stored).unwrap();
        let data: Vec<u8> = (0..*bytes / 4).flat_map(|i| (i as f32 * 0.5).to_le_bytes()).collect();
        zip.write_all(&data).unwrap();
    }
    zip.finish().unwrap();
}

fn tensor<'a>(name: &'a str, shape: &'a [u32], storage: &'a str, storage_elems: u32) -> PthTensor<'a> {
    PthTensor { name, shape, offset: 0, storage, storage_elems }
}

#[test]
fn huge_declared_tensor_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pytorch_model.bin");
    // A 100000×100000 f32 tensor (40 GB) over a 16-byte record.
    write_pth(
        &path,
        &[tensor("bert.embeddings.word_embeddings.weight", &[100_000, 100_000], "0", 4)],
        &[("0", 16)],
    );
    assert!(std::fs::metadata(&path).unwrap().len() < 2048);
    let msg = checks::check_pytorch(&path).unwrap_err().to_string();
    assert!(
        msg.contains("pytorch_model.bin")
            && msg.contains("`bert.embeddings.word_embeddings.weight`")
            && msg.contains("100000×100000")
            && msg.contains("holds 16 bytes"),
        "{msg}"
    );
    // The same file, committed as a seed for the CLI tests and the fuzzers.
    let seed = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/hostile"))
        .join("huge-tensor.pytorch_model.bin");
    assert_eq!(std::fs::read(&seed).unwrap(), std::fs::read(&path).unwrap());
}

#[test]
fn pytorch_tensor_sizes_are_checked_against_their_records() {
    // (tensors, records, expected error fragment or None)
    type Case<'a> = (Vec<PthTensor<'a>>, Vec<(&'a str, usize)>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![tensor("a", &[2, 2], "0", 4)], vec![("0", 16)], None),
        // Two tensors on one storage (tied weights).
        (vec![tensor("a", &[2, 2], "0", 4), tensor("b", &[2, 2], "0", 4)], vec![("0", 16)], None),
        (vec![tensor("a", &[3, 3], "0", 9)], vec![("0", 16)], Some("tensor `a` declares shape 3×3")),
        (
            vec![PthTensor { name: "a", shape: &[2, 2], offset: 1, storage: "0", storage_elems: 4 }],
            vec![("0", 16)],
            Some("20 bytes from its offset"),
        ),
        (vec![tensor("a", &[2], "7", 2)], vec![("0", 16)], Some("names storage \"archive/data/7\"")),
        // Shape product overflowing u64.
        (
            vec![tensor("a", &[i32::MAX as u32; 3], "0", 4)],
            vec![("0", 16)],
            Some("tensor `a` declares shape 2147483647×2147483647×2147483647"),
        ),
        // The same 4 KB storage viewed by 8 tensors: more than the file can account for.
        (
            ["a", "b", "c", "d", "e", "f", "g", "h"].iter().map(|n| tensor(n, &[1024], "0", 1024)).collect(),
            vec![("0", 4096)],
            Some("the tensors add up to 32768 bytes"),
        ),
    ];
    for (i, (tensors, records, expected)) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pytorch_model.bin");
        write_pth(&path, tensors, records);
        match (checks::check_pytorch(&path), expected) {
            (Ok(()), None) => {
                let read = candle_core::pickle::read_all(&path).unwrap();
                assert_eq!(read.len(), tensors.len(), "case {i}");
            }
            (Err(e), Some(fragment)) => assert!(e.to_string().contains(fragment), "case {i}: {e}"),
            (got, want) => panic!("case {i}: got {got:?}, expected {want:?}"),
        }
    }
}

#[test]
fn huge_declared_tensor_in_a_model_folder_fails_the_load() {
    let dir = copy_of("bert");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    write_pth(
        &dir.path().join("pytorch_model.bin"),
        &[tensor("bert.embeddings.word_embeddings.weight", &[100_000, 100_000], "0", 4)],
        &[("0", 16)],
    );
    let msg = load_err(dir.path());
    assert!(msg.contains("pytorch_model.bin") && msg.contains("word_embeddings.weight"), "{msg}");
}

/// Rewrites `model.safetensors` of a fixture copy: `edit` changes the header JSON.
fn edit_safetensors_header(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut text = serde_json::to_vec(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + n..]);
    std::fs::write(&path, out).unwrap();
}

#[test]
fn lying_safetensors_headers_name_the_tensor() {
    let name = "bert.embeddings.word_embeddings.weight";
    type Edit = fn(&mut serde_json::Value);
    let cases: [(Edit, &str); 4] = [
        (
            |h| h["bert.embeddings.word_embeddings.weight"]["shape"] = serde_json::json!([100000, 100000]),
            "shape 100000×100000 needs 40000000000 bytes",
        ),
        (
            |h| h["bert.embeddings.word_embeddings.weight"]["data_offsets"][1] = serde_json::json!(u64::MAX),
            "lie outside the file",
        ),
        (
            |h| h["bert.embeddings.word_embeddings.weight"]["dtype"] = serde_json::json!("Q9"),
            "unknown dtype \"Q9\"",
        ),
        (
            |h| h["bert.embeddings.word_embeddings.weight"]["shape"] = serde_json::json!([u64::MAX, 4]),
            "overflows",
        ),
    ];
    for (edit, fragment) in cases {
        let dir = copy_of("bert");
        edit_safetensors_header(dir.path(), edit);
        let msg = load_err(dir.path());
        assert!(msg.contains("model.safetensors") && msg.contains(name) && msg.contains(fragment), "{msg}");
    }
    let dir = copy_of("bert");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = load_err(dir.path());
    assert!(msg.contains("lie outside the file"), "{msg}");
}

/// Sets `key` of a fixture copy's config.json (`null` removes it).
fn set_config(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if value.is_null() {
        config.as_object_mut().unwrap().remove(key);
    } else {
        config[key] = value;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

#[test]
fn zero_attention_heads_is_a_config_error() {
    let dir = copy_of("bert");
    set_config(dir.path(), "num_attention_heads", serde_json::json!(0));
    let msg = load_err(dir.path());
    assert!(
        msg.contains("config.json")
            && msg.contains("`num_attention_heads` is 0; it must be a whole number from 1"),
        "{msg}"
    );
}

#[test]
fn every_bad_config_value_names_its_key() {
    use serde_json::json;
    // (family, key, value, expected fragment)
    let cases = [
        ("bert", "num_attention_heads", json!(0), "`num_attention_heads` is 0"),
        (
            "bert",
            "num_attention_heads",
            json!(5),
            "`num_attention_heads` is 5, which does not divide hidden_size",
        ),
        ("bert", "num_hidden_layers", json!(0), "`num_hidden_layers` is 0"),
        ("bert", "vocab_size", json!(0), "`vocab_size` is 0"),
        ("bert", "vocab_size", serde_json::Value::Null, "config.json has no `vocab_size`"),
        ("bert", "hidden_size", json!(0), "`hidden_size` is 0"),
        (
            "bert",
            "hidden_size",
            json!(10_000_000),
            "`hidden_size` is 10000000; it must be a whole number from 1 to 65536",
        ),
        ("bert", "intermediate_size", json!(-4), "`intermediate_size` is -4"),
        ("bert", "max_position_embeddings", json!(0), "`max_position_embeddings` is 0"),
        ("bert", "type_vocab_size", json!(0), "`type_vocab_size` is 0"),
        ("bert", "layer_norm_eps", json!(-1e-12), "`layer_norm_eps` is -1e-12; it must be a number above 0"),
        ("bert", "layer_norm_eps", json!(0.0), "`layer_norm_eps` is 0.0"),
        ("bert", "hidden_dropout_prob", json!(1.5), "`hidden_dropout_prob` is 1.5; it must be a probability"),
        ("bert", "attention_probs_dropout_prob", json!(-0.1), "`attention_probs_dropout_prob` is -0.1"),
        (
            "bert",
            "position_embedding_type",
            json!("relative_key"),
            "`position_embedding_type` is \"relative_key\"",
        ),
        ("bert", "num_hidden_layers", json!("2"), "`num_hidden_layers` is \"2\""),
        (
            "roberta",
            "max_position_embeddings",
            json!(2),
            "`max_position_embeddings` is 2, but RoBERTa positions start at pad_token_id + 1 = 2",
        ),
        ("roberta", "pad_token_id", json!(-1), "`pad_token_id` is -1"),
        ("xlm-roberta", "num_attention_heads", json!(0), "`num_attention_heads` is 0"),
        ("distilbert", "n_heads", json!(0), "`n_heads` is 0"),
        ("distilbert", "n_heads", json!(7), "`n_heads` is 7, which does not divide dim"),
        ("distilbert", "n_layers", json!(0), "`n_layers` is 0"),
        ("distilbert", "dim", json!(0), "`dim` is 0"),
        ("distilbert", "hidden_dim", json!(0), "`hidden_dim` is 0"),
        ("distilbert", "vocab_size", json!(0), "`vocab_size` is 0"),
        ("distilbert", "max_position_embeddings", json!(0), "`max_position_embeddings` is 0"),
        ("distilbert", "dropout", json!(1.0), "`dropout` is 1.0"),
        ("albert", "embedding_size", json!(0), "`embedding_size` is 0"),
        ("albert", "num_hidden_groups", json!(3), "`num_hidden_groups` is 3, which does not divide"),
        ("albert", "inner_group_num", json!(2), "`inner_group_num` is 2"),
        ("albert", "num_attention_heads", json!(5), "`num_attention_heads` is 5, which does not divide"),
        ("gemma3", "sliding_window", json!(0), "`sliding_window` is 0"),
        ("gemma3", "num_key_value_heads", json!(3), "`num_key_value_heads` is 3, which does not divide"),
        ("gemma3", "layer_types", json!(["full_attention"]), "`layer_types` is [\"full_attention\"]"),
        ("gemma3", "query_pre_attn_scalar", json!(0), "`query_pre_attn_scalar` is 0"),
        ("gemma3", "final_logit_softcapping", json!(-30.0), "`final_logit_softcapping` is -30.0"),
        ("gemma3", "rms_norm_eps", json!(1.0), "`rms_norm_eps` is 1.0"),
    ];
    for (family, key, value, fragment) in cases {
        let dir = copy_of(family);
        set_config(dir.path(), key, value.clone());
        let msg = load_err(dir.path());
        assert!(msg.contains("config.json") && msg.contains(fragment), "{family} {key}={value}: {msg}");
    }
}

#[test]
fn weights_not_matching_the_config_name_the_weight_and_shapes() {
    let dir = copy_of("bert");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap()).unwrap();
    let layers = config["num_hidden_layers"].as_u64().unwrap();
    set_config(dir.path(), "intermediate_size", serde_json::json!(8));
    let msg = load_err(dir.path());
    assert!(msg.contains("do not match config.json") && msg.contains("intermediate.dense.weight"), "{msg}");
    let dir = copy_of("bert");
    set_config(dir.path(), "num_hidden_layers", serde_json::json!(layers + 1));
    let msg = load_err(dir.path());
    assert!(msg.contains(&format!("encoder.layer.{layers}.")), "{msg}");
}

/// A `gemma3` (multimodal) checkpoint is refused with what to pick instead; a `gemma3` config
/// whose `text_config` describes text-only weights loads.
#[test]
fn multimodal_gemma3_checkpoints_say_to_pick_a_text_model() {
    let text_config = |dir: &Path| {
        let path = dir.join("config.json");
        let text: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let wrapped = serde_json::json!({
            "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": text,
        });
        std::fs::write(&path, wrapped.to_string()).unwrap();
    };
    let dir = copy_of("gemma3");
    text_config(dir.path());
    let plm = Plm::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(plm.dims().layers, 2);

    let path = dir.path().join("model.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let mut multimodal: std::collections::HashMap<String, Tensor> =
        tensors.into_iter().map(|(k, t)| (k.replacen("model.", "model.language_model.", 1), t)).collect();
    multimodal.insert(
        "model.vision_tower.patch.weight".into(),
        Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&multimodal, &path).unwrap();
    let msg = load_err(dir.path());
    assert!(msg.contains("multimodal Gemma 3 checkpoint") && msg.contains("Gemma3ForCausalLM"), "{msg}");
}

/// Rewrites one tensor of a fixture copy's model.safetensors.
fn set_weight(dir: &Path, name: &str, f: impl FnOnce(&Tensor) -> Tensor) {
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let t = f(&tensors[name]);
    tensors.insert(name.to_string(), t);
    candle_core::safetensors::save(&tensors, &path).unwrap();
}

#[test]
fn nan_weights_are_refused_at_load_naming_the_weight() {
    let name = "bert.encoder.layer.0.attention.self.query.weight";
    for bad in [f32::NAN, f32::INFINITY] {
        let dir = copy_of("bert");
        set_weight(dir.path(), name, |t| {
            let mut v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            v[3] = bad;
            Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap()
        });
        let msg = load_err(dir.path());
        assert!(
            msg.contains(name) && msg.contains("NaN or infinite") && msg.contains("re-download"),
            "{msg}"
        );
    }
    // f64 loading checks too.
    let dir = copy_of("bert");
    set_weight(dir.path(), name, |t| (t * f64::NAN).unwrap());
    let msg = Plm::load_with_dtype(dir.path(), &Device::Cpu, DType::F64).unwrap_err().to_string();
    assert!(msg.contains(name), "{msg}");
}

#[test]
fn oversized_tokenizer_files_are_refused() {
    let dir = copy_of("bert");
    // A sparse file: its length is past the limit, its blocks are not allocated.
    let f = std::fs::OpenOptions::new().write(true).open(dir.path().join("tokenizer.json")).unwrap();
    f.set_len(checks::TOKENIZER_FILE_LIMIT + 1).unwrap();
    let msg = load_err(dir.path());
    assert!(msg.contains("tokenizer.json is 1073741825 bytes"), "{msg}");
    let dir = copy_of("bert");
    let f = std::fs::OpenOptions::new().write(true).open(dir.path().join("config.json")).unwrap();
    f.set_len(checks::SMALL_FILE_LIMIT + 1).unwrap();
    let msg = load_err(dir.path());
    assert!(msg.contains("config.json is 16777217 bytes"), "{msg}");
}
