//! `cloze tune` (train a prompt into a run folder) and `cloze classify --prompt RUN_DIR`.

use std::path::{Path, PathBuf};

use clap::Args;
use cloze::plm::DeviceChoice;
use cloze::template::Template;
use cloze::tune::{self, DataSource, TuneConfig, TuneEvent, TuneStrategy};
use cloze::verbalizer::Verbalizer;
use cloze::{Error, Result};

use crate::choices::{self, engine};
use crate::{DataArgs, print_evaluation, report_import, write_predictions};

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// soft-prompt (only {soft} vectors train), finetune (all weights, PET/LM-BFF), pretrain
    /// (the family's own objective on text rendered through the template — masked LM on encoders,
    /// causal LM on decoders, span corruption on T5, denoising on BART — saved as a model folder),
    /// probe (a classifier on frozen pooled embeddings), or contrastive (SetFit: the encoder
    /// trained on pairs of rows with a cosine-similarity loss, then a logistic regression on its
    /// embeddings). `auto` chooses one from the model (can it read a label word, its size), the
    /// labelled rows per class and the template, within --budget when given, and the run keeps why.
    #[arg(long, short = 's', value_enum)]
    strategy: choices::StrategyArg,
    /// With --strategy auto: the time the run may take, in seconds; a choice estimated over it
    /// falls back to the probe.
    #[arg(long, value_name = "SECONDS")]
    budget: Option<f64>,
    /// The model folder, or a cached Hugging Face repository id.
    #[arg(long, short = 'm', value_name = "DIR|REPO")]
    model: String,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
    /// Training rows (labelled; for pretrain, any text).
    #[arg(long, value_name = "FILE")]
    train: PathBuf,
    /// Dev rows, evaluated every --eval-every updates (default: none, or --dev-fraction of --train).
    #[arg(long, value_name = "FILE")]
    dev: Option<PathBuf>,
    /// Hold out this fraction of the training rows as dev rows when --dev is not given.
    #[arg(long, value_name = "F")]
    dev_fraction: Option<f64>,
    #[command(flatten)]
    data: DataArgs,
    /// The template: {text_a}, {mask}, and {soft} / {soft:N} / {soft:"init text"} anywhere.
    #[arg(long, short = 't')]
    template: Option<String>,
    /// Label words per class (JSON file or inline JSON), as for `cloze classify`.
    #[arg(long, short = 'v', value_name = "FILE|JSON")]
    verbalizer: Option<String>,
    /// manual (label-word logits from the MLM head) or soft (a trained projection initialised from
    /// the label words; works on encoders without an MLM head).
    #[arg(long, value_enum, default_value_t = choices::VerbalizerKind::Manual)]
    verbalizer_kind: choices::VerbalizerKind,
    /// How a soft verbalizer starts: from the label words, or from a probe (a logistic regression
    /// on the frozen model's states at the mask, then fine-tuned: LP-FT). auto: label-words on a
    /// model with an MLM head, probe on one without (on all-MiniLM-L6-v2, SST-2, 16 rows per class:
    /// see README, "Few-shot: what to expect").
    #[arg(long, value_enum, default_value_t = choices::HeadInit::Auto)]
    head_init: choices::HeadInit,
    /// How {soft:N} vectors start: vocab (embeddings of random vocabulary tokens) or random.
    #[arg(long, value_enum, default_value_t = choices::SoftInit::Vocab)]
    soft_init: choices::SoftInit,
    /// Where the template's leading {soft:N} vectors stand: in-template (after the model's <s>,
    /// [CLS] or BOS), or before-input (before every token, as PEFT's prompt tuning puts them, so
    /// the run exports with `cloze export prompt RUN --format peft`).
    #[arg(long, value_enum, default_value_t = choices::SoftPlacement::InTemplate)]
    soft_placement: choices::SoftPlacement,
    /// The linear layers' precision while training and evaluating: f32 (the default, equal to
    /// PyTorch) or bf16 (bf16 factors with f32 sums, f32 master weights and optimiser state:
    /// faster on CPUs with AVX512_BF16, emulated and slower elsewhere; CPU only). Stored in the
    /// run's config; classifying with the run uses it.
    #[arg(long, default_value = "f32", value_parser = crate::choices::engine::<cloze::plm::Precision>)]
    precision: cloze::plm::Precision,
    /// Probe: mean or cls pooling.
    #[arg(long, value_enum, default_value_t = choices::Pooling::Mean)]
    pooling: choices::Pooling,
    /// Probe: logistic or mlp.
    #[arg(long, value_enum, default_value_t = choices::ProbeHead::Logistic)]
    probe_head: choices::ProbeHead,
    /// Contrastive: how pairs are drawn — oversampling (as many positive as negative pairs, the
    /// rarer kind repeated; SetFit's default), undersampling or unique.
    #[arg(long, value_enum, default_value_t = choices::PairSampling::Oversampling)]
    pair_sampling: choices::PairSampling,
    /// Contrastive: N × rows positive and as many negative pairs (SetFit's num_iterations),
    /// instead of --pair-sampling's counts.
    #[arg(long, value_name = "N")]
    iterations: Option<u32>,
    /// Contrastive: draw at most N unique pairs, half of each kind (SetFit's max_pairs).
    #[arg(long, value_name = "N")]
    max_pairs: Option<u32>,
    /// Contrastive: render each row through --template before embedding it (training, the head
    /// and classifying), e.g. --template 'Review: {text_a}'.
    #[arg(long)]
    render_template: bool,
    /// Contrastive: the logistic regression on the tuned embeddings — sklearn (C = 1, as SetFit)
    /// or cross-validated (the L2 penalty chosen on the training rows).
    #[arg(long, value_enum, default_value_t = choices::ContrastiveHead::Sklearn)]
    contrastive_head: choices::ContrastiveHead,
    /// {demo}: demonstrations per class, drawn from the training rows.
    #[arg(long, default_value_t = 1)]
    demos_per_class: u32,
    /// {demo}: random, or similar (closest rows by sentence embedding).
    #[arg(long, value_enum, default_value_t = choices::DemoSelect::Random)]
    demos_select: choices::DemoSelect,
    #[command(flatten)]
    chat: crate::ChatArgs,
    /// Multi-label: each row's label field is a set of labels separated by ';' (`World;Sports`, as
    /// `cloze multilabel` reads them), and every strategy trains one sigmoid per label with binary
    /// cross-entropy (soft-prompt and finetune: the verbalizer's label-word logit, one class per
    /// label; probe: one output per label; contrastive: pairs positive when their label sets are
    /// equal, one logistic regression per label). Dev rows are scored by micro/macro-F1 and subset
    /// accuracy.
    #[arg(long)]
    multi_label: bool,
    /// With --multi-label: the labels, comma-separated, in order (default: the verbalizer's
    /// classes, else every label of the training rows, sorted).
    #[arg(long, value_delimiter = ',', value_name = "LABEL,...", requires = "multi_label")]
    labels: Vec<String>,
    /// With --multi-label: each label's threshold maximises its F1 on the dev rows (fit-on-dev), or
    /// is 0.5 (half). The run predicts label sets with them.
    #[arg(long, value_enum, default_value_t = choices::ThresholdRule::FitOnDev)]
    thresholds: choices::ThresholdRule,
    /// Few-shot: sample K training rows per class with the seed (with --multi-label: per label set).
    #[arg(long, value_name = "K")]
    shots: Option<u32>,
    /// Peak learning rate (default per strategy: soft-prompt 3e-2, finetune 2e-5, pretrain 5e-5,
    /// probe 1e-2, contrastive 2e-5).
    #[arg(long)]
    lr: Option<f64>,
    /// Passes over the training rows (default per strategy: soft-prompt 20, finetune 10, pretrain 3,
    /// probe 100; contrastive: 1 pass over its pairs).
    #[arg(long)]
    epochs: Option<u32>,
    /// Stop after N updates.
    #[arg(long)]
    max_steps: Option<u32>,
    /// Rows per batch (default 8; probe 32; contrastive 16 pairs).
    #[arg(long)]
    batch_size: Option<u32>,
    /// Batches per update.
    #[arg(long)]
    grad_accumulation: Option<u32>,
    /// AdamW weight decay, not applied to biases and layer norms (default 0.01; soft-prompt and
    /// probe 0).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Fraction of the updates spent warming the learning rate up from 0 before its linear decay
    /// (default 0.06; contrastive 0.1).
    #[arg(long)]
    warmup_ratio: Option<f64>,
    /// Clip the gradient norm to this (0 = off).
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Evaluate every N updates (default: every epoch).
    #[arg(long)]
    eval_every: Option<u32>,
    /// Stop after N evaluations without improvement (default: never).
    #[arg(long)]
    patience: Option<u32>,
    /// Dropout while training (default: the model's config).
    #[arg(long)]
    dropout: Option<f64>,
    /// Longest input in tokens.
    #[arg(long)]
    max_len: Option<u32>,
    /// Fixes the few-shot sample, the batch order, soft-prompt initialisation and dropout masks: a
    /// CPU run with the same seed repeats bit for bit.
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// The run folder to create.
    #[arg(long, short = 'o', value_name = "DIR", required_unless_present = "estimate")]
    out: Option<PathBuf>,
    /// Predict the run's time and peak memory on this machine from a few timed updates and
    /// evaluations, print it, and exit without training (no run folder is made).
    #[arg(long, conflicts_with = "resume")]
    estimate: bool,
    /// Continue the interrupted run in --out from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Repeat the run once per seed (comma-separated, e.g. 13,21,42,87,100 — LM-BFF's), each into
    /// --out/seed-N with the rows it used (train.jsonl, dev.jsonl); with --shots each seed draws its
    /// own sample. Prints and writes (--out/seeds.json) the mean ± standard deviation of every dev
    /// metric. With --resume, finished seeds are kept.
    #[arg(long, value_delimiter = ',', value_name = "SEED,...", conflicts_with_all = ["seed", "estimate"])]
    seeds: Vec<u64>,
    /// Distil a template ensemble (`cloze ensemble fit --output`; PET): it labels the training rows
    /// that have no label, and the rows of --unlabelled, with soft labels, and the run trains on
    /// them beside the labelled rows. The run lists them in pseudo_labels.jsonl.
    #[arg(long, value_name = "ENSEMBLE")]
    distill: Option<PathBuf>,
    /// With --distill: more rows to pseudo-label (read like --train; any labels in it are ignored).
    #[arg(long, value_name = "FILE", requires = "distill")]
    unlabelled: Option<PathBuf>,
    /// With --distill: the model the ensemble scores with (default: the one it was fitted on, as
    /// its file records, else --model).
    #[arg(long, value_name = "DIR|REPO", requires = "distill")]
    teacher_model: Option<String>,
    /// With --distill: the soft labels' temperature (p^(1/T), normalised; PET's 2 flattens them).
    #[arg(long, value_name = "T", default_value_t = tune::distill::DEFAULT_TEMPERATURE, requires = "distill")]
    distill_temperature: f64,
}

/// Reads `path` for rows the template `template` (its source text, when there is one) reads.
pub(crate) fn load_rows(
    path: &Path,
    data: &DataArgs,
    template: Option<&str>,
    what: &str,
) -> Result<Vec<cloze::data::Example>> {
    let fields = match template {
        Some(t) => Template::parse(t)?.fields().map(|f| f.name.clone()).collect(),
        None => Vec::new(),
    };
    let (rows, report) = cloze::data::load(path, &data.import_options()?.for_fields(fields))?;
    report_import(path, &report.notes, &report.skipped);
    if rows.is_empty() {
        return Err(Error::Data {
            path: path.to_path_buf(),
            line: None,
            message: format!("no {what} rows").into(),
        });
    }
    Ok(rows)
}

/// The run's config for `strategy` from the command line.
fn build_config(args: &TuneArgs, strategy: TuneStrategy, model: &Path) -> Result<TuneConfig> {
    let mut config = TuneConfig::new(
        strategy,
        model.to_path_buf(),
        DataSource::Files {
            train: args.train.clone(),
            dev: args.dev.clone(),
            columns: args.data.text_column.clone(),
            unlabelled: args.unlabelled.clone(),
        },
    );
    config.template = args.template.clone();
    config.chat = args.chat.chat();
    config.verbalizer = args.verbalizer.as_deref().map(Verbalizer::from_file_or_json).transpose()?;
    config.verbalizer_kind = args.verbalizer_kind.into();
    config.head_init = args.head_init.into();
    config.soft_init = args.soft_init.into();
    config.soft_placement = args.soft_placement.into();
    config.precision = args.precision;
    config.pooling = args.pooling.into();
    config.probe_head = args.probe_head.into();
    config.shots = args.shots;
    let contrastive = tune::ContrastiveOptions {
        sampling: args.pair_sampling.into(),
        iterations: args.iterations,
        max_pairs: args.max_pairs,
        render_template: args.render_template,
        head: args.contrastive_head.into(),
    };
    if strategy == TuneStrategy::Contrastive {
        config.contrastive = Some(contrastive);
    } else if contrastive != tune::ContrastiveOptions::default() {
        return Err(Error::invalid(format!(
            "--pair-sampling, --iterations, --max-pairs, --render-template and --contrastive-head apply to \
             --strategy contrastive only, not {}",
            strategy.name()
        )));
    }
    config.demos = Some(cloze::demo::DemoConfig {
        per_class: args.demos_per_class,
        selection: args.demos_select.into(),
    });
    config.dev_fraction = args.dev_fraction;
    if args.multi_label {
        config.multi_label =
            Some(tune::MultiLabel { labels: args.labels.clone(), thresholds: args.thresholds.into() });
    } else if args.thresholds != choices::ThresholdRule::FitOnDev {
        return Err(Error::invalid("--thresholds applies to --multi-label runs only; add --multi-label"));
    }
    if let Some(path) = &args.distill {
        let ensemble = cloze::ensemble::Ensemble::read(path)?;
        // The ensemble scores with the model its weights were fitted on, unless told otherwise.
        let teacher = match args.teacher_model.as_deref().or(ensemble.model.as_deref()) {
            Some(m) => Some(cloze::hub::resolve_model(m)?),
            None => None,
        };
        config.distill =
            Some(tune::distill::Distill { ensemble, teacher, temperature: args.distill_temperature });
    }
    let h = &mut config.hyper;
    h.seed = args.seed;
    h.max_steps = args.max_steps;
    h.dropout = args.dropout;
    h.max_len = args.max_len;
    macro_rules! set {
        ($($field:ident = $arg:expr),*) => { $(if let Some(v) = $arg { h.$field = v; })* };
    }
    set!(
        learning_rate = args.lr,
        epochs = args.epochs,
        batch_size = args.batch_size,
        grad_accumulation = args.grad_accumulation,
        weight_decay = args.weight_decay,
        warmup_ratio = args.warmup_ratio,
        max_grad_norm = args.max_grad_norm,
        eval_every = args.eval_every,
        patience = args.patience
    );
    config.validate()?;
    Ok(config)
}

/// `--strategy auto`: the model's facts, the training rows' labels (as sampled) and the template
/// decide ([`tune::auto::decide`]); with `--budget`, a choice estimated over it falls back to the
/// probe. Says what it chose and why; the training rows it read are handed back for the run.
fn choose_strategy(
    args: &TuneArgs,
    model: &Path,
    device: &candle_core::Device,
) -> Result<(TuneConfig, tune::auto::AutoChoice, Vec<cloze::data::Example>)> {
    let rows = load_rows(&args.train, &args.data, args.template.as_deref(), "training")?;
    let labels: Vec<Option<String>> = rows.iter().map(|r| r.label.clone()).collect();
    let template = args.template.as_deref().map(cloze::template::Template::parse).transpose()?;
    let info = cloze::plm::Plm::load(model, device)?.info();
    let input = tune::auto::AutoInput::for_model(&info, &labels, template.as_ref()).with_shots(args.shots);
    let choice = tune::auto::decide(&input, args.budget, |choice| {
        let mut config = build_config(args, choice.strategy, model)?;
        choice.apply(&mut config);
        let dev = match &args.dev {
            Some(p) => load_rows(p, &args.data, args.template.as_deref(), "dev")?,
            None => Vec::new(),
        };
        let (train, dev) = tune::select_rows(&config, rows.clone(), dev)?;
        Ok(tune::estimate(&config, &train, &dev, device, &mut |_, _, _| true)?.seconds)
    })?;
    let mut config = build_config(args, choice.strategy, model)?;
    choice.apply(&mut config);
    errln!("auto chose {}:", choice.strategy.name());
    for reason in &choice.reasons {
        errln!("  - {reason}");
    }
    Ok((config, choice, rows))
}

pub fn run(args: TuneArgs) -> Result<()> {
    let device = args.device.open()?;
    let model = cloze::hub::resolve_model(&args.model)?;
    if args.budget.is_some() && args.strategy.fixed().is_some() {
        return Err(Error::invalid("--budget applies to --strategy auto only"));
    }
    // `auto` reads the training rows to decide; they are not read again.
    let (config, read) = match args.strategy.fixed() {
        Some(strategy) => (build_config(&args, strategy, &model)?, None),
        None => {
            let (config, _, rows) = choose_strategy(&args, &model, &device)?;
            (config, Some(rows))
        }
    };
    let strategy = config.strategy;
    let mut train = match read {
        Some(rows) => rows,
        None => load_rows(&args.train, &args.data, args.template.as_deref(), "training")?,
    };
    if config.distill.is_none() && strategy != TuneStrategy::Pretrain {
        // Without distillation every training row needs a label: said before the model loads.
        if let Some(row) = train.iter().find(|r| r.label.is_none()) {
            return Err(Error::Data {
                path: args.train.clone(),
                line: None,
                message: format!(
                    "row {} has no label; label it, leave it out, or let an ensemble label it with --distill",
                    row.id
                )
                .into(),
            });
        }
    }
    if let Some(path) = &args.unlabelled {
        let mut more = load_rows(path, &args.data, args.template.as_deref(), "unlabelled")?;
        more.iter_mut().for_each(|r| {
            r.label = None;
            r.id = format!("unlabelled:{}", r.id);
        });
        train.extend(more);
    }
    let dev = match &args.dev {
        Some(p) => load_rows(p, &args.data, args.template.as_deref(), "dev")?,
        None => Vec::new(),
    };
    if args.estimate {
        let (train, dev) = tune::select_rows(&config, train, dev)?;
        return print_estimate(&config, &train, &dev, &device);
    }
    let out = args.out.clone().ok_or_else(|| Error::invalid("give the run folder with --out DIR"))?;
    if !args.seeds.is_empty() {
        return run_over_seeds(&config, &args, (&train, &dev), &out, &device);
    }
    let (train, dev) = tune::select_rows(&config, train, dev)?;
    errln!("{}: {} training rows, {} dev rows → {}", strategy.name(), train.len(), dev.len(), out.display());
    let bar = progress_bar();
    let summary = match &config.auto {
        // `auto` with dev rows also trains the cheap alternative and keeps it only when the dev
        // rows show it better beyond their noise.
        Some(choice) if dev.iter().any(|r| r.label.is_some()) => {
            let others = tune::trials::alternatives(choice.strategy)
                .into_iter()
                .map(|s| build_config(&args, s, &model))
                .collect::<Result<Vec<_>>>()?;
            tune::trials::run(&config, &others, &train, &dev, &out, &device, args.resume, &mut |e| {
                show_event(&bar, e)
            })?
        }
        _ => tune::run(&config, &train, &dev, &out, &device, args.resume, &mut |e| show_event(&bar, e))?,
    };
    if let Some(choice) = tune::RunDir::new(&out).read_config()?.auto.filter(|_| config.auto.is_some()) {
        if choice.strategy != strategy {
            errln!(
                "auto kept {} instead: {}",
                choice.strategy.name(),
                choice.reasons.last().map_or("", |r| r)
            );
        } else if let Some(tried) = choice.reasons.last().filter(|r| r.starts_with("tried ")) {
            errln!("auto {tried}");
        }
    }
    bar.finish_and_clear();
    errln!(
        "done: {} updates in {:.1}s ({:.2} updates/s){}",
        summary.steps,
        summary.seconds,
        summary.steps_per_second,
        if summary.stopped_early { ", stopped early" } else { "" }
    );
    if let Some(wall) = summary.wall_seconds {
        errln!(
            "took {} in all ({wall:.1} s), peak memory {}",
            tune::estimate::duration(wall),
            summary
                .peak_bytes
                .map_or("not measured here".to_string(), |b| format!("{} ({b} bytes)", tune::megabytes(b)))
        );
    }
    if let Some(m) = &summary.final_metrics {
        if let Some(ml) = &m.multi_label {
            errln!(
                "dev ({} rows, best update {}): micro-F1 {:.4}  macro-F1 {:.4}  subset accuracy {:.4}  Hamming loss {:.4}",
                m.rows,
                summary.best_step.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                ml.micro_f1,
                ml.macro_f1,
                ml.subset_accuracy,
                ml.hamming_loss
            );
            let per: Vec<String> = m
                .classes
                .iter()
                .zip(&ml.thresholds)
                .zip(&m.per_class_f1)
                .map(|((c, t), f)| format!("{c} ≥ {t:.3} (F1 {f:.3})"))
                .collect();
            errln!("thresholds ({}): {}", ml.rule.name(), per.join(", "));
        } else if let (Some(a), Some(f)) = (m.accuracy, m.macro_f1) {
            errln!(
                "dev ({} rows, best update {}): accuracy {a:.4}  macro-F1 {f:.4}",
                m.rows,
                summary.best_step.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
            );
            if summary.best_step == Some(0) {
                errln!(
                    "no update scored higher than the starting weights on the dev rows, so the run keeps them; \
                     try more training rows, another learning rate or another strategy"
                );
            }
        } else if let Some(l) = m.loss {
            errln!("dev {} loss {l:.4}", pretraining_name(&out));
        }
    }
    let what = match strategy {
        TuneStrategy::Pretrain => format!(
            "the pretrained model is in {0}/model; classify zero-shot with `cloze classify --model {0}/model …`",
            out.display()
        ),
        _ => format!("classify with `cloze classify --prompt {} --input FILE`", out.display()),
    };
    errln!("{what}");
    Ok(())
}

pub(crate) fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {prefix}  {msg}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.set_prefix("updates");
    bar
}

/// Shows a run's event on the progress bar (evaluations as lines above it).
pub(crate) fn show_event(bar: &indicatif::ProgressBar, e: &TuneEvent) -> bool {
    match e {
        TuneEvent::Started { total_steps, resumed_from, .. } => {
            bar.set_prefix("updates");
            bar.set_message("");
            bar.set_length(u64::from(*total_steps));
            bar.set_position(u64::from(*resumed_from));
        }
        TuneEvent::Step { step, loss, learning_rate, eta_s, .. } => {
            bar.set_position(u64::from(*step));
            bar.set_message(format!("loss {loss:.4}  lr {learning_rate:.2e}  eta {eta_s:.0}s"));
        }
        TuneEvent::Eval { step, metrics, best } => {
            let acc = metrics
                .accuracy
                .map(|a| format!("accuracy {a:.4}  macro-F1 {:.4}", metrics.macro_f1.unwrap_or(0.0)));
            let loss = metrics.loss.map(|l| format!("loss {l:.4}"));
            bar.println(format!(
                "update {step}: dev {}{}",
                [acc, loss].into_iter().flatten().collect::<Vec<_>>().join("  "),
                if *best { "  (best)" } else { "" }
            ));
        }
        TuneEvent::Finished { .. } => bar.finish_and_clear(),
        TuneEvent::Notice { message } => bar.suspend(|| errln!("warning: {message}")),
        TuneEvent::Preparing { stage, done, total } => {
            bar.set_prefix("rows");
            bar.set_length(u64::from(*total));
            bar.set_position(u64::from(*done));
            bar.set_message(stage.clone());
        }
    }
    true
}

/// `cloze tune --seeds`: one run per seed, then the spread of the dev metrics.
fn run_over_seeds(
    config: &TuneConfig,
    args: &TuneArgs,
    (train, dev): (&[cloze::data::Example], &[cloze::data::Example]),
    out: &Path,
    device: &candle_core::Device,
) -> Result<()> {
    tune::seeds::check_seeds(&args.seeds)?;
    errln!(
        "{}: {} runs (seeds {}){} → {}",
        config.strategy.name(),
        args.seeds.len(),
        args.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        config.shots.map(|k| format!(", each on its own sample of {k} rows per class")).unwrap_or_default(),
        out.display()
    );
    let bar = progress_bar();
    let mut current = usize::MAX;
    let summary =
        tune::seeds::run_seeds(config, train, dev, out, device, &args.seeds, args.resume, &mut |e| {
            if e.index != current {
                current = e.index;
                bar.reset();
                bar.suspend(|| errln!("seed {} ({} of {})", e.seed, e.index + 1, args.seeds.len()));
            }
            show_event(&bar, e.event)
        })?;
    bar.finish_and_clear();
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.2}", 100.0 * v));
    errln!("{:>8} {:>6} {:>6} {:>9} {:>9}", "seed", "train", "dev", "accuracy", "macro-F1");
    for r in &summary.runs {
        let m = r.metrics.as_ref();
        errln!(
            "{:>8} {:>6} {:>6} {:>9} {:>9}",
            r.seed,
            r.train_rows,
            r.dev_rows,
            pct(m.and_then(|m| m.accuracy)),
            pct(m.and_then(|m| m.macro_f1))
        );
    }
    match (&summary.accuracy, &summary.macro_f1) {
        (Some(a), Some(f)) => errln!(
            "over {} seeds: accuracy {} %  macro-F1 {} %  (mean ± sample s.d.; min {:.2}, max {:.2})",
            a.n,
            a.percent(),
            f.percent(),
            100.0 * a.min,
            100.0 * a.max
        ),
        _ => errln!("no dev rows, so no metrics to compare; give --dev FILE or --dev-fraction"),
    }
    errln!(
        "each run is in {}/seed-N; the summary in {}/{}",
        out.display(),
        out.display(),
        tune::seeds::SEEDS_FILE
    );
    Ok(())
}

/// `cloze tune --estimate`: the predicted cost on stdout, what was measured on stderr's progress.
fn print_estimate(
    config: &TuneConfig,
    train: &[cloze::data::Example],
    dev: &[cloze::data::Example],
    device: &candle_core::Device,
) -> Result<()> {
    let bar = indicatif::ProgressBar::new_spinner();
    let e = tune::estimate(config, train, dev, device, &mut |stage, _, _| {
        bar.set_message(stage.to_string());
        bar.tick();
        true
    })?;
    bar.finish_and_clear();
    let d = tune::estimate::duration;
    let m = &e.measurement;
    outln!(
        "estimate for {} on this machine: {} training rows, {} dev rows",
        e.strategy.name(),
        e.train_rows,
        e.dev_rows
    )?;
    outln!("time     {} ({:.1} s)", d(e.seconds), e.seconds)?;
    outln!("  loading the model and preparing rows  {}", d(e.load_seconds))?;
    if e.features_seconds > 0.0 {
        outln!("  features (one forward pass a row)    {}", d(e.features_seconds))?;
    }
    outln!("  {} updates × {:.3} s                 {}", e.steps, e.seconds_per_step, d(e.train_seconds))?;
    outln!("  {} evaluations on the dev rows        {}", e.evaluations, d(e.eval_seconds))?;
    outln!("  checkpoints and the run's files      {}", d(e.save_seconds))?;
    match e.peak_bytes {
        Some(b) => {
            outln!("memory   {} peak ({b} bytes): {}", tune::megabytes(b), e.memory)?;
        }
        None => {
            outln!("memory   {}", e.memory)?;
        }
    }
    outln!(
        "measured {} updates of batch {}{} ({} tokens; {} s), {} evaluation batches, in {}; rows are {}/{}/{} tokens \
         (shortest/median/longest)",
        m.updates_timed,
        m.batch_size,
        if m.grad_accumulation > 1 {
            format!(" × {} accumulated", m.grad_accumulation)
        } else {
            String::new()
        },
        m.update_tokens.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
        m.update_seconds.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>().join(", "),
        m.eval_batches_timed,
        d(m.seconds),
        m.shortest,
        m.typical,
        m.longest
    )?;
    for note in &e.notes {
        outln!("note: {note}")?;
    }
    Ok(())
}

/// The name of the objective a pretraining run trained (read from the family of the model folder
/// it wrote), for the summary line.
fn pretraining_name(run: &Path) -> &'static str {
    let config = run.join("model").join("config.json");
    std::fs::read_to_string(&config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| cloze::plm::Family::from_config(&v, &config).ok())
        .map_or("pretraining", |f| f.pretraining().name())
}

pub fn classify_with_run(
    run: &Path,
    model: Option<&str>,
    device: DeviceChoice,
    precision: Option<cloze::plm::Precision>,
    input: &Path,
    data: &DataArgs,
    output: Option<&PathBuf>,
) -> Result<()> {
    let device = device.open()?;
    let (config, tuned) = if cloze::export::bundle::is_bundle(run) {
        let model = model.map(cloze::hub::resolve_model).transpose()?;
        // An archive is unpacked into a temporary folder, removed once the run is loaded.
        let bundle = cloze::export::bundle::open_bundle(run, model.as_deref())?;
        tune::TunedRun::load_over(&bundle.dir, bundle.base_model.as_deref(), &device)?
    } else {
        if model.is_some() {
            return Err(Error::invalid(format!(
                "{} is a run folder, which classifies with its own model; drop --model, or export a bundle \
                 (`cloze export prompt {} --format bundle --output DIR`) to run it on a copy of the model",
                run.display(),
                run.display()
            )));
        }
        tune::TunedRun::load(run, &device)?
    };
    let (mut tuned, precision) = (tuned, precision.unwrap_or(config.precision));
    tuned.set_precision(precision)?;
    crate::note_precision(precision);
    let rows = load_rows(input, data, config.template.as_deref(), "input")?;
    if tuned.thresholds().is_none() {
        crate::check_labels_in(input, &rows, &tuned.classes())?;
    }
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    let preds = tuned.classify(&rows, &mut |done, _| {
        bar.set_position(done as u64);
        true
    })?;
    bar.finish_and_clear();
    write_predictions(&preds, output)?;
    if tuned.thresholds().is_some() {
        return print_multi_label_evaluation(&rows, &preds, &tuned.classes());
    }
    let classes: Vec<String> =
        preds.first().map(|p| p.probs.iter().map(|(c, _)| c.clone()).collect()).unwrap_or_default();
    match cloze::classify::evaluate(&preds, &classes)? {
        Some(e) => print_evaluation(&e),
        None => errln!(
            "{} rows classified with the {} run (no labels, so no accuracy)",
            preds.len(),
            config.strategy.name()
        ),
    }
    Ok(())
}

/// A multi-label run's predictions against the rows' label sets, when they have them.
fn print_multi_label_evaluation(
    rows: &[cloze::data::Example],
    preds: &[cloze::classify::Prediction],
    labels: &[String],
) -> Result<()> {
    let mut gold = Vec::new();
    let mut predicted = Vec::new();
    for (row, p) in rows.iter().zip(preds) {
        let Some(g) = cloze::multilabel::parse_labels(row, labels)? else { continue };
        let mut guess = row.clone();
        guess.label = Some(p.predicted.clone());
        predicted.push(cloze::multilabel::parse_labels(&guess, labels)?.unwrap_or_default());
        gold.push(g);
    }
    if gold.is_empty() {
        errln!("{} rows classified with the multi-label run (no labels, so no metrics)", preds.len());
        return Ok(());
    }
    let m = cloze::multilabel::metrics(&predicted, &gold, labels);
    errln!(
        "{} labelled rows: micro-F1 {:.4}  macro-F1 {:.4}  subset accuracy {:.4}  Hamming loss {:.4}",
        m.rows,
        m.micro_f1,
        m.macro_f1,
        m.subset_accuracy,
        m.hamming_loss
    );
    for (label, s) in &m.per_label {
        errln!(
            "  {label:<16} precision {:.3}  recall {:.3}  F1 {:.3}  support {}",
            s.precision,
            s.recall,
            s.f1,
            s.support
        );
    }
    Ok(())
}
