//! The labelling queue: which row to show next, and a session's accept / correct / skip / undo.
//!
//! A row is done for an annotator when it has a live `import` label or a live `human` label of
//! theirs. Every strategy is one or two of the store's indexed queries ([`Store::next_to_label`]),
//! so the order follows new suggestions as a background re-scorer writes them.

use crate::error::{Error, ErrorKind, Result, Setting, Text};
use crate::store::{
    LabelSet, LabelSource, NewLabel, RowOrder, Seen, Store, StoredRow, Suggestion, ToLabel, Uncertainty,
};

/// How the next row is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum QueueOrder {
    /// The order of the data file.
    FileOrder,
    /// A fixed pseudo-random order, set by the seed.
    Random { seed: u64 },
    /// Lowest probability of the predicted class first.
    LeastConfidence,
    /// Smallest gap between the two most probable classes first.
    Margin,
    /// Highest entropy of the class distribution first.
    Entropy,
    /// Rows where two runs predict different classes, in file order.
    Disagreement { other_run: i64 },
}

impl std::str::FromStr for QueueOrder {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        QueueOrder::parse(s)
    }
}

impl QueueOrder {
    /// Whether the strategy reads a run's suggestions.
    pub fn needs_run(self) -> bool {
        !matches!(self, QueueOrder::FileOrder | QueueOrder::Random { .. })
    }

    /// Parses `order`, `random[:SEED]`, `least-confidence`, `margin`, `entropy`,
    /// `disagreement:RUN` (also as `FromStr`).
    pub fn parse(s: &str) -> Result<Self> {
        let (name, arg) = s.split_once(':').map(|(a, b)| (a, Some(b))).unwrap_or((s, None));
        let number = |what: &str| -> Result<i64> {
            arg.and_then(|a| a.parse().ok())
                .ok_or_else(|| Error::invalid(format!("strategy {name} needs {what}, e.g. {name}:3")))
        };
        Ok(match name {
            "order" | "file-order" => QueueOrder::FileOrder,
            "random" => {
                QueueOrder::Random { seed: arg.map(|_| number("a seed")).transpose()?.unwrap_or(0) as u64 }
            }
            "least-confidence" | "confidence" => QueueOrder::LeastConfidence,
            "margin" => QueueOrder::Margin,
            "entropy" => QueueOrder::Entropy,
            "disagreement" => QueueOrder::Disagreement { other_run: number("the other run's id")? },
            _ => {
                return Err(Error::invalid(format!(
                    "queue strategy {s:?} is unknown; use order, random[:SEED], least-confidence, margin, entropy \
                     or disagreement:RUN"
                )));
            }
        })
    }
}

/// A row to label, with the model's suggestion when there is one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueueItem {
    pub row: StoredRow,
    pub suggestion: Option<Suggestion>,
    /// The annotator's label on the row when it was loaded: a label given for this item is saved
    /// only if that is still so (another session of the same annotator may have labelled it).
    #[serde(skip)]
    pub seen: Seen,
}

/// Where the next row comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub dataset_id: i64,
    pub label_set: LabelSet,
    pub strategy: QueueOrder,
    /// The run whose suggestions are shown (and sorted by, for the uncertainty strategies).
    pub run_id: Option<i64>,
    pub annotator: Option<String>,
}

impl Queue {
    pub fn new(
        label_set: LabelSet,
        strategy: QueueOrder,
        run_id: Option<i64>,
        annotator: Option<String>,
    ) -> Result<Self> {
        if strategy.needs_run() && run_id.is_none() {
            return Err(Error::precondition(
                Text::from(
                    "this queue strategy orders rows by a model's suggestions; give a model, template and \
                     verbalizer to score the rows, or set ",
                )
                .setting(Setting::LabelOrder)
                .then(" to file order or random"),
            ));
        }
        Ok(Self { dataset_id: label_set.dataset_id, label_set, strategy, run_id, annotator })
    }

    /// Who is labelling, and which rows they skipped.
    fn scope<'a>(&'a self, skipped: &'a [i64]) -> ToLabel<'a> {
        ToLabel {
            dataset_id: self.dataset_id,
            label_set_id: self.label_set.id,
            annotator: self.annotator.as_deref(),
            skipped,
        }
    }

    /// The next row for this annotator, not counting `skipped` rows.
    pub fn next(&self, store: &Store, skipped: &[i64]) -> Result<Option<QueueItem>> {
        let run = self.run_id.unwrap_or(-1);
        let uncertain = |by| RowOrder::Uncertain { run, by };
        let orders: Vec<RowOrder> = match self.strategy {
            QueueOrder::FileOrder => vec![RowOrder::File],
            QueueOrder::Random { seed } => {
                let from = (crate::data::SplitMix64::new(seed).next_u64() >> 1) as i64;
                vec![RowOrder::Shuffled { from }, RowOrder::Shuffled { from: 0 }]
            }
            // Rows a running re-scorer has not reached yet come after the scored ones, in file order.
            QueueOrder::LeastConfidence => vec![uncertain(Uncertainty::LeastConfidence), RowOrder::File],
            QueueOrder::Margin => vec![uncertain(Uncertainty::Margin), RowOrder::File],
            QueueOrder::Entropy => vec![uncertain(Uncertainty::Entropy), RowOrder::File],
            QueueOrder::Disagreement { other_run } => vec![RowOrder::Disagreement { run, other_run }],
        };
        let scope = self.scope(skipped);
        for order in orders {
            if let Some(id) = store.next_to_label(&scope, order)? {
                return Ok(Some(self.item(store, id)?));
            }
        }
        Ok(None)
    }

    /// A row with this queue's suggestion for it.
    pub fn item(&self, store: &Store, row_id: i64) -> Result<QueueItem> {
        let suggestion = match self.run_id {
            Some(run) => store.suggestion(run, row_id)?,
            None => None,
        };
        let seen = store.seen(self.label_set.id, row_id, self.annotator.as_deref())?;
        Ok(QueueItem { row: store.row(row_id)?, suggestion, seen })
    }

    /// Rows not yet done for this annotator.
    pub fn remaining(&self, store: &Store) -> Result<i64> {
        store.count_to_label(&self.scope(&[]))
    }
}

/// What a session did, for undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// A label written; undo retracts it and, in a multi-label set, brings back `restore`, the
    /// label it replaced.
    Labelled {
        label_id: i64,
        row_id: i64,
        restore: Option<i64>,
    },
    Skipped {
        row_id: i64,
    },
    /// A multi-label row left as it was labelled.
    Kept {
        row_id: i64,
    },
}

/// One annotator's labelling session: every decision is committed at once (its own transaction);
/// undo is unlimited within the session. A label is saved only if the row's label is still the one
/// the session loaded with it ([`QueueItem::seen`]): another session of the same annotator (another
/// window, another process) that labelled the row meanwhile makes it an [`ErrorKind::Conflict`]
/// naming the row and the other decision, and nothing is overwritten.
#[derive(Debug, Clone)]
pub struct Session {
    pub queue: Queue,
    history: Vec<Action>,
    skipped: Vec<i64>,
    /// A row brought back by undo, shown before the queue's next.
    pending: Option<i64>,
    /// The row last [shown](Self::show), which a front end's "label the current row" acts on.
    shown: Option<QueueItem>,
}

impl Session {
    pub fn new(queue: Queue) -> Self {
        Self { queue, history: Vec::new(), skipped: Vec::new(), pending: None, shown: None }
    }

    /// The row to show now.
    pub fn current(&self, store: &Store) -> Result<Option<QueueItem>> {
        match self.pending {
            Some(id) => self.queue.item(store, id).map(Some),
            None => self.queue.next(store, &self.skipped),
        }
    }

    /// The row to show now, remembered as the one on screen until it is labelled, skipped or
    /// undone: [`shown`](Self::shown) is what the person decided about, even if the queue has
    /// moved on since (another session labelled it, new suggestions reordered the queue).
    pub fn show(&mut self, store: &Store) -> Result<Option<QueueItem>> {
        if self.shown.is_none() {
            self.shown = self.current(store)?;
        }
        Ok(self.shown.clone())
    }

    /// The row on screen, if one was [shown](Self::show) and not yet decided.
    pub fn shown(&self) -> Option<&QueueItem> {
        self.shown.as_ref()
    }

    fn record(
        &mut self,
        store: &mut Store,
        item: &QueueItem,
        value: &str,
        confidence: Option<f64>,
    ) -> Result<i64> {
        let saved = store.add_label(&NewLabel {
            label_set_id: self.queue.label_set.id,
            row_id: item.row.id,
            value,
            source: LabelSource::Human,
            confidence,
            annotator: self.queue.annotator.as_deref(),
            run_id: item.suggestion.as_ref().map(|s| s.run_id),
            seen: item.seen,
        });
        let label_id = match saved {
            Ok(id) => id,
            Err(e) => {
                if e.kind() == ErrorKind::Conflict {
                    // The row is shown again as it is now (or the queue moves on).
                    self.shown = None;
                }
                return Err(e);
            }
        };
        self.history.push(Action::Labelled { label_id, row_id: item.row.id, restore: None });
        self.pending = None;
        self.shown = None;
        Ok(label_id)
    }

    /// Multi-label: writes the row's whole set of classes (`value`: joined by `;`) as one label,
    /// replacing the one the session saw; undo brings that one back. With `stay` the row stays on
    /// screen (a toggle), else the session moves on.
    pub fn set_labels(
        &mut self,
        store: &mut Store,
        item: &QueueItem,
        value: &str,
        stay: bool,
    ) -> Result<i64> {
        let restore = match item.seen {
            Seen::Label(id) => Some(id),
            _ => None,
        };
        let label_id = self.record(store, item, value, None)?;
        if let Some(Action::Labelled { restore: r, .. }) = self.history.last_mut() {
            *r = restore;
        }
        if stay {
            self.shown = Some(QueueItem { seen: Seen::Label(label_id), ..item.clone() });
        }
        Ok(label_id)
    }

    /// Multi-label: moves on from the row on screen, its labels as they are.
    pub fn keep(&mut self, item: &QueueItem) {
        self.history.push(Action::Kept { row_id: item.row.id });
        self.pending = None;
        self.shown = None;
    }

    /// Labels the row with class number `class` (0-based) of the label set.
    pub fn label(&mut self, store: &mut Store, item: &QueueItem, class: usize) -> Result<i64> {
        let classes = &self.queue.label_set.classes;
        let value = classes.get(class).cloned().ok_or_else(|| {
            Error::invalid(format!(
                "there is no class {}; this label set has {} classes",
                class + 1,
                classes.len()
            ))
        })?;
        self.record(store, item, &value, None)
    }

    /// Confirms the model's suggestion.
    pub fn accept(&mut self, store: &mut Store, item: &QueueItem) -> Result<i64> {
        let s = item.suggestion.clone().ok_or_else(|| {
            Error::precondition("this row has no suggestion to accept yet; pick a class with its number")
        })?;
        self.record(store, item, &s.predicted, Some(s.confidence))
    }

    /// Leaves the row for later in this session.
    pub fn skip(&mut self, item: &QueueItem) {
        self.skipped.push(item.row.id);
        self.history.push(Action::Skipped { row_id: item.row.id });
        self.pending = None;
        self.shown = None;
    }

    /// Undoes the last label or skip; the row is shown again. `None` when there is nothing to undo.
    pub fn undo(&mut self, store: &Store) -> Result<Option<i64>> {
        let Some(action) = self.history.pop() else { return Ok(None) };
        let row_id = match action {
            Action::Labelled { label_id, row_id, restore: None } => {
                store.retract_label(label_id)?;
                row_id
            }
            Action::Labelled { label_id, row_id, restore } => {
                store.undo_label(label_id, restore)?;
                row_id
            }
            Action::Kept { row_id } => row_id,
            Action::Skipped { row_id } => {
                self.skipped.retain(|&r| r != row_id);
                row_id
            }
        };
        self.pending = Some(row_id);
        self.shown = None;
        Ok(Some(row_id))
    }

    /// Whether there is a label or skip to undo.
    pub fn can_undo(&self) -> bool {
        !self.history.is_empty()
    }

    /// Rows labelled in this session and not undone (a multi-label row changed several times
    /// counts once).
    pub fn labelled(&self) -> usize {
        let rows: std::collections::BTreeSet<i64> = self
            .history
            .iter()
            .filter_map(|a| match a {
                Action::Labelled { row_id, .. } => Some(*row_id),
                _ => None,
            })
            .collect();
        rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImportOptions;
    use crate::store::Split;

    /// A project file with rows `r0`…`r3` and a label set, and `n` sessions of annotator `ana`
    /// each on its own connection (as separate processes would be).
    fn sessions(dir: &std::path::Path, n: usize) -> Vec<(Store, Session)> {
        let data = dir.join("d.csv");
        std::fs::write(&data, "id,text\nr0,a\nr1,b\nr2,c\nr3,d\n").unwrap();
        let project = dir.join("p.cloze");
        let mut store = Store::create(&project).unwrap();
        let s =
            store.import_dataset("d", &data, &ImportOptions::default(), Split::Train, &mut |_| true).unwrap();
        let set = store.create_label_set(s.dataset.id, "sentiment", &["neg".into(), "pos".into()]).unwrap();
        (0..n)
            .map(|_| {
                let store = Store::open(&project).unwrap();
                let queue = Queue::new(set.clone(), QueueOrder::FileOrder, None, Some("ana".into())).unwrap();
                (store, Session::new(queue))
            })
            .collect()
    }

    #[test]
    fn same_annotator_in_two_sessions_never_overwrites_silently() {
        let dir = tempfile::tempdir().unwrap();
        let mut two = sessions(dir.path(), 2);
        let (mut b, mut a) = (two.pop().unwrap(), two.pop().unwrap());
        let item_a = a.1.show(&a.0).unwrap().unwrap();
        let item_b = b.1.show(&b.0).unwrap().unwrap();
        assert_eq!(item_a.row.example.id, "r0");
        assert_eq!(item_b.row.example.id, "r0", "both load the same row");
        let saved = a.1.label(&mut a.0, &item_a, 1).unwrap();
        let err = b.1.label(&mut b.0, &item_b, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        let msg = err.to_string();
        assert!(
            msg.contains("row r0 was labelled `pos` by another session of annotator `ana`")
                && msg.contains("`neg` was not saved"),
            "{msg}"
        );
        let set = a.1.queue.label_set.id;
        let live = a.0.live_labels(set, item_a.row.id).unwrap();
        assert_eq!(live.iter().map(|l| (l.id, l.value.as_str())).collect::<Vec<_>>(), [(saved, "pos")]);
        // B shows the queue as it is now: r0 is done, r1 is next; B's decision there is saved.
        assert_eq!(b.1.labelled(), 0);
        let next = b.1.show(&b.0).unwrap().unwrap();
        assert_eq!(next.row.example.id, "r1");
        b.1.label(&mut b.0, &next, 0).unwrap();
        // A correction over a label the session did not see is refused too, and so is one over a
        // label undone meanwhile; undo keeps working.
        let mut again = b.1.queue.item(&b.0, item_a.row.id).unwrap();
        assert_eq!(again.seen, Seen::Label(saved));
        a.1.undo(&a.0).unwrap();
        let err = b.1.label(&mut b.0, &again, 0).unwrap_err().to_string();
        assert!(err.contains("row r0 had its label undone by another session"), "{err}");
        again = b.1.queue.item(&b.0, item_a.row.id).unwrap();
        assert_eq!(again.seen, Seen::Nothing);
        let fixed = b.1.label(&mut b.0, &again, 0).unwrap();
        b.1.undo(&b.0).unwrap();
        assert!(b.0.label(fixed).unwrap().retracted_at.is_some());
        assert_eq!(b.0.live_labels(set, item_a.row.id).unwrap(), []);
    }

    #[test]
    fn shown_row_stays_until_decided() {
        let dir = tempfile::tempdir().unwrap();
        let mut one = sessions(dir.path(), 1);
        let (store, session) = &mut one[0];
        let first = session.show(store).unwrap().unwrap();
        assert_eq!(session.shown().map(|i| i.row.id), Some(first.row.id));
        session.skip(&first);
        assert_eq!(session.shown(), None);
        let second = session.show(store).unwrap().unwrap();
        assert_ne!(second.row.id, first.row.id);
        session.label(store, &second, 1).unwrap();
        assert_eq!(session.shown(), None);
        session.undo(store).unwrap();
        assert_eq!(session.show(store).unwrap().unwrap().row.id, second.row.id, "undo shows the row again");
    }
}
