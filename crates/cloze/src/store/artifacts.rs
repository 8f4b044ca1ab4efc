//! Artifacts a run produces (soft prompts, classifier heads, as safetensors bytes): small ones are
//! kept inside the project file, large ones in a file beside it; either way with their SHA-256, which
//! is checked when they are read back.

use std::path::{Path, PathBuf};

use rusqlite::params;
use sha2::{Digest, Sha256};

use super::Store;
use crate::error::{Error, ErrorKind, Result};

/// Artifacts up to this size are stored inside the project file.
pub const INLINE_LIMIT: usize = 16 << 20;

/// An artifact's record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Artifact {
    pub id: i64,
    pub run_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub sha256: String,
    /// The file beside the project, for large artifacts.
    pub path: Option<PathBuf>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Stores an artifact's bytes: inline up to [`INLINE_LIMIT`], otherwise in
    /// `<project>.artifacts/<sha256>.safetensors` beside the project file.
    pub fn put_artifact(
        &self,
        run_id: Option<i64>,
        name: &str,
        kind: &str,
        bytes: &[u8],
    ) -> Result<Artifact> {
        let sha = sha256_hex(bytes);
        let (data, path): (Option<&[u8]>, Option<PathBuf>) = match (bytes.len() <= INLINE_LIMIT, self.path())
        {
            (true, _) | (false, None) => (Some(bytes), None),
            (false, Some(project)) => {
                let dir = PathBuf::from(format!("{}.artifacts", project.display()));
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                let file = dir.join(format!("{sha}.safetensors"));
                std::fs::write(&file, bytes).map_err(|e| Error::io(&file, e))?;
                (None, Some(file))
            }
        };
        self.conn()
            .execute(
                "INSERT INTO artifacts (run_id, name, kind, sha256, data, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run_id, name, kind, sha, data, path.as_ref().map(|p| p.to_string_lossy().into_owned())],
            )
            .map_err(|e| self.err(e))?;
        Ok(Artifact {
            id: self.conn().last_insert_rowid(),
            run_id,
            name: name.into(),
            kind: kind.into(),
            sha256: sha,
            path,
        })
    }

    /// Reads an artifact's bytes back, checking their SHA-256.
    pub fn artifact_bytes(&self, artifact_id: i64) -> Result<Vec<u8>> {
        let (sha, data, path): (String, Option<Vec<u8>>, Option<String>) = self
            .conn()
            .query_row("SELECT sha256, data, path FROM artifacts WHERE id = ?1", [artifact_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.err_in(format!("artifact {artifact_id}"), e))?;
        let bytes = match (data, path) {
            (Some(d), _) => d,
            (None, Some(p)) => std::fs::read(&p).map_err(|e| {
                Error::io_while(
                    Path::new(&p),
                    "the artifact file beside the project is missing or unreadable",
                    e,
                )
            })?,
            (None, None) => {
                return Err(self.failure(
                    ErrorKind::Internal,
                    format!("artifact {artifact_id} has neither data nor a file"),
                ));
            }
        };
        if sha256_hex(&bytes) != sha {
            return Err(self.failure(
                ErrorKind::InvalidInput,
                format!(
                    "artifact {artifact_id} does not match its SHA-256 {sha}; the file was changed or damaged"
                ),
            ));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_artifacts_round_trip_and_are_checked() {
        let store = Store::open_in_memory().unwrap();
        let a = store.put_artifact(None, "soft prompt", "soft-prompt", b"tensor bytes").unwrap();
        assert_eq!(a.sha256, sha256_hex(b"tensor bytes"));
        assert_eq!(a.sha256.len(), 64);
        assert_eq!(store.artifact_bytes(a.id).unwrap(), b"tensor bytes");
        store.conn().execute("UPDATE artifacts SET data = x'00' WHERE id = ?1", [a.id]).unwrap();
        let err = store.artifact_bytes(a.id).unwrap_err().to_string();
        assert!(err.contains("does not match its SHA-256"), "{err}");
    }

    #[test]
    fn large_artifacts_live_beside_the_project() {
        let dir = std::env::temp_dir().join(format!("cloze-artifacts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::create(dir.join("p.cloze")).unwrap();
        let big = vec![7u8; INLINE_LIMIT + 1];
        let a = store.put_artifact(None, "head", "head", &big).unwrap();
        let file = a.path.clone().unwrap();
        assert!(file.starts_with(dir.join("p.cloze.artifacts")));
        assert_eq!(store.artifact_bytes(a.id).unwrap().len(), big.len());
        std::fs::remove_file(&file).unwrap();
        assert!(store.artifact_bytes(a.id).unwrap_err().to_string().contains("missing"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
