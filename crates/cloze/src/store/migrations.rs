//! The project schema, as an append-only list of migrations keyed by `PRAGMA user_version`
//! (cargo's way with its SQLite cache). Never edit a migration that has shipped: add one.

use std::path::Path;

use rusqlite::Connection;

use super::{db_err, db_err_in, store_failure};
use crate::error::{ErrorKind, Result};

/// Each entry moves the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: data and labels.
    r#"
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE datasets (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        source_path TEXT,
        format      TEXT NOT NULL,
        encoding    TEXT NOT NULL,
        columns     TEXT NOT NULL,            -- JSON array of column names
        mapping     TEXT NOT NULL,            -- JSON: which column gave text_a, text_b, label, id
        imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        row_count   INTEGER NOT NULL DEFAULT 0,
        status      TEXT NOT NULL DEFAULT 'importing' CHECK (status IN ('importing', 'ready'))
    );
    CREATE TABLE rows (
        id           INTEGER PRIMARY KEY,
        dataset_id   INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,        -- order in the source file, from 0
        ext_id       TEXT NOT NULL,           -- the file's id column, or the row number
        line         INTEGER,                 -- 1-based line in the source file
        text_a       TEXT NOT NULL,
        text_b       TEXT,
        meta         TEXT,                    -- JSON object of the other columns, or NULL
        split        TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'dev', 'test', 'unlabelled')),
        content_hash INTEGER NOT NULL,        -- of text_a and text_b; duplicates are found at import
        duplicate_of INTEGER REFERENCES rows (id) ON DELETE SET NULL,
        shuffle_key  INTEGER NOT NULL,        -- a fixed pseudo-random order, for the random queue
        UNIQUE (dataset_id, position)
    );
    CREATE INDEX rows_by_shuffle ON rows (dataset_id, shuffle_key);
    CREATE TABLE label_sets (
        id         INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        classes    TEXT NOT NULL,             -- JSON array of class names, in order
        UNIQUE (dataset_id, name)
    );
    CREATE TABLE labels (
        id           INTEGER PRIMARY KEY,
        label_set_id INTEGER NOT NULL REFERENCES label_sets (id) ON DELETE CASCADE,
        row_id       INTEGER NOT NULL REFERENCES rows (id) ON DELETE CASCADE,
        value        TEXT NOT NULL,
        source       TEXT NOT NULL CHECK (source IN ('human', 'model', 'import')),
        confidence   REAL,
        annotator    TEXT,
        run_id       INTEGER,                 -- the run that suggested it (runs: migration 2)
        created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        retracted_at TEXT                     -- set by undo; the row keeps its history
    );
    CREATE INDEX labels_live ON labels (label_set_id, row_id) WHERE retracted_at IS NULL;
    "#,
    // 2: prompts, models, runs and what they produce.
    r#"
    CREATE TABLE templates (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        version    INTEGER NOT NULL,
        source     TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (name, version)
    );
    CREATE TABLE verbalizers (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        version    INTEGER NOT NULL,
        definition TEXT NOT NULL,             -- JSON of the verbalizer
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (name, version)
    );
    CREATE TABLE models (
        id           INTEGER PRIMARY KEY,
        repo_id      TEXT,                    -- Hugging Face repository, with its revision sha
        revision     TEXT,
        local_path   TEXT,                    -- or a local folder, with a hash of its files
        content_hash TEXT,
        family       TEXT NOT NULL,
        added_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        CHECK (repo_id IS NOT NULL OR local_path IS NOT NULL)
    );
    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        strategy      TEXT NOT NULL,          -- zero-shot, calibrated, soft-prompt, finetune, ...
        config        TEXT NOT NULL,          -- JSON: everything needed to reproduce it
        seed          INTEGER NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'cancelled')),
        model_id      INTEGER REFERENCES models (id),
        template_id   INTEGER REFERENCES templates (id),
        verbalizer_id INTEGER REFERENCES verbalizers (id),
        label_set_id  INTEGER REFERENCES label_sets (id) ON DELETE CASCADE,
        started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        finished_at   TEXT,
        error         TEXT
    );
    CREATE TABLE run_metrics (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step   INTEGER NOT NULL,
        name   TEXT NOT NULL,
        value  REAL NOT NULL,
        at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (run_id, step, name)
    );
    CREATE TABLE suggestions (
        run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        row_id     INTEGER NOT NULL REFERENCES rows (id) ON DELETE CASCADE,
        predicted  TEXT NOT NULL,
        confidence REAL NOT NULL,             -- probability of the predicted class
        margin     REAL NOT NULL,             -- best minus second best
        entropy    REAL NOT NULL,             -- of the class distribution, in nats
        probs      TEXT NOT NULL,             -- JSON array, in the label set's class order
        PRIMARY KEY (run_id, row_id)
    );
    CREATE INDEX suggestions_by_confidence ON suggestions (run_id, confidence);
    CREATE INDEX suggestions_by_margin ON suggestions (run_id, margin);
    CREATE INDEX suggestions_by_entropy ON suggestions (run_id, entropy);
    CREATE TABLE artifacts (
        id         INTEGER PRIMARY KEY,
        run_id     INTEGER REFERENCES runs (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        kind       TEXT NOT NULL,             -- soft-prompt, head, ...
        sha256     TEXT NOT NULL,
        data       BLOB,                      -- safetensors bytes kept in the file,
        path       TEXT,                      -- or a file beside the project
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        CHECK (data IS NOT NULL OR path IS NOT NULL)
    );
    "#,
    // 3: the file says it is a Cloze Studio project (`application_id`, see `APPLICATION_ID`); an
    // import in progress is invisible and does not hold its name (`name` is a placeholder, the name
    // it will take is `import_name`) and names the process writing it (`import_pid`), so that a
    // crashed import can be told from a running one and removed.
    r#"
    PRAGMA application_id = 1131182641; -- APPLICATION_ID
    ALTER TABLE datasets ADD COLUMN import_name TEXT;
    ALTER TABLE datasets ADD COLUMN import_pid INTEGER;
    UPDATE datasets SET import_name = name, name = char(1) || 'importing ' || id WHERE status = 'importing';
    -- The foreign keys that point at a row, indexed: removing a dataset (a cancelled or crashed
    -- import) cascades row by row, and without these each row scanned every label, suggestion and row.
    CREATE INDEX labels_by_row ON labels (row_id);
    CREATE INDEX suggestions_by_row ON suggestions (row_id);
    CREATE INDEX rows_by_duplicate ON rows (duplicate_of) WHERE duplicate_of IS NOT NULL;
    "#,
    // 4: a saved template keeps its chat setting (`template::chat::Chat` as JSON; NULL: no chat
    // template, as every template saved before).
    r#"
    ALTER TABLE templates ADD COLUMN chat TEXT;
    "#,
    // 5: label checks (suspicious labels, `label::suspicious`): which label set, which model, the
    // options and when; per row the check flagged, the label it contradicted and the evidence. A
    // newer check of a label set replaces the older ones (`Store::save_label_check`).
    r#"
    CREATE TABLE label_checks (
        id           INTEGER PRIMARY KEY,
        label_set_id INTEGER NOT NULL REFERENCES label_sets (id) ON DELETE CASCADE,
        model_id     INTEGER REFERENCES models (id),
        model        TEXT NOT NULL,           -- the folder or repository id the model came from
        folds        INTEGER NOT NULL,
        seed         INTEGER NOT NULL,
        rows_checked INTEGER NOT NULL,        -- the labelled rows the check judged
        thresholds   TEXT NOT NULL,           -- JSON array, in the label set's class order
        created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    CREATE INDEX label_checks_by_set ON label_checks (label_set_id, id);
    CREATE TABLE label_check_rows (
        check_id    INTEGER NOT NULL REFERENCES label_checks (id) ON DELETE CASCADE,
        row_id      INTEGER NOT NULL REFERENCES rows (id) ON DELETE CASCADE,
        given       TEXT NOT NULL,            -- the live label the check contradicted
        suggested   TEXT NOT NULL,            -- the class the probe gives the row
        p_given     REAL NOT NULL,
        p_suggested REAL NOT NULL,
        threshold   REAL NOT NULL,            -- the suggested class's threshold
        confident   INTEGER NOT NULL CHECK (confident IN (0, 1)),
        PRIMARY KEY (check_id, row_id)
    );
    CREATE INDEX label_check_rows_by_row ON label_check_rows (row_id);
    "#,
    // 6: saved template ensembles (`ensemble::Ensemble` as JSON), versioned by name like templates.
    r#"
    CREATE TABLE ensembles (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        version    INTEGER NOT NULL,
        definition TEXT NOT NULL,             -- JSON of the ensemble: members, weights, fit report
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (name, version)
    );
    "#,
    // 7: multi-label label sets. `multi_label` 1: a row may carry several of the set's classes,
    // kept as ONE label whose value is the classes joined by `;` in the set's class order (an empty
    // value: none applies), so every change is one transaction and single-label sets are as before.
    // `multi_label_prompt`: JSON of the yes/no prompt, its words and the per-label thresholds.
    r#"
    ALTER TABLE label_sets ADD COLUMN multi_label INTEGER NOT NULL DEFAULT 0 CHECK (multi_label IN (0, 1));
    ALTER TABLE label_sets ADD COLUMN multi_label_prompt TEXT;
    "#,
];

/// The `application_id` in the header of every project file (migration 3 sets it): "Clz1".
pub const APPLICATION_ID: i32 = 0x436C_7A31;

/// The tables each schema version before [`APPLICATION_ID`] existed has: how a project written by
/// those builds is told from someone else's SQLite database.
const UNMARKED_SCHEMAS: &[(u32, &[&str])] = &[
    (1, &["datasets", "label_sets", "labels", "rows", "settings"]),
    (
        2,
        &[
            "artifacts",
            "datasets",
            "label_sets",
            "labels",
            "models",
            "rows",
            "run_metrics",
            "runs",
            "settings",
            "suggestions",
            "templates",
            "verbalizers",
        ],
    ),
];

/// What a SQLite file is, judged from its header fields and its tables without writing to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recognised {
    /// A Cloze Studio project (marked, or of a schema from before the mark).
    Ours,
    /// Another program's database: `application_id`, and its tables.
    Foreign { application_id: i32, tables: Vec<String> },
}

/// Tells a Cloze Studio project from any other SQLite database, reading only.
pub(crate) fn recognise(conn: &Connection, path: Option<&Path>) -> Result<Recognised> {
    let application_id: i32 =
        conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| db_err(path, e))?;
    let version: u32 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| db_err(path, e))?;
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(|e| db_err(path, e))?;
    if application_id == APPLICATION_ID {
        return Ok(Recognised::Ours);
    }
    let unmarked = application_id == 0
        && UNMARKED_SCHEMAS
            .iter()
            .any(|(v, names)| *v == version && names.iter().all(|n| tables.iter().any(|t| t == n)));
    Ok(if unmarked { Recognised::Ours } else { Recognised::Foreign { application_id, tables } })
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database to [`SCHEMA_VERSION`]. A newer file is refused; an older, non-empty file is
/// first copied to `<file>.v<old>.bak` with `VACUUM INTO` (a consistent snapshot even in WAL mode).
pub(crate) fn migrate(conn: &mut Connection, path: Option<&Path>) -> Result<()> {
    let version: u32 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| db_err(path, e))?;
    if version > SCHEMA_VERSION {
        return Err(store_failure(
            path,
            ErrorKind::Precondition,
            format!(
                "this project was written by a newer Cloze Studio (schema {version}; this build knows up to \
                 {SCHEMA_VERSION}); update Cloze Studio to open it"
            ),
        ));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version > 0
        && let Some(p) = path
    {
        let backup = p.with_file_name(format!(
            "{}.v{version}.bak",
            p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        if !backup.exists() {
            conn.execute("VACUUM INTO ?1", [backup.to_string_lossy()]).map_err(|e| {
                db_err_in(
                    path,
                    format!("could not back up the project before upgrading it to {}", backup.display()),
                    e,
                )
            })?;
        }
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(|e| db_err(path, e))?;
        tx.execute_batch(sql).map_err(|e| db_err_in(path, format!("migration {} failed", i + 1), e))?;
        tx.pragma_update(None, "user_version", (i + 1) as u32).map_err(|e| db_err(path, e))?;
        tx.commit().map_err(|e| db_err(path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt =
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn migrate_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, None).unwrap();
        let first = tables(&conn);
        migrate(&mut conn, None).unwrap();
        assert_eq!(tables(&conn), first);
        let v: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        for t in [
            "settings",
            "datasets",
            "rows",
            "labels",
            "label_sets",
            "runs",
            "suggestions",
            "artifacts",
            "label_checks",
            "label_check_rows",
            "ensembles",
        ] {
            assert!(first.iter().any(|x| x == t), "missing table {t}");
        }
    }

    #[test]
    fn the_marking_migration_sets_application_id() {
        let mark = format!("PRAGMA application_id = {APPLICATION_ID};");
        assert!(MIGRATIONS[2].contains(&mark), "migration 3 sets {APPLICATION_ID}");
    }

    #[test]
    fn newer_files_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        let err = migrate(&mut conn, None).unwrap_err().to_string();
        assert!(err.contains("newer Cloze Studio") && err.contains("update Cloze Studio"), "{err}");
    }

    #[test]
    fn older_files_are_backed_up_then_upgraded() {
        let dir = std::env::temp_dir().join(format!("cloze-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.cloze");
        let _ = std::fs::remove_file(&path);
        {
            // A file as the first release left it: schema 1 with a setting.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO settings VALUES ('name', 'old')", []).unwrap();
        }
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, Some(&path)).unwrap();
        let v: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let backup = dir.join("old.cloze.v1.bak");
        let old = Connection::open(&backup).unwrap();
        let v: u32 = old.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, 1, "the backup keeps the old schema");
        let name: String = old.query_row("SELECT value FROM settings", [], |r| r.get(0)).unwrap();
        assert_eq!(name, "old");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
