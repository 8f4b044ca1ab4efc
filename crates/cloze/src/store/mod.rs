//! Projects: one SQLite file (`.cloze`) holding the data, every label with its provenance, the
//! templates and verbalizers tried, the models used and every run.
//!
//! One [`Store`] owns one connection (WAL, foreign keys on, a busy timeout so a background
//! re-scorer and the labelling loop can share the file). The schema grows by an append-only list of
//! migrations keyed by SQLite's `user_version` (see `migrations.rs`): a file written by a newer
//! build is refused, an older one is copied aside before it is migrated. Queries live beside the
//! table they serve (`rows.rs`, `labels.rs`, …); every write that records a user's decision is its
//! own transaction, so a crash loses nothing confirmed.

pub mod artifacts;
pub mod labels;
mod migrations;
pub mod prompts;
pub mod queue;
pub mod rows;
pub mod runs;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, ErrorKind, Result, Text, project_path, sqlite_kind};
pub use artifacts::Artifact;
pub use labels::{Label, LabelSet, LabelSource, LabelledRow, NewLabel};
pub use migrations::SCHEMA_VERSION;
pub use prompts::{ModelRow, Saved};
pub use queue::{RowFilter, RowIdPage, RowOrder, ToLabel, Uncertainty};
pub use rows::{Dataset, ImportProgress, ImportSummary, Split, StoredRow};
pub use runs::{Run, RunStatus, Suggestion};

/// Indexes an import drops while it streams rows in; recreated after it, and at every open.
pub(crate) const REBUILD_INDEXES: &str =
    "CREATE INDEX IF NOT EXISTS rows_by_shuffle ON rows (dataset_id, shuffle_key)";

/// The project file extension.
pub const EXTENSION: &str = "cloze";

/// A project file and its one connection.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

/// A SQLite failure on the project at `path`, its kind taken from the SQLite error.
fn db_err(path: Option<&Path>, e: rusqlite::Error) -> Error {
    db_err_in(path, "", e)
}

/// A SQLite failure while doing `what` ("label set 3", "migration 2 failed").
fn db_err_in(path: Option<&Path>, what: impl Into<Text>, e: rusqlite::Error) -> Error {
    Error::Store {
        path: project_path(path),
        kind: sqlite_kind(&e),
        message: what.into(),
        source: Some(Box::new(e)),
    }
}

/// A failure of the project at `path` that no SQLite error caused.
fn store_failure(path: Option<&Path>, kind: ErrorKind, message: impl Into<Text>) -> Error {
    Error::Store { path: project_path(path), kind, message: message.into(), source: None }
}

impl Store {
    /// Creates a new, empty project file. Fails if the file exists.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if path.exists() {
            return Err(store_failure(
                Some(path),
                ErrorKind::Precondition,
                "a file already exists there; open it, or choose another name",
            ));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::missing(dir, "the folder for the project does not exist; create it first"));
        }
        let conn = Connection::open(path).map_err(|e| db_err(Some(path), e))?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// Opens an existing project file, migrating it to this build's schema (after copying the old
    /// file to `<name>.v<N>.bak`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::missing(
                path,
                Text::from("no such project file; create it")
                    .cli_only(" with `cloze project new`")
                    .app_only(" on the Projects screen"),
            ));
        }
        let conn = Connection::open(path).map_err(|e| db_err(Some(path), e))?;
        // Reading the header fails here when the file is not SQLite at all.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
            .map_err(|e| db_err_in(Some(path), "not a Cloze Studio project", e))?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// A project in memory, for tests and previews.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(|e| db_err(None, e))?;
        Self::init(conn, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Self> {
        let p = path.as_deref();
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| db_err(p, e))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(|e| db_err(p, e))?;
        // 64 MiB of page cache: imports update three row indexes (two in random order) and the
        // default 2 MiB makes every insert a page-cache miss once a dataset passes ~100k rows.
        conn.pragma_update(None, "cache_size", -65536).map_err(|e| db_err(p, e))?;
        if p.is_some() {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| db_err(p, e))?;
            conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| db_err(p, e))?;
        }
        let mut store = Self { conn, path };
        migrations::migrate(&mut store.conn, store.path.as_deref())?;
        store.conn.execute_batch(REBUILD_INDEXES).map_err(|e| store.err(e))?;
        Ok(store)
    }

    /// The file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<u32> {
        self.conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| self.err(e))
    }

    // The connection and its error stay inside `store/`: every query is a method of the store.
    fn conn(&self) -> &Connection {
        &self.conn
    }

    fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// A SQLite failure on this project.
    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(self.path.as_deref(), e)
    }

    /// A SQLite failure on this project while doing `what` ("label set 3").
    fn err_in(&self, what: impl Into<Text>, e: rusqlite::Error) -> Error {
        db_err_in(self.path.as_deref(), what, e)
    }

    /// A failure on this project that no SQLite error caused.
    fn failure(&self, kind: ErrorKind, message: impl Into<Text>) -> Error {
        store_failure(self.path.as_deref(), kind, message)
    }

    /// A project setting, or `None`.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets a project setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.setting("name").unwrap(), None);
        store.set_setting("name", "reviews").unwrap();
        store.set_setting("name", "reviews 2").unwrap();
        assert_eq!(store.setting("name").unwrap().as_deref(), Some("reviews 2"));
    }

    #[test]
    fn create_and_open_files() {
        let dir = std::env::temp_dir().join(format!("cloze-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.cloze");
        let _ = std::fs::remove_file(&path);
        {
            let store = Store::create(&path).unwrap();
            store.set_setting("k", "v").unwrap();
        }
        let err = Store::create(&path).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.setting("k").unwrap().as_deref(), Some("v"));
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let missing = Store::open(dir.join("nope.cloze")).unwrap_err().to_string();
        assert!(missing.contains("cloze project new"), "{missing}");
        let junk = dir.join("junk.cloze");
        std::fs::write(&junk, b"this is not a database, just some text that is long enough").unwrap();
        let err = Store::open(&junk).unwrap_err().to_string();
        assert!(err.contains("not a Cloze Studio project"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
