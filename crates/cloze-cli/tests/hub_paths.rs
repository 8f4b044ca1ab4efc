//! `cloze hub download` and model loading never write or read outside their place, whatever the
//! Hub's listing, the revision typed or a model's shard index says (through the built binary,
//! against the mock Hub the engine's tests use).

use std::path::{Path, PathBuf};

use serde_json::json;

#[path = "common/hub_cli.rs"]
mod hub_cli;
#[path = "../../cloze/tests/common/mock_hub.rs"]
mod mock_hub;

use hub_cli::{cloze, fresh_dir};
use mock_hub::*;

/// Every path under `root`, sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[test]
fn revision_is_never_a_path() {
    let hub = MockHub::start();
    let root = fresh_dir("cli-revision-path");
    let target = root.join("written-by-revision");
    let before = tree(&root);
    for spec in [format!("org/tiny@{}", target.display()), "org/tiny@../../written-by-revision".into()] {
        for args in [vec!["hub", "download", spec.as_str()], vec!["inspect", "--model", spec.as_str()]] {
            let out = cloze(&hub, &root, &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("not a branch, tag or commit sha"),
                "{args:?}: {err}"
            );
        }
    }
    assert!(hub.faults.lock().unwrap().seen.is_empty(), "refused before asking the Hub");
    assert_eq!(tree(&root), before);
}

#[test]
fn hub_listing_never_writes_outside_the_cache() {
    let hub = MockHub::start();
    let root = fresh_dir("cli-listing-path");
    std::fs::write(root.join("victim.txt"), "keep me").unwrap();
    let file = |name: &str, blob: &str| json!({"rfilename": name, "blobId": blob, "size": 7});
    let good = git_blob_id(b"x");
    let sha = "a".repeat(64);
    let listings = [
        (
            file("config.json", "../../../../victim.txt"),
            file("model.safetensors", &good),
            "not 40 hex digits",
        ),
        (
            file("config.json", &good),
            json!({"rfilename": "model.safetensors", "blobId": good, "size": 7,
                "lfs": {"sha256": format!("{}/../../../../victim.txt", &sha[..40]), "size": 7}}),
            "not 64 hex digits",
        ),
    ];
    let before = tree(&root);
    for (config, weights, want) in listings {
        let siblings = json!([config, file("tokenizer.json", &good), weights]);
        hub.faults.lock().unwrap().listing = Some(json!({"sha": COMMIT, "siblings": siblings}));
        let out = cloze(&hub, &root, &["hub", "download", "org/tiny"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want) && err.contains("org/tiny@main"), "{err}");
        assert_eq!(tree(&root), before, "nothing was created");
        assert_eq!(std::fs::read_to_string(root.join("victim.txt")).unwrap(), "keep me");
    }
}

#[test]
fn shard_index_never_leaves_the_model_folder() {
    let hub = MockHub::start();
    let root = fresh_dir("cli-shard-path");
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for (name, bytes) in fixture_files() {
        match name.as_str() {
            "model.safetensors" => std::fs::write(root.join("x.safetensors"), bytes).unwrap(),
            "config.json" | "tokenizer.json" | "tokenizer_config.json" => {
                std::fs::write(model.join(name), bytes).unwrap()
            }
            _ => {}
        }
    }
    for shard in ["../x.safetensors", "/etc/passwd"] {
        let index = json!({"weight_map": {"embeddings.word_embeddings.weight": shard}});
        std::fs::write(model.join("model.safetensors.index.json"), index.to_string()).unwrap();
        let out = cloze(&hub, &root, &["inspect", "--model", model.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains("model.safetensors.index.json")
                && err.contains("not a plain file name in this folder"),
            "{shard}: {err}"
        );
    }
}
