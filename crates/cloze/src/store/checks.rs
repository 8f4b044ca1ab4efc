//! Label checks: the suspicious labels a check of a label set found (`label::suspicious`), with
//! which model, options and when. The newest check of a label set replaces the older ones. A row
//! the check flagged stays suspicious only while its live label is still the one the check
//! contradicted: a person who relabelled it has answered the check.

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::labels::LIVE_VALUE;
use crate::error::Result;

/// A row a check flagged: the label it contradicted and the evidence (the probe's out-of-fold
/// probabilities of the suggested class and of the given one, and the suggested class's
/// threshold). The label table shows it while the row's label is still the one contradicted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FlaggedRow {
    pub row_id: i64,
    /// The label the check contradicted (the row's live label when it ran).
    pub given: String,
    /// The class the check suggests.
    pub suggested: String,
    pub p_given: f64,
    pub p_suggested: f64,
    /// The suggested class's threshold.
    pub threshold: f64,
    /// `p_suggested` reached the threshold: a likely label error, not only worth a look.
    pub confident: bool,
}

/// A check to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLabelCheck<'a> {
    pub label_set_id: i64,
    /// The model in the project's `models` table, when it was recorded there.
    pub model_id: Option<i64>,
    /// The folder or repository id the model came from.
    pub model: &'a str,
    pub folds: u32,
    pub seed: u64,
    /// How many labelled rows the check judged.
    pub rows_checked: i64,
    /// Per class, in the label set's order.
    pub thresholds: &'a [f64],
    pub flagged: &'a [FlaggedRow],
}

/// A recorded check, with its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCheck {
    pub id: i64,
    pub label_set_id: i64,
    pub model_id: Option<i64>,
    pub model: String,
    pub folds: u32,
    pub seed: u64,
    pub rows_checked: i64,
    pub thresholds: Vec<f64>,
    pub created_at: String,
    /// The rows it flagged, and how many of them confidently.
    pub flagged: i64,
    pub confident: i64,
    /// The flagged rows whose live label is still the one the check contradicted.
    pub still_suspicious: i64,
}

/// The newest check of label set `:set`.
pub(super) const LATEST_CHECK: &str = "(SELECT max(id) FROM label_checks WHERE label_set_id = :set)";

impl Store {
    /// Records a check and removes the label set's older ones, in one transaction. Returns its id.
    pub fn save_label_check(&mut self, check: &NewLabelCheck) -> Result<i64> {
        let path = self.path().map(std::path::Path::to_path_buf);
        let db = |e| super::db_err(path.as_deref(), e);
        let tx = self.conn_mut().transaction().map_err(db)?;
        tx.execute(
            "INSERT INTO label_checks (label_set_id, model_id, model, folds, seed, rows_checked, thresholds)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                check.label_set_id,
                check.model_id,
                check.model,
                check.folds,
                check.seed as i64,
                check.rows_checked,
                serde_json::to_string(check.thresholds).expect("floats serialise")
            ],
        )
        .map_err(db)?;
        let id = tx.last_insert_rowid();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO label_check_rows
                       (check_id, row_id, given, suggested, p_given, p_suggested, threshold, confident)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(db)?;
            for f in check.flagged {
                stmt.execute(params![
                    id,
                    f.row_id,
                    f.given,
                    f.suggested,
                    f.p_given,
                    f.p_suggested,
                    f.threshold,
                    f.confident
                ])
                .map_err(db)?;
            }
        }
        tx.execute(
            "DELETE FROM label_checks WHERE label_set_id = ?1 AND id <> ?2",
            params![check.label_set_id, id],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(id)
    }

    /// The label set's newest check, if it has one.
    pub fn latest_label_check(&self, label_set_id: i64) -> Result<Option<LabelCheck>> {
        let sql = format!(
            "SELECT k.id, k.label_set_id, k.model_id, k.model, k.folds, k.seed, k.rows_checked, k.thresholds,
                    k.created_at,
                    (SELECT count(*) FROM label_check_rows c WHERE c.check_id = k.id),
                    (SELECT count(*) FROM label_check_rows c WHERE c.check_id = k.id AND c.confident),
                    (SELECT count(*) FROM label_check_rows c JOIN rows r ON r.id = c.row_id
                      WHERE c.check_id = k.id AND c.given = {LIVE_VALUE})
             FROM label_checks k WHERE k.id = {LATEST_CHECK}"
        );
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(rusqlite::named_params! {":set": label_set_id}, |r| {
                    let thresholds: String = r.get(7)?;
                    Ok(LabelCheck {
                        id: r.get(0)?,
                        label_set_id: r.get(1)?,
                        model_id: r.get(2)?,
                        model: r.get(3)?,
                        folds: r.get(4)?,
                        seed: r.get::<_, i64>(5)? as u64,
                        rows_checked: r.get(6)?,
                        thresholds: serde_json::from_str(&thresholds).unwrap_or_default(),
                        created_at: r.get(8)?,
                        flagged: r.get(9)?,
                        confident: r.get(10)?,
                        still_suspicious: r.get(11)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// The label set's newest check's flag on a row, while the row's live label is still the one
    /// the check contradicted (`None` otherwise, and for rows it did not flag).
    pub fn suspicion(&self, label_set_id: i64, row_id: i64) -> Result<Option<FlaggedRow>> {
        let sql = format!(
            "SELECT c.row_id, c.given, c.suggested, c.p_given, c.p_suggested, c.threshold, c.confident
             FROM label_check_rows c JOIN rows r ON r.id = c.row_id
             WHERE c.check_id = {LATEST_CHECK} AND c.row_id = :row AND c.given = {LIVE_VALUE}"
        );
        self.conn()
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row(rusqlite::named_params! {":set": label_set_id, ":row": row_id}, |r| {
                    Ok(FlaggedRow {
                        row_id: r.get(0)?,
                        given: r.get(1)?,
                        suggested: r.get(2)?,
                        p_given: r.get(3)?,
                        p_suggested: r.get(4)?,
                        threshold: r.get(5)?,
                        confident: r.get(6)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }
}
