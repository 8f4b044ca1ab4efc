//! Checkpoints of a tuning run, so that a cancelled or killed run resumes exactly where it was.
//!
//! A run's `checkpoints/` folder holds:
//! - `step-000044/`, one folder per saved update: `params.safetensors` (the trained variables),
//!   `optimizer.safetensors` (AdamW's moments), `best.safetensors` (the best weights so far, when
//!   they are not this update's own), `state.json` (the loop's position, best score and the dropout
//!   generator's state) and `manifest.json` (each file's size and SHA-256). The folder is written
//!   whole under a temporary name beside and renamed into place ([`AtomicDir`]), so it is never
//!   seen half-written;
//! - `latest`, the name of the newest step folder, replaced atomically once that folder is in place.
//!
//! Older step folders are removed only after the new one is in place; the previous one is kept as
//! a fallback. Resuming verifies the manifest (sizes and hashes) of the latest checkpoint and
//! refuses one that does not verify: it falls back to the previous verified checkpoint, saying so,
//! or, when none verifies, says how to start again.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::trainer::LoopState;
use crate::error::{Error, Result, Setting, Text};
use crate::files::{
    AtomicDir, remove_dir_whole, remove_stale_temps, sync_parent, temp_path_for, write_atomic,
};

const PARAMS: &str = "params.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const BEST: &str = "best.safetensors";
const STATE: &str = "state.json";
const MANIFEST: &str = "manifest.json";
const LATEST: &str = "latest";
/// The manifest's format; a checkpoint of another format does not verify.
const FORMAT: u32 = 1;

/// Where checkpoints go, and whether to resume from one there.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    pub dir: PathBuf,
    pub resume: bool,
}

/// One file of a checkpoint as its manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// `manifest.json`: what a complete checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub step: u32,
    pub files: Vec<ManifestEntry>,
}

/// A checkpoint read back after verifying it.
pub struct Restored {
    /// The step folder's name (`step-000044`).
    pub name: String,
    pub state: LoopState,
    pub params: HashMap<String, Tensor>,
    pub optimizer: HashMap<String, Tensor>,
    pub best: Option<HashMap<String, Tensor>>,
    /// Set when newer checkpoints did not verify and this older one was taken instead: says which
    /// and why, for the user.
    pub notice: Option<String>,
}

/// What to do when a run cannot be resumed: start it again or start another.
pub(crate) fn start_again() -> Text {
    Text::from("delete the run folder to start it again, or start a new run ")
        .cli_only("without ")
        .setting(Setting::Resume)
        .cli_only(" in another folder")
        .app_only(" off, under another name")
}

/// The folder name of the checkpoint after update `step`.
pub fn step_name(step: u32) -> String {
    format!("step-{step:06}")
}

fn step_of(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("step-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `tensors` to `path` as safetensors under a temporary name, synced, then renamed into
/// place.
pub(crate) fn save_tensors_atomic(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let tmp = temp_path_for(path);
    let written = candle_core::safetensors::save(tensors, &tmp)
        .map_err(|e| Error::io(path, e))
        .and_then(|()| {
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io_while(path, "cannot write", e))
        })
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(|e| Error::io_while(path, "cannot move into place", e))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_parent(path);
    Ok(())
}

impl Checkpoints {
    pub fn new(dir: impl Into<PathBuf>, resume: bool) -> Self {
        Self { dir: dir.into(), resume }
    }

    /// The step folders present (complete ones only: partial ones live under temporary names),
    /// newest first.
    fn steps(&self) -> Vec<(u32, String)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out: Vec<(u32, String)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                step_of(&name).map(|s| (s, name))
            })
            .collect();
        out.sort_by(|a, b| b.cmp(a));
        out
    }

    /// Whether there is anything to resume from (verified or not).
    pub fn exists(&self) -> bool {
        !self.steps().is_empty()
    }

    /// Saves a checkpoint of update `state.step`: `params` (the variables), the optimiser's
    /// `moments` and, when they are not this update's own weights, the `best` ones. The step folder
    /// appears whole, then `latest` names it, then older folders are removed (keeping the previous
    /// one).
    pub fn save(
        &self,
        params: &HashMap<String, Tensor>,
        moments: &HashMap<String, Tensor>,
        best: Option<&HashMap<String, Tensor>>,
        state: &LoopState,
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        remove_stale_temps(&self.dir);
        let name = step_name(state.step);
        let folder = AtomicDir::create(self.dir.join(&name))?;
        let tmp = folder.path();
        let mut files = Vec::new();
        let mut tensors = vec![(PARAMS, params), (OPTIMIZER, moments)];
        if let Some(b) = best
            && state.best_step != Some(state.step)
        {
            tensors.push((BEST, b));
        }
        for (file, t) in tensors {
            let path = tmp.join(file);
            candle_core::safetensors::save(t, &path)
                .map_err(|e| Error::io(self.dir.join(&name).join(file), e))?;
            files.push(file);
        }
        let json = serde_json::to_vec_pretty(state).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::write(tmp.join(STATE), json).map_err(|e| Error::io(tmp.join(STATE), e))?;
        files.push(STATE);
        let mut manifest = Manifest { format: FORMAT, step: state.step, files: Vec::new() };
        for file in files {
            let path = tmp.join(file);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            manifest.files.push(ManifestEntry {
                name: file.to_string(),
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            });
        }
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::write(tmp.join(MANIFEST), json).map_err(|e| Error::io(tmp.join(MANIFEST), e))?;
        folder.commit()?;
        write_atomic(self.dir.join(LATEST), format!("{name}\n").as_bytes())?;
        // The new checkpoint is in place: keep it and the one before; newer ones belong to a
        // timeline abandoned when resuming from an older checkpoint.
        let mut kept_previous = false;
        for (step, other) in self.steps() {
            if step == state.step {
                continue;
            }
            if step < state.step && !kept_previous {
                kept_previous = true;
                continue;
            }
            remove_dir_whole(&self.dir.join(other))?;
        }
        Ok(())
    }

    /// Reads `name`'s files, checking each against the manifest; the reason when one does not
    /// match.
    fn verify(&self, name: &str) -> std::result::Result<(Manifest, HashMap<String, Vec<u8>>), String> {
        let folder = self.dir.join(name);
        if !folder.is_dir() {
            return Err(format!("{} is missing", folder.display()));
        }
        let manifest_path = folder.join(MANIFEST);
        let text = std::fs::read(&manifest_path)
            .map_err(|e| format!("{} cannot be read ({e})", manifest_path.display()))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| format!("{} is not a checkpoint manifest ({e})", manifest_path.display()))?;
        if manifest.format != FORMAT {
            return Err(format!(
                "{} has format {}, this version reads format {FORMAT}",
                manifest_path.display(),
                manifest.format
            ));
        }
        if step_of(name) != Some(manifest.step) {
            return Err(format!("{} says step {}", manifest_path.display(), manifest.step));
        }
        for needed in [PARAMS, OPTIMIZER, STATE] {
            if !manifest.files.iter().any(|f| f.name == needed) {
                return Err(format!("{} does not list {needed}", manifest_path.display()));
            }
        }
        let mut contents = HashMap::new();
        for entry in &manifest.files {
            if ![PARAMS, OPTIMIZER, BEST, STATE].contains(&entry.name.as_str()) {
                return Err(format!("{} lists an unknown file {:?}", manifest_path.display(), entry.name));
            }
            let path = folder.join(&entry.name);
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|f| f.take(entry.bytes.saturating_add(1)).read_to_end(&mut bytes))
                .map_err(|e| format!("{} cannot be read ({e})", path.display()))?;
            if bytes.len() as u64 != entry.bytes {
                return Err(format!(
                    "{} is {}{} bytes, the manifest says {}",
                    path.display(),
                    if bytes.len() as u64 > entry.bytes { "more than " } else { "" },
                    bytes.len().min(entry.bytes as usize),
                    entry.bytes
                ));
            }
            if sha256_hex(&bytes) != entry.sha256 {
                return Err(format!("{} does not match its SHA-256 in the manifest", path.display()));
            }
            contents.insert(entry.name.clone(), bytes);
        }
        Ok((manifest, contents))
    }

    /// Verifies and reads the checkpoint `name`.
    fn read(&self, name: &str, device: &Device) -> std::result::Result<Restored, String> {
        let (_, mut files) = self.verify(name)?;
        let folder = self.dir.join(name);
        let state: LoopState = serde_json::from_slice(&files[STATE])
            .map_err(|e| format!("{} cannot be read ({e})", folder.join(STATE).display()))?;
        let mut tensors = |file: &str| -> std::result::Result<Option<HashMap<String, Tensor>>, String> {
            match files.remove(file) {
                None => Ok(None),
                Some(bytes) => candle_core::safetensors::load_buffer(&bytes, device)
                    .map(Some)
                    .map_err(|e| format!("{} cannot be read ({e})", folder.join(file).display())),
            }
        };
        let params = tensors(PARAMS)?.unwrap_or_default();
        let optimizer = tensors(OPTIMIZER)?.unwrap_or_default();
        let best = match tensors(BEST)? {
            Some(b) => Some(b),
            None if state.best_step == Some(state.step) && state.best_score.is_some() => Some(params.clone()),
            None => None,
        };
        Ok(Restored { name: name.to_string(), state, params, optimizer, best, notice: None })
    }

    /// The checkpoint to resume from: the one `latest` names, else the newest step folder, if it
    /// verifies; otherwise the newest older one that does (with a notice saying so). `None` when
    /// there is no checkpoint at all; an error naming what is wrong, and what to do, when none
    /// verifies. `run` names the run folder in that message.
    pub fn restore(&self, run: &Path, device: &Device) -> Result<Option<Restored>> {
        let mut candidates: Vec<String> = Vec::new();
        if let Ok(text) = std::fs::read_to_string(self.dir.join(LATEST)) {
            let name = text.trim();
            if step_of(name).is_some() {
                candidates.push(name.to_string());
            }
        }
        for (_, name) in self.steps() {
            if !candidates.contains(&name) {
                candidates.push(name);
            }
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut failures: Vec<(String, String)> = Vec::new();
        for name in &candidates {
            match self.read(name, device) {
                Ok(mut restored) => {
                    if !failures.is_empty() {
                        let list: Vec<String> = failures
                            .iter()
                            .map(|(n, why)| format!("checkpoint {n} does not verify: {why}"))
                            .collect();
                        restored.notice = Some(format!(
                            "{}; resuming from {name}, the previous checkpoint that verifies",
                            list.join("; ")
                        ));
                    }
                    return Ok(Some(restored));
                }
                Err(why) => failures.push((name.clone(), why)),
            }
        }
        let (name, why) = &failures[0];
        Err(Error::precondition(
            Text::from(format!(
                "checkpoint {name} of the run in {} does not verify ({why}){}; ",
                run.display(),
                if failures.len() > 1 { ", and no earlier checkpoint does" } else { "" },
            ))
            .append(start_again()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(v: f32) -> HashMap<String, Tensor> {
        HashMap::from([("w".to_string(), Tensor::new(&[v, v + 1.0], &Device::Cpu).unwrap())])
    }

    fn state(step: u32) -> LoopState {
        LoopState { step, ..LoopState::default() }
    }

    fn w(t: &HashMap<String, Tensor>) -> Vec<f32> {
        t["w"].to_vec1().unwrap()
    }

    #[test]
    fn step_folders_are_named_and_parsed() {
        assert_eq!(step_name(44), "step-000044");
        let cases = [
            ("step-000044", Some(44)),
            ("step-1234567", Some(1_234_567)),
            ("step-", None),
            ("step-x", None),
            ("latest", None),
            (".step-000001.9.0.tmp", None),
        ];
        for (name, want) in cases {
            assert_eq!(step_of(name), want, "{name}");
        }
    }

    fn saved(dir: &Path) -> Checkpoints {
        let c = Checkpoints::new(dir.join("checkpoints"), true);
        for step in 1..=4 {
            c.save(&tensors(step as f32), &tensors(10.0), None, &state(step)).unwrap();
        }
        c
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A step folder appears whole (what a killed writer leaves is a hidden temporary folder,
    /// ignored and later removed); `latest` names the newest; the previous one is kept until a
    /// newer one is in place; a checkpoint saved again replaces the old one whole.
    #[test]
    fn checkpoint_is_never_half_written() {
        let root = tempfile::tempdir().unwrap();
        let device = Device::Cpu;
        let c = Checkpoints::new(root.path().join("checkpoints"), true);
        assert!(c.restore(root.path(), &device).unwrap().is_none());
        let c = saved(root.path());
        assert_eq!(names(&c.dir), ["latest", "step-000003", "step-000004"]);
        assert_eq!(std::fs::read_to_string(c.dir.join(LATEST)).unwrap(), "step-000004\n");
        // A writer killed while filling step 5.
        let partial = c.dir.join(".step-000005.999999999.0.tmp");
        std::fs::create_dir(&partial).unwrap();
        std::fs::write(partial.join(PARAMS), b"half").unwrap();
        let r = c.restore(root.path(), &device).unwrap().unwrap();
        assert_eq!(
            (r.state.step, w(&r.params), w(&r.optimizer), r.notice),
            (4, vec![4.0, 5.0], vec![10.0, 11.0], None)
        );
        assert!(r.best.is_none());
        c.save(&tensors(5.0), &tensors(10.0), None, &state(5)).unwrap();
        assert_eq!(names(&c.dir), ["latest", "step-000004", "step-000005"]);

        // The best weights: kept when they are another update's, else the params stand for them.
        let best = LoopState { best_step: Some(2), best_score: Some(0.5), ..state(6) };
        c.save(&tensors(6.0), &tensors(10.0), Some(&tensors(-1.0)), &best).unwrap();
        let r = c.restore(root.path(), &device).unwrap().unwrap();
        assert_eq!(w(&r.best.unwrap()), vec![-1.0, 0.0]);
        let own = LoopState { best_step: Some(7), best_score: Some(0.9), ..state(7) };
        c.save(&tensors(7.0), &tensors(10.0), Some(&tensors(7.0)), &own).unwrap();
        assert!(!c.dir.join("step-000007").join(BEST).exists());
        let r = c.restore(root.path(), &device).unwrap().unwrap();
        assert_eq!(w(&r.best.unwrap()), vec![7.0, 8.0]);

        // Resumed from step 2 (newer ones abandoned), saving 3 again: replaced whole, and the
        // abandoned newer folders go once the new one is in place.
        c.save(&tensors(2.0), &tensors(10.0), None, &state(2)).unwrap();
        c.save(&tensors(30.0), &tensors(10.0), None, &state(3)).unwrap();
        assert_eq!(names(&c.dir), ["latest", "step-000002", "step-000003"]);
        assert_eq!(w(&c.restore(root.path(), &device).unwrap().unwrap().params), vec![30.0, 31.0]);
    }

    /// Every way of damaging the newest checkpoint falls back to the previous one, saying so;
    /// when none verifies, the error says what to do, in the words of each front end.
    #[test]
    fn resume_refuses_a_checkpoint_that_does_not_verify() {
        let root = tempfile::tempdir().unwrap();
        let device = Device::Cpu;
        let c = saved(root.path());
        type Damage = (&'static str, fn(&Path), &'static str);
        let damage: [Damage; 5] = [
            (
                "truncated params",
                |d| {
                    let p = d.join(PARAMS);
                    let b = std::fs::read(&p).unwrap();
                    std::fs::write(&p, &b[..b.len() / 2]).unwrap();
                },
                "bytes, the manifest says",
            ),
            (
                "changed optimizer",
                |d| {
                    let p = d.join(OPTIMIZER);
                    let mut b = std::fs::read(&p).unwrap();
                    let last = b.len() - 1;
                    b[last] ^= 1;
                    std::fs::write(&p, b).unwrap();
                },
                "does not match its SHA-256",
            ),
            ("missing state", |d| std::fs::remove_file(d.join(STATE)).unwrap(), "cannot be read"),
            ("missing manifest", |d| std::fs::remove_file(d.join(MANIFEST)).unwrap(), "cannot be read"),
            (
                "bad manifest",
                |d| std::fs::write(d.join(MANIFEST), b"{").unwrap(),
                "is not a checkpoint manifest",
            ),
        ];
        let pristine = root.path().join("pristine");
        copy_dir(&c.dir, &pristine);
        for (what, f, why) in damage {
            f(&c.dir.join("step-000004"));
            let r = c.restore(root.path(), &device).unwrap().unwrap();
            assert_eq!((r.state.step, w(&r.params)), (3, vec![3.0, 4.0]), "{what}");
            let notice = r.notice.unwrap();
            assert!(notice.starts_with("checkpoint step-000004 does not verify"), "{what}: {notice}");
            assert!(notice.contains(why), "{what}: {notice}");
            assert!(
                notice.ends_with("resuming from step-000003, the previous checkpoint that verifies"),
                "{notice}"
            );
            std::fs::remove_dir_all(&c.dir).unwrap();
            copy_dir(&pristine, &c.dir);
        }

        for name in ["step-000003", "step-000004"] {
            std::fs::write(c.dir.join(name).join(PARAMS), b"x").unwrap();
        }
        let e = c.restore(root.path(), &device).err().unwrap();
        assert_eq!(e.kind(), crate::error::ErrorKind::Precondition);
        let cli = e.message(crate::error::Front::Cli);
        assert!(cli.starts_with("checkpoint step-000004 of the run in"), "{cli}");
        assert!(cli.contains("does not verify") && cli.contains("no earlier checkpoint does"), "{cli}");
        assert!(
            cli.contains("delete the run folder") && cli.contains("without --resume in another folder"),
            "{cli}"
        );
        let app = e.message(crate::error::Front::App);
        assert!(app.contains("“Resume” off, under another name"), "{app}");
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
}
