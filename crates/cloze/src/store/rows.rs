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
    /// returning `false` cancels (and removes the partial dataset).
    pub fn import_dataset(
        &mut self,
        name: &str,
        path: &Path,
        options: &ImportOptions,
        split: Split,
        progress: &mut dyn FnMut(ImportProgress) -> bool,
    ) -> Result<ImportSummary> {
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
            self.conn()
                .execute(
                    "INSERT INTO datasets (name, source_path, format, encoding, columns, mapping)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        name,
                        path.to_string_lossy(),
                        reader.format().to_string(),
                        reader.encoding().to_string(),
                        columns,
                        mapping
                    ],
                )
                .map_err(|e| self.err(e))?;
            self.conn().last_insert_rowid()
        };
        let result = self.import_rows(dataset_id, &mut reader, split, progress);
        self.conn().execute_batch(super::REBUILD_INDEXES).map_err(|e| self.err(e))?;
        match result {
            Ok((rows, duplicates, labels, classes)) => {
                let classes_json = serde_json::to_string(&classes).expect("strings serialise");
                let label_set_id = if classes.is_empty() {
                    None
                } else {
                    self.conn()
                        .execute(
                            "UPDATE label_sets SET classes = ?2 WHERE dataset_id = ?1 AND name = 'labels'",
                            params![dataset_id, classes_json],
                        )
                        .map_err(|e| self.err(e))?;
                    self.label_set_id(dataset_id, "labels")?
                };
                self.conn()
                    .execute(
                        "UPDATE datasets SET row_count = ?2, status = 'ready' WHERE id = ?1",
                        params![dataset_id, rows as i64],
                    )
                    .map_err(|e| self.err(e))?;
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
            .prepare(&format!("SELECT {DATASET_COLUMNS} FROM datasets ORDER BY id"))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], dataset_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    fn dataset_id(&self, name: &str) -> Result<Option<i64>> {
        self.conn()
            .query_row("SELECT id FROM datasets WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// A dataset by name; the error lists the datasets there are.
    pub fn dataset(&self, name: &str) -> Result<Dataset> {
        let found = self
            .conn()
            .query_row(
                &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1"),
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
            .query_row(&format!("SELECT {ROW_COLUMNS} FROM rows WHERE id = ?1"), [row_id], stored_row)
            .map_err(|e| self.err_in(format!("row {row_id}"), e))
    }

    /// Rows of a dataset in file order.
    pub fn rows(&self, dataset_id: i64, offset: i64, limit: i64) -> Result<Vec<StoredRow>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM rows WHERE dataset_id = ?1 ORDER BY position LIMIT ?2 OFFSET ?3"
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
}
