//! Label screen: the labelling session (label, accept, skip, undo), scoring rows with a prompt in
//! the background, checking the labels for suspicious ones in the background, the table view with
//! its filters, bulk accept and the check's suggestions; and the export of labels.

use std::path::Path;

use super::data::{label_set, label_set_info, row_view};
use super::prompt::checked_verbalizer;
use super::views::*;
use super::{Project, Studio, lock, multilabel, no_project};
use crate::error::{Error, Result};
use crate::export::multi_hot::{MultiHotFormat, export_multi_hot};
use crate::export::{ExportFormat, LabelFilter, charts, export_labels};
use crate::label::suspicious::{SuspicionOptions, suspicious_labels};
use crate::label::{Queue, QueueItem, QueueOrder, ScoringPrompt, ScoringRun, Session};
use crate::store::{
    FlaggedRow, LabelCheck, LabelSource, NewLabel, NewLabelCheck, RowFilter, RowIdPage, Seen, Store,
    Suggestion,
};
use crate::template::Template;

/// The confidence below which the table's low-confidence filter keeps a row, by default.
const LOW_CONFIDENCE: f64 = 0.6;

fn suggestion_view(s: &Suggestion, classes: &[String]) -> SuggestionView {
    SuggestionView {
        run_id: s.run_id,
        predicted: s.predicted.clone(),
        confidence: s.confidence,
        probs: classes.iter().zip(&s.probs).map(|(c, p)| ClassProb { class: c.clone(), prob: *p }).collect(),
    }
}

fn check_view(c: LabelCheck, classes: &[String]) -> LabelCheckView {
    LabelCheckView {
        id: c.id,
        label_set_id: c.label_set_id,
        model: c.model,
        options: SuspicionOptions { folds: c.folds, seed: c.seed },
        created_at: c.created_at,
        rows_checked: c.rows_checked,
        flagged: c.flagged,
        confident: c.confident,
        still_suspicious: c.still_suspicious,
        thresholds: classes
            .iter()
            .zip(&c.thresholds)
            .map(|(c, t)| ClassProb { class: c.clone(), prob: *t })
            .collect(),
    }
}

fn label_state(store: &Store, session: &mut Session) -> Result<LabelState> {
    let item = session.show(store)?;
    let set = &session.queue.label_set;
    let item = item
        .map(|item| -> Result<QueueItemView> {
            let multi = if set.multi_label { Some(multilabel::multi_item(store, set, &item)?) } else { None };
            let mut suggestion = item.suggestion.as_ref().map(|s| suggestion_view(s, &set.classes));
            if let (Some(s), Some(m)) = (&mut suggestion, &multi) {
                // The classes over the thresholds as they are now (they may have changed since scoring).
                s.predicted = set.multi_value(&m.suggested);
            }
            Ok(QueueItemView { suggestion, multi, row: row_view(store, item.row, Some(set.id))? })
        })
        .transpose()?;
    let info = label_set_info(store, &session.queue.label_set)?;
    let bars: Vec<(String, f64)> = info.by_class.iter().map(|c| (c.class.clone(), c.count as f64)).collect();
    Ok(LabelState {
        distribution_svg: charts::bar_chart("Labels so far", &bars, "rows", (380, 240))?,
        label_set: info,
        strategy: session.queue.strategy,
        run_id: session.queue.run_id,
        item,
        remaining: session.queue.remaining(store)?,
        labelled_in_session: session.labelled() as i64,
        can_undo: session.can_undo(),
    })
}

/// The row on screen: the one the last state showed (what the person decided about), else the
/// queue's current one.
fn on_screen(store: &Store, session: &mut Session) -> Result<QueueItem> {
    session.show(store)?.ok_or_else(|| Error::precondition("every row is labelled"))
}

impl Studio {
    /// Runs `f` on the labelling session (and the project's connection).
    fn with_session<T>(&self, f: impl FnOnce(&mut Store, &mut Session) -> Result<T>) -> Result<T> {
        let mut guard = lock(&self.project);
        let Project { store, session, .. } = guard.as_mut().ok_or_else(no_project)?;
        let session = session.as_mut().ok_or_else(|| {
            Error::precondition("no labelling session; pick a label set and press Start on the Label screen")
        })?;
        f(store, session)
    }

    /// Starts labelling a label set in the given order; `run_id` is the scoring run whose
    /// suggestions are shown (the newest run of the label set when `None`).
    pub fn start_labelling(
        &self,
        label_set_id: i64,
        strategy: QueueOrder,
        run_id: Option<i64>,
    ) -> Result<LabelState> {
        let mut guard = lock(&self.project);
        let project = guard.as_mut().ok_or_else(no_project)?;
        let store = &project.store;
        let set = label_set(store, label_set_id)?;
        let run_id = match run_id {
            Some(id) => {
                let run = store.run(id)?;
                if run.label_set_id != Some(label_set_id) {
                    return Err(Error::invalid(format!(
                        "run {id} scored another label set; pick one of this set's runs"
                    )));
                }
                Some(id)
            }
            None => store.latest_run(label_set_id)?,
        };
        let mut session = Session::new(Queue::new(set, strategy, run_id, None)?);
        let state = label_state(store, &mut session)?;
        project.session = Some(session);
        Ok(state)
    }

    pub fn label_state(&self) -> Result<Option<LabelState>> {
        let mut guard = lock(&self.project);
        let Project { store, session, .. } = guard.as_mut().ok_or_else(no_project)?;
        session.as_mut().map(|s| label_state(store, s)).transpose()
    }

    /// Labels the row on screen with class `class_index` (0-based); in a multi-label set, toggles
    /// it and saves the row's classes, the row staying on screen. If another session of the same
    /// annotator labelled it since it was shown, nothing is saved: the error is a conflict naming the
    /// other decision, and the next [`label_state`](Self::label_state) shows the row as it is now.
    pub fn label_current(&self, class_index: usize) -> Result<LabelState> {
        self.with_session(|store, session| {
            let item = on_screen(store, session)?;
            if session.queue.label_set.multi_label {
                multilabel::toggle(store, session, &item, class_index)?;
            } else {
                session.label(store, &item, class_index)?;
            }
            label_state(store, session)
        })
    }

    /// Confirms the model's suggestion for the current row; in a multi-label set, saves the classes
    /// the checkboxes show (the suggested ones unless changed) and moves on.
    pub fn accept_suggestion(&self) -> Result<LabelState> {
        self.with_session(|store, session| {
            let item = on_screen(store, session)?;
            if session.queue.label_set.multi_label {
                multilabel::confirm(store, session, &item)?;
            } else {
                session.accept(store, &item)?;
            }
            label_state(store, session)
        })
    }

    pub fn skip_current(&self) -> Result<LabelState> {
        self.with_session(|store, session| {
            if let Some(item) = session.show(store)? {
                session.skip(&item);
            }
            label_state(store, session)
        })
    }

    /// Undoes the session's last label or skip (the label is retracted, not deleted).
    pub fn undo_last(&self) -> Result<LabelState> {
        self.with_session(|store, session| {
            session.undo(store)?;
            label_state(store, session)
        })
    }

    /// Scores every row of the label set still to label with the prompt and the loaded model, as a
    /// new run, on its own connection: the labelling session goes on meanwhile and picks up the
    /// suggestions as they are written.
    pub fn score_rows(
        &self,
        label_set_id: i64,
        prompt: &PromptSpec,
        progress: ProgressFn,
    ) -> Result<RunView> {
        let model = self.model()?;
        let prompt = ScoringPrompt {
            template: Template::parse(&prompt.template)?,
            verbalizer: checked_verbalizer(&prompt.verbalizer)?,
            calibrate: prompt.calibrate,
            chat: prompt.chat.clone(),
        };
        let mut store = Store::open(self.project_file()?)?;
        let set = label_set(&store, label_set_id)?;
        if set.multi_label {
            return Err(multi_refused(&set, "scored with one prompt over its classes", "Score labels"));
        }
        let run = ScoringRun::start(&store, &set, prompt, &model.spec, model.device.name())?;
        let run_id = run.run_id;
        run.score(&mut store, &model.plm, &mut |p| {
            progress(Progress::new("score", p.scored as u64, Some(p.total as u64)))
        })?;
        run_view(&store, run_id)
    }

    pub fn runs(&self, label_set_id: i64) -> Result<Vec<RunView>> {
        self.with_store(|store| {
            store.runs(label_set_id)?.into_iter().map(|r| run_view(store, r.id)).collect()
        })
    }

    /// A page of the label set's rows with their labels and the run's suggestions, filtered.
    pub fn label_table(&self, label_set_id: i64, query: &TableQuery) -> Result<TablePage> {
        self.with_store(|store| {
            let set = label_set(store, label_set_id)?;
            let run = match query.run_id {
                Some(r) => Some(r),
                None => store.latest_run(label_set_id)?,
            };
            let filter = match query.filter {
                TableFilter::All => RowFilter::All,
                TableFilter::Unlabelled => RowFilter::Unlabelled,
                TableFilter::Labelled => RowFilter::Labelled,
                TableFilter::LowConfidence => {
                    RowFilter::BelowConfidence(query.max_confidence.unwrap_or(LOW_CONFIDENCE))
                }
                TableFilter::Disagrees => RowFilter::HumanDisagrees,
                TableFilter::Suspicious => RowFilter::Suspicious,
            };
            if filter.needs_run() && run.is_none() {
                return Err(Error::precondition(
                    "this filter compares with the model's suggestions; score the rows with a prompt first",
                ));
            }
            let RowIdPage { ids, total } = store.filtered_rows(
                set.dataset_id,
                set.id,
                run,
                filter,
                query.offset.max(0),
                query.limit.clamp(1, 500),
            )?;
            let rows = ids
                .into_iter()
                .map(|id| {
                    let suggestion = match run {
                        Some(run) => store.suggestion(run, id)?.map(|s| suggestion_view(&s, &set.classes)),
                        None => None,
                    };
                    let suspicion = store.suspicion(set.id, id)?;
                    Ok(TableRow {
                        row: row_view(store, store.row(id)?, Some(set.id))?,
                        suggestion,
                        suspicion,
                    })
                })
                .collect::<Result<_>>()?;
            let check = store.latest_label_check(set.id)?.map(|c| check_view(c, &set.classes));
            Ok(TablePage { rows, total, check })
        })
    }

    /// Checks the label set's labelled rows for suspicious labels with the loaded model
    /// (`label::suspicious`: an out-of-fold probe on its sentence embeddings) and keeps the check
    /// in the project, replacing the label set's previous one. Runs on its own connection, so
    /// labelling goes on meanwhile; a row relabelled while it runs is not shown as suspicious.
    pub fn check_labels(
        &self,
        label_set_id: i64,
        options: SuspicionOptions,
        progress: ProgressFn,
    ) -> Result<LabelCheckView> {
        let model = self.model()?;
        let mut store = Store::open(self.project_file()?)?;
        let set = label_set(&store, label_set_id)?;
        if set.multi_label {
            return Err(multi_refused(
                &set,
                "checked for suspicious labels",
                "Fit thresholds and the metrics",
            ));
        }
        let (ids, rows): (Vec<i64>, Vec<_>) = store.labelled_examples_by_row(set.id)?.into_iter().unzip();
        let found = suspicious_labels(&model.plm, &rows, &set.classes, options, &mut |done, total| {
            progress(Progress::new("check", done as u64, Some(total as u64)))
        })?;
        let model_id = store.record_model(&model.spec, model.plm.dir(), model.plm.family().name())?;
        let class = |i: u32| set.classes[i as usize].clone();
        let flagged: Vec<FlaggedRow> = found
            .suspects
            .iter()
            .map(|s| FlaggedRow {
                row_id: ids[s.index as usize],
                given: class(s.given),
                suggested: class(s.suggested),
                p_given: f64::from(s.p_given),
                p_suggested: f64::from(s.p_suggested),
                threshold: f64::from(s.threshold),
                confident: s.confident,
            })
            .collect();
        let thresholds: Vec<f64> = found.thresholds.iter().map(|&t| f64::from(t)).collect();
        store.save_label_check(&NewLabelCheck {
            label_set_id: set.id,
            model_id: Some(model_id),
            model: &model.spec,
            folds: options.folds,
            seed: options.seed,
            rows_checked: rows.len() as i64,
            thresholds: &thresholds,
            flagged: &flagged,
        })?;
        let check = store
            .latest_label_check(set.id)?
            .ok_or_else(|| Error::internal("the label check just saved could not be read back"))?;
        Ok(check_view(check, &set.classes))
    }

    /// Relabels a row the newest label check flagged with the class it suggests (a human label,
    /// with the check's probability of that class as its confidence). Refused when the row's label
    /// changed since the check, or the check did not flag it.
    pub fn accept_check_suggestion(&self, label_set_id: i64, row_id: i64) -> Result<RowView> {
        self.with_store(|store| {
            let set = label_set(store, label_set_id)?;
            let seen = store.seen(set.id, row_id, None)?;
            let flag = store.suspicion(set.id, row_id)?.ok_or_else(|| {
                Error::precondition(
                    "this row is not suspicious any more: its label changed since the check, or the newest \
                     check did not flag it; reload the table, or run Check labels again",
                )
            })?;
            store.add_label(&NewLabel {
                label_set_id: set.id,
                row_id,
                value: &flag.suggested,
                source: LabelSource::Human,
                confidence: Some(flag.p_suggested),
                annotator: None,
                run_id: None,
                seen,
            })?;
            row_view(store, store.row(row_id)?, Some(set.id))
        })
    }

    /// Accepts the run's suggestions for the given rows as human labels (with the suggestion's
    /// confidence and run recorded); rows without a suggestion are left. Returns how many were labelled.
    pub fn bulk_accept(&self, label_set_id: i64, run_id: i64, row_ids: &[i64]) -> Result<i64> {
        self.with_store(|store| {
            let set = label_set(store, label_set_id)?;
            let mut n = 0;
            for &row in row_ids {
                if let Some(s) = store.suggestion(run_id, row)? {
                    store.add_label(&NewLabel {
                        label_set_id: set.id,
                        row_id: row,
                        value: &s.predicted,
                        source: LabelSource::Human,
                        confidence: Some(s.confidence),
                        annotator: None,
                        run_id: Some(run_id),
                        // A deliberate bulk action over the rows the table shows.
                        seen: Seen::Unchecked,
                    })?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Writes the label set's live labels to a file, with their provenance.
    pub fn export_labels(&self, request: &ExportRequest) -> Result<ExportResult> {
        let path = Path::new(request.path.trim());
        if request.path.trim().is_empty() {
            return Err(Error::invalid("give the file to write, e.g. ~/labels.csv"));
        }
        self.with_store(|store| {
            let set = label_set(store, request.label_set_id)?;
            let multi_hot = match request.format {
                ExportFormatView::MultiHotCsv => Some(MultiHotFormat::Csv),
                ExportFormatView::MultiHotJsonl => Some(MultiHotFormat::Jsonl),
                ExportFormatView::HfDatasets => Some(MultiHotFormat::HfDatasets),
                _ => None,
            };
            if let Some(format) = multi_hot {
                let written = export_multi_hot(store, &set, path, format, request.replace.into())?;
                return Ok(ExportResult {
                    path: path.display().to_string(),
                    written: written as i64,
                    filtered_out: 0,
                });
            }
            let format = match request.format {
                ExportFormatView::Csv => ExportFormat::Csv,
                ExportFormatView::Jsonl => ExportFormat::Jsonl,
                _ if set.multi_label => {
                    return Err(Error::invalid(format!(
                        "label set {:?} holds several labels per row; export it as Hugging Face datasets \
                         (multi-hot), or as multi-hot CSV or JSONL",
                        set.name
                    )));
                }
                _ => ExportFormat::HfJsonl,
            };
            // A multi-label value (`a;b`) is no one class: its class index is not checked.
            let set =
                if set.multi_label { crate::store::LabelSet { classes: Vec::new(), ..set } } else { set };
            let filter = LabelFilter {
                sources: request.sources.clone(),
                annotators: Vec::new(),
                min_confidence: request.min_confidence,
            };
            let count = export_labels(store, &set, path, Some(format), &filter, request.replace.into())?;
            Ok(ExportResult {
                path: path.display().to_string(),
                written: count.written as i64,
                filtered_out: count.filtered_out as i64,
            })
        })
    }
}

/// Why a multi-label set cannot do what a one-label-per-row set does.
fn multi_refused(set: &crate::store::LabelSet, what: &str, instead: &str) -> Error {
    Error::precondition(format!(
        "label set {:?} takes several labels per row, so it cannot be {what}; use the Several labels panel's \
         {instead} instead",
        set.name
    ))
}

pub(super) fn run_view(store: &Store, run_id: i64) -> Result<RunView> {
    let run = store.run(run_id)?;
    let text = |key: &str| -> Option<String> {
        run.config.get(key).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
    };
    Ok(RunView {
        id: run.id,
        kind: run.strategy.clone(),
        status: run.status.clone(),
        started_at: run.started_at.clone(),
        finished_at: run.finished_at.clone(),
        error: run.error.clone(),
        template: text("template"),
        verbalizer: text("verbalizer"),
    })
}
