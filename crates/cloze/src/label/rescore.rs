//! Re-scoring: after a template change or a tuning run, the current prompt's suggestions for the
//! rows still to label are recomputed in batches, each written in its own short transaction, so the
//! labelling loop (on its own connection to the same file) never waits on it and the queue reorders
//! as the suggestions arrive.
//!
//! [`ScoringRun`] is the whole workflow the CLI's `cloze label --model` and the app's "Score rows"
//! share: record the run, link it to the exact model, template and verbalizer, build the classifier
//! and re-score; [`rescore`] is its last step, for a caller that has a classifier already. A
//! template with `{demo}` is filled as `cloze classify` fills it (the default demonstrations, drawn
//! from the label set's labelled rows; the rows scored are the unlabelled ones, so never themselves).

use crate::classify::{Classifier, ClassifyOptions};
use crate::data::Example;
use crate::demo::{self, DemoConfig, Demonstrations};
use crate::ensemble::{Ensemble, EnsembleClassifier};
use crate::error::{Error, Result};
use crate::plm::Plm;
use crate::store::{LabelSet, RunStatus, SavedEnsemble, Store, Suggestion};
use crate::template::Template;
use crate::verbalizer::Verbalizer;

/// Rows scored per batch (and written per transaction) by a [`ScoringRun`].
pub const SCORE_BATCH: usize = 32;

/// Progress of a re-scoring run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RescoreProgress {
    pub run_id: i64,
    pub scored: usize,
    pub total: usize,
}

/// For each class of the label set, its position among the verbalizer's classes; an error when the
/// two do not name the same classes.
fn class_order(verbalizer: &Verbalizer, label_set: &LabelSet) -> Result<Vec<usize>> {
    let verbalizer_classes = verbalizer.class_names();
    label_set
        .classes
        .iter()
        .map(|c| {
            verbalizer_classes.iter().position(|v| v == c).ok_or_else(|| {
                Error::invalid(format!(
                    "the verbalizer's classes ({}) are not the label set's ({}); name one class per label",
                    verbalizer_classes.join(", "),
                    label_set.classes.join(", ")
                ))
            })
        })
        .collect()
}

/// A prompt to score a label set's rows with.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringPrompt {
    pub template: Template,
    /// Its classes must be the label set's.
    pub verbalizer: Verbalizer,
    /// Contextual calibration: the run is `calibrated` with it, `zero-shot` without.
    pub calibrate: bool,
    /// The model's chat template around the template, when asked.
    pub chat: crate::template::chat::Chat,
}

/// A scoring run recorded in a project: [`start`](Self::start) checks the prompt and records the
/// run (so a labelling queue can follow it from its first batch, while the model still loads);
/// [`score`](Self::score) scores the rows still to label, on any connection to the project.
#[derive(Debug, Clone)]
pub struct ScoringRun {
    pub run_id: i64,
    label_set: LabelSet,
    prompt: ScoringPrompt,
    model: String,
}

impl ScoringRun {
    /// Checks the prompt against the label set and records a running run. `model` is the folder or
    /// Hub id the model comes from and `device` where it runs, both kept in the run's config.
    pub fn start(
        store: &Store,
        label_set: &LabelSet,
        prompt: ScoringPrompt,
        model: &str,
        device: &str,
    ) -> Result<Self> {
        prompt.template.check_classification()?;
        class_order(&prompt.verbalizer, label_set)?;
        let kind = if prompt.calibrate { "calibrated" } else { "zero-shot" };
        let config = serde_json::json!({
            "model": model, "template": prompt.template.to_string(), "verbalizer": prompt.verbalizer,
            "calibrate": prompt.calibrate, "device": device,
        });
        let run_id = store.start_run(kind, &config, 0, Some(label_set.id))?;
        Ok(Self { run_id, label_set: label_set.clone(), prompt, model: model.to_string() })
    }

    /// Links the run to the exact model (Hub commit, or folder hash), and to the template and the
    /// verbalizer saved under the label set's name; then scores every row still to label with
    /// `plm`, in batches of [`SCORE_BATCH`], as [`rescore`] does. The run ends finished, cancelled
    /// (`progress` returned `false`) or failed.
    pub fn score(
        self,
        store: &mut Store,
        plm: &Plm,
        progress: &mut dyn FnMut(RescoreProgress) -> bool,
    ) -> Result<()> {
        let setup = (|| -> Result<(Classifier<'_>, Option<Demonstrations>)> {
            let model_id = store.record_model(&self.model, plm.dir(), plm.family().name())?;
            let template_id = store
                .save_template_with_chat(&self.label_set.name, &self.prompt.template, &self.prompt.chat)?
                .id;
            let verbalizer_id = store.save_verbalizer(&self.label_set.name, &self.prompt.verbalizer)?.id;
            store.set_run_inputs(self.run_id, Some(model_id), Some(template_id), Some(verbalizer_id))?;
            let options = ClassifyOptions { calibrate: self.prompt.calibrate, ..Default::default() };
            let demos = if demo::uses_demos(&self.prompt.template) {
                let pool = store.labelled_examples(self.label_set.id)?;
                Some(Demonstrations::new(
                    plm,
                    &self.prompt.template,
                    &self.prompt.verbalizer,
                    &pool,
                    DemoConfig::default(),
                    demo::DEFAULT_SEED,
                )?)
            } else {
                None
            };
            let template = self.prompt.chat.apply(plm, &self.prompt.template)?;
            Ok((Classifier::new(plm, template, &self.prompt.verbalizer, options)?, demos))
        })();
        match setup {
            Ok((classifier, demos)) => {
                let demos = demos.as_ref().map(|d| (plm, d));
                rescore_rows(store, &classifier, demos, &self.label_set, self.run_id, SCORE_BATCH, progress)
            }
            Err(e) => self.fail(store, e),
        }
    }

    /// Records that the run failed before it could score (say, the model did not load); returns `error`.
    pub fn fail(self, store: &Store, error: Error) -> Result<()> {
        failed(store, self.run_id, error)
    }
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
    rescore_rows(store, classifier, None, label_set, run_id, batch_size, progress)
}

/// [`rescore`], each batch's `{demo}` filled by `demos` (with its model) when given.
fn rescore_rows(
    store: &mut Store,
    classifier: &Classifier,
    demos: Option<(&Plm, &Demonstrations)>,
    label_set: &LabelSet,
    run_id: i64,
    batch_size: usize,
    progress: &mut dyn FnMut(RescoreProgress) -> bool,
) -> Result<()> {
    let mapping = match class_order(&classifier.verbalizer().verbalizer, label_set) {
        Ok(m) => m,
        Err(e) => return failed(store, run_id, e),
    };
    let mut score = |rows: &mut Vec<Example>| -> Result<Vec<Vec<f64>>> {
        if let Some((plm, demos)) = demos {
            demos.fill(plm, rows)?;
        }
        let preds = classifier.classify(rows, &mut |_, _| true)?;
        Ok(preds.iter().map(|p| mapping.iter().map(|&i| p.probs[i].1 as f64).collect()).collect())
    };
    score_batches(store, &mut score, label_set, run_id, batch_size, progress)
}

/// Scores a batch of rows: each row's class probabilities in the label set's order.
type BatchScorer<'a> = dyn FnMut(&mut Vec<Example>) -> Result<Vec<Vec<f64>>> + 'a;

/// Records that run `run_id` failed with `error`; returns `error`.
fn failed<T>(store: &Store, run_id: i64, error: Error) -> Result<T> {
    store.finish_run(run_id, RunStatus::Failed, Some(&error.to_string()))?;
    Err(error)
}

/// Scores every row of the label set's dataset still to label in batches with `score` (each
/// row's probabilities in the label set's class order), each batch's suggestions written in one
/// transaction as run `run_id`; the run is marked finished, cancelled or failed.
fn score_batches(
    store: &mut Store,
    score: &mut BatchScorer<'_>,
    label_set: &LabelSet,
    run_id: i64,
    batch_size: usize,
    progress: &mut dyn FnMut(RescoreProgress) -> bool,
) -> Result<()> {
    let mut scored = 0;
    let result = (|| -> Result<()> {
        let ids = store.unlabelled_rows(label_set)?;
        for chunk in ids.chunks(batch_size.max(1)) {
            let mut rows =
                chunk.iter().map(|&id| store.row(id).map(|r| r.example)).collect::<Result<Vec<_>>>()?;
            let probs = score(&mut rows)?;
            let suggestions = chunk
                .iter()
                .zip(&probs)
                .map(|(&row_id, p)| Suggestion::from_probs(run_id, row_id, &label_set.classes, p))
                .collect::<Result<Vec<_>>>()?;
            store.put_suggestions(&suggestions)?;
            scored += chunk.len();
            // Cancelling after the last batch changes nothing: the run is finished.
            if !progress(RescoreProgress { run_id, scored, total: ids.len() }) && scored < ids.len() {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => store.finish_run(run_id, RunStatus::Finished, None),
        Err(Error::Cancelled) => store.finish_run(run_id, RunStatus::Cancelled, None),
        Err(e) => failed(store, run_id, e),
    }
}

/// An ensemble scoring run recorded in a project, as [`ScoringRun`] is for one prompt:
/// [`start`](Self::start) checks the ensemble's classes against the label set and records the run
/// (`ensemble`), so a labelling queue can follow it from its first batch;
/// [`score`](Self::score) has every member classify each batch of the rows still to label, and the
/// ensemble's combined probabilities become the run's suggestions.
#[derive(Debug, Clone)]
pub struct EnsembleScoringRun {
    pub run_id: i64,
    label_set: LabelSet,
    ensemble: Ensemble,
    /// For each class of the label set, its position among the ensemble's classes.
    mapping: Vec<usize>,
    model: String,
}

impl EnsembleScoringRun {
    /// Checks the ensemble against the label set and records a running run. `name` and `version`
    /// say where the ensemble comes from (a saved ensemble's name and version, or a file's name);
    /// `model` and `device` are kept in the run's config.
    pub fn start(
        store: &Store,
        label_set: &LabelSet,
        (name, version): (&str, Option<i64>),
        ensemble: Ensemble,
        (model, device): (&str, &str),
    ) -> Result<Self> {
        ensemble.check()?;
        let mismatch = || {
            Error::invalid(format!(
                "ensemble {name:?} has the classes {}, label set {:?} has {}; score a label set with the ensemble's \
                 classes, or fit an ensemble on this one",
                ensemble.classes.join(", "),
                label_set.name,
                label_set.classes.join(", ")
            ))
        };
        let mapping: Vec<usize> = label_set
            .classes
            .iter()
            .map(|c| ensemble.classes.iter().position(|e| e == c).ok_or_else(mismatch))
            .collect::<Result<_>>()?;
        if mapping.len() != ensemble.classes.len() {
            return Err(mismatch());
        }
        let members: Vec<&str> = ensemble.members.iter().map(|m| m.name.as_str()).collect();
        let shown = match version {
            Some(v) => format!("{name} v{v}"),
            None => name.to_string(),
        };
        let config = serde_json::json!({
            "model": model, "device": device,
            "template": format!("ensemble {shown} ({}): {}", ensemble.weighting.label(), members.join(" + ")),
            "ensemble": name, "ensemble_version": version, "weighting": ensemble.weighting,
        });
        let run_id = store.start_run("ensemble", &config, 0, Some(label_set.id))?;
        Ok(Self { run_id, label_set: label_set.clone(), ensemble, mapping, model: model.to_string() })
    }

    /// Links the run to the exact model and scores every row still to label with `plm`, in batches
    /// of [`SCORE_BATCH`]. The run ends finished, cancelled (`progress` returned `false`) or failed.
    pub fn score(
        self,
        store: &mut Store,
        plm: &Plm,
        progress: &mut dyn FnMut(RescoreProgress) -> bool,
    ) -> Result<()> {
        let setup = (|| -> Result<EnsembleClassifier<'_>> {
            let model_id = store.record_model(&self.model, plm.dir(), plm.family().name())?;
            store.set_run_inputs(self.run_id, Some(model_id), None, None)?;
            EnsembleClassifier::new(plm, self.ensemble.clone(), SCORE_BATCH)
        })();
        let classifier = match setup {
            Ok(c) => c,
            Err(e) => return failed(store, self.run_id, e),
        };
        let mapping = &self.mapping;
        let mut score = |rows: &mut Vec<Example>| -> Result<Vec<Vec<f64>>> {
            let out = classifier.classify(rows, &mut |_, _| true)?;
            Ok(out.combined.iter().map(|p| mapping.iter().map(|&i| p.probs[i].1 as f64).collect()).collect())
        };
        score_batches(store, &mut score, &self.label_set, self.run_id, SCORE_BATCH, progress)
    }

    /// Records that the run failed before it could score (say, the model did not load); returns `error`.
    pub fn fail(self, store: &Store, error: Error) -> Result<()> {
        failed(store, self.run_id, error)
    }
}

/// Scores the label set's rows still to label with a saved ensemble as a new run (`ensemble`):
/// [`EnsembleScoringRun`] started and scored at once, so the labelling queue and its live
/// probabilities follow the ensemble. Returns the run's id (finished, cancelled or failed).
pub fn score_with_ensemble(
    store: &mut Store,
    plm: &Plm,
    model: (&str, &str),
    label_set: &LabelSet,
    saved: &SavedEnsemble,
    progress: &mut dyn FnMut(RescoreProgress) -> bool,
) -> Result<i64> {
    let run = EnsembleScoringRun::start(
        store,
        label_set,
        (&saved.name, Some(saved.version)),
        saved.ensemble.clone(),
        model,
    )?;
    let run_id = run.run_id;
    run.score(store, plm, progress)?;
    Ok(run_id)
}
