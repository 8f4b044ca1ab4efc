//! The Hugging Face cache shared with the Python tools: a cache laid out the way `huggingface_hub`
//! writes it (blobs named by sha256 / etag, refs/main, relative symlinks in snapshots/) is read, a
//! model in it loads by repository id, and files stored by the engine land in the same layout.

use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::hub::{Cache, resolve_model_in};
use cloze::plm::Plm;
use sha2::{Digest, Sha256};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn fixture() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity/roberta"))
}

fn fresh(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Lays out `fixture()` as `huggingface_hub` would after `snapshot_download("org/tiny-roberta")`.
fn python_style_cache(root: &Path) {
    let repo = root.join("models--org--tiny-roberta");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(COMMIT)).unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    for entry in std::fs::read_dir(fixture()).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        let etag: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(repo.join("blobs").join(&etag), &bytes).unwrap();
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(&etag),
            repo.join("snapshots").join(COMMIT).join(entry.file_name()),
        )
        .unwrap();
    }
}

#[test]
fn a_python_cache_is_read_and_its_models_load_by_repo_id() {
    let root = fresh("hf-cache-python");
    python_style_cache(&root);
    let cache = Cache::new(&root);
    assert_eq!(cache.resolve("org/tiny-roberta", "main").unwrap().as_deref(), Some(COMMIT));
    assert_eq!(cache.resolve("org/tiny-roberta", COMMIT).unwrap().as_deref(), Some(COMMIT));
    assert_eq!(cache.resolve("org/tiny-roberta", "v2").unwrap(), None);
    for spec in ["org/tiny-roberta", "org/tiny-roberta@main", &format!("org/tiny-roberta@{COMMIT}")] {
        let dir = resolve_model_in(&cache, spec).unwrap();
        let plm = Plm::load(&dir, &Device::Cpu).unwrap();
        assert_eq!(plm.family().name(), "roberta");
    }
    let err = resolve_model_in(&cache, "org/other").unwrap_err().to_string();
    assert!(
        err.contains("not in the Hugging Face cache") && err.contains("cloze hub download org/other"),
        "{err}"
    );
    let err = resolve_model_in(&cache, "./no/such/folder").unwrap_err().to_string();
    assert!(err.contains("no such folder"), "{err}");
    let listed = cache.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].repo_id, "org/tiny-roberta");
    assert_eq!(listed[0].snapshots, vec![(COMMIT.to_string(), vec!["main".to_string()])]);
    let bytes: u64 =
        std::fs::read_dir(fixture()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert_eq!(listed[0].size, bytes);
    assert_eq!(cache.remove("org/tiny-roberta").unwrap(), bytes);
    assert!(cache.list().unwrap().is_empty());
    assert!(cache.remove("org/tiny-roberta").unwrap_err().to_string().contains("not in the cache"));
}

#[test]
fn stored_files_use_the_python_layout() {
    let root = fresh("hf-cache-store");
    let cache = Cache::new(&root);
    let work = fresh("hf-cache-store-downloads");
    for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"] {
        let tmp = work.join(format!("{name}.incomplete"));
        std::fs::copy(fixture().join(name), &tmp).unwrap();
        let etag: String =
            Sha256::digest(std::fs::read(&tmp).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
        let link = cache.store_file("org/tiny", COMMIT, name, &etag, &tmp).unwrap();
        let target = std::fs::read_link(&link).unwrap();
        assert_eq!(target, Path::new("../../blobs").join(&etag), "relative link as huggingface_hub makes");
    }
    cache.write_ref("org/tiny", "main", COMMIT).unwrap();
    assert_eq!(std::fs::read_to_string(root.join("models--org--tiny/refs/main")).unwrap(), COMMIT);
    let dir = cache.snapshot("org/tiny", "main").unwrap();
    assert!(Plm::load(&dir, &Device::Cpu).is_ok());
    // nested file names link two levels further up
    let tmp = work.join("x");
    std::fs::write(&tmp, b"{}").unwrap();
    let link = cache.store_file("org/tiny", COMMIT, "onnx/config.json", "abc", &tmp).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("../../../blobs/abc"));
    assert!(cache.store_file("org/tiny", COMMIT, "../escape", "abc", &tmp).is_err());
    assert!(cache.store_file("org/tiny", "main", "a", "abc", &tmp).is_err());
}
