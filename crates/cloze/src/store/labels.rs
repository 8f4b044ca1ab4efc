//! Label sets and labels. Every label is one row written in its own transaction, with where it came
//! from (human, model or import), its confidence, its annotator, the run that suggested it and when.
//! Undo never deletes: it sets `retracted_at`, so the history stays in the file.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::{Error, ErrorKind, Result, Setting, Text};

/// Where a label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelSource {
    /// Decided or confirmed by a person.
    Human,
    /// Written from a model's prediction without a person confirming it.
    Model,
    /// Read from the data file's label column.
    Import,
}

impl LabelSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelSource::Human => "human",
            LabelSource::Model => "model",
            LabelSource::Import => "import",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "model" => LabelSource::Model,
            "import" => LabelSource::Import,
            _ => LabelSource::Human,
        }
    }
}

/// The classes a dataset is labelled with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LabelSet {
    pub id: i64,
    pub dataset_id: i64,
    pub name: String,
    pub classes: Vec<String>,
    /// A row may carry several of the classes (one label, the classes joined by
    /// [`MULTI_SEPARATOR`]); see [`Store::set_multi_label`].
    pub multi_label: bool,
}

/// Separates the classes of a multi-label set's label value (`World;Sports`).
pub const MULTI_SEPARATOR: char = ';';

impl LabelSet {
    /// A multi-label value as a multi-hot vector over the classes; a part that is not a class is an
    /// error naming it.
    pub fn multi_hot(&self, value: &str) -> Result<Vec<bool>> {
        let mut hot = vec![false; self.classes.len()];
        for part in value.split(MULTI_SEPARATOR).map(str::trim).filter(|p| !p.is_empty()) {
            let i = self.classes.iter().position(|c| c == part).ok_or_else(|| {
                Error::invalid(format!(
                    "{part:?} is not a class of label set {:?} ({})",
                    self.name,
                    self.classes.join(", ")
                ))
            })?;
            hot[i] = true;
        }
        Ok(hot)
    }

    /// The label value of a multi-hot vector: the classes on, in the set's order, joined by
    /// [`MULTI_SEPARATOR`] (empty when none is on).
    pub fn multi_value(&self, hot: &[bool]) -> String {
        let on: Vec<&str> =
            self.classes.iter().zip(hot).filter(|(_, on)| **on).map(|(c, _)| c.as_str()).collect();
        on.join(&MULTI_SEPARATOR.to_string())
    }
}

/// One labelled example as it leaves the project.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelledRow {
    /// The project's own row number (not exported; `ext_id` is).
    pub row_id: i64,
    /// The example's id in the user's data, exported as `id`.
    pub ext_id: String,
    pub split: String,
    pub text_a: String,
    pub text_b: Option<String>,
    /// Extra columns carried through from the import.
    pub meta: BTreeMap<String, String>,
    /// The class name.
    pub label: String,
    /// The position of `label` in the project's class list.
    pub class_index: usize,
    /// Where the label came from: `human`, `model` or `import`.
    pub source: String,
    /// The model's probability for `label`, when a model suggested it.
    pub confidence: Option<f64>,
    /// Who labelled the row, when known.
    pub annotator: Option<String>,
    pub created_at: String,
    /// The classification or tuning run that produced a model label.
    pub run_id: Option<i64>,
}

/// A label to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLabel<'a> {
    pub label_set_id: i64,
    pub row_id: i64,
    pub value: &'a str,
    pub source: LabelSource,
    pub confidence: Option<f64>,
    pub annotator: Option<&'a str>,
    pub run_id: Option<i64>,
    /// What the writer last saw of the row: a person's label replaces their previous one on the
    /// row only if that is still the one they saw (see [`Seen`]).
    pub seen: Seen,
}

/// The order of a row's live labels that puts its live label first (see [`Store::live_label`]).
const LIVE_ORDER: &str = "CASE source WHEN 'human' THEN 0 WHEN 'import' THEN 1 ELSE 2 END, id DESC";

/// The value of row `r.id`'s live label in label set `:set` ([`Store::live_label`]), as a
/// correlated subquery for queries over `rows r`.
pub(super) const LIVE_VALUE: &str = "(SELECT value FROM labels WHERE label_set_id = :set AND row_id = r.id \
     AND retracted_at IS NULL ORDER BY CASE source WHEN 'human' THEN 0 WHEN 'import' THEN 1 ELSE 2 END, id DESC LIMIT 1)";

/// The writer's view of a row when it loaded it: its annotator's live human label there, by id
/// (the label's revision). [`Store::add_label`] refuses a human label whose `seen` is stale, so
/// two sessions of the same annotator never overwrite each other silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The row had no live human label of this annotator.
    Nothing,
    /// The annotator's live human label on the row was this one.
    Label(i64),
    /// Not checked: a deliberate bulk write (the label table's bulk accept), or a model or
    /// import label, which replace nothing.
    Unchecked,
}

impl Seen {
    fn from_label(label: Option<i64>) -> Self {
        label.map_or(Seen::Nothing, Seen::Label)
    }
}

/// A recorded label.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Label {
    pub id: i64,
    pub label_set_id: i64,
    pub row_id: i64,
    pub value: String,
    pub source: LabelSource,
    pub confidence: Option<f64>,
    pub annotator: Option<String>,
    pub run_id: Option<i64>,
    pub created_at: String,
    pub retracted_at: Option<String>,
}

/// An annotator's live human label on a row (`id`, `value`): `?1` label set, `?2` row, `?3` annotator.
const HUMAN_LABEL_OF: &str = "SELECT id, value FROM labels WHERE label_set_id = ?1 AND row_id = ?2
       AND source = 'human' AND annotator IS ?3 AND retracted_at IS NULL ORDER BY id DESC LIMIT 1";

const LABEL_COLUMNS: &str =
    "id, label_set_id, row_id, value, source, confidence, annotator, run_id, created_at, retracted_at";

fn label_from_row(r: &rusqlite::Row) -> rusqlite::Result<Label> {
    let source: String = r.get(4)?;
    Ok(Label {
        id: r.get(0)?,
        label_set_id: r.get(1)?,
        row_id: r.get(2)?,
        value: r.get(3)?,
        source: LabelSource::parse(&source),
        confidence: r.get(5)?,
        annotator: r.get(6)?,
        run_id: r.get(7)?,
        created_at: r.get(8)?,
        retracted_at: r.get(9)?,
    })
}

/// The columns [`label_set_from_row`] reads.
const LABEL_SET_COLUMNS: &str = "id, dataset_id, name, classes, multi_label";

fn label_set_from_row(r: &rusqlite::Row) -> rusqlite::Result<LabelSet> {
    let classes: String = r.get(3)?;
    Ok(LabelSet {
        id: r.get(0)?,
        dataset_id: r.get(1)?,
        name: r.get(2)?,
        classes: serde_json::from_str(&classes).unwrap_or_default(),
        multi_label: r.get::<_, i64>(4)? != 0,
    })
}

impl Store {
    /// Creates a label set for a dataset. Class names must be distinct and non-empty.
    pub fn create_label_set(&self, dataset_id: i64, name: &str, classes: &[String]) -> Result<LabelSet> {
        check_classes(classes)?;
        let json = serde_json::to_string(classes).expect("strings serialise");
        self.conn()
            .execute(
                "INSERT INTO label_sets (dataset_id, name, classes) VALUES (?1, ?2, ?3)",
                params![dataset_id, name, json],
            )
            .map_err(|e| self.err_in(format!("cannot create label set {name:?}"), e))?;
        Ok(LabelSet {
            id: self.conn().last_insert_rowid(),
            dataset_id,
            name: name.into(),
            classes: classes.to_vec(),
            multi_label: false,
        })
    }
}

/// Class names of a new label set: at least two, distinct and non-empty.
pub(crate) fn check_classes(classes: &[String]) -> Result<()> {
    {
        if classes.len() < 2 {
            return Err(Error::invalid(
                Text::from("a label set needs at least two classes, e.g. ")
                    .setting(Setting::Classes)
                    .then(" negative,positive"),
            ));
        }
        for (i, c) in classes.iter().enumerate() {
            if c.trim().is_empty() || classes[..i].contains(c) {
                return Err(Error::invalid(format!("class {c:?} is empty or named twice")));
            }
        }
        Ok(())
    }
}

impl Store {
    /// The label sets of a dataset.
    pub fn label_sets(&self, dataset_id: i64) -> Result<Vec<LabelSet>> {
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "SELECT {LABEL_SET_COLUMNS} FROM label_sets
                 WHERE dataset_id = ?1 AND dataset_id IN (SELECT id FROM datasets WHERE status = 'ready')
                 ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([dataset_id], label_set_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// A label set by id, or `None` when the project has no such set.
    pub fn label_set_by_id(&self, label_set_id: i64) -> Result<Option<LabelSet>> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {LABEL_SET_COLUMNS} FROM label_sets
                     WHERE id = ?1 AND dataset_id IN (SELECT id FROM datasets WHERE status = 'ready')"
                ),
                [label_set_id],
                label_set_from_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The row's live label as `(value, source)`: a human label beats an imported one, the newest wins.
    pub fn live_label(&self, label_set_id: i64, row_id: i64) -> Result<Option<(String, String)>> {
        self.conn()
            .prepare_cached(&format!(
                "SELECT value, source FROM labels WHERE label_set_id = ?1 AND row_id = ?2 AND retracted_at IS NULL
                 ORDER BY {LIVE_ORDER} LIMIT 1"
            ))
            .and_then(|mut s| s.query_row([label_set_id, row_id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(|e| self.err(e))
    }

    /// Rows per live label value, counting each row once by its [`live_label`](Self::live_label).
    pub fn live_label_counts(&self, label_set_id: i64) -> Result<BTreeMap<String, i64>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT value, count(*) FROM (
                   SELECT row_id, value, row_number() OVER (PARTITION BY row_id
                     ORDER BY CASE source WHEN 'human' THEN 0 WHEN 'import' THEN 1 ELSE 2 END, id DESC) AS k
                   FROM labels WHERE label_set_id = ?1 AND retracted_at IS NULL)
                 WHERE k = 1 GROUP BY value",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([label_set_id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().map_err(|e| self.err(e))
    }

    /// The rows of the label set's dataset with no live label in it, in file order.
    pub fn unlabelled_rows(&self, label_set: &LabelSet) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT r.id FROM rows r WHERE r.dataset_id = ?1 AND NOT EXISTS (SELECT 1 FROM labels l
                   WHERE l.label_set_id = ?2 AND l.row_id = r.id AND l.retracted_at IS NULL)
                 ORDER BY r.position",
            )
            .map_err(|e| self.err(e))?;
        let rows =
            stmt.query_map([label_set.dataset_id, label_set.id], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// The rows with a live label in the label set, each once, in file order.
    pub fn labelled_rows(&self, label_set_id: i64) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT DISTINCT l.row_id FROM labels l JOIN rows r ON r.id = l.row_id
                 WHERE l.label_set_id = ?1 AND l.retracted_at IS NULL ORDER BY r.position",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([label_set_id], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Every row with a live label in the label set, in file order, labelled with it (what
    /// evaluation, tuning and `{demo}` demonstrations read).
    pub fn labelled_examples(&self, label_set_id: i64) -> Result<Vec<crate::data::Example>> {
        Ok(self.labelled_examples_by_row(label_set_id)?.into_iter().map(|(_, ex)| ex).collect())
    }

    /// [`labelled_examples`](Self::labelled_examples), each with its row id.
    pub fn labelled_examples_by_row(&self, label_set_id: i64) -> Result<Vec<(i64, crate::data::Example)>> {
        self.labelled_rows(label_set_id)?
            .into_iter()
            .map(|id| {
                let mut ex = self.row(id)?.example;
                ex.label = self.live_label(label_set_id, id)?.map(|(v, _)| v);
                Ok((id, ex))
            })
            .collect()
    }

    /// Up to `limit` rows with a live label `value` in the label set, lowest row id first.
    pub fn rows_labelled_as(&self, label_set_id: i64, value: &str, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT DISTINCT row_id FROM labels WHERE label_set_id = ?1 AND value = ?2
                 AND retracted_at IS NULL ORDER BY row_id LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![label_set_id, value, limit as i64], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Streams the live labels of a label set with their rows (in file order, one item per label, so
    /// a row labelled by two annotators comes twice) to `f`. A row that fails to read ends the
    /// stream; its error is returned after `f`'s.
    pub fn with_labelled_rows<T>(
        &self,
        label_set: &LabelSet,
        f: impl FnOnce(&mut dyn Iterator<Item = LabelledRow>) -> Result<T>,
    ) -> Result<T> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT l.row_id, r.ext_id, r.split, r.text_a, r.text_b, r.meta, l.value, l.source, l.confidence,
                        l.annotator, l.created_at, l.run_id
                 FROM labels l JOIN rows r ON r.id = l.row_id
                 WHERE l.label_set_id = ?1 AND l.retracted_at IS NULL ORDER BY r.position, l.id",
            )
            .map_err(|e| self.err(e))?;
        let classes = &label_set.classes;
        let rows = stmt
            .query_map([label_set.id], |r| {
                let meta: Option<String> = r.get(5)?;
                let label: String = r.get(6)?;
                Ok(LabelledRow {
                    row_id: r.get(0)?,
                    ext_id: r.get(1)?,
                    split: r.get(2)?,
                    text_a: r.get(3)?,
                    text_b: r.get(4)?,
                    meta: meta.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
                    class_index: classes.iter().position(|c| *c == label).unwrap_or(usize::MAX),
                    label,
                    source: r.get(7)?,
                    confidence: r.get(8)?,
                    annotator: r.get(9)?,
                    created_at: r.get(10)?,
                    run_id: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut failure = None;
        let mut rows = rows.map_while(|r| r.map_err(|e| failure = Some(self.err(e))).ok());
        let result = f(&mut rows)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// Records a label in its own transaction. A person's new label on a row replaces (retracts)
    /// their previous live label on it; the value must be one of the label set's classes.
    /// In a multi-label set the value is a set of classes joined by [`MULTI_SEPARATOR`] (empty:
    /// none applies), stored in the set's class order.
    pub fn add_label(&mut self, label: &NewLabel) -> Result<i64> {
        let set = self
            .conn()
            .query_row(
                &format!("SELECT {LABEL_SET_COLUMNS} FROM label_sets WHERE id = ?1"),
                [label.label_set_id],
                label_set_from_row,
            )
            .map_err(|e| self.err_in(format!("label set {}", label.label_set_id), e))?;
        let canonical;
        let label = if set.multi_label {
            canonical = set.multi_value(&set.multi_hot(label.value)?);
            &NewLabel { value: &canonical, ..label.clone() }
        } else if !set.classes.iter().any(|c| c == label.value) {
            return Err(Error::invalid(format!(
                "{:?} is not a class of this label set ({})",
                label.value,
                set.classes.join(", ")
            )));
        } else {
            label
        };
        let path = self.path().map(std::path::Path::to_path_buf);
        // Immediate: the check of what the writer saw and the write are one step for every process.
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| super::db_err(path.as_deref(), e))?;
        if label.source == LabelSource::Human && label.seen != Seen::Unchecked {
            let now: Option<(i64, String)> = tx
                .query_row(HUMAN_LABEL_OF, params![label.label_set_id, label.row_id, label.annotator], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(|e| super::db_err(path.as_deref(), e))?;
            if Seen::from_label(now.as_ref().map(|(id, _)| *id)) != label.seen {
                let ext_id: String = tx
                    .query_row("SELECT ext_id FROM rows WHERE id = ?1", [label.row_id], |r| r.get(0))
                    .unwrap_or_else(|_| label.row_id.to_string());
                let who = label
                    .annotator
                    .map(|a| format!("annotator `{a}`"))
                    .unwrap_or("the same annotator (no name)".into());
                let what = match now {
                    Some((_, value)) => format!("was labelled `{value}`"),
                    None => "had its label undone".to_string(),
                };
                return Err(super::store_failure(
                    path.as_deref(),
                    ErrorKind::Conflict,
                    format!(
                        "row {ext_id} {what} by another session of {who} since you loaded it; your `{}` was not \
                         saved. Reload the row and label it again if you still disagree",
                        label.value
                    ),
                ));
            }
        }
        if label.source == LabelSource::Human {
            tx.execute(
                "UPDATE labels SET retracted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE label_set_id = ?1 AND row_id = ?2 AND source = 'human' AND annotator IS ?3
                   AND retracted_at IS NULL",
                params![label.label_set_id, label.row_id, label.annotator],
            )
            .map_err(|e| super::db_err(path.as_deref(), e))?;
        }
        tx.execute(
            "INSERT INTO labels (label_set_id, row_id, value, source, confidence, annotator, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                label.label_set_id,
                label.row_id,
                label.value,
                label.source.as_str(),
                label.confidence,
                label.annotator,
                label.run_id
            ],
        )
        .map_err(|e| super::db_err(path.as_deref(), e))?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(|e| super::db_err(path.as_deref(), e))?;
        Ok(id)
    }

    /// The annotator's live human label on a row, by id: what a session saw when it loaded the row
    /// (pass it back as [`NewLabel::seen`]).
    pub fn seen(&self, label_set_id: i64, row_id: i64, annotator: Option<&str>) -> Result<Seen> {
        self.conn()
            .prepare_cached(HUMAN_LABEL_OF)
            .and_then(|mut s| s.query_row(params![label_set_id, row_id, annotator], |r| r.get(0)).optional())
            .map(Seen::from_label)
            .map_err(|e| self.err(e))
    }

    /// Retracts a label (undo). Retracting a retracted label is an error.
    pub fn retract_label(&self, label_id: i64) -> Result<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE labels SET retracted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1 AND retracted_at IS NULL",
                [label_id],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(self.failure(
                ErrorKind::NotFound,
                format!("label {label_id} does not exist or was already undone"),
            ));
        }
        Ok(())
    }

    /// Undoes a multi-label change: retracts `label_id` and, in the same transaction, brings back
    /// `restore` (the label it replaced) unless the row has another live human label of that
    /// annotator by now. Retracting a retracted label is an error.
    pub fn undo_label(&self, label_id: i64, restore: Option<i64>) -> Result<()> {
        let path = self.path().map(std::path::Path::to_path_buf);
        // Its first statement takes the write lock, so the two are one step for every process.
        let tx = self.conn().unchecked_transaction().map_err(|e| super::db_err(path.as_deref(), e))?;
        let n = tx
            .execute(
                "UPDATE labels SET retracted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id = ?1 AND retracted_at IS NULL",
                [label_id],
            )
            .map_err(|e| super::db_err(path.as_deref(), e))?;
        if n == 0 {
            return Err(super::store_failure(
                path.as_deref(),
                ErrorKind::NotFound,
                format!("label {label_id} does not exist or was already undone"),
            ));
        }
        if let Some(old) = restore {
            tx.execute(
                "UPDATE labels SET retracted_at = NULL WHERE id = ?1 AND retracted_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM labels o, labels l WHERE l.id = ?1
                     AND o.label_set_id = l.label_set_id AND o.row_id = l.row_id AND o.source = 'human'
                     AND o.annotator IS l.annotator AND o.retracted_at IS NULL)",
                [old],
            )
            .map_err(|e| super::db_err(path.as_deref(), e))?;
        }
        tx.commit().map_err(|e| super::db_err(path.as_deref(), e))
    }

    /// Lets a label set take several classes per row, or one again. Turning it on needs class
    /// names without [`MULTI_SEPARATOR`]; turning it off is refused while a row holds several
    /// classes (or none), which one class per row could not keep.
    pub fn set_multi_label(&self, label_set_id: i64, on: bool) -> Result<LabelSet> {
        let set = self.label_set_by_id(label_set_id)?.ok_or_else(|| {
            Error::not_found(format!(
                "label set {label_set_id} is not in this project; pick one from the list"
            ))
        })?;
        if on {
            if let Some(bad) = set.classes.iter().find(|c| c.contains(MULTI_SEPARATOR)) {
                return Err(Error::invalid(format!(
                    "class {bad:?} holds {MULTI_SEPARATOR:?}, which separates a row's classes in a multi-label \
                     set; import the data again with classes without it"
                )));
            }
        } else if set.multi_label {
            let several: i64 = self
                .conn()
                .query_row(
                    &format!(
                        "SELECT count(*) FROM rows r WHERE r.dataset_id = :dataset
                         AND ({LIVE_VALUE} LIKE '%{MULTI_SEPARATOR}%' OR {LIVE_VALUE} = '')"
                    ),
                    rusqlite::named_params! {":dataset": set.dataset_id, ":set": set.id},
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            if several > 0 {
                return Err(Error::precondition(format!(
                    "{several} rows of label set {:?} hold several classes or none; one class per row cannot \
                     keep them. Relabel those rows with one class each first, or keep several labels per row",
                    set.name
                )));
            }
        }
        self.conn()
            .execute("UPDATE label_sets SET multi_label = ?2 WHERE id = ?1", params![set.id, on as i64])
            .map_err(|e| self.err(e))?;
        Ok(LabelSet { multi_label: on, ..set })
    }

    /// The multi-label prompt and thresholds kept with a label set (JSON, as the studio wrote it).
    pub fn multi_label_prompt(&self, label_set_id: i64) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT multi_label_prompt FROM label_sets WHERE id = ?1", [label_set_id], |r| {
                r.get(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// Keeps a label set's multi-label prompt and thresholds (JSON).
    pub fn set_multi_label_prompt(&self, label_set_id: i64, json: &str) -> Result<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE label_sets SET multi_label_prompt = ?2 WHERE id = ?1",
                params![label_set_id, json],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::not_found(format!("label set {label_set_id} is not in this project")));
        }
        Ok(())
    }

    /// A label by id (retracted or not).
    pub fn label(&self, label_id: i64) -> Result<Label> {
        self.conn()
            .query_row(
                &format!("SELECT {LABEL_COLUMNS} FROM labels WHERE id = ?1"),
                [label_id],
                label_from_row,
            )
            .map_err(|e| self.err_in(format!("label {label_id}"), e))
    }

    /// The live (not retracted) labels of a row, oldest first.
    pub fn live_labels(&self, label_set_id: i64, row_id: i64) -> Result<Vec<Label>> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {LABEL_COLUMNS} FROM labels
                 WHERE label_set_id = ?1 AND row_id = ?2 AND retracted_at IS NULL ORDER BY id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![label_set_id, row_id], label_from_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Live label counts by (source, value).
    pub fn label_counts(&self, label_set_id: i64) -> Result<BTreeMap<(String, String), i64>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT source, value, count(*) FROM labels WHERE label_set_id = ?1 AND retracted_at IS NULL
                 GROUP BY source, value",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([label_set_id], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().map_err(|e| self.err(e))
    }

    /// Live human labels per row for agreement: `(row_id, annotator, value)`, rows labelled by at
    /// least two annotators.
    pub fn human_labels_by_row(&self, label_set_id: i64) -> Result<Vec<(i64, String, String)>> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT row_id, coalesce(annotator, ''), value FROM labels
                 WHERE label_set_id = ?1 AND source = 'human' AND retracted_at IS NULL
                   AND row_id IN (SELECT row_id FROM labels WHERE label_set_id = ?1 AND source = 'human'
                                  AND retracted_at IS NULL GROUP BY row_id
                                  HAVING count(DISTINCT coalesce(annotator, '')) >= 2)
                 ORDER BY row_id, annotator",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([label_set_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImportOptions;
    use crate::store::Split;

    fn project() -> (Store, i64, Vec<i64>) {
        let dir = std::env::temp_dir().join(format!("cloze-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("d.csv");
        std::fs::write(&p, "text\na\nb\nc\n").unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let s =
            store.import_dataset("d", &p, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
        let set = store.create_label_set(s.dataset.id, "sentiment", &["neg".into(), "pos".into()]).unwrap();
        let rows = store.rows(s.dataset.id, 0, 10).unwrap().iter().map(|r| r.id).collect();
        (store, set.id, rows)
    }

    fn human<'a>(set: i64, row: i64, value: &'a str, who: &'a str) -> NewLabel<'a> {
        NewLabel {
            label_set_id: set,
            row_id: row,
            value,
            source: LabelSource::Human,
            confidence: None,
            annotator: Some(who),
            run_id: None,
            seen: Seen::Unchecked,
        }
    }

    #[test]
    fn corrections_replace_and_undo_retracts() {
        let (mut store, set, rows) = project();
        let first = store.add_label(&human(set, rows[0], "pos", "ann")).unwrap();
        let second = store.add_label(&human(set, rows[0], "neg", "ann")).unwrap();
        let live = store.live_labels(set, rows[0]).unwrap();
        assert_eq!(live.iter().map(|l| l.id).collect::<Vec<_>>(), [second]);
        assert!(store.label(first).unwrap().retracted_at.is_some(), "the first is kept, retracted");
        store.add_label(&human(set, rows[0], "pos", "other")).unwrap();
        assert_eq!(store.live_labels(set, rows[0]).unwrap().len(), 2, "two annotators keep a label each");
        store.retract_label(second).unwrap();
        assert!(store.retract_label(second).unwrap_err().to_string().contains("already undone"));
        assert_eq!(store.live_labels(set, rows[0]).unwrap().len(), 1);
        let err = store.add_label(&human(set, rows[1], "maybe", "ann")).unwrap_err().to_string();
        assert!(err.contains("not a class") && err.contains("neg, pos"), "{err}");
        let counts = store.label_counts(set).unwrap();
        assert_eq!(counts.get(&("human".into(), "pos".into())), Some(&1));
    }

    #[test]
    fn live_labels_by_row_class_and_stream() {
        let (mut store, set, rows) = project();
        let imported = |store: &mut Store, row, value| {
            store
                .add_label(&NewLabel {
                    source: LabelSource::Import,
                    annotator: None,
                    ..human(set, row, value, "")
                })
                .unwrap()
        };
        imported(&mut store, rows[0], "neg");
        store.add_label(&human(set, rows[0], "pos", "ann")).unwrap();
        imported(&mut store, rows[2], "neg");
        let cases = [(rows[0], Some(("pos", "human"))), (rows[1], None), (rows[2], Some(("neg", "import")))];
        for (row, expected) in cases {
            let got = store.live_label(set, row).unwrap();
            assert_eq!(got.as_ref().map(|(v, s)| (v.as_str(), s.as_str())), expected, "row {row}");
        }
        let counts = store.live_label_counts(set).unwrap();
        assert_eq!(counts, BTreeMap::from([("neg".into(), 1), ("pos".into(), 1)]), "each row once");
        let label_set = store.label_set_by_id(set).unwrap().unwrap();
        assert_eq!(label_set.classes, ["neg", "pos"]);
        assert_eq!(store.label_set_by_id(set + 100).unwrap(), None);
        assert_eq!(store.unlabelled_rows(&label_set).unwrap(), [rows[1]]);
        assert_eq!(store.labelled_rows(set).unwrap(), [rows[0], rows[2]]);
        assert_eq!(store.rows_labelled_as(set, "neg", 10).unwrap(), [rows[0], rows[2]], "import labels too");
        assert_eq!(store.rows_labelled_as(set, "neg", 1).unwrap(), [rows[0]]);
        assert_eq!(store.rows_labelled_as(set, "pos", 10).unwrap(), [rows[0]]);
        let streamed = store
            .with_labelled_rows(&label_set, |rows| {
                Ok(rows.map(|r| (r.row_id, r.label, r.class_index)).collect::<Vec<_>>())
            })
            .unwrap();
        let expected: Vec<(i64, String, usize)> =
            [(rows[0], "neg", 0), (rows[0], "pos", 1), (rows[2], "neg", 0)]
                .map(|(i, l, c)| (i, l.into(), c))
                .to_vec();
        assert_eq!(streamed, expected, "one item per live label, in file order");
    }

    /// A multi-label set keeps a row's classes as one label in class order; single-label sets
    /// refuse such values; undoing a change brings the set it replaced back; one class per row
    /// again is refused while a row holds several.
    #[test]
    fn multi_label_sets_keep_one_label_per_change() {
        let (mut store, set, rows) = project();
        let err = store.add_label(&human(set, rows[0], "pos;neg", "ann")).unwrap_err().to_string();
        assert!(err.contains("not a class"), "single-label sets are unchanged: {err}");
        let on = store.set_multi_label(set, true).unwrap();
        assert!(on.multi_label && store.label_set_by_id(set).unwrap().unwrap().multi_label);
        assert_eq!(on.multi_hot("pos; neg").unwrap(), [true, true]);
        assert_eq!(on.multi_value(&[false, true]), "pos");
        let cases: [(&str, Result<&str, &str>); 4] = [
            ("pos;neg", Ok("neg;pos")),
            ("pos", Ok("pos")),
            ("", Ok("")),
            ("pos;maybe", Err("\"maybe\" is not a class")),
        ];
        for (value, want) in cases {
            match (store.add_label(&human(set, rows[1], value, "ann")), want) {
                (Ok(id), Ok(w)) => assert_eq!(store.label(id).unwrap().value, w, "{value:?}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e}"),
                (got, want) => panic!("{value:?}: {got:?} vs {want:?}"),
            }
        }
        let first = store.add_label(&human(set, rows[0], "neg", "ann")).unwrap();
        let second = store.add_label(&human(set, rows[0], "neg;pos", "ann")).unwrap();
        store.undo_label(second, Some(first)).unwrap();
        let live = store.live_labels(set, rows[0]).unwrap();
        assert_eq!(live.iter().map(|l| (l.id, l.value.as_str())).collect::<Vec<_>>(), [(first, "neg")]);
        assert!(store.undo_label(second, Some(first)).unwrap_err().to_string().contains("already undone"));
        let err = store.set_multi_label(set, false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Precondition);
        assert!(
            err.to_string().contains("1 rows of label set \"sentiment\" hold several classes or none"),
            "{err}"
        );
        let last = store.live_labels(set, rows[1]).unwrap()[0].id;
        store.retract_label(last).unwrap();
        assert!(!store.set_multi_label(set, false).unwrap().multi_label, "one class per row again");
        assert_eq!(store.multi_label_prompt(set).unwrap(), None);
        store.set_multi_label_prompt(set, "{\"template\": \"t\"}").unwrap();
        assert_eq!(store.multi_label_prompt(set).unwrap().as_deref(), Some("{\"template\": \"t\"}"));
        assert!(store.set_multi_label_prompt(set + 100, "{}").is_err());
        let d = store.dataset("d").unwrap();
        let semi = store.create_label_set(d.id, "odd", &["a;b".into(), "c".into()]).unwrap();
        assert!(store.set_multi_label(semi.id, true).unwrap_err().to_string().contains("holds ';'"));
    }

    #[test]
    fn label_sets_are_checked() {
        let (store, _, _) = project();
        let d = store.dataset("d").unwrap();
        assert!(store.create_label_set(d.id, "x", &["a".into()]).is_err());
        assert!(store.create_label_set(d.id, "x", &["a".into(), "a".into()]).is_err());
        assert!(
            store.create_label_set(d.id, "sentiment", &["a".into(), "b".into()]).is_err(),
            "duplicate name"
        );
        assert_eq!(store.label_sets(d.id).unwrap().len(), 1);
    }
}
