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

/// The longest repository name part the Hub accepts (`org` or `name`).
const MAX_REPO_PART: usize = 96;

/// Checks a repository id (`org/name` or `name`) against the Hub's rules (letters, digits, `-`,
/// `_`, `.`; not starting or ending with `-` or `.`; no `--` or `..`; at most 96 characters a
/// part) and returns its cache folder name.
pub fn folder_name(repo_id: &str) -> Result<String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= MAX_REPO_PART
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
            && !p.contains("--")
            && !p.contains("..")
    };
    let ok = !repo_id.is_empty() && repo_id.split('/').count() <= 2 && repo_id.split('/').all(part_ok);
    if !ok {
        return Err(Error::invalid(format!(
            "{:?} is not a Hugging Face repository id; write it as org/name, e.g. FacebookAI/roberta-base \
             (letters, digits, - _ . in each part)",
            short(repo_id)
        )));
    }
    Ok(format!("models--{}", repo_id.replace('/', "--")))
}

/// Whether `s` is a full commit sha (40 hex digits).
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Checks a commit sha read from outside (the Hub's answer, a ref file): 40 hex digits, so it can
/// name a snapshot folder.
pub fn check_commit<'a>(commit: &'a str, what: &str) -> Result<&'a str> {
    if is_commit(commit) {
        Ok(commit)
    } else {
        Err(Error::invalid(format!("{what} {:?} is not a commit sha (40 hex digits)", short(commit))))
    }
}

/// Checks a revision (`main`, `v1.0`, `refs/pr/3`, a commit sha) before it names a file under
/// `refs/` or goes into a URL: `/`-separated parts of letters, digits and `. - _ + = @`, none
/// starting with `.` or ending with `.lock`, no `..`, not absolute, at most 200 bytes — so
/// `org/name@/abs/path` or `@../../x` is refused, never written to.
pub fn check_revision(revision: &str) -> Result<&str> {
    if is_commit(revision) {
        return Ok(revision);
    }
    let bad = || {
        Error::invalid(format!(
            "revision {:?} is not a branch, tag or commit sha; write a name such as main, v1.0 or refs/pr/3 \
             (letters, digits, . - _ + = @ and / between parts; no `..`, not a path)",
            short(revision)
        ))
    };
    if revision.len() > crate::files::MAX_NAME_LEN || revision.contains("..") {
        return Err(bad());
    }
    crate::files::safe_relative_path(revision, "revision").map_err(|_| bad())?;
    if revision.split('/').any(|p| p.starts_with('.') || p.ends_with(".lock")) {
        return Err(bad());
    }
    Ok(revision)
}

/// The first 80 characters of a value from outside, for messages.
fn short(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
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
        check_revision(revision)?;
        if is_commit(revision) {
            return Ok(dir.join("snapshots").join(revision).is_dir().then(|| revision.to_string()));
        }
        let path = dir.join("refs").join(revision);
        match std::fs::read_to_string(&path) {
            Ok(commit) => {
                let commit = commit.trim();
                if !is_commit(commit) {
                    return Err(Error::missing(
                        &path,
                        format!(
                            "this ref file should hold the commit sha that {revision} pointed at, but holds {:?}; \
                             delete it and download {repo_id} again",
                            short(commit)
                        ),
                    ));
                }
                Ok(Some(commit.to_string()))
            }
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

    /// Stores a file fetched (and verified) from the Hub: moves `downloaded` to `blobs/<etag>` and
    /// links `snapshots/<commit>/<filename>` to it (a relative symlink, as `huggingface_hub` makes;
    /// a copy where symlinks are not available). The commit, the file name (a relative path inside
    /// the snapshot) and the etag (one name) are checked first; the link or copy is made under a
    /// temporary name and renamed into place, so the snapshot never shows a partial file.
    pub fn store_file(
        &self,
        repo_id: &str,
        commit: &str,
        filename: &str,
        etag: &str,
        downloaded: &Path,
    ) -> Result<PathBuf> {
        check_commit(commit, "the commit")?;
        crate::files::safe_relative_path(filename, "the file name")?;
        crate::files::safe_name(etag, "the blob id (etag)")?;
        let repo = self.repo_dir(repo_id)?;
        let blobs = repo.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let blob = blobs.join(etag);
        std::fs::rename(downloaded, &blob).map_err(|e| Error::io(&blob, e))?;
        crate::files::sync_parent(&blob);
        self.link_blob(repo_id, commit, filename, etag)
    }

    /// Links `snapshots/<commit>/<filename>` to the blob `blobs/<etag>` already in the cache
    /// (through a temporary name renamed into place).
    pub fn link_blob(&self, repo_id: &str, commit: &str, filename: &str, etag: &str) -> Result<PathBuf> {
        check_commit(commit, "the commit")?;
        let relative = crate::files::safe_relative_path(filename, "the file name")?;
        crate::files::safe_name(etag, "the blob id (etag)")?;
        let repo = self.repo_dir(repo_id)?;
        let blob = repo.join("blobs").join(etag);
        let link = repo.join("snapshots").join(commit).join(&relative);
        let parent = link.parent().expect("has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        let depth = relative.components().count() + 1; // snapshots/<commit>/<dirs…>/file → ../../blobs
        let target: PathBuf = std::iter::repeat_n("..", depth).collect::<PathBuf>().join("blobs").join(etag);
        let tmp = crate::files::temp_path_for(&link);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &tmp);
        #[cfg(not(unix))]
        let linked: std::io::Result<()> = Err(std::io::Error::other("no symlinks"));
        if linked.is_err() {
            let _ = std::fs::remove_file(&tmp);
            if let Err(e) = std::fs::copy(&blob, &tmp) {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::io(&link, e));
            }
        }
        if let Err(e) = std::fs::rename(&tmp, &link) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io_while(&link, "cannot move into place", e));
        }
        crate::files::sync_parent(&link);
        Ok(link)
    }

    /// Records that `revision` (a branch or tag) pointed at `commit` (written whole or not at all).
    pub fn write_ref(&self, repo_id: &str, revision: &str, commit: &str) -> Result<()> {
        check_revision(revision)?;
        check_commit(commit, "the commit")?;
        if is_commit(revision) {
            return Ok(());
        }
        let refs = self.repo_dir(repo_id)?.join("refs");
        let path = refs.join(revision);
        let parent = path.parent().expect("has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        crate::files::write_atomic(&path, commit.as_bytes())
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
            ("org/..", None),
            ("org/-x", None),
            ("org/x.", None),
            ("a--b/c", None),
            ("org/a..b", None),
            (&*format!("org/{}", "x".repeat(97)), None),
        ];
        for (id, expected) in cases {
            match expected {
                Some(name) => assert_eq!(folder_name(id).unwrap(), name),
                None => assert!(folder_name(id).unwrap_err().to_string().contains("org/name"), "{id}"),
            }
        }
    }

    #[test]
    fn revisions_and_commits_are_never_paths() {
        let cases: &[(&str, bool)] = &[
            ("main", true),
            ("v1.0", true),
            ("refs/pr/3", true),
            ("release-2024_01", true),
            ("0123456789abcdef0123456789abcdef01234567", true),
            ("/abs/path", false),
            ("../../x", false),
            ("a/../b", false),
            ("a..b", false),
            (".hidden", false),
            ("main.lock", false),
            ("a//b", false),
            ("main/", false),
            ("", false),
            ("ma in", false),
            ("a\\b", false),
        ];
        for (rev, ok) in cases {
            match check_revision(rev) {
                Ok(_) => assert!(ok, "{rev:?} accepted"),
                Err(e) => {
                    assert!(!ok, "{rev:?}: {e}");
                    assert!(e.to_string().contains("not a branch, tag or commit sha"), "{e}");
                }
            }
        }
        assert!(check_commit("0123456789abcdef0123456789abcdef01234567", "the commit").is_ok());
        for bad in ["../../../../tmp/x", "0123", "g123456789abcdef0123456789abcdef01234567", ""] {
            let e = check_commit(bad, "the Hub's commit").unwrap_err().to_string();
            assert!(e.contains("not a commit sha"), "{e}");
        }
    }
}
