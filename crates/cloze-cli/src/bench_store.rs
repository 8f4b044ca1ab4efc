//! `cloze bench import` and `cloze bench queue`: the project store's speed on generated data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use cloze::data::{ImportOptions, SplitMix64};
use cloze::label::{Queue, QueueOrder};
use cloze::store::{LabelSource, NewLabel, Split, Store, Suggestion};
use cloze::{Error, Result};

#[derive(Args, Debug)]
pub struct ImportBenchArgs {
    /// Rows in the generated CSV.
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Import this file instead of a generated one.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to put the generated file and the project (default: a temporary folder, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct QueueBenchArgs {
    /// Rows in the generated project.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Next-item fetches timed per strategy (each followed by labelling that row, as a session does).
    #[arg(long, default_value_t = 200)]
    fetches: usize,
    /// Where to put the project (default: a temporary folder, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Peak resident memory of this process so far, in MiB (Linux: VmHWM).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub(crate) fn work_dir(dir: &Option<PathBuf>, name: &str) -> Result<(PathBuf, bool)> {
    let (d, temporary) = match dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("cloze-bench-{name}-{}", std::process::id())), true),
    };
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok((d, temporary))
}

/// Writes `rows` rows of review-like text with a label, a few of them quoted.
pub(crate) fn generate_csv(path: &Path, rows: usize) -> Result<u64> {
    let words = [
        "the", "film", "was", "great", "terrible", "acting", "plot", "boring", "funny", "sad", "music", "and",
    ];
    let mut rng = SplitMix64::new(7);
    let mut out = cloze::files::AtomicFile::create(path)?;
    let io = |e| Error::io(path, e);
    writeln!(out, "id,text,label").map_err(io)?;
    for i in 0..rows {
        let n = 8 + (rng.next_u64() % 24) as usize;
        let text: Vec<&str> = (0..n).map(|_| words[(rng.next_u64() % words.len() as u64) as usize]).collect();
        let label = if rng.next_u64().is_multiple_of(2) { "negative" } else { "positive" };
        if i % 50 == 0 {
            writeln!(out, "{i},\"{}, \"\"quoted\"\"\",{label}", text.join(" ")).map_err(io)?;
        } else {
            writeln!(out, "{i},{},{label}", text.join(" ")).map_err(io)?;
        }
    }
    out.commit()?;
    Ok(std::fs::metadata(path).map_err(io)?.len())
}

pub fn import(args: ImportBenchArgs) -> Result<()> {
    let (dir, temporary) = work_dir(&args.dir, "import")?;
    let input = match &args.input {
        Some(p) => p.clone(),
        None => {
            let p = dir.join("generated.csv");
            let t = Instant::now();
            let bytes = generate_csv(&p, args.rows)?;
            errln!(
                "generated {} rows ({:.1} MB) in {:.1} s",
                args.rows,
                bytes as f64 / 1e6,
                t.elapsed().as_secs_f64()
            );
            p
        }
    };
    let bytes = std::fs::metadata(&input).map_err(|e| Error::io(&input, e))?.len();
    let project = dir.join("bench.cloze");
    let _ = std::fs::remove_file(&project);
    let rss_before = peak_rss_mib();
    let mut store = Store::create(&project)?;
    let t = Instant::now();
    let summary =
        store.import_dataset("bench", &input, &ImportOptions::default(), Split::Train, &mut |_| true)?;
    let secs = t.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(&project).map(|m| m.len()).unwrap_or(0);
    outln!(
        "import: {} rows ({:.1} MB CSV) in {:.2} s = {:.0} rows/s, {:.1} MB/s; peak RSS {:.1} MiB (before import {:.1} MiB); \
         project file {:.1} MB",
        summary.rows,
        bytes as f64 / 1e6,
        secs,
        summary.rows as f64 / secs,
        bytes as f64 / 1e6 / secs,
        peak_rss_mib().unwrap_or(f64::NAN),
        rss_before.unwrap_or(f64::NAN),
        db_bytes as f64 / 1e6
    )?;
    drop(store);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

pub fn queue(args: QueueBenchArgs) -> Result<()> {
    let (dir, temporary) = work_dir(&args.dir, "queue")?;
    let csv = dir.join("rows.csv");
    generate_csv(&csv, args.rows)?;
    let project = dir.join("queue.cloze");
    let _ = std::fs::remove_file(&project);
    let mut store = Store::create(&project)?;
    let d = store.import_dataset("bench", &csv, &ImportOptions::default(), Split::Train, &mut |_| true)?;
    let classes: Vec<String> = vec!["negative".into(), "positive".into()];
    let set = store.create_label_set(d.dataset.id, "fresh", &classes)?;
    let ids: Vec<i64> = {
        let rows = store.rows(d.dataset.id, 0, args.rows as i64)?;
        rows.iter().map(|r| r.id).collect()
    };
    // Two runs with random suggestions for every row.
    let mut rng = SplitMix64::new(11);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = store.start_run("zero-shot", &serde_json::json!({"bench": true}), 0, Some(set.id))?;
        for chunk in ids.chunks(10_000) {
            let s = chunk
                .iter()
                .map(|&r| {
                    let p = rng.next_f64();
                    Suggestion::from_probs(run, r, &classes, &[1.0 - p, p])
                })
                .collect::<Result<Vec<_>>>()?;
            store.put_suggestions(&s)?;
        }
        runs.push(run);
    }
    outln!("queue: project of {} rows with suggestions from 2 runs", ids.len())?;
    let strategies = [
        QueueOrder::FileOrder,
        QueueOrder::Random { seed: 3 },
        QueueOrder::LeastConfidence,
        QueueOrder::Margin,
        QueueOrder::Entropy,
        QueueOrder::Disagreement { other_run: runs[1] },
    ];
    for (k, strategy) in strategies.into_iter().enumerate() {
        let annotator = format!("bench-{k}");
        let queue = Queue::new(set.clone(), strategy, Some(runs[0]), Some(annotator.clone()))?;
        let mut times = Vec::with_capacity(args.fetches);
        for _ in 0..args.fetches {
            let t = Instant::now();
            let Some(item) = queue.next(&store, &[])? else { break };
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            store.add_label(&NewLabel {
                label_set_id: set.id,
                row_id: item.row.id,
                value: &classes[0],
                source: LabelSource::Human,
                confidence: None,
                annotator: Some(&annotator),
                run_id: None,
                seen: item.seen,
            })?;
        }
        times.sort_by(f64::total_cmp);
        let pct = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        outln!(
            "  {:<18} next item: median {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} fetches",
            format!("{strategy:?}").split_whitespace().next().unwrap_or(""),
            pct(0.5),
            pct(0.99),
            times[times.len() - 1],
            times.len()
        )?;
    }
    drop(store);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
