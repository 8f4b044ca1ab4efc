//! The Hugging Face cache, in the layout the Python `huggingface_hub` writes, so a model fetched by
//! either side is found by the other:
//!
//! ```text
//! $HF_HUB_CACHE (or $HF_HOME/hub, or ~/.cache/huggingface/hub)
//! └── models--org--name/
//!     ├── blobs/<etag>                      file contents, named by their etag (sha256 for LFS files)
//!     ├── refs/main                         the commit sha a branch or tag pointed to when fetched
//!     └── snapshots/<commit>/<file path>    relative symlinks into ../../blobs
//! ```
//!
//! Reference: <https://huggingface.co/docs/huggingface_hub/guides/manage-cache>

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, Text};

/// A Hugging Face cache folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

/// A model in the cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CachedModel {
    pub repo_id: String,
    /// Snapshot folders, by commit sha, with the refs (branch or tag names) that point at them.
    pub snapshots: Vec<(String, Vec<String>)>,
    /// Bytes of the blobs (shared by all snapshots).
    pub size: u64,
    pub path: PathBuf,
}

/// Checks a repository id (`org/name` or `name`) and returns its cache folder name.
pub fn folder_name(repo_id: &str) -> Result<String> {
    let ok = !repo_id.is_empty()
        && repo_id.split('/').count() <= 2
        && repo_id.split('/').all(|p| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !ok {
        return Err(Error::invalid(format!(
            "{repo_id:?} is not a Hugging Face repository id; write it as org/name, e.g. FacebookAI/roberta-base"
        )));
    }
    Ok(format!("models--{}", repo_id.replace('/', "--")))
}

fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache the environment names: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub` (`XDG_CACHE_HOME` honoured), as `huggingface_hub` does.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(p) = var("HF_HUB_CACHE") {
            return Self::new(p);
        }
        if let Some(p) = var("HF_HOME") {
            return Self::new(p.join("hub"));
        }
        let base = var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(|| ".cache".into());
        Self::new(base.join("huggingface").join("hub"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The repository's folder (whether or not it exists).
    pub fn repo_dir(&self, repo_id: &str) -> Result<PathBuf> {
        Ok(self.root.join(folder_name(repo_id)?))
    }

    /// The commit a revision means in the cache: a commit sha as is, a branch or tag through
    /// `refs/`. `None` when the cache has never fetched it.
    pub fn resolve(&self, repo_id: &str, revision: &str) -> Result<Option<String>> {
        let dir = self.repo_dir(repo_id)?;
        if is_commit(revision) {
            return Ok(dir.join("snapshots").join(revision).is_dir().then(|| revision.to_string()));
        }
        if revision.contains("..") {
            return Err(Error::invalid(format!("revision {revision:?} is not a branch, tag or commit")));
        }
        match std::fs::read_to_string(dir.join("refs").join(revision)) {
            Ok(commit) => Ok(Some(commit.trim().to_string())),
            Err(_) => Ok(None),
        }
    }

    /// The snapshot folder of a cached revision: a model folder [`crate::plm::Plm::load`] can open.
    /// The error says how to fetch it when it is not cached.
    pub fn snapshot(&self, repo_id: &str, revision: &str) -> Result<PathBuf> {
        let commit = self.resolve(repo_id, revision)?.ok_or_else(|| {
            Error::missing(
                &self.root,
                Text::from(format!(
                    "{repo_id}@{revision} is not in the Hugging Face cache; download it first"
                ))
                .cli_only(format!(" (`cloze hub download {repo_id}`)"))
                .app_only(" on the Model screen")
                .then(", or point HF_HUB_CACHE at the cache that has it"),
            )
        })?;
        let dir = self.repo_dir(repo_id)?.join("snapshots").join(&commit);
        if !dir.is_dir() {
            return Err(Error::missing(
                dir,
                format!("the cache's ref {revision} points at commit {commit}, whose snapshot is missing"),
            ));
        }
        Ok(dir)
    }

    /// Stores a file fetched from the Hub: moves `downloaded` to `blobs/<etag>` and links
    /// `snapshots/<commit>/<filename>` to it (a relative symlink, as `huggingface_hub` makes; a copy
    /// where symlinks are not available).
    pub fn store_file(
        &self,
        repo_id: &str,
        commit: &str,
        filename: &str,
        etag: &str,
        downloaded: &Path,
    ) -> Result<PathBuf> {
        if !is_commit(commit) {
            return Err(Error::invalid(format!("{commit:?} is not a commit sha")));
        }
        if filename.split('/').any(|p| p.is_empty() || p == "." || p == "..")
            || etag.contains(['/', '\\'])
            || etag.is_empty()
        {
            return Err(Error::invalid(format!("refusing to store {filename:?} with etag {etag:?}")));
        }
        let repo = self.repo_dir(repo_id)?;
        let blobs = repo.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let blob = blobs.join(etag);
        std::fs::rename(downloaded, &blob).map_err(|e| Error::io(&blob, e))?;
        let link = repo.join("snapshots").join(commit).join(filename);
        let parent = link.parent().expect("has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let _ = std::fs::remove_file(&link);
        let depth = filename.split('/').count() + 1; // snapshots/<commit>/<dirs…>/file → ../../blobs
        let target: PathBuf = std::iter::repeat_n("..", depth).collect::<PathBuf>().join("blobs").join(etag);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &link);
        #[cfg(not(unix))]
        let linked: std::io::Result<()> = Err(std::io::Error::other("no symlinks"));
        if linked.is_err() {
            std::fs::copy(&blob, &link).map_err(|e| Error::io(&link, e))?;
        }
        Ok(link)
    }

    /// Records that `revision` (a branch or tag) pointed at `commit`.
    pub fn write_ref(&self, repo_id: &str, revision: &str, commit: &str) -> Result<()> {
        if is_commit(revision) {
            return Ok(());
        }
        let refs = self.repo_dir(repo_id)?.join("refs");
        let path = refs.join(revision);
        let parent = path.parent().expect("has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        std::fs::write(&path, commit).map_err(|e| Error::io(&path, e))
    }

    /// Every model in the cache, with its snapshots and disk use.
    pub fn list(&self) -> Result<Vec<CachedModel>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.root, e)),
        };
        let mut models = Vec::new();
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("models--") else { continue };
            let repo_id = rest.replacen("--", "/", 1);
            let path = entry.path();
            let mut refs: Vec<(String, String)> = Vec::new();
            collect_refs(&path.join("refs"), "", &mut refs);
            let mut snapshots: Vec<(String, Vec<String>)> = std::fs::read_dir(path.join("snapshots"))
                .map(|it| {
                    it.filter_map(|e| e.ok())
                        .map(|e| {
                            let commit = e.file_name().to_string_lossy().into_owned();
                            let names =
                                refs.iter().filter(|(_, c)| *c == commit).map(|(r, _)| r.clone()).collect();
                            (commit, names)
                        })
                        .collect()
                })
                .unwrap_or_default();
            snapshots.sort();
            models.push(CachedModel { repo_id, snapshots, size: dir_size(&path.join("blobs")), path });
        }
        models.sort_by(|a, b| a.repo_id.cmp(&b.repo_id));
        Ok(models)
    }

    /// Deletes a model (all its snapshots and blobs) from the cache; returns the bytes freed.
    pub fn remove(&self, repo_id: &str) -> Result<u64> {
        let dir = self.repo_dir(repo_id)?;
        if !dir.is_dir() {
            return Err(Error::missing(
                dir,
                Text::from(format!("{repo_id} is not in the cache"))
                    .cli_only("; `cloze hub list` shows what is"),
            ));
        }
        let size = dir_size(&dir.join("blobs"));
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(size)
    }
}

fn collect_refs(dir: &Path, prefix: &str, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.filter_map(|e| e.ok()) {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.path().is_dir() {
            collect_refs(&e.path(), &format!("{name}/"), out);
        } else if let Ok(commit) = std::fs::read_to_string(e.path()) {
            out.push((name, commit.trim().to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_checked() {
        let cases = [
            ("FacebookAI/roberta-base", Some("models--FacebookAI--roberta-base")),
            ("bert-base-uncased", Some("models--bert-base-uncased")),
            ("org/name.v2_x", Some("models--org--name.v2_x")),
            ("../etc", None),
            ("a/b/c", None),
            ("", None),
            ("org/", None),
            ("o rg/x", None),
        ];
        for (id, expected) in cases {
            match expected {
                Some(name) => assert_eq!(folder_name(id).unwrap(), name),
                None => assert!(folder_name(id).unwrap_err().to_string().contains("org/name"), "{id}"),
            }
        }
    }
}
