//! Prompt bundles: a finished tuning run as one self-describing folder that another machine (or
//! `cloze classify --prompt BUNDLE`) classifies with bit for bit as the run does.
//!
//! A bundle is the run folder's files — `config.json`, `metrics.jsonl`, `summary.json`,
//! `dev_predictions.jsonl`, the trained tensors (`prompt.safetensors`: soft prompt and soft
//! verbalizer; `probe.safetensors`: the probe head), `classes.json`, `demos.jsonl`, and for
//! fine-tuning and pretraining the `model/` folder — plus:
//! - `manifest.json` ([`Manifest`]): the format and its version, the strategy, the model the run
//!   was made with (family, Hugging Face repository id and revision when it came from the cache, a
//!   SHA-256 over its config and weights and one over its tokenizer files), the calibration, and
//!   the SHA-256 of every file of the bundle;
//! - `template.txt` and `verbalizer.json`: the prompt, readable without Cloze Studio.
//!
//! The same bundle can be one `.zip` archive (an `--output` ending in `.zip`: the folder's files,
//! stored uncompressed — safetensors do not compress); [`open_bundle`] unpacks one into a
//! temporary folder, removed when the [`OpenedBundle`] is dropped.
//!
//! Opening a bundle ([`open_bundle`]) checks the format version (a newer one is refused: update),
//! every file against its hash, and the model to run it on (the one given, else the folder the
//! manifest names, else the cached repository at its revision) against the model hashes: a bundle
//! for another model is refused, naming the model it wants.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, Setting, Text};
use crate::files::{AtomicDir, Replace, write_atomic};
use crate::plm::Family;
use crate::tune::{RunDir, TuneConfig, TuneStrategy};

/// What `manifest.json`'s `format` says.
pub const BUNDLE_FORMAT: &str = "cloze-prompt-bundle";
/// The newest bundle format version this build writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// The run files a bundle carries (those the run has), besides `model/`.
const RUN_FILES: [&str; 8] = [
    "config.json",
    "metrics.jsonl",
    "summary.json",
    "dev_predictions.jsonl",
    "prompt.safetensors",
    "probe.safetensors",
    "classes.json",
    "demos.jsonl",
];

/// Tokenizer files, hashed into [`ModelRef::tokenizer_sha256`] (those present).
const TOKENIZER_FILES: [&str; 10] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
];

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// [`BUNDLE_VERSION`] when written; a reader refuses a newer one.
    pub format_version: u32,
    /// The Cloze Studio version that wrote it.
    pub engine: String,
    pub strategy: TuneStrategy,
    /// The model the prompt runs on.
    pub model: ModelRef,
    /// Contextual calibration applied after the verbalizer; `None`: the run's probabilities are
    /// used as they are (tuned runs are not calibrated).
    pub calibration: Option<Vec<f64>>,
    /// SHA-256 (hex) of each file of the bundle but the manifest, by relative path.
    pub files: BTreeMap<String, String>,
}

/// Which model a bundle's prompt was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    /// The family's name (`roberta`, `llama`, `t5`…).
    pub family: String,
    /// Where the model was when the bundle was written.
    pub path: PathBuf,
    /// The Hugging Face repository, when the model came from the cache.
    pub repo_id: Option<String>,
    /// Its revision (commit), likewise.
    pub revision: Option<String>,
    /// SHA-256 over the config and weight files (each file's name and hash, in name order).
    pub content_sha256: String,
    /// SHA-256 over the tokenizer files, likewise.
    pub tokenizer_sha256: String,
    /// The model is the bundle's own `model/` folder (fine-tuning and pretraining runs).
    pub bundled: bool,
}

impl ModelRef {
    /// How to name the model in a message: `org/name@revision`, else its path.
    pub fn describe(&self) -> String {
        match (&self.repo_id, &self.revision) {
            (Some(r), Some(v)) => format!("{r}@{v}"),
            (Some(r), None) => r.clone(),
            _ => self.path.display().to_string(),
        }
    }
}

/// The SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One hash over named files: each file's name and SHA-256, in name order.
fn combined(files: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    for (name, sha) in files {
        hasher.update(format!("{name}\t{sha}\n").as_bytes());
    }
    hex(&hasher.finalize())
}

/// The model's content hashes: (config + weights, tokenizer). A GGUF file holds both.
pub fn model_hashes(model: &Path) -> Result<(String, String)> {
    if model.is_file() {
        let sha = sha256_file(model)?;
        let files = BTreeMap::from([(file_name(model), sha)]);
        let h = combined(&files);
        return Ok((h.clone(), h));
    }
    let entries = std::fs::read_dir(model).map_err(|e| Error::io(model, e))?;
    let mut weights = BTreeMap::new();
    let mut tokenizer = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(model, e))?.path();
        if !path.is_file() {
            continue;
        }
        let name = file_name(&path);
        let is_weights = name == "config.json"
            || name.ends_with(".safetensors")
            || name.ends_with(".bin")
            || name.ends_with(".gguf")
            || name.ends_with(".index.json");
        if name.starts_with('.') || name.starts_with("adapter_") {
            continue;
        }
        if is_weights {
            weights.insert(name, sha256_file(&path)?);
        } else if TOKENIZER_FILES.contains(&name.as_str()) {
            tokenizer.insert(name, sha256_file(&path)?);
        }
    }
    if !weights.contains_key("config.json") {
        return Err(Error::missing(model.join("config.json"), "not a model folder (no config.json)"));
    }
    Ok((combined(&weights), combined(&tokenizer)))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The Hugging Face repository and revision of a model in the cache
/// (`…/models--org--name/snapshots/<commit>[/file.gguf]`).
pub fn cached_repo(model: &Path) -> Option<(String, String)> {
    let model = std::fs::canonicalize(model).ok().unwrap_or_else(|| model.to_path_buf());
    let parts: Vec<String> =
        model.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let at = parts.iter().rposition(|p| p == "snapshots")?;
    let repo = parts.get(at.checked_sub(1)?)?.strip_prefix("models--")?.replace("--", "/");
    let revision = parts.get(at + 1)?.clone();
    Some((repo, revision))
}

/// Describes `model` for a manifest.
pub fn model_ref(model: &Path, bundled: bool) -> Result<ModelRef> {
    let (content_sha256, tokenizer_sha256) = model_hashes(model)?;
    let config_path = if model.is_file() { None } else { Some(model.join("config.json")) };
    let family = match &config_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::io(p, e))?;
            Family::from_config(&value, p)?.name().to_string()
        }
        None => "gguf".to_string(),
    };
    let (repo_id, revision) = match cached_repo(model) {
        Some((r, v)) if !bundled => (Some(r), Some(v)),
        _ => (None, None),
    };
    let path = if bundled {
        PathBuf::from("model")
    } else {
        std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf())
    };
    Ok(ModelRef { family, path, repo_id, revision, content_sha256, tokenizer_sha256, bundled })
}

/// What [`export_bundle`] wrote.
#[derive(Debug, Clone)]
pub struct BundleExport {
    pub manifest: Manifest,
    pub path: PathBuf,
}

/// Whether `path` names a bundle archive (`.zip`).
pub fn is_archive(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Writes the finished run in `run_dir` as a prompt bundle at `out`: a folder, or a `.zip`
/// archive when `out` ends in `.zip` (whole or not at all). An existing `out` is replaced only
/// with [`Replace::Allow`]; `out` may not be the run itself or inside it.
pub fn export_bundle(run_dir: &Path, out: &Path, replace: Replace) -> Result<BundleExport> {
    let run = RunDir::new(run_dir);
    let config = run.read_config()?;
    check_finished(&run)?;
    prepare_out(run_dir, out, replace)?;
    if is_archive(out) {
        // The folder is written beside the archive under a temporary name, then packed.
        let staging = crate::files::temp_path_for(out);
        let _cleanup = RemoveOnDrop(staging.clone());
        let written = write_bundle_dir(run_dir, &run, &config, &staging)?;
        write_zip(&staging, out)?;
        return Ok(BundleExport { manifest: written.manifest, path: out.to_path_buf() });
    }
    write_bundle_dir(run_dir, &run, &config, out)
}

/// Removes a folder when dropped (a staging or unpacked bundle).
#[derive(Debug)]
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The files under `dir`, as sorted relative paths with `/`.
fn files_under(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = format!("{prefix}{}", file_name(&path));
        if path.is_dir() {
            files_under(&path, &format!("{name}/"), out)?;
        } else {
            out.push((name, path));
        }
    }
    out.sort();
    Ok(())
}

/// Packs the folder `dir` into the archive `out` (stored; written under a temporary name beside it
/// and renamed into place).
fn write_zip(dir: &Path, out: &Path) -> Result<()> {
    let mut files = Vec::new();
    files_under(dir, "", &mut files)?;
    let tmp = crate::files::temp_path_for(out);
    let written = (|| -> Result<()> {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io_while(out, "cannot write", e))?;
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        for (name, path) in files {
            let add = |e: &dyn std::fmt::Display| {
                Error::invalid(format!("{}: cannot add {name}: {e}", out.display()))
            };
            zip.start_file(name.as_str(), options).map_err(|e| add(&e))?;
            let mut from = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            std::io::copy(&mut from, &mut zip).map_err(|e| add(&e))?;
        }
        let file = zip.finish().map_err(|e| Error::io_while(out, "cannot finish the archive", e))?;
        file.sync_all().map_err(|e| Error::io_while(out, "cannot write", e))?;
        std::fs::rename(&tmp, out).map_err(|e| Error::io_while(out, "cannot move into place", e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    crate::files::sync_parent(out);
    Ok(())
}

/// Unpacks the bundle archive `archive` into the new folder `dir`; every name is checked to stay
/// inside it.
fn unpack_zip(archive: &Path, dir: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::io_while(archive, "not a zip archive (a prompt bundle .zip)", e))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| Error::io_while(archive, format!("entry {i}"), e))?;
        let name = entry.name().map_err(|e| Error::io_while(archive, format!("entry {i}"), e))?.into_owned();
        if entry.is_dir() {
            continue;
        }
        let rel = crate::files::safe_relative_path(&name, &format!("a file name in {}", archive.display()))?;
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut to = std::fs::File::create(&dest).map_err(|e| Error::io(&dest, e))?;
        std::io::copy(&mut entry, &mut to)
            .map_err(|e| Error::io_while(archive, format!("cannot unpack {name}"), e))?;
    }
    Ok(())
}

/// Writes the bundle folder `out` from the run.
fn write_bundle_dir(run_dir: &Path, run: &RunDir, config: &TuneConfig, out: &Path) -> Result<BundleExport> {
    let own_model = run.model().is_dir();
    if !own_model && !config.model.exists() {
        return Err(Error::missing(
            &config.model,
            format!(
                "the model run {} was made with is gone, so the bundle cannot record which model it needs; put it \
                 back there",
                run_dir.display()
            ),
        ));
    }
    let dir = AtomicDir::create(out)?;
    let mut files = BTreeMap::new();
    for name in RUN_FILES {
        let from = run_dir.join(name);
        if from.is_file() {
            let to = dir.path().join(name);
            std::fs::copy(&from, &to)
                .map_err(|e| Error::io_while(&to, format!("cannot copy {}", from.display()), e))?;
            files.insert(name.to_string(), sha256_file(&to)?);
        }
    }
    if own_model {
        let model_out = dir.path().join("model");
        copy_dir(&run.model(), &model_out)?;
        for entry in std::fs::read_dir(&model_out).map_err(|e| Error::io(&model_out, e))? {
            let path = entry.map_err(|e| Error::io(&model_out, e))?.path();
            if path.is_file() {
                files.insert(format!("model/{}", file_name(&path)), sha256_file(&path)?);
            }
        }
    }
    if let Some(t) = &config.template {
        let p = dir.path().join("template.txt");
        write_atomic(&p, format!("{t}\n").as_bytes())?;
        files.insert("template.txt".into(), sha256_file(&p)?);
    }
    if let Some(v) = &config.verbalizer {
        let p = dir.path().join("verbalizer.json");
        let words: serde_json::Map<String, serde_json::Value> =
            v.classes.iter().map(|c| (c.name.clone(), serde_json::json!(c.words))).collect();
        let text = serde_json::to_string_pretty(&words).map_err(|e| Error::io(&p, e))?;
        write_atomic(&p, (text + "\n").as_bytes())?;
        files.insert("verbalizer.json".into(), sha256_file(&p)?);
    }
    let model = if own_model {
        model_ref(&dir.path().join("model"), true)?
    } else {
        model_ref(&config.model, false)?
    };
    let manifest = Manifest {
        format: BUNDLE_FORMAT.into(),
        format_version: BUNDLE_VERSION,
        engine: env!("CARGO_PKG_VERSION").into(),
        strategy: config.strategy,
        model,
        calibration: None,
        files,
    };
    let p = dir.path().join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::io(&p, e))?;
    write_atomic(&p, (text + "\n").as_bytes())?;
    dir.commit()?;
    Ok(BundleExport { manifest, path: out.to_path_buf() })
}

/// A finished run (one with `summary.json`).
pub(crate) fn check_finished(run: &RunDir) -> Result<()> {
    if run.read_summary()?.is_none() {
        return Err(Error::precondition(format!(
            "the run in {} has not finished (no summary.json); finish or resume it before exporting",
            run.path.display()
        )));
    }
    Ok(())
}

/// Checks that `out` may be written — not the run folder or inside it, replaced only when allowed —
/// and makes the folder it goes in.
pub(crate) fn prepare_out(run_dir: &Path, out: &Path, replace: Replace) -> Result<()> {
    let run_abs = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    let out_abs = match (out.parent(), out.file_name()) {
        (Some(p), Some(n)) => {
            let parent = if p.as_os_str().is_empty() { Path::new(".") } else { p };
            std::fs::canonicalize(parent).map(|p| p.join(n)).unwrap_or_else(|_| out.to_path_buf())
        }
        _ => out.to_path_buf(),
    };
    if out_abs.starts_with(&run_abs) || run_abs.starts_with(&out_abs) {
        return Err(Error::invalid(format!(
            "`{}` is the run `{}` or inside it; write the export to another folder",
            out.display(),
            run_dir.display()
        )));
    }
    if out.is_file() {
        return Err(Error::invalid(format!(
            "`{}` is a file; name a folder to write the export into",
            out.display()
        )));
    }
    if out.exists() && replace == Replace::Refuse {
        return Err(Error::already_exists(
            Text::from(format!("`{}` already exists; choose another name, or ", out.display()))
                .turn_on(Setting::Replace)
                .then(" to replace it"),
        ));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io_while(parent, "cannot create the folder", e))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let path = entry.map_err(|e| Error::io(from, e))?.path();
        let dest = to.join(file_name(&path));
        if path.is_dir() {
            copy_dir(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest)
                .map_err(|e| Error::io_while(&dest, format!("cannot copy {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Whether `path` is a prompt bundle: a folder with a manifest, or a `.zip` archive.
pub fn is_bundle(path: &Path) -> bool {
    path.join(MANIFEST).is_file() || (is_archive(path) && path.is_file())
}

/// Reads and checks a bundle's manifest: its format, and a version this build reads.
pub fn read_manifest(bundle: &Path) -> Result<Manifest> {
    let p = bundle.join(MANIFEST);
    let text = std::fs::read_to_string(&p)
        .map_err(|e| Error::io_while(&p, format!("{} is not a prompt bundle", bundle.display()), e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::io_while(&p, "not a bundle manifest", e))?;
    if value["format"].as_str() != Some(BUNDLE_FORMAT) {
        return Err(Error::invalid(format!(
            "{}: key \"format\" is {}, not {BUNDLE_FORMAT:?}; this is not a Cloze Studio prompt bundle",
            p.display(),
            value["format"]
        )));
    }
    let version = value["format_version"].as_u64().ok_or_else(|| {
        Error::invalid(format!("{}: key \"format_version\" is missing or not a number", p.display()))
    })?;
    if version > u64::from(BUNDLE_VERSION) {
        return Err(Error::precondition(format!(
            "{}: the bundle has format version {version}, written by Cloze Studio {}; this version reads up \
             to {BUNDLE_VERSION}. Update Cloze Studio to open it",
            p.display(),
            value["engine"].as_str().unwrap_or("(newer)")
        )));
    }
    serde_json::from_value(value).map_err(|e| Error::io_while(&p, "not a bundle manifest", e))
}

/// A bundle checked and ready to load: its folder, the run config, and the model to run it on.
#[derive(Debug)]
pub struct OpenedBundle {
    /// The bundle's folder (for an archive, the temporary folder it was unpacked into, removed
    /// when this is dropped).
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub config: TuneConfig,
    /// The base model to classify with (`None`: the bundle's own `model/`).
    pub base_model: Option<PathBuf>,
    _unpacked: Option<RemoveOnDrop>,
}

/// Opens the bundle at `dir`: checks the manifest, every file's hash, and the model — `model` when
/// given, else the folder the manifest names, else the cached repository at its revision — against
/// the manifest's hashes. Load it with [`crate::tune::TunedRun::load_over`].
pub fn open_bundle(path: &Path, model: Option<&Path>) -> Result<OpenedBundle> {
    let unpacked = if is_archive(path) && path.is_file() {
        let n =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("cloze-bundle-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let guard = RemoveOnDrop(dir.clone());
        unpack_zip(path, &dir)?;
        Some(guard)
    } else {
        None
    };
    let dir = unpacked.as_ref().map_or(path, |u| u.0.as_path());
    let (manifest, config, base_model) = check_bundle(dir, model).map_err(|e| match &unpacked {
        // The archive is named, not the temporary folder it was unpacked into; the kind is kept.
        Some(u) => {
            use crate::error::Front;
            let inside = |front| e.message(front).replace(&format!("{}/", u.0.display()), "");
            Error::Message {
                kind: e.kind(),
                message: Text::from(format!("in {}: ", path.display()))
                    .cli_only(inside(Front::Cli))
                    .app_only(inside(Front::App)),
            }
        }
        None => e,
    })?;
    Ok(OpenedBundle { dir: dir.to_path_buf(), manifest, config, base_model, _unpacked: unpacked })
}

/// Checks the unpacked bundle folder `dir` (see [`open_bundle`]).
fn check_bundle(dir: &Path, model: Option<&Path>) -> Result<(Manifest, TuneConfig, Option<PathBuf>)> {
    let manifest = read_manifest(dir)?;
    for (name, sha) in &manifest.files {
        let rel = crate::files::safe_relative_path(name, "a bundle file")?;
        let p = dir.join(rel);
        if !p.is_file() {
            return Err(Error::missing(&p, format!("the bundle's manifest lists {name}, but it is missing")));
        }
        if &sha256_file(&p)? != sha {
            return Err(Error::invalid(format!(
                "{}: the file changed since the bundle was written (its SHA-256 differs from the manifest's); \
                 export the bundle again",
                p.display()
            )));
        }
    }
    let config = RunDir::new(dir).read_config()?;
    let want = &manifest.model;
    let base_model = if want.bundled {
        None
    } else {
        let (path, from) = match model {
            Some(m) => (m.to_path_buf(), "the model given"),
            None if want.path.exists() => (want.path.clone(), "the model folder the manifest names"),
            None => match &want.repo_id {
                Some(repo) => {
                    let spec = match &want.revision {
                        Some(rev) => format!("{repo}@{rev}"),
                        None => repo.clone(),
                    };
                    let found = crate::hub::resolve_model(&spec).map_err(|_| {
                        Error::missing(
                            &want.path,
                            Text::from(format!(
                                "the bundle needs the model {spec}, which is not in the cache; "
                            ))
                            .cli_only(format!("download it (`cloze hub download {spec}`) or pass "))
                            .app_only("download it, or choose ")
                            .setting(Setting::Model)
                            .then(" with a copy of it"),
                        )
                    })?;
                    (found, "the cached repository")
                }
                None => {
                    return Err(Error::missing(
                        &want.path,
                        Text::from(format!(
                            "the bundle needs the {} model that was at {}; it is not there. Pass ",
                            want.family,
                            want.path.display()
                        ))
                        .setting(Setting::Model)
                        .then(" with a copy of it"),
                    ));
                }
            },
        };
        let (content, tokenizer) = model_hashes(&path)?;
        if content != want.content_sha256 || tokenizer != want.tokenizer_sha256 {
            let what = if content != want.content_sha256 { "config and weights" } else { "tokenizer" };
            return Err(Error::precondition(
                Text::from(format!(
                    "{}: the bundle was made for another model — {from} ({}) differs in its {what} (SHA-256 {}…, \
                     the bundle's model {} has {}…). Use the model the bundle names: pass ",
                    dir.join(MANIFEST).display(),
                    path.display(),
                    &if what == "tokenizer" { tokenizer } else { content }[..12],
                    want.describe(),
                    &if what == "tokenizer" { &want.tokenizer_sha256 } else { &want.content_sha256 }[..12],
                ))
                .setting(Setting::Model)
                .then(format!(" with {}", want.describe())),
            ));
        }
        Some(path)
    };
    Ok((manifest, config, base_model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_repo_reads_the_hub_cache_layout() {
        let cases: [(&str, Option<(&str, &str)>); 4] = [
            (
                "/h/hub/models--FacebookAI--roberta-base/snapshots/abc123",
                Some(("FacebookAI/roberta-base", "abc123")),
            ),
            ("/h/hub/models--org--m/snapshots/c0ffee/m.Q4_K_M.gguf", Some(("org/m", "c0ffee"))),
            ("/work/models/roberta", None),
            ("/h/snapshots/abc", None),
        ];
        for (path, want) in cases {
            let got = cached_repo(Path::new(path));
            assert_eq!(got, want.map(|(r, v)| (r.to_string(), v.to_string())), "{path}");
        }
    }

    #[test]
    fn archives_with_names_outside_the_bundle_are_refused() {
        let base = std::env::temp_dir().join(format!("cloze-bundle-zip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        for name in ["../escape.json", "/abs/manifest.json", "a/../../b"] {
            let archive = base.join("evil.zip");
            let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
            zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut zip, b"{}").unwrap();
            zip.finish().unwrap();
            let msg = open_bundle(&archive, None).unwrap_err().to_string();
            assert!(msg.contains("evil.zip"), "{name}: {msg}");
            assert!(!base.join("escape.json").exists());
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn manifests_of_a_newer_format_or_another_kind_are_refused() {
        let dir = std::env::temp_dir().join(format!("cloze-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (
                r#"{"format": "cloze-prompt-bundle", "format_version": 99, "engine": "9.0"}"#,
                "Update Cloze Studio",
            ),
            (r#"{"format": "something-else", "format_version": 1}"#, "not a Cloze Studio prompt bundle"),
            (r#"{"format": "cloze-prompt-bundle"}"#, "\"format_version\""),
            ("not json", "not a bundle manifest"),
        ];
        for (text, needle) in cases {
            std::fs::write(dir.join(MANIFEST), text).unwrap();
            let msg = read_manifest(&dir).unwrap_err().to_string();
            assert!(msg.contains(needle) && msg.contains("manifest.json"), "{needle}: {msg}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
