//! Re-scoring: after a template change or a tuning run, the current prompt's suggestions for the
//! rows still to label are recomputed in batches, each written in its own short transaction, so the
//! labelling loop (on its own connection to the same file) never waits on it and the queue reorders
//! as the suggestions arrive.

use crate::classify::Classifier;
use crate::error::{Error, Result};
use crate::store::{LabelSet, RunStatus, Store, Suggestion};

/// Progress of a re-scoring run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RescoreProgress {
    pub run_id: i64,
    pub scored: usize,
    pub total: usize,
}

/// Scores every row of the label set's dataset that has no live label yet, with `classifier`, as
/// run `run_id` (started by the caller with [`Store::start_run`], so a labelling queue can follow it
/// from the first batch). The verbalizer's classes must be the label set's. `progress` returning
/// `false` cancels; the run is marked finished, cancelled or failed, and what was written stays.
pub fn rescore(
    store: &mut Store,
    classifier: &Classifier,
    label_set: &LabelSet,
    run_id: i64,
    batch_size: usize,
    progress: &mut dyn FnMut(RescoreProgress) -> bool,
) -> Result<()> {
    let mut scored = 0;
    let result = (|| -> Result<()> {
        let verbalizer_classes = classifier.verbalizer().verbalizer.class_names();
        let mut mapping = Vec::with_capacity(label_set.classes.len());
        for c in &label_set.classes {
            let i = verbalizer_classes.iter().position(|v| v == c).ok_or_else(|| {
                Error::invalid(format!(
                    "the verbalizer's classes ({}) are not the label set's ({}); name one class per label",
                    verbalizer_classes.join(", "),
                    label_set.classes.join(", ")
                ))
            })?;
            mapping.push(i);
        }
        let ids = store.unlabelled_rows(label_set)?;
        for chunk in ids.chunks(batch_size.max(1)) {
            let rows =
                chunk.iter().map(|&id| store.row(id).map(|r| r.example)).collect::<Result<Vec<_>>>()?;
            let preds = classifier.classify(&rows, &mut |_, _| true)?;
            let suggestions = chunk
                .iter()
                .zip(&preds)
                .map(|(&row_id, p)| {
                    let probs: Vec<f64> = mapping.iter().map(|&i| p.probs[i].1 as f64).collect();
                    Suggestion::from_probs(run_id, row_id, &label_set.classes, &probs)
                })
                .collect::<Result<Vec<_>>>()?;
            store.put_suggestions(&suggestions)?;
            scored += chunk.len();
            if !progress(RescoreProgress { run_id, scored, total: ids.len() }) {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => store.finish_run(run_id, RunStatus::Finished, None),
        Err(Error::Cancelled) => store.finish_run(run_id, RunStatus::Cancelled, None),
        Err(e) => {
            store.finish_run(run_id, RunStatus::Failed, Some(&e.to_string()))?;
            Err(e)
        }
    }
}
