//! Which rows to look at: the labelling queue's next row in a given order, how many rows an
//! annotator has left, and the label table's filtered pages. Every order is one indexed query (the
//! next item of a 100k-row project comes back in well under 10 ms; see `cloze bench queue`).
//!
//! A row is done for an annotator when it has a live `import` label or a live `human` label of
//! theirs.

use rusqlite::{OptionalExtension, ToSql};

use super::Store;
use super::checks::LATEST_CHECK;
use super::labels::LIVE_VALUE;
use crate::error::Result;

/// The rows still to label for one annotator: the dataset's rows with no live `import` label and no
/// live `human` label of `annotator`'s, less the rows they skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToLabel<'a> {
    pub dataset_id: i64,
    pub label_set_id: i64,
    pub annotator: Option<&'a str>,
    pub skipped: &'a [i64],
}

/// A run's uncertainty figure to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncertainty {
    /// Lowest probability of the predicted class first.
    LeastConfidence,
    /// Smallest gap between the two most probable classes first.
    Margin,
    /// Highest entropy first.
    Entropy,
}

/// The order [`Store::next_to_label`] picks the next row in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// The order of the data file.
    File,
    /// The fixed pseudo-random order, from shuffle key `from` on.
    Shuffled { from: i64 },
    /// Rows run `run` scored, most uncertain first.
    Uncertain { run: i64, by: Uncertainty },
    /// Rows where runs `run` and `other_run` predict different classes, in file order.
    Disagreement { run: i64, other_run: i64 },
}

/// Which rows of a label set's dataset the label table shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowFilter {
    All,
    /// Rows with no live label.
    Unlabelled,
    /// Rows with a live label.
    Labelled,
    /// Rows the run scored below this confidence, least confident first.
    BelowConfidence(f64),
    /// Rows with a live human label other than the run's prediction.
    HumanDisagrees,
    /// Rows the label set's newest check flagged whose live label is still the one it
    /// contradicted, most suspicious first (the check's ranking: `p_suggested − p_given`, largest
    /// first, as `label::suspicious::contradictions` orders them).
    Suspicious,
}

impl RowFilter {
    /// Whether the filter compares with a run's suggestions.
    pub fn needs_run(self) -> bool {
        matches!(self, RowFilter::BelowConfidence(_) | RowFilter::HumanDisagrees)
    }
}

/// A page of the label table: row ids, and how many rows the filter keeps in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIdPage {
    pub ids: Vec<i64>,
    pub total: i64,
}

const NOT_DONE: &str = "NOT EXISTS (SELECT 1 FROM labels l WHERE l.label_set_id = :set AND l.row_id = r.id
       AND l.retracted_at IS NULL AND (l.source = 'import' OR (l.source = 'human' AND l.annotator IS :who)))
     AND r.id NOT IN (SELECT value FROM json_each(:skipped))";

/// The named parameters of `all` that `sql` uses.
fn used<'a>(sql: &str, all: &[(&'a str, &'a dyn ToSql)]) -> Vec<(&'a str, &'a dyn ToSql)> {
    all.iter().filter(|(name, _)| sql.contains(name)).copied().collect()
}

impl Store {
    /// The next row still to label in `order`, if any.
    pub fn next_to_label(&self, scope: &ToLabel, order: RowOrder) -> Result<Option<i64>> {
        let by_suggestion = |order: &str| {
            format!(
                "SELECT r.id FROM suggestions s JOIN rows r ON r.id = s.row_id
                 WHERE s.run_id = :run AND r.dataset_id = :dataset AND {NOT_DONE} ORDER BY {order} LIMIT 1"
            )
        };
        let (sql, run, other, start) = match order {
            RowOrder::File => (
                format!(
                    "SELECT r.id FROM rows r WHERE r.dataset_id = :dataset AND {NOT_DONE} ORDER BY r.position LIMIT 1"
                ),
                0,
                0,
                0,
            ),
            RowOrder::Shuffled { from } => (
                format!(
                    "SELECT r.id FROM rows r WHERE r.dataset_id = :dataset AND r.shuffle_key >= :start AND {NOT_DONE}
                     ORDER BY r.shuffle_key LIMIT 1"
                ),
                0,
                0,
                from,
            ),
            RowOrder::Uncertain { run, by } => {
                let sort = match by {
                    Uncertainty::LeastConfidence => "s.confidence ASC",
                    Uncertainty::Margin => "s.margin ASC",
                    Uncertainty::Entropy => "s.entropy DESC",
                };
                (by_suggestion(sort), run, 0, 0)
            }
            RowOrder::Disagreement { run, other_run } => (
                format!(
                    "SELECT r.id FROM suggestions s JOIN suggestions o ON o.row_id = s.row_id AND o.run_id = :other
                     JOIN rows r ON r.id = s.row_id
                     WHERE s.run_id = :run AND r.dataset_id = :dataset AND s.predicted <> o.predicted AND {NOT_DONE}
                     ORDER BY r.position LIMIT 1"
                ),
                run,
                other_run,
                0,
            ),
        };
        let skipped = serde_json::to_string(scope.skipped).expect("ids serialise");
        let all: [(&str, &dyn ToSql); 7] = [
            (":dataset", &scope.dataset_id),
            (":set", &scope.label_set_id),
            (":who", &scope.annotator),
            (":skipped", &skipped),
            (":run", &run),
            (":other", &other),
            (":start", &start),
        ];
        let mut stmt = self.conn().prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row(used(&sql, &all).as_slice(), |r| r.get(0)).optional().map_err(|e| self.err(e))
    }

    /// How many rows are still to label (skipped rows count as still to label).
    pub fn count_to_label(&self, scope: &ToLabel) -> Result<i64> {
        let sql = format!("SELECT count(*) FROM rows r WHERE r.dataset_id = :dataset AND {NOT_DONE}");
        let mut stmt = self.conn().prepare_cached(&sql).map_err(|e| self.err(e))?;
        stmt.query_row(
            rusqlite::named_params! {
                ":dataset": scope.dataset_id,
                ":set": scope.label_set_id,
                ":who": scope.annotator,
                ":skipped": "[]",
            },
            |r| r.get(0),
        )
        .map_err(|e| self.err(e))
    }

    /// A page of the rows of `dataset_id` that `filter` keeps (by the live labels of
    /// `label_set_id`, the suggestions of `run` and the label set's newest check), in file order —
    /// least confident first for [`RowFilter::BelowConfidence`], most suspicious first for
    /// [`RowFilter::Suspicious`]. Without a run, filters that need one keep nothing.
    pub fn filtered_rows(
        &self,
        dataset_id: i64,
        label_set_id: i64,
        run: Option<i64>,
        filter: RowFilter,
        offset: i64,
        limit: i64,
    ) -> Result<RowIdPage> {
        let live = "SELECT 1 FROM labels l WHERE l.label_set_id = :set AND l.row_id = r.id AND l.retracted_at IS NULL";
        let condition = match filter {
            RowFilter::All => "1".to_string(),
            RowFilter::Unlabelled => format!("NOT EXISTS ({live})"),
            RowFilter::Labelled => format!("EXISTS ({live})"),
            RowFilter::BelowConfidence(_) => "s.confidence < :threshold".to_string(),
            RowFilter::HumanDisagrees => {
                format!("EXISTS ({live} AND l.source = 'human' AND l.value <> s.predicted)")
            }
            RowFilter::Suspicious => format!("c.given = {LIVE_VALUE}"),
        };
        let join = if filter.needs_run() { "JOIN" } else { "LEFT JOIN" };
        let check = if filter == RowFilter::Suspicious {
            format!("JOIN label_check_rows c ON c.row_id = r.id AND c.check_id = {LATEST_CHECK}")
        } else {
            String::new()
        };
        let from = format!(
            "FROM rows r {join} suggestions s ON s.row_id = r.id AND s.run_id = :run {check}
             WHERE r.dataset_id = :dataset AND {condition}"
        );
        let order = match filter {
            RowFilter::BelowConfidence(_) => "s.confidence",
            RowFilter::Suspicious => "c.p_suggested - c.p_given DESC, r.position",
            _ => "r.position",
        };
        let threshold = match filter {
            RowFilter::BelowConfidence(t) => t,
            _ => 0.0,
        };
        let run = run.unwrap_or(-1);
        let all: [(&str, &dyn ToSql); 6] = [
            (":set", &label_set_id),
            (":run", &run),
            (":dataset", &dataset_id),
            (":threshold", &threshold),
            (":limit", &limit),
            (":offset", &offset),
        ];
        let count_sql = format!("SELECT count(*) {from}");
        let total: i64 = self
            .conn()
            .prepare(&count_sql)
            .and_then(|mut s| s.query_row(used(&count_sql, &all).as_slice(), |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        let sql = format!("SELECT r.id {from} ORDER BY {order} LIMIT :limit OFFSET :offset");
        let mut stmt = self.conn().prepare(&sql).map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map(used(&sql, &all).as_slice(), |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))?;
        Ok(RowIdPage { ids, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImportOptions;
    use crate::store::{FlaggedRow, LabelSource, NewLabel, NewLabelCheck, Split, Suggestion};

    /// Five rows `a`..`e`, a label set `neg`/`pos`, two runs with suggestions for rows 0..4.
    fn project() -> (Store, i64, i64, Vec<i64>, i64, i64) {
        let dir = std::env::temp_dir().join(format!("cloze-queue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("d.csv");
        std::fs::write(&p, "text\na\nb\nc\nd\ne\n").unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let s =
            store.import_dataset("d", &p, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
        let set = store.create_label_set(s.dataset.id, "sentiment", &["neg".into(), "pos".into()]).unwrap();
        let rows: Vec<i64> = store.rows(s.dataset.id, 0, 10).unwrap().iter().map(|r| r.id).collect();
        let classes = set.classes.clone();
        let run = store.start_run("zero-shot", &serde_json::json!({}), 0, Some(set.id)).unwrap();
        let other = store.start_run("zero-shot", &serde_json::json!({}), 0, Some(set.id)).unwrap();
        // run: confidence 0.9, 0.55, 0.7, 0.52 (rows 0..4; row 4 unscored); other disagrees on row 1 only
        let probs = [[0.1, 0.9], [0.45, 0.55], [0.3, 0.7], [0.52, 0.48]];
        let mine: Vec<Suggestion> = rows
            .iter()
            .zip(probs)
            .map(|(&r, p)| Suggestion::from_probs(run, r, &classes, &p).unwrap())
            .collect();
        let theirs: Vec<Suggestion> = rows
            .iter()
            .zip(probs)
            .enumerate()
            .map(|(i, (&r, p))| {
                let p = if i == 1 { [0.8, 0.2] } else { p };
                Suggestion::from_probs(other, r, &classes, &p).unwrap()
            })
            .collect();
        store.put_suggestions(&mine).unwrap();
        store.put_suggestions(&theirs).unwrap();
        (store, s.dataset.id, set.id, rows, run, other)
    }

    fn label(store: &mut Store, set: i64, row: i64, value: &str, source: LabelSource, who: Option<&str>) {
        store
            .add_label(&NewLabel {
                label_set_id: set,
                row_id: row,
                value,
                source,
                confidence: None,
                annotator: who,
                run_id: None,
                seen: crate::store::Seen::Unchecked,
            })
            .unwrap();
    }

    #[test]
    fn next_row_in_every_order() {
        let (mut store, dataset, set, rows, run, other) = project();
        label(&mut store, set, rows[0], "pos", LabelSource::Human, Some("ann"));
        let skipped = [rows[3]];
        let ann =
            ToLabel { dataset_id: dataset, label_set_id: set, annotator: Some("ann"), skipped: &skipped };
        let bob = ToLabel { annotator: Some("bob"), skipped: &[], ..ann };
        let cases: [(&ToLabel, RowOrder, Option<i64>); 8] = [
            (&ann, RowOrder::File, Some(rows[1])),
            (&bob, RowOrder::File, Some(rows[0])),
            (&ann, RowOrder::Uncertain { run, by: Uncertainty::LeastConfidence }, Some(rows[1])),
            (&bob, RowOrder::Uncertain { run, by: Uncertainty::LeastConfidence }, Some(rows[3])),
            (&ann, RowOrder::Uncertain { run, by: Uncertainty::Margin }, Some(rows[1])),
            (&bob, RowOrder::Uncertain { run, by: Uncertainty::Entropy }, Some(rows[3])),
            (&ann, RowOrder::Disagreement { run, other_run: other }, Some(rows[1])),
            (&ann, RowOrder::Shuffled { from: i64::MAX }, None),
        ];
        for (scope, order, expected) in cases {
            assert_eq!(
                store.next_to_label(scope, order).unwrap(),
                expected,
                "{order:?} for {:?}",
                scope.annotator
            );
        }
        assert!(store.next_to_label(&ann, RowOrder::Shuffled { from: 0 }).unwrap().is_some());
        assert_eq!(store.count_to_label(&ann).unwrap(), 4, "skipped rows still count");
        assert_eq!(store.count_to_label(&bob).unwrap(), 5);
        label(&mut store, set, rows[4], "neg", LabelSource::Import, None);
        assert_eq!(store.count_to_label(&bob).unwrap(), 4, "an imported label is done for everyone");
    }

    #[test]
    fn label_table_filters() {
        let (mut store, dataset, set, rows, run, _) = project();
        label(&mut store, set, rows[0], "neg", LabelSource::Human, None);
        label(&mut store, set, rows[2], "pos", LabelSource::Import, None);
        let cases: [(Option<i64>, RowFilter, &[usize], i64); 7] = [
            (Some(run), RowFilter::All, &[0, 1, 2, 3, 4], 5),
            (None, RowFilter::All, &[0, 1, 2, 3, 4], 5),
            (Some(run), RowFilter::Unlabelled, &[1, 3, 4], 3),
            (Some(run), RowFilter::Labelled, &[0, 2], 2),
            (Some(run), RowFilter::BelowConfidence(0.54), &[3], 1),
            (Some(run), RowFilter::BelowConfidence(0.6), &[3, 1], 2),
            (Some(run), RowFilter::HumanDisagrees, &[0], 1),
        ];
        for (r, filter, expected, total) in cases {
            let page = store.filtered_rows(dataset, set, r, filter, 0, 10).unwrap();
            let want: Vec<i64> = expected.iter().map(|&i| rows[i]).collect();
            assert_eq!(page, RowIdPage { ids: want, total }, "{filter:?}");
        }
        let page = store.filtered_rows(dataset, set, Some(run), RowFilter::All, 3, 1).unwrap();
        assert_eq!(page, RowIdPage { ids: vec![rows[3]], total: 5 });
        let none = store.filtered_rows(dataset, set, None, RowFilter::HumanDisagrees, 0, 10).unwrap();
        assert_eq!(none.total, 0);
    }

    fn flag(row: i64, given: &str, suggested: &str, p_given: f64, p_suggested: f64) -> FlaggedRow {
        FlaggedRow {
            row_id: row,
            given: given.into(),
            suggested: suggested.into(),
            p_given,
            p_suggested,
            threshold: 0.6,
            confident: p_suggested >= 0.6,
        }
    }

    fn check<'a>(set: i64, flagged: &'a [FlaggedRow]) -> NewLabelCheck<'a> {
        NewLabelCheck {
            label_set_id: set,
            model_id: None,
            model: "tests/fixtures/parity/bert",
            folds: 5,
            seed: 42,
            rows_checked: 4,
            thresholds: &[0.6, 0.6],
            flagged,
        }
    }

    fn suspicious(store: &Store, dataset: i64, set: i64) -> RowIdPage {
        store.filtered_rows(dataset, set, None, RowFilter::Suspicious, 0, 10).unwrap()
    }

    /// The Suspicious filter keeps the rows the newest check flagged, most evidence against the
    /// label first, and only while their live label is the one the check contradicted.
    #[test]
    fn suspicious_rows_follow_the_newest_check_and_the_live_labels() {
        let (mut store, dataset, set, rows, _, _) = project();
        assert_eq!(suspicious(&store, dataset, set), RowIdPage { ids: vec![], total: 0 }, "no check yet");
        assert_eq!(store.latest_label_check(set).unwrap(), None);
        for (i, value) in ["neg", "neg", "pos", "pos"].into_iter().enumerate() {
            label(&mut store, set, rows[i], value, LabelSource::Import, None);
        }
        // Evidence p_suggested − p_given: row 0 0.4, row 2 0.8, row 3 0.1 (not confident).
        let first = [
            flag(rows[0], "neg", "pos", 0.3, 0.7),
            flag(rows[2], "pos", "neg", 0.1, 0.9),
            flag(rows[3], "pos", "neg", 0.45, 0.55),
        ];
        let id = store.save_label_check(&check(set, &first)).unwrap();
        assert_eq!(
            suspicious(&store, dataset, set),
            RowIdPage { ids: vec![rows[2], rows[0], rows[3]], total: 3 },
            "most suspicious first"
        );
        let page = store.filtered_rows(dataset, set, None, RowFilter::Suspicious, 1, 1).unwrap();
        assert_eq!(page, RowIdPage { ids: vec![rows[0]], total: 3 }, "paged");
        let latest = store.latest_label_check(set).unwrap().unwrap();
        assert_eq!(
            (latest.id, latest.model.as_str(), latest.folds, latest.seed, latest.rows_checked),
            (id, "tests/fixtures/parity/bert", 5, 42, 4)
        );
        assert_eq!((latest.flagged, latest.confident, latest.still_suspicious), (3, 2, 3));
        assert_eq!(latest.thresholds, vec![0.6, 0.6]);
        assert_eq!(store.suspicion(set, rows[2]).unwrap(), Some(first[1].clone()));
        assert_eq!(store.suspicion(set, rows[1]).unwrap(), None, "not flagged");

        // A person relabels row 2 (as the check suggested): it is no longer suspicious. Row 0 gets
        // a human label equal to the one the check contradicted: still suspicious.
        label(&mut store, set, rows[2], "neg", LabelSource::Human, None);
        label(&mut store, set, rows[0], "neg", LabelSource::Human, Some("ann"));
        assert_eq!(suspicious(&store, dataset, set), RowIdPage { ids: vec![rows[0], rows[3]], total: 2 });
        assert_eq!(store.suspicion(set, rows[2]).unwrap(), None, "relabelled since the check");
        assert_eq!(store.latest_label_check(set).unwrap().unwrap().still_suspicious, 2);
        // Undoing the relabel makes the check's flag apply again.
        let human = store.live_labels(set, rows[2]).unwrap();
        let human = human.iter().find(|l| l.source == LabelSource::Human).unwrap().id;
        store.retract_label(human).unwrap();
        assert_eq!(suspicious(&store, dataset, set).total, 3);

        // A newer check replaces the old one.
        let second = [flag(rows[1], "neg", "pos", 0.2, 0.8)];
        let newer = store.save_label_check(&check(set, &second)).unwrap();
        assert!(newer > id);
        assert_eq!(suspicious(&store, dataset, set), RowIdPage { ids: vec![rows[1]], total: 1 });
        assert_eq!(store.suspicion(set, rows[2]).unwrap(), None, "the old check's flag is gone");
        let latest = store.latest_label_check(set).unwrap().unwrap();
        assert_eq!((latest.id, latest.flagged, latest.confident), (newer, 1, 1));
        // Another label set of the dataset has no check.
        let other = store.create_label_set(dataset, "other", &["a".into(), "b".into()]).unwrap();
        assert_eq!(suspicious(&store, dataset, other.id).total, 0);
        assert_eq!(store.latest_label_check(other.id).unwrap(), None);
    }

    #[test]
    fn latest_run_prefers_a_finished_one() {
        let (store, _, set, _, run, other) = project();
        assert_eq!(store.latest_run(set).unwrap(), Some(other), "the newest, when none finished");
        store.finish_run(run, crate::store::RunStatus::Finished, None).unwrap();
        assert_eq!(store.latest_run(set).unwrap(), Some(run));
        assert_eq!(store.latest_run(set + 1).unwrap(), None);
    }
}
