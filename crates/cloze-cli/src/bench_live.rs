//! Benchmarks of the desktop app's interactive paths, through the same studio calls its commands
//! make. `cloze bench live`: the prompt studio's live preview — the zero-shot call on a handful of
//! sample rows after every edit of the template (alternating between two templates so nothing is
//! cached); the target is under 300 ms on a small model. `cloze bench label`: one labelling key.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use cloze::hub::HubClient;
use cloze::studio::Studio;
use cloze::studio::views::{DeviceKind, ImportRequest, ImportResult, ImportSettings, PromptSpec, SplitName};
use cloze::verbalizer::{Class, Verbalizer};
use cloze::{Error, Result};

use crate::bench_store::{generate_csv, work_dir};

#[derive(Args, Debug)]
pub struct LiveBenchArgs {
    /// The model folder (a BERT / RoBERTa / XLM-R / DistilBERT masked LM).
    #[arg(long, short = 'm', value_name = "DIR")]
    model: PathBuf,
    /// Sample rows scored per edit (the app shows 5).
    #[arg(long, default_value_t = 5)]
    rows: usize,
    /// Timed edits.
    #[arg(long, default_value_t = 30)]
    reps: usize,
}

/// A studio with a new project in `dir` holding `rows` generated review rows.
fn project(
    dir: &Path,
    rows: usize,
    settings: ImportSettings,
    classes: Vec<String>,
) -> Result<(Studio, ImportResult)> {
    let csv = dir.join("rows.csv");
    generate_csv(&csv, rows.max(1))?;
    let studio = Studio::new(dir.join("config"), HubClient::from_env().with_offline(true));
    studio.create_project(dir.join("bench.cloze").to_str().unwrap_or("bench.cloze"))?;
    let request = ImportRequest {
        path: csv.display().to_string(),
        name: "rows".into(),
        settings,
        split: SplitName::Train,
        classes,
    };
    let imported = studio.import_dataset(&request, &mut |_| true)?;
    Ok((studio, imported))
}

pub fn live(args: LiveBenchArgs) -> Result<()> {
    let (dir, _) = work_dir(&None, "live")?;
    let result = (|| -> Result<()> {
        let (studio, imported) = project(&dir, args.rows, ImportSettings::default(), vec![])?;
        let ids: Vec<i64> = studio
            .rows_page(imported.dataset.id, None, 0, args.rows as i64)?
            .rows
            .iter()
            .map(|r| r.id)
            .collect();
        let model = studio.load_model(&args.model.display().to_string(), DeviceKind::Cpu, &mut |_| true)?;
        let verbalizer = Verbalizer::new(vec![
            Class { name: "negative".into(), words: vec!["terrible".into(), "bad".into()] },
            Class { name: "positive".into(), words: vec!["great".into(), "good".into()] },
        ])?;
        let templates = ["{text_a} It was {mask}.", "{text_a} All in all, it was {mask}."];
        let mut times = Vec::with_capacity(args.reps);
        for i in 0..args.reps + 2 {
            let prompt = PromptSpec {
                template: templates[i % 2].into(),
                verbalizer: verbalizer.clone(),
                calibrate: false,
                chat: Default::default(),
            };
            let t = Instant::now();
            let preds = studio.zero_shot(&prompt, &ids)?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if preds.len() != ids.len() {
                return Err(Error::invalid("the live preview returned the wrong number of rows"));
            }
            if i >= 2 {
                times.push(ms); // the first two are warm-up
            }
        }
        times.sort_by(f64::total_cmp);
        let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        outln!(
            "live: {} ({}, {:.1}M parameters), {} rows per edit: median {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} edits",
            args.model.display(),
            model.family,
            model.parameters / 1e6,
            ids.len(),
            pick(0.5),
            pick(0.95),
            pick(1.0),
            times.len()
        )?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[derive(Args, Debug)]
pub struct LabelBenchArgs {
    /// Rows in the generated project.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Keys pressed (every fifth an undo), each timed as the app's command runs it.
    #[arg(long, default_value_t = 200)]
    keys: usize,
}

/// `cloze bench label`: one labelling key in the desktop app — the studio's label / undo call,
/// which records the label and returns the next row, the counters and the redrawn distribution
/// chart — on a large project.
pub fn label(args: LabelBenchArgs) -> Result<()> {
    let (dir, _) = work_dir(&None, "label")?;
    let result = (|| -> Result<()> {
        // The generated rows without their labels, to be labelled.
        let settings = ImportSettings {
            label_column: None,
            text_column: Some("text".into()),
            explicit_columns: true,
            ..Default::default()
        };
        let classes = vec!["negative".into(), "positive".into()];
        let (studio, imported) = project(&dir, args.rows, settings, classes)?;
        let set = imported.label_set.ok_or_else(|| Error::invalid("the import made no label set"))?;
        studio.start_labelling(set.id, cloze::label::QueueOrder::FileOrder, None)?;
        let mut times = Vec::with_capacity(args.keys);
        for k in 0..args.keys {
            let t = Instant::now();
            if k % 5 == 4 {
                studio.undo_last()?;
            } else {
                studio.label_current(k % 2)?;
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        outln!(
            "label: {} rows, {} keys (label or undo, with next row, counters and chart): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            args.rows,
            times.len(),
            pick(0.5),
            pick(0.95),
            pick(1.0)
        )?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
