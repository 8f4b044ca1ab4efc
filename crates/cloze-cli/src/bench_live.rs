//! `cloze bench live`: the prompt studio's live preview as the desktop app runs it — the studio's
//! zero-shot call on a handful of sample rows, after every edit of the template (alternating
//! between two templates so nothing is cached). The target is under 300 ms on a small model.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use cloze::hub::HubClient;
use cloze::studio::Studio;
use cloze::studio::views::{DeviceKind, ImportRequest, ImportSettings, PromptSpec, SplitName};
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

pub fn live(args: LiveBenchArgs) -> Result<()> {
    let (dir, _) = work_dir(&None, "live")?;
    let result = (|| -> Result<()> {
        let csv = dir.join("rows.csv");
        generate_csv(&csv, args.rows.max(1))?;
        let studio = Studio::new(dir.join("config"), HubClient::from_env().with_offline(true));
        studio.create_project(dir.join("live.cloze").to_str().unwrap_or("live.cloze"))?;
        let request = ImportRequest {
            path: csv.display().to_string(),
            name: "rows".into(),
            settings: ImportSettings::default(),
            split: SplitName::Train,
            classes: vec![],
        };
        let imported = studio.import_dataset(&request, &mut |_| true)?;
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
        println!(
            "live: {} ({}, {:.1}M parameters), {} rows per edit: median {:.1} ms, p95 {:.1} ms, max {:.1} ms over {} edits",
            args.model.display(),
            model.family,
            model.parameters / 1e6,
            ids.len(),
            pick(0.5),
            pick(0.95),
            pick(1.0),
            times.len()
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
