//! Tuning from the app: start a run on the project's labelled rows with the loaded model, follow it
//! (metrics and charts drawn from `metrics.jsonl` while it runs), cancel and resume it, list runs and
//! compare two. Runs live beside the project file, in `<project>.runs/<name>/`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Studio;
use super::data::label_set;
use super::views::{Progress, ProgressFn};
use crate::error::{Error, Result};
use crate::export::report::{RunCurves, confusion_svg};
use crate::plm::Precision;
use crate::tune::{
    self, DataSource, EvalMetrics, Hyper, RunDir, SoftPlacement, TuneConfig, TuneEvent, TuneStrategy,
    VerbalizerKind,
};
use crate::verbalizer::Verbalizer;

#[cfg(feature = "specta")]
use specta::Type;

/// What the tuning screen sends to start (or resume) a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct TuneRequest {
    /// The run's folder name (letters, digits, `-`, `_`).
    pub name: String,
    pub strategy: TuneStrategy,
    pub template: String,
    /// The model's chat template around the template, when asked.
    #[serde(default)]
    pub chat: crate::template::chat::Chat,
    pub verbalizer: Verbalizer,
    pub verbalizer_kind: VerbalizerKind,
    /// Where the soft vectors stand: the template's place, or before the input as PEFT puts them
    /// (so the run exports as a PEFT adapter).
    #[serde(default)]
    pub soft_placement: SoftPlacement,
    pub label_set_id: i64,
    /// Few-shot: k rows per class (`None` = every labelled row).
    pub shots: Option<u32>,
    /// Fraction of the labelled rows held out as dev rows.
    pub dev_fraction: f64,
    pub hyper: Hyper,
    /// The linear layers' precision while training and evaluating, kept in the run's config.json
    /// (the Tune form offers the loaded model's).
    #[serde(default)]
    pub precision: Precision,
    /// Continue the interrupted run of this name.
    pub resume: bool,
    /// The estimate made for these settings before starting (the Tune form's Estimate), kept in
    /// the run folder beside what the run took.
    #[serde(default)]
    pub estimate: Option<tune::Estimate>,
    /// "Repeat over seeds": run the request once per seed, each an ordinary run
    /// `<name>-seed-<N>`, recorded as a group (see [`super::seeds`]); `None` = one run.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// Distillation (PET): a saved template ensemble labels rows still to label with soft labels,
    /// and the run trains on them beside the human labels.
    #[serde(default)]
    pub distill: Option<DistillRequest>,
    /// "Recommended" (`cloze tune --strategy auto`): `strategy` is the one the form showed as
    /// recommended; the studio decides again ([`Studio::recommend_tuning`]), keeps the choice and
    /// its reasons in the run's config (`auto`), and refuses to train when the choice is another
    /// strategy now (the form's hyperparameters would be another strategy's). `None`: `strategy`
    /// as chosen.
    #[serde(default)]
    pub recommended: Option<Recommended>,
}

/// The Tune form's "Recommended" strategy and its optional time budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct Recommended {
    /// The time the run may take, in seconds: the recommended strategy's run is estimated, and over
    /// the budget the probe is recommended instead. `None`: no budget (nothing is estimated).
    pub budget_seconds: Option<f64>,
}

/// The Tune form's "Distil a template ensemble".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DistillRequest {
    /// The saved ensemble (its id in the project) that labels the rows.
    pub ensemble_id: i64,
    /// Soft labels are the ensemble's probabilities `p^(1/T)`, normalised (PET uses 2).
    pub temperature: f64,
    /// At most this many rows still to label are pseudo-labelled, drawn with the run's seed
    /// (`None`: every one).
    pub max_rows: Option<u32>,
}

/// One run in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RunSummaryView {
    pub name: String,
    pub strategy: TuneStrategy,
    pub model: String,
    /// The precision it was trained in (from its config.json; f32 for runs that name none).
    pub precision: Precision,
    /// finished, interrupted (can resume) or empty.
    pub status: String,
    pub steps: u32,
    pub dev_accuracy: Option<f64>,
    pub dev_macro_f1: Option<f64>,
    /// A multi-label run (one sigmoid per class; its rows' labels are sets).
    pub multi_label: bool,
    /// A finished multi-label run's dev micro-F1 (its accuracy is `None`).
    pub dev_micro_f1: Option<f64>,
    pub seconds: Option<f64>,
}

/// A key of two runs' configs that differs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct ConfigDiff {
    pub key: String,
    pub a: String,
    pub b: String,
}

/// A dev example for the best / worst lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct DevExampleView {
    pub text: String,
    pub label: String,
    pub predicted: String,
    pub p_label: f64,
}

/// Everything the screen shows about one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(Type))]
pub struct RunDetailsView {
    pub summary: RunSummaryView,
    /// The config as pretty JSON.
    pub config_json: String,
    pub loss_svg: String,
    pub accuracy_svg: String,
    pub confusion_svg: Option<String>,
    pub last_eval: Option<EvalMetrics>,
    pub best: Vec<DevExampleView>,
    pub worst: Vec<DevExampleView>,
    pub total_steps: Option<u32>,
    pub last_step: u32,
    pub last_loss: Option<f64>,
    /// The cost predicted before the run started, when the Tune form made one.
    pub estimate: Option<tune::Estimate>,
    /// What the run took: wall time in seconds and the process's peak memory in bytes (finished
    /// runs).
    pub wall_seconds: Option<f64>,
    pub peak_bytes: Option<u64>,
    /// A recommended run's choice and why (its config's `auto`); `None` for a strategy chosen by
    /// hand.
    pub auto: Option<tune::auto::AutoChoice>,
    /// The update whose weights a finished run kept (best on the dev rows); 0 when no update scored
    /// higher than the starting weights.
    pub best_step: Option<u32>,
}

/// A run's progress from its events: one [`Progress`] per update, evaluation and notice.
#[derive(Debug, Default)]
pub(super) struct RunProgress {
    total: Option<u64>,
}

impl RunProgress {
    /// What `e` says of the run's progress; `None` for the end (the job's answer says it).
    pub(super) fn of(&mut self, e: &TuneEvent) -> Option<Progress> {
        let total = self.total;
        Some(match e {
            TuneEvent::Started { total_steps, .. } => {
                self.total = Some(u64::from(*total_steps));
                Progress::new("tune", 0, self.total)
            }
            TuneEvent::Step { step, loss, .. } => {
                Progress::new("tune", u64::from(*step), total).with_message(format!("loss {loss:.4}"))
            }
            TuneEvent::Eval { step, metrics, .. } => {
                let message = match &metrics.multi_label {
                    Some(m) => format!("dev micro-F1 {:.3}", m.micro_f1),
                    None => format!("dev accuracy {:.3}", metrics.accuracy.unwrap_or(0.0)),
                };
                Progress::new("tune", u64::from(*step), total).with_message(message)
            }
            TuneEvent::Notice { message } => Progress::new("tune", 0, total).with_message(message.clone()),
            TuneEvent::Preparing { stage, done, total } => {
                Progress::new("prepare", u64::from(*done), Some(u64::from(*total)))
                    .with_message(stage.clone())
            }
            TuneEvent::Finished { .. } => return None,
        })
    }
}

/// The rows of the label set's dataset still to label, without labels: `max` of them drawn with
/// `seed` (in row order), or every one.
fn unlabelled_sample(
    store: &crate::store::Store,
    set: &crate::store::LabelSet,
    max: Option<u32>,
    seed: u64,
) -> Result<Vec<crate::data::Example>> {
    if max == Some(0) {
        return Err(Error::invalid("distil at least 1 row still to label (or every one)"));
    }
    let mut ids = store.unlabelled_rows(set)?;
    if ids.is_empty() {
        return Err(Error::precondition(format!(
            "label set {:?} has no rows still to label, so there is nothing to distil; import more rows, or turn \
             distillation off",
            set.name
        )));
    }
    if let Some(max) = max.map(|m| m as usize).filter(|&m| m < ids.len()) {
        crate::data::shuffle(&mut ids, seed);
        ids.truncate(max);
        ids.sort_unstable();
    }
    ids.iter()
        .map(|&id| {
            let mut example = store.row(id)?.example;
            example.label = None;
            Ok(example)
        })
        .collect()
}

pub(crate) fn valid_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::invalid(format!(
            "run name {name:?} must be letters, digits, '-' or '_' (e.g. soft-prompt-1)"
        )));
    }
    Ok(name)
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, x, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

impl Studio {
    /// `<project>.runs/`, beside the project file.
    pub fn runs_dir(&self) -> Result<PathBuf> {
        let file = self.project_file()?;
        let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".runs");
        Ok(file.with_file_name(name))
    }

    /// The default hyperparameters of a strategy.
    pub fn tune_defaults(&self, strategy: TuneStrategy) -> Hyper {
        Hyper::for_strategy(strategy)
    }

    /// The config and the training and dev rows a request asks for.
    fn tune_config(
        &self,
        request: &TuneRequest,
    ) -> Result<(TuneConfig, Vec<crate::data::Example>, Vec<crate::data::Example>)> {
        let (config, rows) = self.tune_inputs(request)?;
        let (train, dev) = tune::select_rows(&config, rows, Vec::new())?;
        Ok((config, train, dev))
    }

    /// The config a request asks for and the label set's labelled rows, before the dev rows are
    /// held out and the few-shot sample is drawn (both with the config's seed). A recommended
    /// request's config keeps the choice (`auto`), which must be the request's strategy.
    pub(super) fn tune_inputs(
        &self,
        request: &TuneRequest,
    ) -> Result<(TuneConfig, Vec<crate::data::Example>)> {
        let (mut config, rows) = self.tune_settings(request)?;
        if let Some(recommended) = &request.recommended {
            let choice = self.recommendation(&config, &rows, recommended.budget_seconds)?;
            if choice.strategy != request.strategy {
                return Err(Error::precondition(format!(
                    "the recommended strategy for these settings is now {} (the form showed {}), so the form's \
                     settings are another strategy's; check {}'s settings on the form and start again",
                    choice.strategy.name(),
                    request.strategy.name(),
                    choice.strategy.name()
                )));
            }
            choice.apply(&mut config);
        }
        Ok((config, rows))
    }

    /// "Recommended" for the Tune form's settings: the strategy `cloze tune --strategy auto` would
    /// choose ([`tune::auto::decide`]) from the loaded model, the label set's labelled rows per
    /// class (at most the form's rows per class), the template and, with a time budget, an
    /// estimate of the chosen strategy's run; and why. The request's own strategy is not read.
    pub fn recommend_tuning(&self, request: &TuneRequest) -> Result<tune::auto::AutoChoice> {
        let (config, rows) = self.tune_settings(request)?;
        self.recommendation(&config, &rows, request.recommended.as_ref().and_then(|r| r.budget_seconds))
    }

    /// The choice for `config`'s model, template and shots on `rows`; with a budget, the chosen
    /// strategy's run is estimated with `config`'s settings (its hyperparameters when `config`
    /// already has that strategy, the strategy's defaults otherwise).
    fn recommendation(
        &self,
        config: &TuneConfig,
        rows: &[crate::data::Example],
        budget_seconds: Option<f64>,
    ) -> Result<tune::auto::AutoChoice> {
        let model = self.model()?;
        let template = config.template.as_deref().map(crate::template::Template::parse).transpose()?;
        let labels: Vec<Option<String>> = rows.iter().map(|r| r.label.clone()).collect();
        let input = tune::auto::AutoInput::for_model(&model.plm.info(), &labels, template.as_ref())
            .with_shots(config.shots);
        tune::auto::decide(&input, budget_seconds, |choice| {
            let mut config = self.config_as(config, choice.strategy);
            choice.apply(&mut config);
            let (train, dev) = tune::select_rows(&config, rows.to_vec(), Vec::new())?;
            Ok(tune::estimate(&config, &train, &dev, model.plm.device(), &mut |_, _, _| true)?.seconds)
        })
    }

    /// `config` for `strategy`: itself when it has that strategy, else with the strategy's default
    /// hyperparameters (and `config`'s seed).
    fn config_as(&self, config: &TuneConfig, strategy: TuneStrategy) -> TuneConfig {
        let mut config = config.clone();
        if strategy != config.strategy {
            config.hyper = Hyper { seed: config.hyper.seed, ..Hyper::for_strategy(strategy) };
            config.strategy = strategy;
            config.auto = None;
            if strategy != TuneStrategy::Contrastive {
                config.contrastive = None;
            }
        }
        config
    }

    /// The config the form's settings ask for (the request's strategy as given) and the rows.
    fn tune_settings(&self, request: &TuneRequest) -> Result<(TuneConfig, Vec<crate::data::Example>)> {
        let model = self.model()?;
        let file = self.project_file()?;
        let store = crate::store::Store::open(&file)?;
        let set = label_set(&store, request.label_set_id)?;
        let rows = store.labelled_examples(request.label_set_id)?;
        if rows.len() < 4 {
            return Err(Error::precondition(format!(
                "label set {:?} has {} labelled rows; label at least a few rows of each class to tune",
                set.name,
                rows.len()
            )));
        }
        let mut config = TuneConfig::new(
            request.strategy,
            model.plm.dir(),
            DataSource::Project {
                path: file.clone(),
                dataset: set.dataset_id.to_string(),
                label_set: Some(set.name.clone()),
            },
        );
        config.template = Some(request.template.clone());
        config.chat = request.chat.clone();
        config.verbalizer = Some(request.verbalizer.clone());
        config.verbalizer_kind = request.verbalizer_kind;
        config.soft_placement = request.soft_placement;
        config.shots = request.shots;
        config.dev_fraction = Some(request.dev_fraction);
        config.hyper = request.hyper.clone();
        config.precision = request.precision;
        if set.multi_label {
            // Each row's label is its set of classes (`a;b`): every strategy trains one sigmoid per
            // class, thresholds fitted on the held-out dev rows.
            config.multi_label = Some(tune::MultiLabel { labels: set.classes.clone(), ..Default::default() });
        }
        let mut rows = rows;
        if let Some(d) = &request.distill {
            let saved = store.ensemble(d.ensemble_id)?;
            config.distill = Some(tune::distill::Distill {
                ensemble: saved.ensemble,
                teacher: None,
                temperature: d.temperature,
            });
            rows.extend(unlabelled_sample(&store, &set, d.max_rows, config.hyper.seed)?);
        }
        Ok((config, rows))
    }

    /// Predicts a run's time and peak memory on this machine from a few timed updates and
    /// evaluations ([`tune::estimate()`]); nothing is written. Progress per timed part; cancelling
    /// stops it.
    pub fn estimate_tuning(&self, request: &TuneRequest, progress: ProgressFn) -> Result<tune::Estimate> {
        let (config, train, dev) = self.tune_config(request)?;
        let device = self.model()?.plm.device().clone();
        tune::estimate(&config, &train, &dev, &device, &mut |stage, done, total| {
            progress(
                Progress::new("estimate", u64::from(done), Some(u64::from(total)))
                    .with_message(stage.to_string()),
            )
        })
    }

    /// Trains a run on the label set's labelled rows with the loaded model. Progress goes to
    /// `progress` (one `Progress` per update and evaluation); cancelling leaves a checkpoint that
    /// `resume` continues.
    pub fn start_tuning(&self, request: &TuneRequest, progress: ProgressFn) -> Result<RunSummaryView> {
        let name = valid_name(&request.name)?;
        if request.seeds.is_some() {
            return Err(Error::invalid(format!(
                "{name} repeats over seeds: start it as a group of runs (Repeat over seeds), not as one run"
            )));
        }
        super::seeds::refuse_group_name(&self.runs_dir()?, name)?;
        let (config, train, dev) = self.tune_config(request)?;
        let model = self.model()?;
        let dir = self.runs_dir()?.join(name);
        let device = model.plm.device().clone();
        let estimate = request.estimate.as_ref();
        let mut events = RunProgress::default();
        let mut on_event = |e: &TuneEvent| match events.of(e) {
            Some(p) => progress(p),
            None => true,
        };
        match &config.auto {
            // Recommended with held-out dev rows also trains the cheap alternative and keeps it
            // only when the dev rows show it better beyond their noise (`tune::trials`).
            Some(choice) if dev.iter().any(|r| r.label.is_some()) => {
                let others: Vec<TuneConfig> = tune::trials::alternatives(choice.strategy)
                    .into_iter()
                    .map(|s| self.config_as(&config, s))
                    .collect();
                tune::trials::run(
                    &config,
                    &others,
                    &train,
                    &dev,
                    &dir,
                    &device,
                    request.resume,
                    &mut on_event,
                )?;
            }
            _ => {
                tune::run_estimated(
                    &config,
                    &train,
                    &dev,
                    &dir,
                    &device,
                    request.resume,
                    estimate,
                    &mut on_event,
                )?;
            }
        }
        self.run_summary(name)
    }

    pub(super) fn run_summary(&self, name: &str) -> Result<RunSummaryView> {
        let dir = RunDir::new(self.runs_dir()?.join(name));
        let config = dir.read_config()?;
        let summary = dir.read_summary()?;
        let steps = match &summary {
            Some(s) => s.steps,
            None => dir
                .read_metrics()?
                .iter()
                .filter_map(|e| if let TuneEvent::Step { step, .. } = e { Some(*step) } else { None })
                .max()
                .unwrap_or(0),
        };
        let metrics = summary.as_ref().and_then(|s| s.final_metrics.clone());
        Ok(RunSummaryView {
            name: name.to_string(),
            strategy: config.strategy,
            model: config.model.display().to_string(),
            precision: config.precision,
            status: if summary.is_some() {
                "finished"
            } else if steps > 0 {
                "interrupted"
            } else {
                "empty"
            }
            .into(),
            steps,
            dev_accuracy: metrics.as_ref().and_then(|m| m.accuracy),
            dev_macro_f1: metrics.as_ref().and_then(|m| m.macro_f1),
            multi_label: config.multi_label.is_some(),
            dev_micro_f1: metrics.as_ref().and_then(|m| m.multi_label.as_ref()).map(|m| m.micro_f1),
            seconds: summary.map(|s| s.seconds),
        })
    }

    /// The project's runs, newest first.
    pub fn list_runs(&self) -> Result<Vec<RunSummaryView>> {
        let root = self.runs_dir()?;
        let Ok(entries) = std::fs::read_dir(&root) else { return Ok(Vec::new()) };
        let mut runs: Vec<(std::time::SystemTime, RunSummaryView)> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.join("config.json").is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            let modified = path
                .join("config.json")
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            if let Ok(s) = self.run_summary(&name) {
                runs.push((modified, s));
            }
        }
        runs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
        Ok(runs.into_iter().map(|(_, s)| s).collect())
    }

    /// A run's config, live loss and dev-accuracy charts, last evaluation with its confusion
    /// matrix, and (when finished) its most and least confident correct / wrong dev examples.
    pub fn run_details(&self, name: &str) -> Result<RunDetailsView> {
        let name = valid_name(name)?;
        let dir = RunDir::new(self.runs_dir()?.join(name));
        let config = dir.read_config()?;
        let curves = RunCurves::read(&dir)?;
        let loss_svg = curves.loss_svg()?;
        let accuracy_svg = curves.accuracy_svg()?;
        let (last_step, last_loss) = (curves.last_step, curves.last_loss);
        let summary = dir.read_summary()?;
        let final_metrics = summary.as_ref().and_then(|s| s.final_metrics.clone()).or(curves.last_eval);
        let confusion_svg = match &final_metrics {
            Some(m) => confusion_svg(m, (420, 380))?,
            None => None,
        };
        let mut preds = dir.read_predictions()?;
        preds.sort_by(|a, b| b.p_label.total_cmp(&a.p_label));
        let view = |p: &tune::DevPrediction| DevExampleView {
            text: p.text.clone(),
            label: p.label.clone(),
            predicted: p.predicted.clone(),
            p_label: p.p_label,
        };
        let best: Vec<DevExampleView> = preds.iter().take(5).map(view).collect();
        let worst: Vec<DevExampleView> = preds.iter().rev().take(5).map(view).collect();
        let total_steps = summary.as_ref().map(|s| s.steps);
        Ok(RunDetailsView {
            summary: self.run_summary(name)?,
            config_json: serde_json::to_string_pretty(&config).unwrap_or_default(),
            loss_svg,
            accuracy_svg,
            confusion_svg,
            last_eval: final_metrics,
            best,
            worst,
            total_steps,
            last_step,
            last_loss,
            estimate: dir.read_estimate()?,
            wall_seconds: summary.as_ref().and_then(|s| s.wall_seconds),
            peak_bytes: summary.as_ref().and_then(|s| s.peak_bytes),
            auto: config.auto.clone(),
            best_step: summary.as_ref().and_then(|s| s.best_step),
        })
    }

    /// The config keys where two runs differ.
    pub fn compare_runs(&self, a: &str, b: &str) -> Result<Vec<ConfigDiff>> {
        let root = self.runs_dir()?;
        let read = |n: &str| -> Result<Vec<(String, String)>> {
            let c = RunDir::new(root.join(valid_name(n)?)).read_config()?;
            let mut out = Vec::new();
            flatten("", &serde_json::to_value(&c).map_err(|e| Error::internal(e.to_string()))?, &mut out);
            Ok(out)
        };
        let (ca, cb) = (read(a)?, read(b)?);
        let mut keys: Vec<&String> = ca.iter().chain(&cb).map(|(k, _)| k).collect();
        keys.sort();
        keys.dedup();
        let get = |c: &[(String, String)], k: &str| {
            c.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_else(|| "—".into())
        };
        Ok(keys
            .into_iter()
            .filter(|k| get(&ca, k) != get(&cb, k))
            .map(|k| ConfigDiff { key: k.clone(), a: get(&ca, k), b: get(&cb, k) })
            .collect())
    }
}
