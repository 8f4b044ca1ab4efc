//! The `cloze` binary on model folders built to crash it: a pickle declaring a 40 GB tensor, a
//! config.json with zero attention heads, a negative layer_norm_eps. Each ends with exit status 1
//! and a message naming the file and the tensor or key; none panics or aborts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A copy of the tiny BERT parity checkpoint in a fresh folder named `name`.
fn bert_copy(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("tests/fixtures/parity/bert")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn set_config(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(&path, config.to_string()).unwrap();
}

fn inspect_fails_with(dir: &Path, fragments: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_cloze"))
        .args(["inspect", "--model"])
        .arg(dir)
        .current_dir(repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "expected {f:?} in {stderr}");
    }
}

#[test]
fn huge_declared_tensor_is_refused_before_allocating() {
    let dir = bert_copy("huge-tensor");
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    std::fs::copy(
        repo().join("tests/fixtures/hostile/huge-tensor.pytorch_model.bin"),
        dir.join("pytorch_model.bin"),
    )
    .unwrap();
    inspect_fails_with(
        &dir,
        &["pytorch_model.bin", "`bert.embeddings.word_embeddings.weight`", "100000×100000"],
    );
}

#[test]
fn zero_attention_heads_is_a_config_error() {
    let dir = bert_copy("zero-heads");
    set_config(&dir, "num_attention_heads", serde_json::json!(0));
    inspect_fails_with(&dir, &["config.json", "`num_attention_heads` is 0"]);
}

#[test]
fn negative_layer_norm_eps_is_a_config_error() {
    let dir = bert_copy("negative-eps");
    set_config(&dir, "layer_norm_eps", serde_json::json!(-1e-12));
    inspect_fails_with(&dir, &["config.json", "`layer_norm_eps` is -1e-12"]);
}
