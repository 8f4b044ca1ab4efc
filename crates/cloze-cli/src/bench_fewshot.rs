//! `cloze bench fewshot`: LM-BFF's few-shot protocol (see [`cloze::tune::fewshot`]) — K training
//! and K dev rows per class drawn with each seed, every method trained on the same sample with its
//! default hyperparameters, the test rows scored — printed as a table of mean ± s.d. over the
//! seeds, with SetFit's column when `scripts/setfit-fewshot.py --protocol DIR` has filled it in.
//! The job resumes: a cell with a result is not run again, and an interrupted run continues.

use std::path::PathBuf;

use clap::Args;
use cloze::plm::{DeviceChoice, Plm};
use cloze::tune::fewshot::{self, Cell, Layout, Method};
use cloze::tune::{DataSource, TuneConfig, TuneStrategy};
use cloze::verbalizer::Verbalizer;
use cloze::{Error, Result};

use crate::DataArgs;
use crate::choices::{self, engine};
use crate::tune_cmd::{load_rows, progress_bar, show_event};

#[derive(Args, Debug)]
pub struct FewshotBenchArgs {
    /// The model folder, or a cached Hugging Face repository id.
    #[arg(long, short = 'm', value_name = "DIR|REPO")]
    model: String,
    /// cpu, cuda[:N] or metal.
    #[arg(long, default_value = "cpu", value_parser = engine::<DeviceChoice>)]
    device: DeviceChoice,
    /// The training file the samples are drawn from (labelled).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// The test file (labelled). Without it, --test-rows rows are held out of --data with a fixed
    /// seed, as LM-BFF does for MR, CR, SUBJ and MPQA.
    #[arg(long, value_name = "FILE")]
    test: Option<PathBuf>,
    #[arg(long, value_name = "N", default_value_t = fewshot::DEFAULT_TEST_ROWS)]
    test_rows: usize,
    #[command(flatten)]
    columns: DataArgs,
    /// Rows per class for training, and as many again for model selection (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "K,...", default_values_t = [8u32, 16])]
    shots: Vec<u32>,
    /// One sample per seed (LM-BFF's five by default).
    #[arg(long, value_delimiter = ',', value_name = "SEED,...", default_values_t = cloze::tune::seeds::LM_BFF_SEEDS)]
    seeds: Vec<u64>,
    /// The methods to run: soft-prompt, finetune, probe, contrastive, auto, zero-shot (the
    /// template and verbalizer untrained), demos (with --demo-template); setfit's column is read
    /// from the folder when the script has written it.
    #[arg(long, value_delimiter = ',', value_name = "METHOD,...", value_parser = engine::<Method>,
          default_value = "probe,contrastive,finetune,soft-prompt,auto")]
    methods: Vec<Method>,
    /// The template of the prompt-based methods (and `auto`'s input).
    #[arg(long, short = 't')]
    template: Option<String>,
    /// The soft-prompt column's template (default: 8 {soft} vectors before --template).
    #[arg(long)]
    soft_template: Option<String>,
    /// The demos column's template: --template's prompt with {demo} where the sample's training
    /// rows go, each written out through the same template with its label word.
    #[arg(long, value_name = "TEMPLATE")]
    demo_template: Option<String>,
    /// Demonstrations per class for the demos column.
    #[arg(long, default_value_t = 1, value_name = "N")]
    demos_per_class: u32,
    /// random, or similar (the closest training rows by sentence embedding).
    #[arg(long, value_enum, default_value_t = choices::DemoSelect::Random)]
    demos_select: choices::DemoSelect,
    /// Label words per class (JSON file or inline JSON).
    #[arg(long, short = 'v', value_name = "FILE|JSON")]
    verbalizer: Option<String>,
    /// manual (label-word logits) or soft (a trained projection; for encoders without an MLM head).
    #[arg(long, value_enum, default_value_t = choices::VerbalizerKind::Manual)]
    verbalizer_kind: choices::VerbalizerKind,
    /// How a soft verbalizer starts (see `cloze tune --head-init`).
    #[arg(long, value_enum, default_value_t = choices::HeadInit::Auto)]
    head_init: choices::HeadInit,
    /// The protocol folder (samples, runs, results, table.md); an existing one is resumed.
    #[arg(long, short = 'o', value_name = "DIR")]
    out: PathBuf,
    /// Print the table of the results in --out and exit (nothing is trained).
    #[arg(long)]
    table_only: bool,
}

pub fn run(args: FewshotBenchArgs) -> Result<()> {
    let layout = Layout::new(&args.out);
    let mut shown: Vec<Method> = args.methods.clone();
    if !shown.contains(&Method::SetFit) {
        shown.push(Method::SetFit);
    }
    if args.table_only {
        return print_table(&layout, &args.shots, &args.seeds, &shown);
    }
    if args.shots.is_empty() || args.shots.contains(&0) {
        return Err(Error::invalid("--shots needs one or more K above 0, e.g. --shots 8,16"));
    }
    cloze::tune::seeds::check_seeds(&args.seeds)?;
    let device = args.device.open()?;
    let model = cloze::hub::resolve_model(&args.model)?;
    let info = Plm::load(&model, &device)?.info();
    let template = args.template.as_deref();
    let train = load_rows(&args.data, &args.columns, template, "training")?;
    let test = args.test.as_deref().map(|p| load_rows(p, &args.columns, template, "test")).transpose()?;
    let (pool, test) = fewshot::pool_and_test(train, test, args.test_rows)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    // The test rows of a held-out split are written once, so the SetFit script scores the same.
    if !layout.test().is_file() {
        fewshot::write_rows(&layout.test(), &test)?;
    }
    let verbalizer = args.verbalizer.as_deref().map(Verbalizer::from_file_or_json).transpose()?;
    let untrained = args.methods.iter().any(|m| matches!(m, Method::ZeroShot | Method::Demos));
    let prompt = match (template, &verbalizer) {
        (Some(t), Some(v)) if untrained => Some(fewshot::PromptColumns::new(
            model.clone(),
            t,
            v.clone(),
            args.demo_template.as_deref(),
            cloze::demo::DemoConfig { per_class: args.demos_per_class, selection: args.demos_select.into() },
        )?),
        _ => None,
    };
    let soft_template = args.soft_template.clone().or_else(|| template.map(|t| format!("{{soft:8}} {t}")));
    let config_for = |strategy: TuneStrategy| -> Result<TuneConfig> {
        let mut c = TuneConfig::new(
            strategy,
            model.clone(),
            DataSource::Files {
                train: args.data.clone(),
                dev: None,
                columns: args.columns.text_column.clone(),
                unlabelled: None,
            },
        );
        c.template = match strategy {
            TuneStrategy::SoftPrompt => soft_template.clone(),
            _ => args.template.clone(),
        };
        c.verbalizer = verbalizer.clone();
        c.verbalizer_kind = args.verbalizer_kind.into();
        c.head_init = args.head_init.into();
        c.validate()?;
        Ok(c)
    };
    errln!("cpu: {}", crate::bench_tune::cpu_model());
    errln!(
        "{}: {} rows to sample from, {} test rows; K = {}, seeds {}, methods {}",
        args.data.display(),
        pool.len(),
        test.len(),
        join(&args.shots),
        join(&args.seeds),
        join(&args.methods.iter().filter(|m| m.trained_here()).collect::<Vec<_>>()),
    );
    for &k in &args.shots {
        for &seed in &args.seeds {
            let (train, dev) = layout.sample(&pool, k, seed)?;
            for &method in args.methods.iter().filter(|m| m.trained_here()) {
                if layout.read_result(k, seed, method)?.is_some() {
                    continue;
                }
                errln!("K={k} seed {seed}: {method} ({} training rows, {} dev rows)", train.len(), dev.len());
                let bar = progress_bar();
                let cell = Cell {
                    k,
                    seed,
                    method,
                    config_for: &config_for,
                    model: &info,
                    template,
                    prompt: prompt.as_ref(),
                };
                let r = fewshot::run_cell(&layout, &cell, (&train, &dev), &test, &device, &mut |e| {
                    show_event(&bar, e)
                })?;
                bar.finish_and_clear();
                errln!(
                    "K={k} seed {seed}: {method}{}: test accuracy {:.4}  macro-F1 {:.4}  ({:.0} s)",
                    match (method, r.strategy) {
                        (Method::Auto, Some(s)) => format!(" (chose {})", s.name()),
                        _ => String::new(),
                    },
                    r.accuracy,
                    r.macro_f1,
                    r.seconds
                );
                write_table(&layout, &args.shots, &args.seeds, &shown)?;
            }
        }
    }
    print_table(&layout, &args.shots, &args.seeds, &shown)
}

fn join<T: std::fmt::Display>(xs: &[T]) -> String {
    xs.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

/// Writes `table.md` and `results.json` from the results in the folder; returns the Markdown.
fn write_table(layout: &Layout, ks: &[u32], seeds: &[u64], methods: &[Method]) -> Result<String> {
    let results = layout.results(ks, seeds, methods)?;
    let rows = fewshot::table(&results, ks, methods);
    let md = format!("cpu: {}\n\n{}", crate::bench_tune::cpu_model(), fewshot::markdown(&rows, ks, true));
    cloze::files::write_atomic(layout.root.join("table.md"), md.as_bytes())?;
    let json = serde_json::to_vec_pretty(&serde_json::json!({"rows": rows, "results": results}))
        .map_err(|e| Error::internal(format!("results.json: {e}")))?;
    cloze::files::write_atomic(layout.root.join("results.json"), &json)?;
    Ok(md)
}

fn print_table(layout: &Layout, ks: &[u32], seeds: &[u64], methods: &[Method]) -> Result<()> {
    let md = write_table(layout, ks, seeds, methods)?;
    outln!("{md}")?;
    Ok(())
}
