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
pub mod checks;
pub mod ensembles;
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
pub use checks::{FlaggedRow, LabelCheck, NewLabelCheck};
pub use ensembles::SavedEnsemble;
pub use labels::{Label, LabelSet, LabelSource, LabelledRow, MULTI_SEPARATOR, NewLabel, Seen};
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
    notices: Vec<String>,
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

/// Refuses an empty file and a file that does not start with SQLite's header, before SQLite
/// touches it.
fn check_header(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]).map_err(|e| Error::io(path, e))? {
            0 => break,
            k => n += k,
        }
    }
    let what = if n == 0 {
        "this file is empty (0 bytes), not a Cloze Studio project"
    } else if &head[..n] != b"SQLite format 3\0" {
        "this file is not a SQLite database, so not a Cloze Studio project"
    } else {
        return Ok(());
    };
    Err(store_failure(
        Some(path),
        ErrorKind::InvalidInput,
        Text::from(format!("{what}; it was left as it is. Open a project file, or create a new project"))
            .cli_only(" with `cloze project new` (under another name)")
            .app_only(" on the Projects screen (under another name)"),
    ))
}

/// Another program's SQLite database: refused without writing to it.
fn foreign(path: &Path, application_id: i32, tables: &[String]) -> Error {
    let owner = if application_id != 0 {
        let tag: String = application_id
            .to_be_bytes()
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        format!("another program's SQLite database (application_id {application_id:#010x}, {tag:?})")
    } else {
        "a SQLite database, but not a Cloze Studio project".to_string()
    };
    let shown: Vec<&str> = tables.iter().take(8).map(String::as_str).collect();
    let tables = match tables.len() {
        0 => "it has no tables".to_string(),
        n if n > shown.len() => format!("its tables: {}, … ({n} in all)", shown.join(", ")),
        _ => format!("its tables: {}", shown.join(", ")),
    };
    store_failure(
        Some(path),
        ErrorKind::InvalidInput,
        format!(
            "this file is {owner} ({tables}); Cloze Studio opens only its own projects and left this file unchanged. \
             Open a .{EXTENSION} project, or create a new one"
        ),
    )
}

/// A file SQLite cannot read as a database: damaged, or not a database at all.
fn damaged(path: &Path, e: Error) -> Error {
    match e {
        Error::Store { kind: ErrorKind::Internal | ErrorKind::InvalidInput, source, .. } => Error::Store {
            path: path.to_path_buf(),
            kind: ErrorKind::InvalidInput,
            message: restore_advice(path, "this file is damaged or not a Cloze Studio project").into(),
            source,
        },
        other => other,
    }
}

/// "`what`; restore …": the backups beside the project that migrations wrote, if any.
fn restore_advice(path: &Path, what: &str) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut backups: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| f.starts_with(&format!("{name}.v")) && f.ends_with(".bak"))
                .collect()
        })
        .unwrap_or_default();
    backups.sort();
    match backups.last() {
        Some(newest) => format!(
            "{what}; Cloze Studio will not use it. Restore the backup written before its last upgrade \
             ({}), or a copy you keep, under its name",
            dir.join(newest).display()
        ),
        None => format!(
            "{what}; Cloze Studio will not use it. Restore a copy you keep of it (no upgrade backup \
             `{name}.v<N>.bak` is beside it)"
        ),
    }
}

/// Refuses a file failing SQLite's `PRAGMA quick_check`.
fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let found: Vec<String> = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| damaged(path, db_err(Some(path), e)))?;
    if found.len() == 1 && found[0] == "ok" {
        return Ok(());
    }
    Err(store_failure(
        Some(path),
        ErrorKind::InvalidInput,
        restore_advice(path, &format!("this file is damaged (SQLite's quick_check: {})", found.join("; "))),
    ))
}

impl Store {
    /// Creates a new, empty project file. Fails if the file (or anything else) exists there.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            return Err(Error::missing(dir, "the folder for the project does not exist; create it first"));
        }
        // `create_new`: an existing file is never taken over, even one that appears meanwhile.
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(store_failure(
                    Some(path),
                    ErrorKind::Precondition,
                    "a file already exists there; open it, or choose another name",
                ));
            }
            Err(e) => return Err(Error::io(path, e)),
        }
        let conn = Connection::open(path).map_err(|e| db_err(Some(path), e))?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// Opens an existing project file, migrating it to this build's schema (after copying the old
    /// file to `<name>.v<N>.bak`). Refused, and left untouched: an empty file, a file that is not
    /// SQLite, another program's database (see [`migrations::APPLICATION_ID`]) and a file failing
    /// SQLite's `quick_check`. An import that a crashed process left unfinished is removed, with a
    /// [notice](Self::notices).
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
        check_header(path)?;
        let conn = Connection::open(path).map_err(|e| db_err(Some(path), e))?;
        match migrations::recognise(&conn, Some(path)).map_err(|e| damaged(path, e))? {
            migrations::Recognised::Ours => {}
            migrations::Recognised::Foreign { application_id, tables } => {
                return Err(foreign(path, application_id, &tables));
            }
        }
        quick_check(&conn, path)?;
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
        let mut store = Self { conn, path, notices: Vec::new() };
        migrations::migrate(&mut store.conn, store.path.as_deref())?;
        store.conn.execute_batch(REBUILD_INDEXES).map_err(|e| store.err(e))?;
        store.notices = store.remove_crashed_imports()?;
        Ok(store)
    }

    /// What opening the project repaired, for the front end to show ("an import of `train` did not
    /// finish; it was removed — import it again").
    pub fn notices(&self) -> &[String] {
        &self.notices
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

    fn application_id(path: &Path) -> i32 {
        let conn = Connection::open(path).unwrap();
        conn.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap()
    }

    #[test]
    fn new_projects_carry_the_application_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.cloze");
        drop(Store::create(&path).unwrap());
        assert_eq!(application_id(&path), migrations::APPLICATION_ID);
        let memory = Store::open_in_memory().unwrap();
        let id: i32 = memory.conn().pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
        assert_eq!(id, migrations::APPLICATION_ID);
    }

    #[test]
    fn foreign_sqlite_file_is_never_modified() {
        let dir = tempfile::tempdir().unwrap();
        // (file, application_id, what the error names)
        let cases: [(&str, i32, &[&str]); 3] = [
            ("shop.sqlite", 0, &["not a Cloze Studio project", "customers", "left this file unchanged"]),
            ("app.db", 0x4142_4344, &["another program", "0x41424344", "\"ABCD\"", "customers"]),
            // Same table names as a Cloze schema 2 file, but a schema version Cloze never wrote
            // without its mark.
            ("look-alike.db", 0, &["not a Cloze Studio project"]),
        ];
        for (name, app_id, expected) in cases {
            let path = dir.path().join(name);
            {
                let conn = Connection::open(&path).unwrap();
                conn.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)").unwrap();
                conn.pragma_update(None, "application_id", app_id).unwrap();
                if name == "look-alike.db" {
                    conn.execute_batch(
                        "CREATE TABLE settings (k); CREATE TABLE datasets (k); CREATE TABLE rows (k);
                                        CREATE TABLE label_sets (k); CREATE TABLE labels (k);",
                    )
                    .unwrap();
                    conn.pragma_update(None, "user_version", 7).unwrap();
                }
            }
            let before = std::fs::read(&path).unwrap();
            let err = Store::open(&path).unwrap_err();
            let msg = err.to_string();
            for e in expected {
                assert!(msg.contains(e), "{name}: {msg:?} lacks {e:?}");
            }
            assert!(msg.contains(name), "{msg}");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(std::fs::read(&path).unwrap(), before, "{name} was modified");
            let wal = dir.path().join(format!("{name}-wal"));
            assert!(!wal.exists(), "{name}: a WAL file was left beside it");
        }
    }

    #[test]
    fn empty_or_non_sqlite_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], &str); 3] = [
            ("empty.cloze", b"", "empty (0 bytes)"),
            ("short.cloze", b"SQLite", "not a SQLite database"),
            ("text.cloze", b"id,text\n1,hello\n", "not a SQLite database"),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let msg = Store::open(&path).unwrap_err().to_string();
            assert!(msg.contains(expected) && msg.contains("cloze project new"), "{name}: {msg}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
            let msg = Store::create(&path).unwrap_err().to_string();
            assert!(msg.contains("already exists"), "{name}: {msg}");
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified by create");
        }
    }

    #[test]
    fn corrupt_project_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.cloze");
        {
            let store = Store::create(&path).unwrap();
            let long = "x".repeat(3000);
            for i in 0..200 {
                store.set_setting(&format!("key {i}"), &long).unwrap();
            }
        }
        // A backup an upgrade would have written, so that the message can point at it.
        std::fs::write(dir.path().join("p.cloze.v2.bak"), b"backup").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 16 * 4096, "the project spans many pages ({} bytes)", bytes.len());
        for b in &mut bytes[4 * 4096..12 * 4096] {
            *b = 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("damaged") && msg.contains("p.cloze.v2.bak") && msg.contains("Restore"),
            "{msg}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn older_unmarked_projects_are_recognised_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.cloze");
        {
            let mut conn = Connection::open(&path).unwrap();
            for (i, sql) in migrations::MIGRATIONS[..2].iter().enumerate() {
                let tx = conn.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", i as u32 + 1).unwrap();
                tx.commit().unwrap();
            }
            conn.execute(
                "INSERT INTO datasets (name, format, encoding, columns, mapping, status)
                 VALUES ('half', 'csv', 'utf-8', '[]', '{}', 'importing')",
                [],
            )
            .unwrap();
        }
        assert_eq!(application_id(&path), 0);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.notices().len(), 1, "{:?}", store.notices());
        assert!(store.notices()[0].contains("`half`") && store.notices()[0].contains("import it again"));
        drop(store);
        assert_eq!(application_id(&path), migrations::APPLICATION_ID);
        assert!(dir.path().join("old.cloze.v2.bak").exists(), "the upgrade wrote its backup");
    }
}
