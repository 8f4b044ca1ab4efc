//! Hugging Face models: search and download ([`client`]) into the cache shared with the Python tools
//! ([`cache`]), with access tokens from the environment or the system's credential store ([`token`]).
//!
//! A model is named by a local folder or by a Hub repository id with an optional revision
//! (`org/name`, `org/name@v1.0`, `org/name@<commit sha>`), or one GGUF file of a repository
//! (`org/name/FILE.gguf[@revision]`, as [`HubClient::download_gguf`] fetches it); [`resolve_model`]
//! turns any of them into a folder or file [`crate::plm::Plm::load`] can open, using only the cache
//! (so it works offline).

pub mod cache;
pub mod client;
pub mod token;

use std::path::PathBuf;

pub use cache::{Cache, CachedModel};
pub use client::{
    DownloadProgress, GgufFile, HubClient, ModelDetails, ModelSummary, SearchPage, SearchQuery,
    gguf_quantisation,
};
pub use token::{Token, TokenStore};

use crate::error::{Error, Result, Text};

/// Splits `org/name[@revision]` when `spec` has that shape (revision `main` when absent): a valid
/// repository id and a revision that is a branch, tag or commit name, never a path.
pub fn repo_spec(spec: &str) -> Option<(&str, &str)> {
    let (repo, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    (cache::folder_name(repo).is_ok() && cache::check_revision(revision).is_ok()).then_some((repo, revision))
}

/// Splits `org/name/FILE.gguf[@revision]` (revision `main` when absent) into the repository, the
/// file (a relative path inside it) and the revision, when `spec` has that shape.
pub fn gguf_spec(spec: &str) -> Option<(&str, &str, &str)> {
    let (name, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    let mut parts = name.splitn(3, '/');
    let (org, repo, file) = (parts.next()?, parts.next()?, parts.next()?);
    let repo_id = &name[..org.len() + 1 + repo.len()];
    let ok = file.to_ascii_lowercase().ends_with(".gguf")
        && cache::folder_name(repo_id).is_ok()
        && cache::check_revision(revision).is_ok()
        && crate::files::safe_relative_path(file, "the GGUF file's name").is_ok();
    ok.then_some((repo_id, file, revision))
}

/// A folder, a GGUF file, `repo_id[@revision]` or `repo_id/FILE.gguf[@revision]` found in the cache from the environment ([`Cache::from_env`]).
pub fn resolve_model(spec: &str) -> Result<PathBuf> {
    resolve_model_in(&Cache::from_env(), spec)
}

/// [`resolve_model`] with an explicit cache.
pub fn resolve_model_in(cache: &Cache, spec: &str) -> Result<PathBuf> {
    let path = PathBuf::from(spec);
    let gguf = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if path.is_dir() || (gguf && path.is_file()) {
        return Ok(path);
    }
    if let Some((repo, file, revision)) = gguf_spec(spec) {
        let path = cache.snapshot(repo, revision)?.join(file);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(Error::missing(
                path,
                Text::from(format!("{repo}@{revision} is in the cache without {file}; download it"))
                    .cli_only(format!(" (`cloze hub download {repo} --gguf {file}`)"))
                    .app_only(" on the Model screen"),
            ))
        };
    }
    match repo_spec(spec) {
        Some((repo, revision)) => cache.snapshot(repo, revision),
        // `org/name@<not a revision>`: say what is wrong with the revision
        None if spec.split_once('@').is_some_and(|(repo, _)| cache::folder_name(repo).is_ok()) => {
            let (_, revision) = spec.split_once('@').expect("checked");
            Err(cache::check_revision(revision).expect_err("repo_spec refused it"))
        }
        None => Err(Error::missing(
            path,
            "no such folder or .gguf file, and not a Hugging Face repository id (org/name[@revision])",
        )),
    }
}
