//! Cost before you start (`tune::estimate`) on the tiny random fixtures: what it counts (updates,
//! evaluations, rows, lengths) follows from the settings alone and repeats exactly; the times and
//! memory are positive and add up; it writes nothing; cancelling stops it; a run keeps the
//! estimate beside its measured wall time and peak memory.

use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::data::Example;
use cloze::error::ErrorKind;
use cloze::tune::{self, DataSource, TuneConfig, TuneStrategy};
use cloze::verbalizer::Verbalizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

fn fixture(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

fn rows(n: usize, offset: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            let k = i + offset;
            let words = ["good film", "bad plot", "a long and slow story about nothing", "wonderful"];
            let mut ex = Example::new(format!("r{k}"), format!("{} {}", words[k % 4], "word ".repeat(k % 7)));
            ex.label = Some(if k.is_multiple_of(2) { "positive" } else { "negative" }.into());
            ex
        })
        .collect()
}

fn config(strategy: TuneStrategy, model: &str) -> TuneConfig {
    let mut c = TuneConfig::new(strategy, fixture(model), DataSource::Inline);
    c.template = Some("{soft:4} {text_a} It was {mask}.".into());
    c.verbalizer =
        Some(Verbalizer::from_json(r#"{"negative": ["terrible"], "positive": ["great"]}"#).unwrap());
    c.hyper.epochs = 3;
    c.hyper.batch_size = 4;
    c
}

/// The same estimate, read back from JSON (whose floats may differ in the last bit).
fn assert_same(a: &tune::Estimate, b: &tune::Estimate) {
    assert_eq!(
        (a.steps, a.evaluations, a.peak_bytes, &a.measurement.update_tokens),
        (b.steps, b.evaluations, b.peak_bytes, &b.measurement.update_tokens)
    );
    assert!((a.seconds - b.seconds).abs() < 1e-9 && (a.train_seconds - b.train_seconds).abs() < 1e-9);
}

#[test]
fn the_estimate_counts_what_the_run_does_and_repeats_it() {
    let (train, dev) = (rows(10, 0), rows(7, 100));
    let cfg = config(TuneStrategy::SoftPrompt, "roberta");
    let before: Vec<_> = std::fs::read_dir(fixture("roberta")).unwrap().map(|e| e.unwrap().path()).collect();
    let mut stages = Vec::new();
    let e = tune::estimate(&cfg, &train, &dev, &Device::Cpu, &mut |stage, _, _| {
        stages.push(stage.to_string());
        true
    })
    .unwrap();
    // 10 rows in batches of 4: 3 updates an epoch, 3 epochs; an evaluation after each epoch and
    // the final one.
    assert_eq!((e.steps, e.evaluations, e.train_rows, e.dev_rows), (9, 4, 10, 7));
    assert_eq!(e.measurement.batch_size, 4);
    assert!(e.measurement.updates_timed >= 3 && e.measurement.updates_timed <= 5, "{:?}", e.measurement);
    assert_eq!(e.measurement.update_seconds.len() as u32, e.measurement.updates_timed);
    assert!(
        e.measurement.shortest <= e.measurement.typical && e.measurement.typical <= e.measurement.longest
    );
    assert!(e.measurement.rows > 0 && e.measurement.rows <= 10);
    let parts = e.load_seconds + e.features_seconds + e.train_seconds + e.eval_seconds + e.save_seconds;
    assert!((e.seconds - parts).abs() < 1e-9 && e.seconds > 0.0, "{e:?}");
    assert!(e.train_seconds > 0.0 && e.eval_seconds > 0.0);
    assert!((e.seconds_per_step * 9.0 - e.train_seconds).abs() < 1e-9);
    if cfg!(target_os = "linux") {
        assert!(e.peak_bytes.unwrap() > 1 << 20, "{:?}", e.peak_bytes);
        assert!(e.memory.contains("VmHWM"));
    }
    assert!(stages.iter().any(|s| s.contains("updates")) && stages.iter().any(|s| s.contains("evaluation")));
    // What it counts is the same the second time.
    let again = tune::estimate(&cfg, &train, &dev, &Device::Cpu, &mut |_, _, _| true).unwrap();
    let counted = |e: &tune::Estimate| {
        let m = &e.measurement;
        (e.steps, e.evaluations, m.updates_timed, m.update_tokens.clone(), m.rows, m.shortest, m.longest)
    };
    assert_eq!(counted(&e), counted(&again));
    // Nothing written beside the model.
    let after: Vec<_> = std::fs::read_dir(fixture("roberta")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(before, after);
    // It serialises for the run folder and the app.
    let json = serde_json::to_string(&e).unwrap();
    assert_same(&serde_json::from_str::<tune::Estimate>(&json).unwrap(), &e);

    // No dev rows: no evaluations; a step limit and gradient accumulation change the count.
    let mut limited = cfg.clone();
    limited.hyper.max_steps = Some(2);
    limited.hyper.grad_accumulation = 2;
    let e = tune::estimate(&limited, &train, &[], &Device::Cpu, &mut |_, _, _| true).unwrap();
    assert_eq!((e.steps, e.evaluations, e.eval_seconds), (2, 0, 0.0));
    assert_eq!(e.measurement.grad_accumulation, 2);
}

#[test]
fn every_strategy_and_family_is_estimated() {
    let (train, dev) = (rows(8, 0), rows(4, 50));
    for (strategy, model) in [
        (TuneStrategy::Finetune, "bert"),
        (TuneStrategy::Probe, "roberta"),
        (TuneStrategy::Pretrain, "roberta"),
        (TuneStrategy::SoftPrompt, "llama"),
        (TuneStrategy::Pretrain, "t5"),
    ] {
        let mut cfg = config(strategy, model);
        if strategy != TuneStrategy::SoftPrompt {
            cfg.template = Some("{text_a} It was {mask}.".into());
        }
        cfg.hyper.epochs = 2;
        let e = tune::estimate(&cfg, &train, &dev, &Device::Cpu, &mut |_, _, _| true)
            .unwrap_or_else(|err| panic!("{strategy:?} on {model}: {err}"));
        assert_eq!(e.strategy, strategy);
        assert_eq!(e.steps, 4, "{strategy:?}");
        assert_eq!(e.evaluations, 3, "{strategy:?}");
        assert!(e.seconds > 0.0 && e.train_seconds > 0.0, "{strategy:?}: {e:?}");
        assert_eq!(e.features_seconds > 0.0, strategy == TuneStrategy::Probe, "{strategy:?}");
    }
}

#[test]
fn cancelling_stops_the_estimate() {
    let cfg = config(TuneStrategy::SoftPrompt, "roberta");
    let mut calls = 0;
    let err = tune::estimate(&cfg, &rows(8, 0), &rows(4, 9), &Device::Cpu, &mut |_, _, _| {
        calls += 1;
        calls < 3
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn a_run_keeps_its_estimate_beside_what_it_took() {
    let cfg = config(TuneStrategy::SoftPrompt, "roberta");
    let (train, dev) = (rows(8, 0), rows(4, 9));
    let e = tune::estimate(&cfg, &train, &dev, &Device::Cpu, &mut |_, _, _| true).unwrap();
    let dir = std::env::temp_dir().join(format!("cloze-estimate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s =
        tune::run_estimated(&cfg, &train, &dev, &dir, &Device::Cpu, false, Some(&e), &mut |_| true).unwrap();
    let run = tune::RunDir::new(&dir);
    assert_same(&run.read_estimate().unwrap().unwrap(), &e);
    let stored = run.read_summary().unwrap().unwrap();
    assert_eq!(stored, s);
    let wall = s.wall_seconds.unwrap();
    assert!(wall >= s.seconds && wall > 0.0, "{wall} {}", s.seconds);
    if cfg!(target_os = "linux") {
        assert!(s.peak_bytes.unwrap() > 1 << 20);
    }
    // A run started without one has none.
    let plain = dir.with_extension("plain");
    let _ = std::fs::remove_dir_all(&plain);
    tune::run(&cfg, &train, &dev, &plain, &Device::Cpu, false, &mut |_| true).unwrap();
    assert_eq!(tune::RunDir::new(&plain).read_estimate().unwrap(), None);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(plain);
}
