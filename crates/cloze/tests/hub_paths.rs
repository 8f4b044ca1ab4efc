//! Nothing from outside chooses where the program writes or reads: a Hub listing's blob ids, LFS
//! hashes, file names, sizes and commit, a revision typed by the user, a cache's ref files and a
//! model's shard index are checked before they form a path. Each crafted value gets a clear
//! error, and the folder holding the cache has exactly the same contents before and after.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::hub::resolve_model_in;
use cloze::plm::Plm;
use serde_json::{Value, json};

mod common;

use common::mock_hub::*;

/// Every path under `root` (files, folders, links), relative to it.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// The listing the mock Hub gives for the fixture repository, for a test to spoil one value of.
fn listing() -> Value {
    let siblings: Vec<Value> = fixture_files()
        .iter()
        .map(|(name, bytes)| {
            if name.ends_with(".safetensors") {
                json!({"rfilename": name, "blobId": git_blob_id(b"pointer"), "size": bytes.len(),
                    "lfs": {"sha256": sha256(bytes), "size": bytes.len()}})
            } else {
                json!({"rfilename": name, "blobId": git_blob_id(bytes), "size": bytes.len()})
            }
        })
        .collect();
    json!({"id": "org/tiny", "sha": COMMIT, "siblings": siblings})
}

/// `listing()` with `edit` applied to the sibling named `file`.
fn spoiled(file: &str, edit: impl Fn(&mut Value)) -> Value {
    let mut l = listing();
    for s in l["siblings"].as_array_mut().unwrap() {
        if s["rfilename"] == file {
            edit(s);
        }
    }
    l
}

#[test]
fn hub_listing_never_writes_outside_the_cache() {
    let hub = MockHub::start();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hub-paths-listing");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("cache")).unwrap();
    std::fs::write(root.join("victim.txt"), "keep me").unwrap();
    let cache = cloze::hub::Cache::new(root.join("cache"));
    let c = client(&hub, &cache, None);
    let escape = "../../../victim.txt";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "blobId with ../",
            spoiled("config.json", |s| s["blobId"] = json!(escape)),
            "blob id \"../../../victim.txt\", which is not 40 hex digits",
        ),
        (
            "blobId of hex then ../",
            spoiled("config.json", |s| s["blobId"] = json!(format!("{}/../../x", "a".repeat(32)))),
            "not 40 hex digits",
        ),
        (
            "lfs.sha256 with ../",
            spoiled("model.safetensors", |s| s["lfs"]["sha256"] = json!(escape)),
            "LFS sha256 \"../../../victim.txt\", which is not 64 hex digits",
        ),
        (
            "rfilename with ../",
            {
                let mut l = listing();
                let siblings = l["siblings"].as_array_mut().unwrap();
                let mut odd = siblings.iter().find(|s| s["rfilename"] == "config.json").unwrap().clone();
                odd["rfilename"] = json!(escape);
                siblings.push(odd);
                l
            },
            // the listed config.json is fine; the needed file list never takes the odd name
            "",
        ),
        (
            "tokenizer named by an absolute path",
            spoiled("tokenizer.json", |s| s["rfilename"] = json!("/tmp/tokenizer.json")),
            "no tokenizer.json",
        ),
        (
            "commit sha with ../",
            { json!({"id": "org/tiny", "sha": "../../../x", "siblings": listing()["siblings"]}) },
            "is not a commit sha",
        ),
        (
            "no size",
            spoiled("config.json", |s| {
                s.as_object_mut().unwrap().remove("size");
            }),
            "gives no size for config.json",
        ),
        (
            "a size past the limit",
            spoiled("model.safetensors", |s| s["lfs"]["size"] = json!(1u64 << 50)),
            "more than the",
        ),
    ];
    let before = tree(&root);
    for (what, listing, want) in cases {
        hub.faults.lock().unwrap().listing = Some(listing);
        let got = c.download("org/tiny", "main", &mut |_| true);
        if want.is_empty() {
            // a listing with an odd extra name still downloads the files it needs, inside the cache
            assert!(got.is_ok(), "{what}: {got:?}");
            assert_eq!(std::fs::read_to_string(root.join("victim.txt")).unwrap(), "keep me");
            cache.remove("org/tiny").unwrap();
        } else {
            let e = got.expect_err(what).to_string();
            assert!(e.contains(want), "{what}: {e}");
            assert!(e.contains("org/tiny"), "{what}: the error names the repository: {e}");
        }
        assert_eq!(tree(&root), before, "{what}: nothing was created or removed");
    }
    assert_eq!(std::fs::read_to_string(root.join("victim.txt")).unwrap(), "keep me");
}

#[test]
fn revision_is_never_a_path() {
    let hub = MockHub::start();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hub-paths-revision");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("cache")).unwrap();
    let cache = cloze::hub::Cache::new(root.join("cache"));
    let c = client(&hub, &cache, None);
    let target = root.join("written-by-revision");
    let abs = target.to_str().unwrap().to_string();
    let before = tree(&root);
    for revision in [abs.as_str(), "../../written-by-revision", "a/../../../x", "..", "main/..", ".git"] {
        let e = c.download("org/tiny", revision, &mut |_| true).unwrap_err().to_string();
        assert!(e.contains("not a branch, tag or commit sha"), "{revision}: {e}");
        let e = resolve_model_in(&cache, &format!("org/tiny@{revision}")).unwrap_err().to_string();
        assert!(e.contains("not a branch, tag or commit sha"), "{revision}: {e}");
        assert!(cache.write_ref("org/tiny", revision, COMMIT).is_err(), "{revision}");
    }
    assert!(hub.faults.lock().unwrap().seen.is_empty(), "a bad revision is refused before asking the Hub");
    assert_eq!(tree(&root), before, "nothing was written");
    assert!(!target.exists());

    // A real download, then a ref file that someone pointed elsewhere: refused, not followed.
    c.download("org/tiny", "main", &mut |_| true).unwrap();
    let refs = cache.repo_dir("org/tiny").unwrap().join("refs");
    assert_eq!(std::fs::read_to_string(refs.join("main")).unwrap(), COMMIT);
    std::fs::write(refs.join("main"), "../../../../").unwrap();
    let e = resolve_model_in(&cache, "org/tiny").unwrap_err().to_string();
    assert!(e.contains("does not hold") || e.contains("holds \"../../../../\""), "{e}");
    assert!(e.contains("download org/tiny again"), "{e}");
    // refs/ and snapshots/ hold no temporary file after the download
    let leftovers: Vec<_> =
        tree(cache.root()).into_iter().filter(|p| p.to_string_lossy().contains(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn shard_index_never_leaves_the_model_folder() {
    let fixture = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"));
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hub-paths-shards");
    let _ = std::fs::remove_dir_all(&root);
    let model = root.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
        std::fs::copy(fixture.join(name), model.join(name)).unwrap();
    }
    // the weights sit outside the model folder, where a hostile index would point
    std::fs::copy(fixture.join("model.safetensors"), root.join("x.safetensors")).unwrap();
    let index = |file: &str| {
        json!({"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": file}}).to_string()
    };
    for file in ["../x.safetensors", "/etc/passwd", "sub/../../x.safetensors", "..", ""] {
        std::fs::write(model.join("model.safetensors.index.json"), index(file)).unwrap();
        let e = Plm::load(&model, &Device::Cpu).err().unwrap_or_else(|| panic!("{file}: loaded")).to_string();
        assert!(
            e.contains("model.safetensors.index.json") && e.contains("not a plain file name in this folder"),
            "{file}: {e}"
        );
    }
    std::fs::write(model.join("model.safetensors.index.json"), r#"{"weight_map": {"a.weight": 7}}"#).unwrap();
    let e = Plm::load(&model, &Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("\"a.weight\" to 7, which is not a file name"), "{e}");
    // the same weights beside the index load
    std::fs::rename(root.join("x.safetensors"), model.join("model-00001-of-00001.safetensors")).unwrap();
    std::fs::write(model.join("model.safetensors.index.json"), index("model-00001-of-00001.safetensors"))
        .unwrap();
    let plm = Plm::load(&model, &Device::Cpu).unwrap();
    assert_eq!(plm.family().name(), "roberta");
}
