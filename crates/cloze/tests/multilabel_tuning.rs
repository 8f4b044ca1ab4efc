//! Multi-label tuning on the tiny random RoBERTa fixture: sentences carry a sentiment word and a
//! topic word, independently, and a row's label set is any subset of {pos, food} ("pos" when the
//! sentiment word is positive, "food" when the topic is food). Every supervised strategy trains with
//! the per-label binary loss and must beat the untrained model's micro-F1 at the same thresholds;
//! the run records the multi-label metrics, and the run loaded back predicts the label sets it
//! recorded.

use std::path::{Path, PathBuf};

use candle_core::Device;
use cloze::data::{Example, SplitMix64};
use cloze::tune::{self, DataSource, MultiLabel, ThresholdRule, TuneConfig, TuneStrategy, TunedRun};
use cloze::verbalizer::Verbalizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

fn roberta() -> PathBuf {
    Path::new(ROOT).join("roberta")
}

const POSITIVE: [&str; 4] = ["good", "wonderful", "excellent", "nice"];
const NEGATIVE: [&str; 4] = ["bad", "awful", "boring", "slow"];

fn rows(n: usize, seed: u64) -> Vec<Example> {
    let mut rng = SplitMix64::new(seed);
    let filler = ["the", "story", "music", "was", "and", "this", "plot", "service"];
    (0..n)
        .map(|i| {
            let positive = i % 2 == 0;
            let food = (i / 2) % 2 == 0;
            let mut words: Vec<&str> =
                (0..2 + rng.below(3)).map(|_| filler[rng.below(filler.len())]).collect();
            let signal = if positive { POSITIVE[rng.below(4)] } else { NEGATIVE[rng.below(4)] };
            words.insert(rng.below(words.len() + 1), signal);
            words.insert(rng.below(words.len() + 1), if food { "food" } else { "film" });
            let mut ex = Example::new(format!("r{i}"), words.join(" "));
            let labels: Vec<&str> =
                [(positive, "pos"), (food, "food")].iter().filter(|x| x.0).map(|x| x.1).collect();
            ex.label = Some(labels.join(";"));
            ex
        })
        .collect()
}

fn config(strategy: TuneStrategy) -> TuneConfig {
    let mut c = TuneConfig::new(strategy, roberta(), DataSource::Inline);
    if matches!(strategy, TuneStrategy::SoftPrompt | TuneStrategy::Finetune) {
        c.template = Some("{text_a} It was {mask}.".into());
        c.verbalizer = Some(Verbalizer::from_json(r#"{"pos": ["great"], "food": ["food"]}"#).unwrap());
    }
    c.multi_label = Some(MultiLabel { labels: vec![], thresholds: ThresholdRule::Half });
    c.hyper.dropout = Some(0.0);
    c.hyper.seed = 7;
    c
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloze-mltune-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `cfg` into a new folder, checks what it recorded and what the loaded run predicts, and
/// returns the folder and the final micro-F1.
fn run_and_check(cfg: &TuneConfig, name: &str) -> (PathBuf, f64) {
    let device = Device::Cpu;
    let (train, dev) = (rows(64, 5), rows(32, 6));
    let dir = temp(name);
    let s = tune::run(cfg, &train, &dev, &dir, &device, false, &mut |_| true).unwrap();
    let m = s.final_metrics.clone().unwrap();
    let ml = m.multi_label.clone().expect("multi-label metrics");
    assert_eq!(m.accuracy, None);
    assert_eq!(m.score, ml.micro_f1);
    assert_eq!(ml.thresholds.len(), 2);
    // The config keeps the multi-label settings.
    let (stored, run) = TunedRun::load(&dir, &device).unwrap();
    assert_eq!(stored.multi_label, cfg.multi_label);
    assert_eq!(run.thresholds().map(<[f32]>::len), Some(2));
    let preds = run.classify(&dev, &mut |_, _| true).unwrap();
    let recorded = tune::RunDir::new(&dir).read_predictions().unwrap();
    assert_eq!(recorded.len(), dev.len());
    for (p, r) in preds.iter().zip(&recorded) {
        assert_eq!((&p.id, &p.predicted), (&r.id, &r.predicted), "{name}");
        // Per-label probabilities, not a distribution over labels.
        for (k, (_, v)) in p.probs.iter().enumerate() {
            assert!((f64::from(*v) - r.probs[k]).abs() < 1e-4, "{name}: {p:?} vs {r:?}");
        }
    }
    (dir, ml.micro_f1)
}

#[test]
fn every_supervised_strategy_trains_multi_label() {
    let cases: [(TuneStrategy, f64, u32, f64); 4] = [
        // strategy, learning rate, epochs, the micro-F1 it must reach
        (TuneStrategy::Finetune, 3e-3, 8, 0.9),
        (TuneStrategy::SoftPrompt, 3e-2, 10, 0.9),
        (TuneStrategy::Probe, 1e-2, 60, 0.8),
        (TuneStrategy::Contrastive, 3e-3, 1, 0.8),
    ];
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (strategy, lr, epochs, floor) in cases {
        let mut cfg = config(strategy);
        cfg.hyper.learning_rate = lr;
        cfg.hyper.epochs = epochs;
        if strategy == TuneStrategy::SoftPrompt {
            // A random model's label words carry nothing for a frozen model to draw out: the soft
            // prompt (and the labels' biases) train over the fine-tuned model of the first case,
            // with its own template.
            cfg.model = dirs[0].join("model");
            cfg.template = Some("{soft:4} {text_a} {mask}!".into());
        }
        if strategy == TuneStrategy::Contrastive {
            cfg.contrastive = Some(tune::ContrastiveOptions { iterations: Some(4), ..Default::default() });
        }
        let (dir, f1) = run_and_check(&cfg, strategy.name());
        dirs.push(dir);
        eprintln!("{}: dev micro-F1 {f1:.3}", strategy.name());
        assert!(f1 >= floor, "{}: micro-F1 {f1} < {floor}", strategy.name());
    }
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn thresholds_fitted_on_dev_are_kept_and_used() {
    let mut cfg = config(TuneStrategy::Probe);
    cfg.multi_label =
        Some(MultiLabel { labels: vec!["food".into(), "pos".into()], thresholds: ThresholdRule::FitOnDev });
    cfg.hyper.epochs = 5;
    let device = Device::Cpu;
    let dir = temp("fitted");
    let s = tune::run(&cfg, &rows(32, 1), &rows(16, 2), &dir, &device, false, &mut |_| true).unwrap();
    let ml = s.final_metrics.unwrap().multi_label.unwrap();
    assert_eq!(ml.rule, ThresholdRule::FitOnDev);
    let (_, run) = TunedRun::load(&dir, &device).unwrap();
    let want: Vec<f32> = ml.thresholds.iter().map(|&t| t as f32).collect();
    assert_eq!(run.thresholds().unwrap(), want.as_slice());
    assert_eq!(run.classes(), vec!["food".to_string(), "pos".to_string()]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn multi_label_runs_refuse_what_they_cannot_do() {
    let device = Device::Cpu;
    // A label outside the run's labels names the row.
    let mut cfg = config(TuneStrategy::Probe);
    cfg.multi_label = Some(MultiLabel { labels: vec!["pos".into(), "food".into()], ..Default::default() });
    let mut train = rows(8, 1);
    train[3].label = Some("pos;sport".into());
    let e =
        tune::run(&cfg, &train, &[], &temp("bad"), &device, false, &mut |_| true).unwrap_err().to_string();
    assert!(e.contains("training row 4") && e.contains("\"sport\""), "{e}");
    // {demo}, distillation, labels that are not the verbalizer's classes: refused before loading.
    let mut demo = config(TuneStrategy::Finetune);
    demo.template = Some("{demo} {text_a} It was {mask}.".into());
    assert!(demo.validate().unwrap_err().to_string().contains("{demo}"));
    let mut other = config(TuneStrategy::Finetune);
    other.multi_label = Some(MultiLabel { labels: vec!["pos".into(), "sport".into()], ..Default::default() });
    assert!(other.validate().unwrap_err().to_string().contains("verbalizer's classes"));
    let ensemble = cloze::ensemble::Ensemble {
        format: 1,
        model: None,
        classes: vec!["pos".into(), "food".into()],
        members: vec![],
        weighting: cloze::ensemble::Weighting::Uniform,
        weights: vec![],
        combiner: None,
        fit: None,
    };
    let mut d = config(TuneStrategy::Probe);
    d.distill = Some(tune::distill::Distill { ensemble, teacher: None, temperature: 2.0 });
    let e = d.validate().unwrap_err().to_string();
    assert!(e.contains("distillation cannot train a multi-label run"), "{e}");
    // The config round-trips through JSON with its multi-label settings.
    let json = serde_json::to_string(&config(TuneStrategy::Probe)).unwrap();
    assert!(json.contains("\"multi_label\":{\"labels\":[],\"thresholds\":\"half\"}"), "{json}");
    let back: TuneConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config(TuneStrategy::Probe));
}
