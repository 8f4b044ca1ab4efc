//! Multi-label label sets in the app: the switch, the yes/no prompt asked per label and its words,
//! scoring every row of the set's dataset with it (a job: a run of kind `multi-label` whose
//! suggestions hold each class's p(yes)), per-label thresholds fitted on the labelled rows to
//! maximise F1 (kept with the label set, editable), the metrics of the suggestions on the labelled
//! rows, and the labelling card's checkboxes (a number key or a checkbox saves the row's whole set
//! of classes as one label; Enter saves what the checkboxes show and moves on).

use serde::{Deserialize, Serialize};

use super::data::label_set;
use super::views::*;
use super::{Studio, lock, no_project};
use crate::error::{Error, Result};
use crate::label::{QueueItem, SCORE_BATCH, Session};
use crate::multilabel::{self, Answer, MultiLabelPrompt, MultiLabelScorer, Threshold};
use crate::store::{LabelSet, RunStatus, Seen, Store, Suggestion};
use crate::verbalizer::{Class, Verbalizer};

/// Thresholds are shown with 3 decimals: a value sent back within half of the last one is unchanged.
const SHOWN_PRECISION: f64 = 5e-4;

/// The run kind of a multi-label scoring run.
pub const RUN_KIND: &str = "multi-label";

/// What a label set keeps in `label_sets.multi_label_prompt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    template: String,
    yes: Vec<String>,
    no: Vec<String>,
    /// Per class, in the label set's order; empty until scored or set.
    #[serde(default)]
    thresholds: Vec<StoredThreshold>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct StoredThreshold {
    value: f32,
    f1: Option<f64>,
    positives: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            template: multilabel::DEFAULT_TEMPLATE.into(),
            yes: vec!["Yes".into()],
            no: vec!["No".into()],
            thresholds: Vec::new(),
        }
    }
}

impl Settings {
    fn load(store: &Store, set: &LabelSet) -> Result<Self> {
        let mut s: Settings = match store.multi_label_prompt(set.id)? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                Error::invalid(format!(
                    "the multi-label settings of label set {:?} cannot be read ({e}); set the prompt again",
                    set.name
                ))
            })?,
            None => Settings::default(),
        };
        if s.thresholds.len() != set.classes.len() {
            let default = StoredThreshold { value: multilabel::DEFAULT_THRESHOLD, f1: None, positives: 0 };
            s.thresholds = vec![default; set.classes.len()];
        }
        Ok(s)
    }

    fn save(&self, store: &Store, set: &LabelSet) -> Result<()> {
        store.set_multi_label_prompt(set.id, &serde_json::to_string(self).expect("settings serialise"))
    }

    fn values(&self) -> Vec<f32> {
        self.thresholds.iter().map(|t| t.value).collect()
    }

    fn prompt(&self, set: &LabelSet) -> Result<MultiLabelPrompt> {
        let words = |w: &[String]| -> Vec<String> {
            w.iter().map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
        };
        let (yes, no) = (words(&self.yes), words(&self.no));
        if yes.is_empty() || no.is_empty() {
            return Err(Error::invalid("give at least one yes word and one no word, e.g. Yes and No"));
        }
        let verbalizer = Verbalizer::new(vec![
            Class { name: "no".into(), words: no },
            Class { name: "yes".into(), words: yes },
        ])?;
        MultiLabelPrompt::new(set.classes.clone(), &self.template, Answer::YesNo(verbalizer))
    }
}

/// The label set, which must take several labels per row.
fn multi_set(store: &Store, label_set_id: i64) -> Result<LabelSet> {
    let set = label_set(store, label_set_id)?;
    if !set.multi_label {
        return Err(Error::precondition(format!(
            "label set {:?} takes one label per row; turn on Several labels per row first",
            set.name
        )));
    }
    Ok(set)
}

/// What scores a multi-label set's rows: the yes/no question (or label words) on the loaded model,
/// or a finished multi-label tuning run.
enum LabelScorer<'a> {
    Prompt(Box<MultiLabelScorer<'a>>),
    /// The run and, per class of the label set, its column in the run's probabilities.
    Run(Box<crate::tune::TunedRun>, Vec<usize>),
}

impl LabelScorer<'_> {
    fn run(tuned: crate::tune::TunedRun, name: &str, set: &LabelSet) -> Result<Self> {
        let classes = tuned.classes();
        if tuned.thresholds().is_none() {
            return Err(Error::precondition(format!(
                "run {name:?} was trained with one label per row; score a multi-label set with a run tuned on it \
                 (this label set chosen on the Tune screen), or with the question"
            )));
        }
        let columns = set
            .classes
            .iter()
            .map(|c| classes.iter().position(|k| k == c))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                Error::precondition(format!(
                    "run {name:?} was trained on the labels {classes:?}, not label set {:?}'s {:?}; tune a run on it",
                    set.name, set.classes
                ))
            })?;
        Ok(LabelScorer::Run(Box::new(tuned), columns))
    }

    /// `scores[row][class]` in the label set's class order.
    fn scores(&self, rows: &[crate::data::Example]) -> Result<Vec<Vec<f32>>> {
        match self {
            LabelScorer::Prompt(s) => s.scores(rows, &mut |_, _| true),
            LabelScorer::Run(run, columns) => {
                // The file's own label column is not what the run scores.
                let rows: Vec<_> =
                    rows.iter().map(|r| crate::data::Example { label: None, ..r.clone() }).collect();
                let preds = run.classify(&rows, &mut |_, _| true)?;
                Ok(preds.iter().map(|p| columns.iter().map(|&c| p.probs[c].1).collect()).collect())
            }
        }
    }
}

/// The newest finished multi-label run of the label set.
fn latest_run(store: &Store, set: &LabelSet) -> Result<Option<i64>> {
    Ok(store
        .runs(set.id)?
        .into_iter()
        .find(|r| r.strategy == RUN_KIND && r.status == "finished")
        .map(|r| r.id))
}

/// A row's classes from its label value, ignoring parts that are no class (an imported value).
fn hot(set: &LabelSet, value: &str) -> Vec<bool> {
    let parts: Vec<&str> = value.split(crate::store::MULTI_SEPARATOR).map(str::trim).collect();
    set.classes.iter().map(|c| parts.contains(&c.as_str())).collect()
}

/// Per row, each class's score (p(yes)) and whether the row carries it.
type ScoresAndGold = (Vec<Vec<f32>>, Vec<Vec<bool>>);

/// The scores and classes of the labelled rows the run scored.
fn labelled_scores(store: &Store, set: &LabelSet, run: i64) -> Result<ScoresAndGold> {
    let (mut scores, mut gold) = (Vec::new(), Vec::new());
    for (row_id, example) in store.labelled_examples_by_row(set.id)? {
        if let Some(s) = store.suggestion(run, row_id)?
            && s.probs.len() == set.classes.len()
        {
            scores.push(s.probs.iter().map(|&p| p as f32).collect());
            gold.push(hot(set, example.label.as_deref().unwrap_or_default()));
        }
    }
    Ok((scores, gold))
}

/// A row's suggestion from its classes' p(yes) over the thresholds: the classes at or above their
/// threshold; confidence the probability of the least sure decision, margin the smallest distance
/// of a score from its threshold, entropy the sum of the decisions' binary entropies (the queue's
/// uncertainty orders read these).
fn suggestion(run_id: i64, row_id: i64, set: &LabelSet, probs: &[f32], thresholds: &[f32]) -> Suggestion {
    let on: Vec<bool> = probs.iter().zip(thresholds).map(|(p, t)| p >= t).collect();
    let sure = probs.iter().zip(&on).map(|(&p, &d)| f64::from(if d { p } else { 1.0 - p }));
    let margin =
        probs.iter().zip(thresholds).map(|(p, t)| f64::from((p - t).abs())).fold(f64::INFINITY, f64::min);
    let h = |p: f64| if p <= 0.0 || p >= 1.0 { 0.0 } else { -(p * p.ln() + (1.0 - p) * (1.0 - p).ln()) };
    Suggestion {
        run_id,
        row_id,
        predicted: set.multi_value(&on),
        confidence: sure.fold(1.0, f64::min),
        margin: if margin.is_finite() { margin } else { 0.0 },
        entropy: probs.iter().map(|&p| h(f64::from(p))).sum(),
        probs: probs.iter().map(|&p| f64::from(p)).collect(),
    }
}

fn view(store: &Store, set: &LabelSet) -> Result<MultiLabelView> {
    let settings = Settings::load(store, set)?;
    let run_id = latest_run(store, set)?;
    let thresholds: Vec<LabelThreshold> = set
        .classes
        .iter()
        .zip(&settings.thresholds)
        .map(|(label, t)| LabelThreshold {
            label: label.clone(),
            value: f64::from(t.value),
            f1: t.f1,
            positives: t.positives as i64,
        })
        .collect();
    let (scored_rows, metrics) = match run_id {
        Some(run) => {
            let scored = store.suggestion_count(run)?;
            let (scores, gold) = labelled_scores(store, set, run)?;
            let metrics = (!gold.is_empty()).then(|| {
                let t: Vec<Threshold> = settings
                    .values()
                    .into_iter()
                    .map(|value| Threshold { value, f1: 0.0, positives: 0 })
                    .collect();
                let m = multilabel::metrics(&multilabel::predict(&scores, &t), &gold, &set.classes);
                MultiLabelMetricsView {
                    rows: m.rows as i64,
                    micro_f1: m.micro_f1,
                    macro_f1: m.macro_f1,
                    subset_accuracy: m.subset_accuracy,
                    hamming_loss: m.hamming_loss,
                    per_label: m
                        .per_label
                        .into_iter()
                        .map(|(label, s)| LabelScores {
                            label,
                            precision: s.precision,
                            recall: s.recall,
                            f1: s.f1,
                            support: s.support as i64,
                        })
                        .collect(),
                }
            });
            (scored, metrics)
        }
        None => (0, None),
    };
    Ok(MultiLabelView {
        label_set_id: set.id,
        multi_label: set.multi_label,
        prompt: MultiLabelPromptSpec {
            template: settings.template,
            yes_words: settings.yes,
            no_words: settings.no,
        },
        thresholds,
        run_id,
        scored_rows,
        metrics,
    })
}

/// Fits the thresholds on the labelled rows `run` scored and keeps them; an error when there are none.
fn fit(store: &Store, set: &LabelSet, run: i64) -> Result<()> {
    let (scores, gold) = labelled_scores(store, set, run)?;
    if gold.is_empty() {
        return Err(Error::precondition(
            "no labelled row has scores to fit the thresholds on; label a few rows (number keys toggle labels), \
             then Fit thresholds",
        ));
    }
    let mut settings = Settings::load(store, set)?;
    settings.thresholds = multilabel::fit_thresholds(&scores, &gold)
        .into_iter()
        .map(|t| StoredThreshold {
            value: t.value,
            f1: (t.positives > 0).then_some(t.f1),
            positives: t.positives,
        })
        .collect();
    settings.save(store, set)
}

/// The checkboxes of the row on the card.
pub(super) fn multi_item(store: &Store, set: &LabelSet, item: &QueueItem) -> Result<MultiItemView> {
    let thresholds = Settings::load(store, set)?.values();
    let saved = match item.seen {
        Seen::Label(id) => Some(store.label(id)?.value),
        _ => None,
    };
    let suggested: Option<Vec<bool>> = item
        .suggestion
        .as_ref()
        .filter(|s| s.probs.len() == set.classes.len())
        .map(|s| s.probs.iter().zip(&thresholds).map(|(p, t)| *p >= f64::from(*t)).collect());
    let live = match &saved {
        Some(v) => Some(v.clone()),
        None => store.live_label(set.id, item.row.id)?.map(|(v, _)| v),
    };
    let checked = match (&live, &suggested) {
        (Some(v), _) => hot(set, v),
        (None, Some(s)) => s.clone(),
        (None, None) => vec![false; set.classes.len()],
    };
    Ok(MultiItemView {
        checked,
        suggested: suggested.unwrap_or_else(|| vec![false; set.classes.len()]),
        saved: saved.is_some(),
    })
}

/// Toggles class `class` on the row on screen and saves the row's classes (the row stays).
pub(super) fn toggle(store: &mut Store, session: &mut Session, item: &QueueItem, class: usize) -> Result<()> {
    let set = session.queue.label_set.clone();
    if class >= set.classes.len() {
        return Err(Error::invalid(format!(
            "there is no label {}; this label set has {} labels",
            class + 1,
            set.classes.len()
        )));
    }
    let mut checked = multi_item(store, &set, item)?.checked;
    checked[class] = !checked[class];
    session.set_labels(store, item, &set.multi_value(&checked), true)?;
    Ok(())
}

/// Enter: saves what the checkboxes show (unless saved already) and moves on.
pub(super) fn confirm(store: &mut Store, session: &mut Session, item: &QueueItem) -> Result<()> {
    let set = session.queue.label_set.clone();
    let shown = multi_item(store, &set, item)?;
    if shown.saved {
        session.keep(item);
    } else {
        session.set_labels(store, item, &set.multi_value(&shown.checked), false)?;
    }
    Ok(())
}

impl Studio {
    /// The label set's multi-label settings, thresholds and the metrics of its newest multi-label run.
    pub fn multi_label(&self, label_set_id: i64) -> Result<MultiLabelView> {
        self.with_store(|store| view(store, &label_set(store, label_set_id)?))
    }

    /// Lets the label set take several labels per row, or one again (refused while a row holds
    /// several). A labelling session on it starts again.
    pub fn set_multi_label(&self, label_set_id: i64, on: bool) -> Result<MultiLabelView> {
        let mut guard = lock(&self.project);
        let project = guard.as_mut().ok_or_else(no_project)?;
        let set = project.store.set_multi_label(label_set_id, on)?;
        if project.session.as_ref().is_some_and(|s| s.queue.label_set.id == set.id) {
            project.session = None;
        }
        view(&project.store, &set)
    }

    /// Keeps the question asked per label and its yes/no words (checked: one `{mask}`, `{label}`).
    pub fn set_multi_label_prompt(
        &self,
        label_set_id: i64,
        spec: &MultiLabelPromptSpec,
    ) -> Result<MultiLabelView> {
        self.with_store(|store| {
            let set = label_set(store, label_set_id)?;
            let mut settings = Settings::load(store, &set)?;
            settings.template = spec.template.trim().to_string();
            settings.yes = spec.yes_words.clone();
            settings.no = spec.no_words.clone();
            settings.prompt(&set)?;
            settings.save(store, &set)?;
            view(store, &set)
        })
    }

    /// Sets the thresholds by hand, one per class in the label set's order, each in [0, 1].
    pub fn set_multi_label_thresholds(&self, label_set_id: i64, values: &[f64]) -> Result<MultiLabelView> {
        self.with_store(|store| {
            let set = label_set(store, label_set_id)?;
            if values.len() != set.classes.len() {
                return Err(Error::invalid(format!(
                    "{} thresholds for {} labels; give one per label",
                    values.len(),
                    set.classes.len()
                )));
            }
            if let Some((label, v)) = set.classes.iter().zip(values).find(|(_, v)| !(0.0..=1.0).contains(*v))
            {
                return Err(Error::invalid(format!(
                    "the threshold of {label:?} is {v}; give one between 0 and 1"
                )));
            }
            let mut settings = Settings::load(store, &set)?;
            settings.thresholds = values
                .iter()
                .zip(&settings.thresholds)
                .map(|(&v, old)| {
                    // A value as shown (3 decimals) is the fitted one: it keeps its value and F1.
                    if (f64::from(old.value) - v).abs() < SHOWN_PRECISION {
                        *old
                    } else {
                        StoredThreshold { value: v as f32, f1: None, positives: old.positives }
                    }
                })
                .collect();
            settings.save(store, &set)?;
            view(store, &set)
        })
    }

    /// Fits every label's threshold again on the labelled rows the newest multi-label run scored.
    pub fn fit_multi_label_thresholds(&self, label_set_id: i64) -> Result<MultiLabelView> {
        self.with_store(|store| {
            let set = multi_set(store, label_set_id)?;
            let run = latest_run(store, &set)?
                .ok_or_else(|| Error::precondition("no multi-label scores yet; press Score labels first"))?;
            fit(store, &set, run)?;
            view(store, &set)
        })
    }

    /// Scores every row of the label set's dataset with the yes/no question per label and the
    /// loaded model, as a new run, on its own connection (labelling goes on meanwhile); then fits
    /// the thresholds on the labelled rows, when there are any. Cancel keeps what was scored, as a
    /// cancelled run.
    pub fn score_multi_label(&self, label_set_id: i64, progress: ProgressFn) -> Result<MultiLabelView> {
        self.score_multi_label_with(label_set_id, None, progress)
    }

    /// [`Self::score_multi_label`] with the finished multi-label tuning run `run` (its per-class
    /// probabilities; the run's own model) instead of the question, when given.
    pub fn score_multi_label_with(
        &self,
        label_set_id: i64,
        run: Option<&str>,
        progress: ProgressFn,
    ) -> Result<MultiLabelView> {
        let model = self.model()?;
        let mut store = Store::open(self.project_file()?)?;
        let set = multi_set(&store, label_set_id)?;
        let settings = Settings::load(&store, &set)?;
        let (scorer, config) = match run {
            None => {
                let prompt = settings.prompt(&set)?;
                let config = serde_json::json!({
                    "model": model.spec, "device": model.device.name(), "template": prompt.template,
                    "verbalizer": match &prompt.answer { Answer::YesNo(v) | Answer::LabelWords(v) => v },
                    "labels": set.classes,
                });
                (
                    LabelScorer::Prompt(Box::new(MultiLabelScorer::new(&model.plm, prompt, SCORE_BATCH)?)),
                    config,
                )
            }
            Some(name) => {
                let name = super::tuning::valid_name(name)?;
                let dir = self.runs_dir()?.join(name);
                let (_, tuned) = crate::tune::TunedRun::load(&dir, model.plm.device())?;
                let config = serde_json::json!({ "tuned_run": name, "labels": set.classes });
                (LabelScorer::run(tuned, name, &set)?, config)
            }
        };
        let run_id = store.start_run(RUN_KIND, &config, 0, Some(set.id))?;
        let thresholds = settings.values();
        let total = store.datasets()?.into_iter().find(|d| d.id == set.dataset_id).map_or(0, |d| d.row_count);
        let result = (|| -> Result<()> {
            let model_id = store.record_model(&model.spec, model.plm.dir(), model.plm.family().name())?;
            store.set_run_inputs(run_id, Some(model_id), None, None)?;
            let mut done = 0i64;
            loop {
                let rows = store.rows(set.dataset_id, done, SCORE_BATCH as i64)?;
                if rows.is_empty() {
                    return Ok(());
                }
                let examples: Vec<_> = rows.iter().map(|r| r.example.clone()).collect();
                let scores = scorer.scores(&examples)?;
                let suggestions: Vec<Suggestion> = rows
                    .iter()
                    .zip(&scores)
                    .map(|(r, s)| suggestion(run_id, r.id, &set, s, &thresholds))
                    .collect();
                store.put_suggestions(&suggestions)?;
                done += rows.len() as i64;
                if !progress(Progress::new("score", done as u64, Some(total.max(done) as u64))) {
                    return Err(Error::Cancelled);
                }
            }
        })();
        match result {
            Ok(()) => store.finish_run(run_id, RunStatus::Finished, None)?,
            Err(Error::Cancelled) => {
                store.finish_run(run_id, RunStatus::Cancelled, None)?;
                return Err(Error::Cancelled);
            }
            Err(e) => {
                store.finish_run(run_id, RunStatus::Failed, Some(&e.to_string()))?;
                return Err(e);
            }
        }
        if !store.labelled_rows(set.id)?.is_empty() {
            fit(&store, &set, run_id)?;
        }
        view(&store, &set)
    }
}
