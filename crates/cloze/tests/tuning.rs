//! Tuning on the tiny random RoBERTa fixture and a synthetic sentiment task (a sentence of filler
//! words with one signal word: good / wonderful / excellent / nice → positive, bad / awful /
//! boring / slow → negative). Checks that each strategy really learns, that soft-prompt tuning
//! leaves every model weight bit-identical, that a seed repeats a run bit for bit, that a cancelled
//! run resumes to the same result, and that saved checkpoints load back.

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor, Var};
use cloze::data::{Example, SplitMix64};
use cloze::plm::Plm;
use cloze::tune::prompt_task::{PromptObjective, evaluate_rows, render_rows};
use cloze::tune::{
    self, DataSource, PromptModel, SoftInit, TuneConfig, TuneEvent, TuneStrategy, TunedRun, VerbalizerKind,
    trainer,
};
use cloze::verbalizer::Verbalizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

fn roberta() -> PathBuf {
    Path::new(ROOT).join("roberta")
}

const FILLER: [&str; 12] =
    ["the", "film", "story", "music", "actors", "was", "and", "this", "movie", "plot", "food", "service"];
const POSITIVE: [&str; 4] = ["good", "wonderful", "excellent", "nice"];
const NEGATIVE: [&str; 4] = ["bad", "awful", "boring", "slow"];

fn synthetic(n: usize, seed: u64) -> Vec<Example> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let positive = i % 2 == 0;
            let len = 3 + rng.below(4);
            let mut words: Vec<&str> = (0..len).map(|_| FILLER[rng.below(FILLER.len())]).collect();
            let signal = if positive { POSITIVE[rng.below(4)] } else { NEGATIVE[rng.below(4)] };
            words.insert(rng.below(len + 1), signal);
            let mut ex = Example::new(format!("r{i}"), words.join(" "));
            ex.label = Some(if positive { "positive" } else { "negative" }.into());
            ex
        })
        .collect()
}

fn verbalizer() -> Verbalizer {
    Verbalizer::from_json(r#"{"negative": ["terrible"], "positive": ["great"]}"#).unwrap()
}

fn config(strategy: TuneStrategy) -> TuneConfig {
    let mut c = TuneConfig::new(strategy, roberta(), DataSource::Inline);
    c.template = Some("{soft:8} {text_a} It was {mask}.".into());
    c.verbalizer = Some(verbalizer());
    c.hyper.dropout = Some(0.0);
    c.hyper.seed = 7;
    c
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloze-tuning-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn weights_bits(plm: &Plm) -> Vec<(String, Vec<u32>)> {
    plm.named_weights()
        .into_iter()
        .map(|(n, t)| {
            (n, t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

/// Rows for two tasks on the same sentences — sentiment (good/bad words) and topic (food or film),
/// independent of each other — each labelled positive/negative (topic: food → positive).
fn two_tasks(n: usize, seed: u64) -> Vec<(Example, bool, bool)> {
    let mut rng = SplitMix64::new(seed);
    let filler = ["the", "story", "music", "was", "and", "this", "plot", "service"];
    (0..n)
        .map(|i| {
            let positive = i % 2 == 0;
            let food = rng.below(2) == 0;
            let mut words: Vec<&str> =
                (0..2 + rng.below(3)).map(|_| filler[rng.below(filler.len())]).collect();
            let signal = if positive { POSITIVE[rng.below(4)] } else { NEGATIVE[rng.below(4)] };
            words.insert(rng.below(words.len() + 1), signal);
            words.insert(rng.below(words.len() + 1), if food { "food" } else { "film" });
            (Example::new(format!("r{i}"), words.join(" ")), positive, food)
        })
        .collect()
}

fn labelled(rows: &[(Example, bool, bool)], cue: Option<&str>, by_topic: bool) -> Vec<Example> {
    rows.iter()
        .map(|(ex, positive, food)| {
            let mut ex = ex.clone();
            if let Some(c) = cue {
                ex.text_a = format!("{c} {}", ex.text_a);
            }
            let yes = if by_topic { *food } else { *positive };
            ex.label = Some(if yes { "positive" } else { "negative" }.into());
            ex
        })
        .collect()
}

/// A random model knows nothing for a prompt to draw out, so the test first teaches the tiny model
/// two tasks on the same sentences (as pretraining would), each announced by a cue word: "time"
/// for sentiment, "place" (or none) for topic. Without a cue the model answers the topic, which is
/// independent of sentiment, so it scores sentiment near chance; soft-prompt tuning, with the model
/// frozen, must learn to ask for sentiment.
#[test]
fn soft_prompt_learns_with_the_model_frozen() {
    let device = Device::Cpu;
    let mut teach = config(TuneStrategy::Finetune);
    teach.template = Some("{text_a} It was {mask}.".into());
    teach.hyper.learning_rate = 3e-3;
    teach.hyper.epochs = 10;
    let rows = two_tasks(128, 11);
    let dev_rows = two_tasks(32, 12);
    let mut teach_train = labelled(&rows, Some("time"), false);
    teach_train.extend(labelled(&rows, Some("place"), true));
    teach_train.extend(labelled(&rows, None, true)); // no cue: topic
    let mut teach_dev = labelled(&dev_rows, Some("time"), false);
    teach_dev.extend(labelled(&dev_rows, Some("place"), true));
    let taught = temp("soft-teacher");
    let s = tune::run(&teach, &teach_train, &teach_dev, &taught, &device, false, &mut |_| true).unwrap();
    eprintln!("teacher: both tasks, dev accuracy {:.3}", s.final_metrics.unwrap().accuracy.unwrap());

    let plm = Plm::load(taught.join("model"), &device).unwrap();
    let before = weights_bits(&plm);
    let template = cloze::template::Template::parse("{soft:4} {text_a} It was {mask}.").unwrap();
    let mut model =
        PromptModel::new(plm, template, &verbalizer(), VerbalizerKind::Manual, SoftInit::Vocab, None, 7)
            .unwrap();
    let vars = model.prompt_vars().unwrap();
    assert_eq!(vars.len(), 1, "only the soft prompt trains");
    assert_eq!(vars[0].1.dims(), &[4, 64]);
    let train = render_rows(&model, &labelled(&two_tasks(96, 1), None, false), "training").unwrap();
    let dev = render_rows(&model, &labelled(&two_tasks(64, 2), None, false), "dev").unwrap();
    let (start, _) = evaluate_rows(&model, &dev, false).unwrap();
    let start_acc = start.accuracy.unwrap();

    let hyper = cloze::tune::Hyper {
        epochs: 30,
        learning_rate: 0.03,
        eval_every: 12,
        dropout: Some(0.0),
        ..teach.hyper.clone()
    };
    let mut objective = PromptObjective { model, train, dev, vars, multi: None };
    let mut evals = Vec::new();
    let (summary, _) = trainer::train(&mut objective, &hyper, None, &mut |e| {
        if let TuneEvent::Eval { metrics, .. } = e {
            evals.push(metrics.accuracy.unwrap());
        }
        true
    })
    .unwrap();
    let acc = summary.final_metrics.as_ref().unwrap().accuracy.unwrap();
    eprintln!(
        "soft prompt: dev accuracy {start_acc:.3} → {acc:.3} over {} updates; evals {evals:?}",
        summary.steps
    );
    assert!(start_acc < 0.7, "the untrained prompt should be near chance, got {start_acc}");
    assert!(acc >= 0.95, "dev accuracy {acc} after soft-prompt tuning");
    // The model's weights never changed, bit for bit, and none became a variable.
    assert_eq!(weights_bits(objective.model.plm()), before);
    assert!(objective.model.plm().named_weights().iter().all(|(_, t)| !t.track_op()));
    let _ = std::fs::remove_dir_all(taught);
}

#[test]
fn runs_repeat_bit_for_bit_and_resume_exactly() {
    let device = Device::Cpu;
    let mut cfg = config(TuneStrategy::SoftPrompt);
    cfg.hyper.epochs = 3;
    cfg.hyper.eval_every = 4;
    cfg.hyper.dropout = Some(0.1); // dropout masks must repeat too
    let (train, dev) = (synthetic(32, 3), synthetic(16, 4));
    let a = temp("repeat-a");
    let b = temp("repeat-b");
    tune::run(&cfg, &train, &dev, &a, &device, false, &mut |_| true).unwrap();
    tune::run(&cfg, &train, &dev, &b, &device, false, &mut |_| true).unwrap();
    let bytes = |d: &Path| std::fs::read(d.join("prompt.safetensors")).unwrap();
    assert_eq!(bytes(&a), bytes(&b), "the same seed gave different prompts");

    // Cancelled after update 5, then resumed: the same prompt as the uninterrupted run.
    let c = temp("resume");
    let err = tune::run(&cfg, &train, &dev, &c, &device, false, &mut |e| {
        !matches!(e, TuneEvent::Step { step: 5, .. })
    })
    .unwrap_err();
    assert!(matches!(err, cloze::Error::Cancelled));
    assert!(!c.join("prompt.safetensors").exists());
    assert!(
        c.join("checkpoints").join("step-000005").join("manifest.json").is_file(),
        "a cancelled run keeps its checkpoint"
    );
    let again = tune::run(&cfg, &train, &dev, &c, &device, false, &mut |_| true).unwrap_err().to_string();
    assert!(again.contains("--resume"), "{again}");
    let mut resumed_from = None;
    tune::run(&cfg, &train, &dev, &c, &device, true, &mut |e| {
        if let TuneEvent::Started { resumed_from: r, .. } = e {
            resumed_from = Some(*r);
        }
        true
    })
    .unwrap();
    assert_eq!(resumed_from, Some(5));
    assert_eq!(bytes(&c), bytes(&a), "the resumed run ended elsewhere");
    // A finished run drops the checkpoint (optimiser state, several times the trained tensors).
    assert!(!c.join("checkpoints").exists());
    assert!(!a.join("checkpoints").exists());
    // metrics.jsonl holds each update once.
    let steps: Vec<u32> = tune::RunDir::new(&c)
        .read_metrics()
        .unwrap()
        .iter()
        .filter_map(|e| if let TuneEvent::Step { step, .. } = e { Some(*step) } else { None })
        .collect();
    assert_eq!(steps, (1..=12).collect::<Vec<_>>());
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn finetuning_learns_saves_a_checkpoint_and_classifies_from_the_run() {
    let device = Device::Cpu;
    let mut cfg = config(TuneStrategy::Finetune);
    cfg.template = Some("{text_a} It was {mask}.".into());
    cfg.hyper.learning_rate = 3e-3;
    cfg.hyper.epochs = 8;
    let dir = temp("finetune");
    let (train, dev) = (synthetic(64, 5), synthetic(32, 6));
    let summary = tune::run(&cfg, &train, &dev, &dir, &device, false, &mut |_| true).unwrap();
    let acc = summary.final_metrics.as_ref().unwrap().accuracy.unwrap();
    eprintln!(
        "finetune: dev accuracy {acc:.3}, {} updates, {:.1} updates/s",
        summary.steps, summary.steps_per_second
    );
    assert!(acc >= 0.9, "fine-tuned dev accuracy {acc}");
    // The saved model folder loads, and differs from the original.
    let tuned = Plm::load(dir.join("model"), &device).unwrap();
    let original = Plm::load(roberta(), &device).unwrap();
    assert_ne!(weights_bits(&tuned), weights_bits(&original));
    // Classifying from the run folder reproduces the dev predictions the run recorded.
    let (_, run) = TunedRun::load(&dir, &device).unwrap();
    let preds = run.classify(&dev, &mut |_, _| true).unwrap();
    let recorded = tune::RunDir::new(&dir).read_predictions().unwrap();
    assert_eq!(recorded.len(), dev.len());
    for (p, r) in preds.iter().zip(&recorded) {
        assert_eq!(p.id, r.id);
        assert_eq!(p.predicted, r.predicted);
        let pl = p.probs.iter().find(|(c, _)| *c == r.label).unwrap().1;
        assert!((f64::from(pl) - r.p_label).abs() < 1e-4, "{pl} vs {}", r.p_label);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn probe_and_soft_verbalizer_learn() {
    let device = Device::Cpu;
    let (train, dev) = (synthetic(96, 7), synthetic(64, 8));
    let mut probe = TuneConfig::new(TuneStrategy::Probe, roberta(), DataSource::Inline);
    probe.hyper.epochs = 60;
    let dir = temp("probe");
    let s = tune::run(&probe, &train, &dev, &dir, &device, false, &mut |_| true).unwrap();
    let acc = s.final_metrics.unwrap().accuracy.unwrap();
    eprintln!("probe: dev accuracy {acc:.3}");
    // The fixture is a random model: pooled features carry the signal word only weakly.
    assert!(acc >= 0.85, "probe accuracy {acc}");
    let (_, run) = TunedRun::load(&dir, &device).unwrap();
    let preds = run.classify(&dev[..4], &mut |_, _| true).unwrap();
    assert!(
        preds.iter().all(|p| p.probs.len() == 2 && (p.predicted == "negative" || p.predicted == "positive"))
    );
    let _ = std::fs::remove_dir_all(dir);

    // Fine-tuning with a soft verbalizer: the path for encoders without an MLM head.
    let mut soft = config(TuneStrategy::Finetune);
    soft.template = Some("{text_a} It was {mask}.".into());
    soft.verbalizer_kind = VerbalizerKind::Soft;
    soft.hyper.learning_rate = 3e-3;
    soft.hyper.epochs = 8;
    let dir = temp("softverb");
    let s = tune::run(&soft, &train, &dev, &dir, &device, false, &mut |_| true).unwrap();
    let acc = s.final_metrics.unwrap().accuracy.unwrap();
    eprintln!("soft verbalizer: dev accuracy {acc:.3}");
    assert!(acc >= 0.9, "soft verbalizer accuracy {acc}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn prompted_pretraining_lowers_the_mlm_loss_and_saves_a_loadable_model() {
    let device = Device::Cpu;
    let mut cfg = config(TuneStrategy::Pretrain);
    cfg.template = Some("{text_a} It was {mask}.".into());
    cfg.hyper.learning_rate = 2e-3;
    cfg.hyper.epochs = 6;
    let unlabelled: Vec<Example> = synthetic(64, 9)
        .into_iter()
        .map(|mut e| {
            e.label = None;
            e
        })
        .collect();
    let dev: Vec<Example> = synthetic(16, 10)
        .into_iter()
        .map(|mut e| {
            e.label = None;
            e
        })
        .collect();
    let dir = temp("pretrain");
    let mut losses = Vec::new();
    tune::run(&cfg, &unlabelled, &dev, &dir, &device, false, &mut |e| {
        if let TuneEvent::Eval { metrics, .. } = e {
            losses.push(metrics.loss.unwrap());
        }
        true
    })
    .unwrap();
    eprintln!("pretrain: dev MLM loss per epoch {losses:?}");
    assert!(losses.last().unwrap() < &(losses[0] * 0.9), "{losses:?}");
    let tuned = Plm::load(dir.join("model"), &device).unwrap();
    assert!(tuned.lm_head().is_ok());
    let _ = std::fs::remove_dir_all(dir);
}

/// Saving splits the fused QKV projection and undoes the query scale: a saved, unchanged model
/// gives the same logits as the original, for every family.
#[test]
fn saved_checkpoints_load_back_identically() {
    let device = Device::Cpu;
    for family in ["bert", "roberta", "distilbert"] {
        let src = Path::new(ROOT).join(family);
        let plm = Plm::load(&src, &device).unwrap();
        let dir = temp(&format!("save-{family}"));
        plm.save_pretrained(&dir).unwrap();
        let again = Plm::load(&dir, &device).unwrap();
        let ids = Tensor::new(&[[3u32, 5, 7, 9, 11]], &device).unwrap();
        let mask = ids.ones_like().unwrap();
        let h1 = plm.encode(&plm.embed_tokens(&ids).unwrap(), &mask).unwrap();
        let h2 = again.encode(&again.embed_tokens(&ids).unwrap(), &mask).unwrap();
        let diff = (h1 - h2).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "{family}: {diff}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The CPU training kernels of f32 (linear backward skipping frozen weights, layer norm, attention)
/// give the same input gradient as candle's composed ops in f64.
#[test]
fn training_kernels_input_gradients_match_composed() {
    let device = Device::Cpu;
    let grad_of = |dtype: DType| -> Vec<f32> {
        let plm = Plm::load_with_dtype(roberta(), &device, dtype).unwrap();
        let ids = Tensor::new(&[[0u32, 50, 60, 70, 80, 2]], &device).unwrap();
        let mask = ids.ones_like().unwrap();
        let x = Var::from_tensor(&plm.embed_tokens(&ids).unwrap()).unwrap();
        let hidden = plm.encode(x.as_tensor(), &mask).unwrap();
        let loss = candle_nn::ops::log_softmax(&hidden, D::Minus1).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        grads
            .get(x.as_tensor())
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let fused = grad_of(DType::F32);
    let composed = grad_of(DType::F64);
    let scale = composed.iter().fold(0f32, |m, x| m.max(x.abs()));
    let err = fused.iter().zip(&composed).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(err / scale < 1e-4, "max error {err} (scale {scale})");
}

/// Weight gradients through the CPU training kernels (f32, trainable model, a right-padded row so
/// attention runs on lengths) equal the composed ops' (f64), for every weight.
#[test]
fn training_kernels_weight_gradients_match_composed() {
    let device = Device::Cpu;
    let grads_of = |dtype: DType| -> Vec<(String, Vec<f32>)> {
        let mut plm = Plm::load_with_dtype(roberta(), &device, dtype).unwrap();
        let vars = plm.trainable().unwrap();
        let ids = Tensor::new(&[[0u32, 50, 60, 4, 80, 2], [0, 70, 4, 90, 2, 1]], &device).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]], &device).unwrap();
        let hidden = plm.encode(&plm.embed_tokens(&ids).unwrap(), &mask).unwrap();
        let head = plm.lm_head().unwrap();
        // The real tokens only (the last one of the flattened 12 is padding, whose output no
        // loss reads and which the attention kernel leaves at zero).
        let real = hidden.reshape((12, 64)).unwrap().narrow(0, 0, 11).unwrap();
        let logits = head.logits_full(&head.transform(&real).unwrap()).unwrap();
        let loss = candle_nn::ops::log_softmax(&logits, D::Minus1)
            .unwrap()
            .narrow(1, 5, 3)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        vars.iter()
            .map(|(n, v)| {
                let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{n}: no gradient"));
                (n.clone(), g.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap())
            })
            .collect()
    };
    let fused = grads_of(DType::F32);
    let composed = grads_of(DType::F64);
    for ((name, a), (_, b)) in fused.iter().zip(&composed) {
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
        let err = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(err / scale < 1e-3, "{name}: max error {err} (scale {scale})");
    }
}

/// A row's random demonstrations depend on the seed and its id only: filled alone, in a batch or in
/// another order (the CLI's whole file, the app's preview, a labelling run's batches), the row gets
/// the same ones, and never itself.
#[test]
fn a_rows_demonstrations_do_not_depend_on_its_batch() {
    use cloze::demo::{DEFAULT_SEED, DEMO_FIELD, DemoConfig, Demonstrations};
    let plm = Plm::load(roberta(), &Device::Cpu).unwrap();
    let template = cloze::template::Template::parse("{demo} {text_a} It was {mask}.").unwrap();
    let pool = synthetic(8, 21);
    let demos =
        Demonstrations::new(&plm, &template, &verbalizer(), &pool, DemoConfig::default(), DEFAULT_SEED)
            .unwrap();
    let mut all = pool.clone();
    assert_eq!(demos.fill_counted(&plm, &mut all).unwrap(), vec![2; pool.len()], "one per class");
    for (i, row) in pool.iter().enumerate() {
        let mut alone = vec![row.clone()];
        demos.fill(&plm, &mut alone).unwrap();
        assert_eq!(alone[0].meta[DEMO_FIELD], all[i].meta[DEMO_FIELD], "row {i} alone");
        assert!(
            !all[i].meta[DEMO_FIELD].contains(&format!("{} It was", row.text_a)),
            "row {i} is not its own demo"
        );
    }
    let mut reversed: Vec<_> = pool.iter().rev().cloned().collect();
    demos.fill(&plm, &mut reversed).unwrap();
    assert_eq!(reversed[0].meta[DEMO_FIELD], all[pool.len() - 1].meta[DEMO_FIELD], "order does not matter");
    let drawn: std::collections::BTreeSet<&String> = all.iter().map(|r| &r.meta[DEMO_FIELD]).collect();
    assert!(drawn.len() > 1, "different rows draw different demonstrations: {drawn:?}");
}

/// `{demo}`: demonstrations from the training rows fill the template while fine-tuning and when
/// classifying with the run; similar-by-embedding selection picks a row of the same words.
#[test]
fn demonstrations_in_context() {
    use cloze::demo::{DEMO_FIELD, DemoConfig, DemoSelection, Demonstrations};
    let device = Device::Cpu;
    let plm = Plm::load(roberta(), &device).unwrap();
    let template = cloze::template::Template::parse("{text_a} It was {mask}. {demo}").unwrap();
    let pool = synthetic(8, 21);
    let cfg = DemoConfig { per_class: 2, selection: DemoSelection::Random };
    let demos = Demonstrations::new(&plm, &template, &verbalizer(), &pool, cfg, 1).unwrap();
    let mut rows = pool[..2].to_vec();
    demos.fill(&plm, &mut rows).unwrap();
    for row in &rows {
        let d = &row.meta[DEMO_FIELD];
        assert_eq!(d.matches("It was great.").count(), 2, "{d}");
        assert_eq!(d.matches("It was terrible.").count(), 2, "{d}");
        assert!(!d.contains(&format!("{} It was", row.text_a)), "a row is never its own demonstration: {d}");
    }
    let similar = DemoConfig { per_class: 1, selection: DemoSelection::Similar };
    let demos = Demonstrations::new(&plm, &template, &verbalizer(), &pool, similar, 1).unwrap();
    let mut twin = vec![Example::new("q", pool[3].text_a.clone())];
    demos.fill(&plm, &mut twin).unwrap();
    assert!(twin[0].meta[DEMO_FIELD].contains(&pool[3].text_a), "the identical row is the most similar");

    let mut cfg = config(TuneStrategy::Finetune);
    cfg.template = Some("{text_a} It was {mask}. {demo}".into());
    cfg.hyper.learning_rate = 3e-3;
    cfg.hyper.epochs = 2;
    let dir = temp("demo");
    let (train, dev) = (synthetic(32, 22), synthetic(8, 23));
    tune::run(&cfg, &train, &dev, &dir, &device, false, &mut |_| true).unwrap();
    assert!(dir.join("demos.jsonl").is_file());
    let (_, run) = TunedRun::load(&dir, &device).unwrap();
    let preds = run.classify(&dev, &mut |_, _| true).unwrap();
    let recorded = tune::RunDir::new(&dir).read_predictions().unwrap();
    for (p, r) in preds.iter().zip(&recorded) {
        assert_eq!(p.predicted, r.predicted, "classifying with the run fills {{demo}} as training did");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Automatic label-word search finds the words a model was taught to put at the mask.
#[test]
fn label_word_search_finds_taught_words() {
    let device = Device::Cpu;
    let mut teach = config(TuneStrategy::Finetune);
    teach.template = Some("{text_a} It was {mask}.".into());
    teach.hyper.learning_rate = 3e-3;
    teach.hyper.epochs = 8;
    let dir = temp("search");
    tune::run(&teach, &synthetic(64, 31), &synthetic(16, 32), &dir, &device, false, &mut |_| true).unwrap();
    let plm = Plm::load(dir.join("model"), &device).unwrap();
    let template = cloze::template::Template::parse("{text_a} It was {mask}.").unwrap();
    let classes = vec!["negative".to_string(), "positive".to_string()];
    let found = cloze::verbalizer::search::search(&plm, &template, &classes, &synthetic(32, 33), 3).unwrap();
    eprintln!("{found:?}");
    assert_eq!(found[0].1[0].word, "terrible");
    assert_eq!(found[1].1[0].word, "great");
    let _ = std::fs::remove_dir_all(dir);
}

/// Contrastive fine-tuning (SetFit's method) on the synthetic task: the loss falls, the whole
/// encoder changes, the head on the tuned embeddings beats the same head on the untuned ones, the
/// run classifies as its dev predictions say, the same seed repeats it bit for bit, and the
/// estimate lays out its schedule.
#[test]
fn contrastive_tuning_learns_repeats_and_classifies() {
    use cloze::tune::contrastive::{self, ContrastiveHead};
    let device = Device::Cpu;
    let (train, dev) = (synthetic(96, 7), synthetic(64, 8));
    let mut cfg = TuneConfig::new(TuneStrategy::Contrastive, roberta(), DataSource::Inline);
    // The random fixture needs a larger step than a pretrained encoder; SetFit's num_iterations
    // keeps the 96 rows' 4 656 unique pairs to 8 × 96 of each kind.
    cfg.hyper.learning_rate = 3e-3;
    cfg.hyper.seed = 7;
    cfg.contrastive = Some(contrastive::ContrastiveOptions { iterations: Some(8), ..Default::default() });
    let dir = temp("contrastive");
    let mut losses = Vec::new();
    let s = tune::run(&cfg, &train, &dev, &dir, &device, false, &mut |e| {
        if let TuneEvent::Step { loss, .. } = e {
            losses.push(*loss);
        }
        true
    })
    .unwrap();
    // 8 × 96 positive and as many negative pairs: 96 batches of 16 in the one epoch.
    assert_eq!(s.steps, 96);
    let half = losses.len() / 2;
    let (first, last) =
        (losses[..half].iter().sum::<f64>() / half as f64, losses[half..].iter().sum::<f64>() / half as f64);
    assert!(last < first, "the cosine-similarity loss falls: {first:.4} → {last:.4}");
    let acc = s.final_metrics.as_ref().unwrap().accuracy.unwrap();

    // The same head on the untuned encoder.
    let base = Plm::load(roberta(), &device).unwrap();
    let ids = contrastive::encode_rows(&base, &train, None, 512).unwrap();
    let x = tune::probe::features_of_ids(&base, &ids, tune::Pooling::Mean, &mut |_, _| true).unwrap();
    let y: Vec<u32> = train.iter().map(|r| u32::from(r.label.as_deref() == Some("positive"))).collect();
    let (head, _) = contrastive::fit_head(&x, &y, 2, ContrastiveHead::Sklearn, 7).unwrap();
    let dev_ids = contrastive::encode_rows(&base, &dev, None, 512).unwrap();
    let dx = tune::probe::features_of_ids(&base, &dev_ids, tune::Pooling::Mean, &mut |_, _| true).unwrap();
    let p = head.logits(&dx).unwrap().to_vec2::<f32>().unwrap();
    let hits =
        dev.iter().zip(&p).filter(|(r, p)| (p[1] > p[0]) == (r.label.as_deref() == Some("positive"))).count();
    let base_acc = hits as f64 / dev.len() as f64;
    eprintln!("contrastive: dev accuracy {acc:.3}, the same head on the untuned encoder {base_acc:.3}");
    assert!(acc >= 0.9 && acc > base_acc + 0.1, "{acc} vs {base_acc}");

    // The whole encoder trained: every weight moved but the MLM head's, which mean pooling skips.
    let tuned = Plm::load(dir.join("model"), &device).unwrap();
    let still: Vec<String> = weights_bits(&tuned)
        .into_iter()
        .zip(weights_bits(&base))
        .filter(|(a, b)| a.1 == b.1)
        .map(|(a, _)| a.0)
        .collect();
    assert!(!still.is_empty() && still.iter().all(|n| n.contains("head")), "unchanged: {still:?}");
    // Classifying with the run reproduces its dev predictions.
    let (config, run) = TunedRun::load(&dir, &device).unwrap();
    assert_eq!(config.contrastive, cfg.contrastive);
    let preds = run.classify(&dev, &mut |_, _| true).unwrap();
    let recorded = tune::RunDir::new(&dir).read_predictions().unwrap();
    assert_eq!(recorded.len(), dev.len());
    for (p, r) in preds.iter().zip(&recorded) {
        assert_eq!((&p.id, &p.predicted), (&r.id, &r.predicted));
        let pl = p.probs.iter().find(|(c, _)| *c == r.label).unwrap().1;
        assert!((f64::from(pl) - r.p_label).abs() < 1e-4, "{pl} vs {}", r.p_label);
    }

    // The same seed: the same run, bit for bit.
    let again = temp("contrastive-again");
    let s2 = tune::run(&cfg, &train, &dev, &again, &device, false, &mut |_| true).unwrap();
    assert_eq!(s2.final_metrics, s.final_metrics);
    assert_eq!(
        std::fs::read(dir.join("probe.safetensors")).unwrap(),
        std::fs::read(again.join("probe.safetensors")).unwrap()
    );

    // The estimate lays out the same schedule.
    let e = tune::estimate(&cfg, &train, &dev, &device, &mut |_, _, _| true).unwrap();
    assert_eq!((e.strategy, e.steps, e.evaluations), (TuneStrategy::Contrastive, 96, 2));
    assert!(e.train_seconds > 0.0 && e.eval_seconds > 0.0, "{e:?}");

    // Rendered through the template: the rows the encoder reads carry its words.
    let mut rendered = cfg.clone();
    rendered.template = Some("Review: {text_a}".into());
    rendered.contrastive = Some(contrastive::ContrastiveOptions {
        render_template: true,
        iterations: Some(1),
        ..Default::default()
    });
    let t = cloze::template::Template::parse("Review: {text_a}").unwrap();
    let plain = contrastive::encode_rows(&base, &train[..1], None, 512).unwrap();
    let with = contrastive::encode_rows(&base, &train[..1], Some(&t), 512).unwrap();
    assert!(with[0].len() > plain[0].len(), "{with:?} vs {plain:?}");
    let r = temp("contrastive-rendered");
    tune::run(&rendered, &train, &dev, &r, &device, false, &mut |_| true).unwrap();
    let (_, run) = TunedRun::load(&r, &device).unwrap();
    match run {
        TunedRun::Probe { template: Some(t), .. } => assert_eq!(t.source(), "Review: {text_a}"),
        _ => panic!("the run does not render through its template"),
    }
    for d in [dir, again, r] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn a_soft_verbalizer_starts_from_a_probe_on_the_states_at_the_mask() {
    // LP-FT's first stage: the projection is the logistic regression (C = 1) fitted on the frozen
    // model's states at the mask — through the MLM head's transform, as the soft verbalizer reads
    // them — so before any update its probabilities are the regression's.
    let device = Device::Cpu;
    let train = synthetic(48, 11);
    let mut c = config(TuneStrategy::Finetune);
    c.template = Some("{text_a} It was {mask}.".into());
    c.verbalizer_kind = VerbalizerKind::Soft;
    c.head_init = tune::HeadInit::Probe;
    let plm = Plm::load(roberta(), &device).unwrap();
    let template = cloze::template::Template::parse(c.template.as_deref().unwrap()).unwrap();
    let mut model =
        PromptModel::from_config(plm.clone(), template, &verbalizer(), VerbalizerKind::Soft, &c).unwrap();
    let rows = render_rows(&model, &train, "training").unwrap();
    let refs: Vec<&cloze::template::Rendered> = rows.iter().map(|r| &r.rendered).collect();
    let before = model.class_scores(&refs).unwrap();
    model.fit_soft_verbalizer(&rows).unwrap();
    let after = candle_nn::ops::softmax(&model.class_scores(&refs).unwrap(), D::Minus1).unwrap();

    let states = model.mask_states(&refs).unwrap();
    let head = plm.lm_head().unwrap();
    let x: Vec<Vec<f64>> = head.transform(&states).unwrap().to_dtype(DType::F64).unwrap().to_vec2().unwrap();
    let targets = cloze::logreg::one_hot(&rows.iter().map(|r| r.label).collect::<Vec<_>>(), 2);
    let fitted = cloze::logreg::LogisticRegression::fit(&x, &targets, 1.0 / 48.0).unwrap();
    let after = after.to_vec2::<f32>().unwrap();
    for (i, row) in x.iter().enumerate() {
        let want = fitted.probs(row);
        for c in 0..2 {
            assert!((f64::from(after[i][c]) - want[c]).abs() < 1e-4, "row {i}: {:?} vs {want:?}", after[i]);
        }
    }
    // It starts where the regression is, not where the label words were.
    assert!(
        before
            .sub(&model.class_scores(&refs).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 1e-3
    );
    let correct = after.iter().zip(&rows).filter(|(p, r)| (p[1] > p[0]) == (r.label == 1)).count();
    eprintln!("probe-initialised soft verbalizer: {correct}/48 training rows right before any update");
    assert_eq!(
        correct,
        x.iter().zip(&rows).filter(|(x, r)| (fitted.probs(x)[1] > 0.5) == (r.label == 1)).count()
    );
}
