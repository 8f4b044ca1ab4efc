//! Datasets and their rows: streaming import from a data file, listing, and reading rows back.
//!
//! Import reads the file through [`crate::data::Reader`] (never the whole file in memory) and writes
//! rows in transactions of [`IMPORT_BATCH`]; the dataset is marked `ready` only at the end, and a
//! failed or cancelled import removes what it wrote. Rows whose text equals an earlier row's are
//! kept and marked `duplicate_of` it. Labels found in the file become `import` labels of the
//! dataset's label set `labels`.
//!
//! The random-order index (`rows_by_shuffle`) is dropped while rows stream in and rebuilt by one
//! sort at the end: inserting a million random keys into a live B-tree made import three times
//! slower. [`Store::open`] rebuilds it too, should an import have been killed halfway.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::data::{ColumnMapping, Example, ImportOptions, Reader, SkippedRow, SplitMix64};
use crate::error::{Error, ErrorKind, Result, Setting, Text};

/// Rows written per transaction during import.
pub const IMPORT_BATCH: usize = 10_000;

/// Which part of the data a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    #[default]
    Train,
    Dev,
    Test,
    Unlabelled,
}

impl Split {
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
            Split::Unlabelled => "unlabelled",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "dev" | "validation" => Ok(Split::Dev),
            "test" => Ok(Split::Test),
            "unlabelled" | "unlabeled" => Ok(Split::Unlabelled),
            _ => Err(Error::invalid(format!("split {s:?} is unknown; use train, dev, test or unlabelled"))),
        }
    }
}

/// A dataset in a project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dataset {
    pub id: i64,
    pub name: String,
    pub source_path: Option<String>,
    pub format: String,
    pub encoding: String,
    pub columns: Vec<String>,
    pub mapping: ColumnMapping,
    pub row_count: i64,
    pub status: String,
    pub imported_at: String,
}

/// A row as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredRow {
    pub id: i64,
    pub dataset_id: i64,
    pub position: i64,
    pub line: Option<i64>,
    pub split: String,
    pub duplicate_of: Option<i64>,
    /// The row's fields; `label` is not filled here (labels live in their own table).
    pub example: Example,
}

/// Progress of an import, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ImportProgress {
    pub rows: usize,
    /// The current physical line of the file.
    pub line: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImportSummary {
    pub dataset: Dataset,
    pub rows: usize,
    /// Rows whose text repeats an earlier row's.
    pub duplicates: usize,
    /// Labels taken from the file's label column.
    pub labels: usize,
    pub label_set_id: Option<i64>,
    /// Classes of the label set, in order of first appearance.
    pub classes: Vec<String>,
    pub skipped: Vec<SkippedRow>,
    pub notes: Vec<String>,
}

/// A 64-bit FNV-1a hash of a row's texts, for duplicate detection.
fn content_hash(text_a: &str, text_b: Option<&str>) -> i64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    text_a.hash(&mut h);
    text_b.hash(&mut h);
    h.finish() as i64
}

const DATASET_COLUMNS: &str =
    "id, name, source_path, format, encoding, columns, mapping, row_count, status, imported_at";

fn dataset_from_row(r: &rusqlite::Row) -> rusqlite::Result<Dataset> {
    let columns: String = r.get(5)?;
    let mapping: String = r.get(6)?;
    Ok(Dataset {
        id: r.get(0)?,
        name: r.get(1)?,
        source_path: r.get(2)?,
        format: r.get(3)?,
        encoding: r.get(4)?,
        columns: serde_json::from_str(&columns).unwrap_or_default(),
        mapping: serde_json::from_str(&mapping).unwrap_or_default(),
        row_count: r.get(7)?,
        status: r.get(8)?,
        imported_at: r.get(9)?,
    })
}

/// The condition that keeps a `rows` row to the datasets whose import is complete.
pub(crate) const READY: &str = "dataset_id IN (SELECT id FROM datasets WHERE status = 'ready')";

/// Whether process `pid` (of this machine) is still running; this process counts as running.
fn process_is_alive(pid: i64) -> bool {
    if pid == std::process::id() as i64 {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
        let found = unsafe { libc::kill(pid, 0) } == 0;
        found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        // No portable check here: an unfinished import stays hidden rather than risk removing a
        // running one.
        true
    }
}

const ROW_COLUMNS: &str = "id, dataset_id, position, ext_id, line, text_a, text_b, meta, split, duplicate_of";

fn stored_row(r: &rusqlite::Row) -> rusqlite::Result<StoredRow> {
    let meta: Option<String> = r.get(7)?;
    Ok(StoredRow {
        id: r.get(0)?,
        dataset_id: r.get(1)?,
        position: r.get(2)?,
        line: r.get(4)?,
        split: r.get(8)?,
        duplicate_of: r.get(9)?,
        example: Example {
            id: r.get(3)?,
            text_a: r.get(5)?,
            text_b: r.get(6)?,
            label: None,
            meta: meta.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
        },
    })
}

impl Store {
    /// Imports a data file as a new dataset called `name`. `progress` is called after every batch;
    /// returning `false` cancels (and removes the partial dataset). The dataset becomes visible
    /// (listed, found by name, its rows and label sets readable) only once it is complete.
    pub fn import_dataset(
        &mut self,
        name: &str,
        path: &Path,
        options: &ImportOptions,
        split: Split,
        progress: &mut dyn FnMut(ImportProgress) -> bool,
    ) -> Result<ImportSummary> {
        self.import_dataset_with_label_set(name, path, options, split, None, progress)
    }

    /// [`import_dataset`](Self::import_dataset), also creating the label set `(name, classes)` in
    /// the same step that makes the dataset visible — unless the file's labels made a label set of
    /// that name (`labels`). A crash leaves neither.
    pub fn import_dataset_with_label_set(
        &mut self,
        name: &str,
        path: &Path,
        options: &ImportOptions,
        split: Split,
        label_set: Option<(&str, &[String])>,
        progress: &mut dyn FnMut(ImportProgress) -> bool,
    ) -> Result<ImportSummary> {
        if let Some((_, classes)) = label_set {
            super::labels::check_classes(classes)?;
        }
        if name.trim().is_empty() {
            return Err(Error::invalid("a dataset needs a name"));
        }
        if self.dataset_id(name)?.is_some() {
            return Err(self.failure(
                ErrorKind::InvalidInput,
                Text::from(format!(
                    "a dataset called {name:?} already exists in this project; pick another "
                ))
                .setting(Setting::DatasetName),
            ));
        }
        let mut reader = Reader::open(path, options)?;
        self.conn().execute_batch("DROP INDEX IF EXISTS rows_by_shuffle").map_err(|e| self.err(e))?;
        let dataset_id = {
            let columns = serde_json::to_string(reader.columns()).expect("strings serialise");
            let mapping = serde_json::to_string(&reader.mapping()).expect("mapping serialises");
            // Until it is complete the dataset hides under a placeholder name (no reader lists it,
            // and the name stays free), with the process writing it, so that a crashed import can
            // be told from a running one (see `remove_crashed_imports`).
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let pid = std::process::id();
            self.conn()
                .execute(
                    "INSERT INTO datasets (name, source_path, format, encoding, columns, mapping, import_name,
                                           import_pid)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        format!("\u{1}importing {pid}.{nanos}"),
                        path.to_string_lossy(),
                        reader.format().to_string(),
                        reader.encoding().to_string(),
                        columns,
                        mapping,
                        name,
                        pid,
                    ],
                )
                .map_err(|e| self.err(e))?;
            self.conn().last_insert_rowid()
        };
        let result = self.import_rows(dataset_id, &mut reader, split, progress);
        self.conn().execute_batch(super::REBUILD_INDEXES).map_err(|e| self.err(e))?;
        match result.and_then(|counts| self.finish_import(dataset_id, name, label_set, counts)) {
            Ok((rows, duplicates, labels, classes, label_set_id)) => {
                let report = reader.into_report();
                Ok(ImportSummary {
                    dataset: self.dataset(name)?,
                    rows,
                    duplicates,
                    labels,
                    label_set_id,
                    classes,
                    skipped: report.skipped,
                    notes: report.notes,
                })
            }
            Err(e) => {
                // Cascades to rows, label sets and labels.
                let _ = self.conn().execute("DELETE FROM datasets WHERE id = ?1", [dataset_id]);
                Err(e)
            }
        }
    }

    /// Makes an imported dataset visible under its name, in one transaction: the classes of its
    /// label set, its row count, `ready`.
    #[allow(clippy::type_complexity)]
    fn finish_import(
        &mut self,
        dataset_id: i64,
        name: &str,
        label_set: Option<(&str, &[String])>,
        (rows, duplicates, labels, classes): (usize, usize, usize, Vec<String>),
    ) -> Result<(usize, usize, usize, Vec<String>, Option<i64>)> {
        let path = self.path().map(Path::to_path_buf);
        let err = |e| super::db_err(path.as_deref(), e);
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let label_set_id = if classes.is_empty() {
            None
        } else {
            let classes_json = serde_json::to_string(&classes).expect("strings serialise");
            tx.execute(
                "UPDATE label_sets SET classes = ?2 WHERE dataset_id = ?1 AND name = 'labels'",
                params![dataset_id, classes_json],
            )
            .map_err(err)?;
            tx.query_row(
                "SELECT id FROM label_sets WHERE dataset_id = ?1 AND name = 'labels'",
                [dataset_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?
        };
        if let Some((set_name, set_classes)) = label_set {
            tx.execute(
                "INSERT INTO label_sets (dataset_id, name, classes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (dataset_id, name) DO NOTHING",
                params![dataset_id, set_name, serde_json::to_string(set_classes).expect("strings serialise")],
            )
            .map_err(err)?;
        }
        let taken: bool = tx
            .query_row("SELECT EXISTS (SELECT 1 FROM datasets WHERE name = ?1)", [name], |r| r.get(0))
            .map_err(err)?;
        if taken {
            return Err(super::store_failure(
                path.as_deref(),
                ErrorKind::Precondition,
                format!(
                    "another import called {name:?} finished first, in another window or process; this one \
                     was discarded. Import under another name, or delete that dataset first"
                ),
            ));
        }
        tx.execute(
            "UPDATE datasets SET name = ?2, import_name = NULL, import_pid = NULL, row_count = ?3,
                                 status = 'ready'
             WHERE id = ?1",
            params![dataset_id, name, rows as i64],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((rows, duplicates, labels, classes, label_set_id))
    }

    /// Removes the datasets whose import a process that has since ended left unfinished, with
    /// everything they own (rows, label sets, labels, runs and suggestions on them); returns a
    /// notice for each. An import by a live process is left alone (it stays invisible).
    pub(crate) fn remove_crashed_imports(&mut self) -> Result<Vec<String>> {
        let stale: Vec<(i64, Option<String>, Option<i64>)> = {
            let mut stmt = self
                .conn()
                .prepare(
                    "SELECT id, import_name, import_pid FROM datasets WHERE status = 'importing' ORDER BY id",
                )
                .map_err(|e| self.err(e))?;
            let found: Vec<(i64, Option<String>, Option<i64>)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
            found.into_iter().filter(|(_, _, pid)| !pid.is_some_and(process_is_alive)).collect()
        };
        let mut notices = Vec::new();
        for (id, name, _) in stale {
            let removed = self
                .conn()
                .execute("DELETE FROM datasets WHERE id = ?1 AND status = 'importing'", [id])
                .map_err(|e| self.err_in("removing an unfinished import", e))?;
            if removed > 0 {
                let name = name.unwrap_or_else(|| "a dataset".into());
                notices.push(format!(
                    "an import of `{name}` did not finish (its process ended before it was complete); it was \
                     removed — import it again"
                ));
            }
        }
        Ok(notices)
    }

    fn import_rows(
        &mut self,
        dataset_id: i64,
        reader: &mut Reader,
        split: Split,
        progress: &mut dyn FnMut(ImportProgress) -> bool,
    ) -> Result<(usize, usize, usize, Vec<String>)> {
        let mut seen: HashMap<i64, i64> = HashMap::new();
        let mut classes: Vec<String> = Vec::new();
        let mut label_set_id: Option<i64> = None;
        let (mut rows, mut duplicates, mut labels) = (0usize, 0usize, 0usize);
        let mut rng = SplitMix64::new(dataset_id as u64);
        let path = self.path().map(Path::to_path_buf);
        loop {
            let tx = self.conn_mut().transaction().map_err(|e| super::db_err(path.as_deref(), e))?;
            let mut in_batch = 0;
            {
                let mut insert_row = tx
                    .prepare_cached(
                        "INSERT INTO rows (dataset_id, position, ext_id, line, text_a, text_b, meta, split,
                                           content_hash, duplicate_of, shuffle_key)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )
                    .map_err(|e| super::db_err(path.as_deref(), e))?;
                let mut insert_label = tx
                    .prepare_cached(
                        "INSERT INTO labels (label_set_id, row_id, value, source) VALUES (?1, ?2, ?3, 'import')",
                    )
                    .map_err(|e| super::db_err(path.as_deref(), e))?;
                while in_batch < IMPORT_BATCH {
                    let line = reader.line() as i64 + 1;
                    let Some(example) = reader.next() else { break };
                    let example = example?;
                    let hash = content_hash(&example.text_a, example.text_b.as_deref());
                    let meta = if example.meta.is_empty() {
                        None
                    } else {
                        Some(serde_json::to_string(&example.meta).expect("strings serialise"))
                    };
                    let duplicate_of = seen.get(&hash).copied();
                    insert_row
                        .execute(params![
                            dataset_id,
                            rows as i64,
                            example.id,
                            line,
                            example.text_a,
                            example.text_b,
                            meta,
                            split.as_str(),
                            hash,
                            duplicate_of,
                            (rng.next_u64() >> 1) as i64,
                        ])
                        .map_err(|e| super::db_err(path.as_deref(), e))?;
                    let row_id = tx.last_insert_rowid();
                    match duplicate_of {
                        Some(_) => duplicates += 1,
                        None => {
                            seen.insert(hash, row_id);
                        }
                    }
                    if let Some(label) = example.label.as_deref().filter(|l| !l.is_empty()) {
                        let set = match label_set_id {
                            Some(id) => id,
                            None => {
                                tx.execute(
                                    "INSERT INTO label_sets (dataset_id, name, classes) VALUES (?1, 'labels', '[]')",
                                    [dataset_id],
                                )
                                .map_err(|e| super::db_err(path.as_deref(), e))?;
                                *label_set_id.insert(tx.last_insert_rowid())
                            }
                        };
                        if !classes.iter().any(|c| c == label) {
                            classes.push(label.to_string());
                        }
                        insert_label
                            .execute(params![set, row_id, label])
                            .map_err(|e| super::db_err(path.as_deref(), e))?;
                        labels += 1;
                    }
                    rows += 1;
                    in_batch += 1;
                }
            }
            tx.commit().map_err(|e| super::db_err(path.as_deref(), e))?;
            if !progress(ImportProgress { rows, line: reader.line() }) {
                return Err(Error::Cancelled);
            }
            if in_batch < IMPORT_BATCH {
                break;
            }
        }
        if rows == 0 {
            return Err(Error::Data {
                path: reader.path().to_path_buf(),
                line: None,
                message: "no rows to import".into(),
            });
        }
        Ok((rows, duplicates, labels, classes))
    }

    /// Every dataset in the project, oldest first.
    pub fn datasets(&self) -> Result<Vec<Dataset>> {
        let mut stmt = self
            .conn()
            .prepare(&format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE status = 'ready' ORDER BY id"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], dataset_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    fn dataset_id(&self, name: &str) -> Result<Option<i64>> {
        self.conn()
            .query_row("SELECT id FROM datasets WHERE name = ?1 AND status = 'ready'", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// A dataset by name; the error lists the datasets there are.
    pub fn dataset(&self, name: &str) -> Result<Dataset> {
        let found = self
            .conn()
            .query_row(
                &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 AND status = 'ready'"),
                [name],
                dataset_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        found.ok_or_else(|| {
            let names: Vec<String> =
                self.datasets().unwrap_or_default().into_iter().map(|d| format!("{:?}", d.name)).collect();
            if names.is_empty() {
                self.failure(
                    ErrorKind::Precondition,
                    Text::from("the project has no datasets yet; import one")
                        .cli_only(" with `cloze project import`")
                        .app_only(" on the Data screen"),
                )
            } else {
                self.failure(
                    ErrorKind::NotFound,
                    format!("no dataset called {name:?}; the project has {}", names.join(", ")),
                )
            }
        })
    }

    /// One row by id.
    pub fn row(&self, row_id: i64) -> Result<StoredRow> {
        self.conn()
            .query_row(
                &format!("SELECT {ROW_COLUMNS} FROM rows WHERE id = ?1 AND {READY}"),
                [row_id],
                stored_row,
            )
            .map_err(|e| self.err_in(format!("row {row_id}"), e))
    }

    /// Rows of a dataset in file order.
    pub fn rows(&self, dataset_id: i64, offset: i64, limit: i64) -> Result<Vec<StoredRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM rows WHERE dataset_id = ?1 AND {READY}
                 ORDER BY position LIMIT ?2 OFFSET ?3"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![dataset_id, limit, offset], stored_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// The texts (`text_a`, `text_b`) of up to `limit` rows of a dataset, in its fixed
    /// pseudo-random order: a sample that is the same every time.
    pub fn text_sample(&self, dataset_id: i64, limit: usize) -> Result<Vec<(String, Option<String>)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT text_a, text_b FROM rows WHERE dataset_id = ?1 ORDER BY shuffle_key LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![dataset_id, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Row counts of a dataset by split.
    pub fn split_counts(&self, dataset_id: i64) -> Result<BTreeMap<String, i64>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT split, count(*) FROM rows WHERE dataset_id = ?1 GROUP BY split")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([dataset_id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, content: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cloze-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn import_keeps_order_duplicates_and_labels() {
        let path = write("a.csv", "text,label\ngood film,pos\nbad film,neg\ngood film,pos\nfine,\n");
        let mut store = Store::open_in_memory().unwrap();
        let mut calls = 0;
        let s = store
            .import_dataset("reviews", &path, &ImportOptions::default(), Split::Train, &mut |_| {
                calls += 1;
                true
            })
            .unwrap();
        assert_eq!((s.rows, s.duplicates, s.labels), (4, 1, 3));
        assert_eq!(s.classes, ["pos", "neg"]);
        assert_eq!(s.dataset.status, "ready");
        assert_eq!(s.dataset.row_count, 4);
        assert_eq!(calls, 1);
        let rows = store.rows(s.dataset.id, 0, 10).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.example.text_a.as_str()).collect::<Vec<_>>(),
            ["good film", "bad film", "good film", "fine"]
        );
        assert_eq!(rows[2].duplicate_of, Some(rows[0].id));
        assert_eq!(rows[1].line, Some(3));
        let sample = store.text_sample(s.dataset.id, 2).unwrap();
        assert_eq!(sample.len(), 2);
        assert_eq!(sample, store.text_sample(s.dataset.id, 2).unwrap(), "the same sample every time");
        assert!(sample.iter().all(|(a, b)| rows.iter().any(|r| r.example.text_a == *a) && b.is_none()));
        let err = store
            .import_dataset("reviews", &path, &ImportOptions::default(), Split::Train, &mut |_| true)
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }

    #[test]
    fn failed_or_cancelled_imports_leave_nothing() {
        let bad = write("bad.csv", "text,label\nok,1\n\"broken,2\n");
        let mut store = Store::open_in_memory().unwrap();
        let err = store.import_dataset("bad", &bad, &ImportOptions::default(), Split::Train, &mut |_| true);
        assert!(err.is_err());
        assert!(store.datasets().unwrap().is_empty());
        let good = write("good.csv", "text,label\nok,1\n");
        let err = store.import_dataset("c", &good, &ImportOptions::default(), Split::Train, &mut |_| false);
        assert!(matches!(err, Err(Error::Cancelled)));
        assert!(store.datasets().unwrap().is_empty());
        let n: i64 = store.conn().query_row("SELECT count(*) FROM rows", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
        let msg = store.dataset("nope").unwrap_err().to_string();
        assert!(msg.contains("no datasets yet"), "{msg}");
    }

    /// The id of a process that has ended.
    fn dead_pid() -> i64 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id() as i64
    }

    /// A dataset as an import killed after a few batches leaves it: `importing`, rows, a label set
    /// with labels, a run's suggestions on its rows.
    fn half_import(store: &Store, name: &str, pid: i64) -> (i64, i64) {
        let conn = store.conn();
        conn.execute(
            "INSERT INTO datasets (name, format, encoding, columns, mapping, import_name, import_pid)
             VALUES (?1, 'csv', 'utf-8', '[]', '{}', ?2, ?3)",
            params![format!("\u{1}importing {pid}.1"), name, pid],
        )
        .unwrap();
        let id = conn.last_insert_rowid();
        conn.execute("INSERT INTO label_sets (dataset_id, name, classes) VALUES (?1, 'labels', '[]')", [id])
            .unwrap();
        let set = conn.last_insert_rowid();
        for i in 0..5 {
            conn.execute(
                "INSERT INTO rows (dataset_id, position, ext_id, text_a, content_hash, shuffle_key)
                 VALUES (?1, ?2, ?2, 'half', 0, 0)",
                params![id, i],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO labels (label_set_id, row_id, value, source) VALUES (?1, ?2, 'pos', 'import')",
                params![set, conn.last_insert_rowid()],
            )
            .unwrap();
        }
        (id, set)
    }

    #[test]
    fn crashed_import_is_never_visible() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p.cloze");
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "text,label\ngood,pos\nbad,neg\n").unwrap();
        let mut store = Store::create(&project).unwrap();
        store.import_dataset("ready", &data, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
        let (dead, dead_set) = half_import(&store, "train", dead_pid());
        let (live, _) = half_import(&store, "running", std::process::id() as i64);
        // No reader sees either: not the list, not by name, not their rows or label sets.
        let names: Vec<String> = store.datasets().unwrap().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["ready"]);
        for name in ["train", "running"] {
            assert!(store.dataset(name).is_err(), "{name} is visible");
        }
        for id in [dead, live] {
            assert!(store.rows(id, 0, 100).unwrap().is_empty());
            assert!(store.label_sets(id).unwrap().is_empty());
        }
        assert_eq!(store.label_set_by_id(dead_set).unwrap(), None);
        // The name is free: importing `train` again works while the crashed import is still there.
        let again = store
            .import_dataset("train", &data, &ImportOptions::default(), Split::Train, &mut |_| true)
            .unwrap();
        assert_eq!(again.rows, 2);
        store.conn().execute("DELETE FROM datasets WHERE id = ?1", [again.dataset.id]).unwrap();
        drop(store);
        // Opening removes the crashed import with everything it owns, says so, and leaves the
        // running one (this process) alone.
        let store = Store::open(&project).unwrap();
        assert_eq!(store.notices().len(), 1, "{:?}", store.notices());
        assert!(
            store.notices()[0].contains("`train` did not finish")
                && store.notices()[0].contains("import it again"),
            "{:?}",
            store.notices()
        );
        let count = |sql: &str, id: i64| -> i64 { store.conn().query_row(sql, [id], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM rows WHERE dataset_id = ?1", dead), 0);
        assert_eq!(count("SELECT count(*) FROM labels WHERE label_set_id = ?1", dead_set), 0);
        assert_eq!(count("SELECT count(*) FROM datasets WHERE id = ?1", live), 1, "a live import is kept");
        assert_eq!(count("SELECT count(*) FROM rows WHERE dataset_id = ?1", live), 5);
        assert!(Store::open(&project).unwrap().notices().is_empty(), "said once");
    }

    #[test]
    fn a_name_taken_while_importing_discards_the_import() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.csv");
        std::fs::write(&data, "text\na\nb\n").unwrap();
        let project = dir.path().join("p.cloze");
        let mut store = Store::create(&project).unwrap();
        let mut other = Store::open(&project).unwrap();
        let err = store
            .import_dataset("d", &data, &ImportOptions::default(), Split::Train, &mut |_| {
                // Another window finishes an import of the same name first.
                other
                    .import_dataset("d", &data, &ImportOptions::default(), Split::Train, &mut |_| true)
                    .unwrap();
                true
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("finished first"), "{err}");
        assert_eq!(store.datasets().unwrap().len(), 1);
        let n: i64 = store.conn().query_row("SELECT count(*) FROM rows", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2, "only the finished import's rows");
    }
}
