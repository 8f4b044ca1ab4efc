//! Template ensembles in the prompt studio: the saved prompt versions an ensemble can take, fitting
//! one on a label set's labelled rows with the loaded model (a job: progress, cancel), the view that
//! sets its members and every weighting side by side with the rows the members disagree on, saving,
//! listing and deleting saved ensembles, and scoring rows for labelling with one
//! ([`crate::label::score_with_ensemble`]).

use std::collections::HashSet;

use super::Studio;
use super::data::label_set;
use super::labelling::run_view;
use super::views::*;
use crate::ensemble::{self, Ensemble, Member, Weighting};
use crate::error::{Error, Result};
use crate::store::{Saved, SavedEnsemble, Store};
use crate::verbalizer::Verbalizer;

/// Rows scored per batch while fitting.
const FIT_BATCH: usize = 32;
/// The seed of the learned weighting's folds.
const FIT_SEED: u64 = 42;
/// Disagreeing rows a view lists (the count says how many there are in all).
const MAX_DISAGREEMENTS: usize = 200;

/// How a member made from template `t` and verbalizer `v` is named.
fn version_label(t: &Saved, v: &Saved) -> String {
    if t.version == v.version {
        format!("{} v{}", t.name, t.version)
    } else {
        format!("{} v{} (words v{})", t.name, t.version, v.version)
    }
}

fn saved_verbalizer(v: &Saved) -> Result<Verbalizer> {
    serde_json::from_str(&v.content).map_err(|e| {
        Error::invalid(format!(
            "saved verbalizer {:?} version {} cannot be read ({e}); save the prompt again",
            v.name, v.version
        ))
    })
}

/// Every saved template version paired with the verbalizer of the same name that was current when
/// it was saved (the newest one saved no later than the template's next version — a prompt's Save
/// writes its template first —, or the newest of all for its latest version): the prompt versions the studio's Save made. Templates without a verbalizer
/// of their name, or whose verbalizer cannot be read, are left out (they cannot be members).
pub(super) fn prompt_versions(store: &Store) -> Result<Vec<PromptVersion>> {
    let templates = store.templates()?;
    let verbalizers = store.verbalizers()?;
    let mut out = Vec::new();
    for (i, t) in templates.iter().enumerate() {
        let next = templates.get(i + 1).filter(|n| n.name == t.name);
        let Some(v) = verbalizers
            .iter()
            .rfind(|v| v.name == t.name && next.is_none_or(|n| v.created_at <= n.created_at))
        else {
            continue;
        };
        let Ok(verbalizer) = saved_verbalizer(v) else { continue };
        out.push(PromptVersion {
            template_id: t.id,
            verbalizer_id: v.id,
            name: t.name.clone(),
            version: t.version,
            verbalizer_version: v.version,
            label: version_label(t, v),
            template: t.content.clone(),
            classes: verbalizer.class_names().iter().map(|c| c.to_string()).collect(),
            chat: t.chat.as_ref().is_some_and(|c| c.is_on()),
        });
    }
    Ok(out)
}

/// The member a saved template and verbalizer version make.
fn member(templates: &[Saved], verbalizers: &[Saved], r: &MemberRef, calibrate: bool) -> Result<Member> {
    let gone = |what: &str, id: i64| {
        Error::not_found(format!(
            "saved {what} {id} is not in this project (was the project changed?); pick the prompt versions again"
        ))
    };
    let t =
        templates.iter().find(|t| t.id == r.template_id).ok_or_else(|| gone("template", r.template_id))?;
    let v = verbalizers
        .iter()
        .find(|v| v.id == r.verbalizer_id)
        .ok_or_else(|| gone("verbalizer", r.verbalizer_id))?;
    Ok(Member {
        name: version_label(t, v),
        template: t.content.clone(),
        verbalizer: saved_verbalizer(v)?,
        calibrate,
        chat: t.chat.clone().filter(|c| c.is_on()),
    })
}

/// The learned weighting's requirement, checked before any row is scored.
fn check_learnable(labels: &[usize], classes: usize) -> Result<()> {
    let folds = ensemble::DEFAULT_FOLDS;
    let mut per_class = vec![0usize; classes];
    labels.iter().for_each(|&l| per_class[l] += 1);
    if labels.len() < folds || per_class.contains(&1) {
        return Err(Error::precondition(format!(
            "the learned weighting needs at least {folds} labelled rows with 2 of each labelled class (this label \
             set has {} labelled rows: {}); label more rows, or use the uniform or dev accuracy weighting",
            labels.len(),
            per_class.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(" / ")
        )));
    }
    Ok(())
}

/// An ensemble as the studio shows it (without disagreements: a fit adds them).
fn ensemble_view(e: &Ensemble, saved: Option<&SavedEnsemble>) -> Result<EnsembleView> {
    let fit = e.fit.as_ref();
    let members = e
        .members
        .iter()
        .enumerate()
        .map(|(k, m)| EnsembleMemberView {
            name: m.name.clone(),
            template: m.template.clone(),
            accuracy: fit.and_then(|f| f.members.get(k).copied()),
            weight: e.weights[k],
        })
        .collect();
    let weightings: Vec<WeightingView> = fit
        .map(|f| {
            f.weightings
                .iter()
                .map(|w| WeightingView {
                    weighting: w.weighting,
                    accuracy: w.accuracy,
                    macro_f1: w.macro_f1,
                    cross_validated: w.cross_validated,
                    chosen: w.weighting == e.weighting,
                })
                .collect()
        })
        .unwrap_or_default();
    let note = (fit.is_some() && !weightings.iter().any(|w| w.weighting == Weighting::Learned)).then(|| {
        format!(
            "learned was not measured: it is cross-validated over {} folds and needs at least {} labelled rows \
             with 2 of each class; label more rows to compare it",
            ensemble::DEFAULT_FOLDS,
            ensemble::DEFAULT_FOLDS
        )
    });
    Ok(EnsembleView {
        id: saved.map(|s| s.id),
        name: saved.map(|s| s.name.clone()),
        version: saved.map(|s| s.version),
        created_at: saved.map(|s| s.created_at.clone()),
        classes: e.classes.clone(),
        weighting: e.weighting,
        rows: fit.map_or(0, |f| f.rows as i64),
        members,
        weightings,
        note,
        disagreements: Vec::new(),
        disagreement_count: None,
        json: serde_json::to_string(e).map_err(|err| Error::internal(format!("ensemble to JSON: {err}")))?,
    })
}

impl Studio {
    /// The saved prompt versions an ensemble can take as members.
    pub fn prompt_versions(&self) -> Result<Vec<PromptVersion>> {
        self.with_store(|store| prompt_versions(store))
    }

    /// Fits an ensemble of saved prompt versions on the label set's labelled rows with the loaded
    /// model: every member classifies them (progress counts prompt-rows; cancelling stops it), every
    /// weighting is measured and the chosen one kept. Nothing is saved; the view's `json` goes to
    /// [`Studio::save_ensemble`].
    pub fn fit_ensemble(&self, request: &EnsembleRequest, progress: ProgressFn) -> Result<EnsembleView> {
        if request.members.len() < 2 {
            return Err(Error::precondition(
                "an ensemble needs two or more prompt versions; tick at least two saved prompts (save more on the \
                 Save card)",
            ));
        }
        if request.members.iter().collect::<HashSet<_>>().len() != request.members.len() {
            return Err(Error::invalid("the same prompt version is ticked twice; tick each version once"));
        }
        let model = self.model()?;
        let store = Store::open(self.project_file()?)?;
        let set = label_set(&store, request.label_set_id)?;
        let (templates, verbalizers) = (store.templates()?, store.verbalizers()?);
        let members = request
            .members
            .iter()
            .map(|r| member(&templates, &verbalizers, r, request.calibrate))
            .collect::<Result<Vec<_>>>()?;
        let uniform = Ensemble::uniform(set.classes.clone(), members.clone())?;
        let ids = store.labelled_rows(set.id)?;
        if ids.is_empty() {
            return Err(Error::precondition(format!(
                "label set {:?} has no labelled rows yet; label some rows (or import a labelled file) to fit an \
                 ensemble",
                set.name
            )));
        }
        let rows = ids
            .iter()
            .map(|&id| {
                let mut ex = store.row(id)?.example;
                ex.label = store.live_label(set.id, id)?.map(|(v, _)| v);
                Ok(ex)
            })
            .collect::<Result<Vec<_>>>()?;
        let labels = ensemble::label_indices(&rows, &set.classes)?;
        if request.weighting == Weighting::Learned {
            check_learnable(&labels, set.classes.len())?;
        }
        let classifier = ensemble::EnsembleClassifier::new(&model.plm, uniform, FIT_BATCH)?;
        let out = classifier.classify(&rows, &mut |done, total| {
            progress(Progress::new("ensemble", done as u64, Some(total as u64)))
        })?;
        let scores = out.scores(&set.classes);
        let fitted = Ensemble::fit(
            set.classes.clone(),
            members,
            &scores,
            &labels,
            request.weighting,
            ensemble::DEFAULT_FOLDS,
            FIT_SEED,
        )?;
        let mut view = ensemble_view(&fitted, None)?;
        let disagreements = out.disagreements();
        view.disagreement_count = Some(disagreements.len() as i64);
        view.disagreements = disagreements
            .into_iter()
            .take(MAX_DISAGREEMENTS)
            .map(|i| {
                let row = &rows[i];
                let best = crate::verbalizer::argmax(&fitted.combine(&scores, i));
                DisagreementView {
                    row_id: ids[i],
                    text: match &row.text_b {
                        Some(b) if !b.is_empty() => format!("{} / {b}", row.text_a),
                        _ => row.text_a.clone(),
                    },
                    label: row.label.clone(),
                    members: out.members.iter().map(|m| m[i].predicted.clone()).collect(),
                    ensemble: fitted.classes[best].clone(),
                }
            })
            .collect();
        Ok(view)
    }

    /// Saves a fitted ensemble (a view's `json`) under `name`: a new version when it changed.
    pub fn save_ensemble(&self, name: &str, json: &str) -> Result<EnsembleView> {
        let ensemble: Ensemble = serde_json::from_str(json).map_err(|e| {
            Error::invalid(format!("the ensemble to save cannot be read ({e}); fit it again, then save"))
        })?;
        self.with_store(|store| {
            let saved = store.save_ensemble(name, &ensemble)?;
            ensemble_view(&saved.ensemble, Some(&saved))
        })
    }

    /// Every saved ensemble version, by name then version.
    pub fn ensembles(&self) -> Result<Vec<EnsembleView>> {
        self.with_store(|store| {
            store.ensembles()?.iter().map(|s| ensemble_view(&s.ensemble, Some(s))).collect()
        })
    }

    /// Deletes a saved ensemble version; returns the ones left.
    pub fn delete_ensemble(&self, id: i64) -> Result<Vec<EnsembleView>> {
        self.with_store(|store| store.delete_ensemble(id))?;
        self.ensembles()
    }

    /// Scores every row of the label set still to label with a saved ensemble and the loaded model,
    /// as a new run on its own connection: the combined probabilities are the run's suggestions,
    /// which the labelling queue and its live probabilities read.
    pub fn score_rows_with_ensemble(
        &self,
        label_set_id: i64,
        ensemble_id: i64,
        progress: ProgressFn,
    ) -> Result<RunView> {
        let model = self.model()?;
        let mut store = Store::open(self.project_file()?)?;
        let set = label_set(&store, label_set_id)?;
        let saved = store.ensemble(ensemble_id)?;
        let run_id = crate::label::score_with_ensemble(
            &mut store,
            &model.plm,
            (&model.spec, model.device.name()),
            &set,
            &saved,
            &mut |p| progress(Progress::new("score", p.scored as u64, Some(p.total as u64))),
        )?;
        run_view(&store, run_id)
    }

    /// The live probabilities of a saved ensemble on a few rows (the prompt studio's preview):
    /// every member classifies them, and the combined probabilities come with each member's
    /// prediction. The label shown is the row's in a label set with the ensemble's classes.
    pub fn ensemble_zero_shot(
        &self,
        ensemble_id: i64,
        row_ids: &[i64],
    ) -> Result<Vec<EnsemblePredictionView>> {
        let model = self.model()?;
        let (saved, ids, rows) = self.with_store(|store| {
            let saved = store.ensemble(ensemble_id)?;
            let names: Vec<&str> = saved.ensemble.classes.iter().map(String::as_str).collect();
            let set = super::prompt::label_set_with_classes(store, row_ids, &names)?;
            let (ids, rows): (Vec<i64>, Vec<crate::data::Example>) =
                super::prompt::examples(store, row_ids, set.map(|s| s.id))?.into_iter().unzip();
            Ok((saved, ids, rows))
        })?;
        let names: Vec<String> = saved.ensemble.members.iter().map(|m| m.name.clone()).collect();
        let classifier = ensemble::EnsembleClassifier::new(&model.plm, saved.ensemble, FIT_BATCH)?;
        let out = classifier.classify(&rows, &mut |_, _| true)?;
        Ok(ids
            .into_iter()
            .zip(&out.combined)
            .enumerate()
            .map(|(i, (row_id, p))| EnsemblePredictionView {
                combined: PredictionView {
                    row_id,
                    predicted: p.predicted.clone(),
                    probs: super::prompt::class_probs(&p.probs),
                    label: p.label.clone(),
                },
                members: names
                    .iter()
                    .zip(&out.members)
                    .map(|(name, m)| {
                        let m = &m[i];
                        let prob = m.probs.iter().find(|(c, _)| *c == m.predicted).map_or(0.0, |(_, v)| *v);
                        MemberPredictionView {
                            name: name.clone(),
                            predicted: m.predicted.clone(),
                            prob: f64::from(prob),
                        }
                    })
                    .collect(),
            })
            .collect())
    }

    /// Writes a saved ensemble as the file `cloze classify --ensemble` reads (the save dialog
    /// asked before replacing a file); the path written.
    pub fn export_ensemble(&self, ensemble_id: i64, path: &str) -> Result<String> {
        let path = std::path::Path::new(path.trim());
        if path.as_os_str().is_empty() {
            return Err(Error::invalid("give the file to write, e.g. ~/sentiment-ensemble.json"));
        }
        let project = self.project_file()?;
        let saved = self.with_store(|store| store.ensemble(ensemble_id))?;
        saved.ensemble.export(path, &[&project], crate::files::Replace::Allow)?;
        Ok(path.display().to_string())
    }
}
