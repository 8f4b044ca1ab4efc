//! Prompted continued pretraining with each family's own objective, on the tiny random fixtures
//! (`tests/fixtures/parity/{llama,qwen2,gemma3,gguf-llama,t5,bart}`): causal LM on decoders (GGUF
//! files included), span corruption on T5, text infilling on BART. For each objective the loss of
//! a fixed, padded batch equals an independent computation one row at a time; a few updates lower
//! it; the model written with `save_pretrained` loads back with the trained model's logits; and
//! `tune::run` accepts the strategy for every kind. The corruption itself is checked table-driven
//! in `tune/pretrain/noising.rs`.

use std::path::{Path, PathBuf};

use candle_core::{D, Device, Tensor};
use cloze::data::Example;
use cloze::generate::next_token_logits;
use cloze::plm::{Family, Plm, PlmTokenizer, Pretraining};
use cloze::template::Template;
use cloze::tune::pretrain::{self, PretrainObjective, PretrainRow, RowSource, noising};
use cloze::tune::{self, DataSource, Hyper, TuneConfig, TuneStrategy, TunedRun, trainer};
use cloze::verbalizer::Verbalizer;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

fn fixture(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cloze-pretraining-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const TEMPLATE: &str = "{text_a} It was {mask}.";

/// Short reviews, every other one labelled.
fn rows(n: usize) -> Vec<Example> {
    let texts = [
        "the film was good",
        "a slow and boring story",
        "wonderful music",
        "the actors were awful and the plot was bad",
        "nice",
        "this movie was excellent from start to end",
        "bad service",
        "good food and good service",
    ];
    (0..n)
        .map(|i| {
            let mut e = Example::new(format!("r{i}"), texts[i % texts.len()]);
            if i % 2 == 0 {
                e.label = Some(if i % 4 == 0 { "positive" } else { "negative" }.into());
            }
            e
        })
        .collect()
}

fn source() -> RowSource {
    RowSource { part: "training", from: Some("reviews.csv".into()) }
}

/// The label word's tokens as the model reads it after the text before `{mask}`.
fn answer_of(plm: &Plm) -> impl Fn(&Example) -> Option<Vec<u32>> + '_ {
    move |e: &Example| {
        let word = match e.label.as_deref()? {
            "positive" => " great",
            _ => " terrible",
        };
        Some(plm.tokenizer().encode_plain(word).unwrap())
    }
}

fn prepared(plm: &Plm, n: usize, seed: u64) -> Vec<PretrainRow> {
    let template = Template::parse(TEMPLATE).unwrap();
    pretrain::prepare(plm, &template, 64, &rows(n), &answer_of(plm), seed, &source()).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(candle_core::DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// log p(`want`) from one row of logits.
fn log_prob(logits: &Tensor, want: u32) -> f64 {
    let lp =
        candle_nn::ops::log_softmax(&logits.to_dtype(candle_core::DType::F64).unwrap(), D::Minus1).unwrap();
    lp.get(want as usize).unwrap().to_scalar::<f64>().unwrap()
}

const DECODERS: [&str; 4] = ["llama", "qwen2", "gemma3", "gguf-llama/model-f32.gguf"];

#[test]
fn causal_lm_loss_is_the_mean_next_token_cross_entropy_and_padding_is_ignored() {
    for name in DECODERS {
        let plm = Plm::load(fixture(name), &Device::Cpu).unwrap();
        assert_eq!(plm.family().pretraining(), Pretraining::CausalLm, "{name}");
        let prepared = prepared(&plm, 6, 1);
        assert_eq!(prepared, self::prepared(&plm, 6, 1), "{name}: preparing is deterministic");
        let seqs: Vec<&[u32]> = prepared
            .iter()
            .map(|r| match r {
                PretrainRow::Causal(ids) => ids.as_slice(),
                other => panic!("{name}: {other:?}"),
            })
            .collect();
        // The text trained on: the template filled with the row, the label word in the mask's place
        // when the row is labelled, nothing there when it is not.
        let text = |i: usize| plm.tokenizer().decode(seqs[i]).unwrap();
        assert!(text(0).contains("the film was good It was great."), "{name}: {:?}", text(0));
        assert!(text(1).contains("a slow and boring story It was."), "{name}: {:?}", text(1));
        assert!(text(2).contains("wonderful music It was terrible."), "{name}: {:?}", text(2));
        let lengths: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        assert!(lengths.iter().min() < lengths.iter().max(), "{name}: the batch is padded");
        // Independently: one forward pass per prefix, -log_softmax at the next token.
        let mut sum = 0f64;
        let mut n = 0usize;
        for s in &seqs {
            for p in 1..s.len() {
                sum -= log_prob(&next_token_logits(&plm, &s[..p]).unwrap(), s[p]);
                n += 1;
            }
        }
        let expected = sum / n as f64;
        let refs: Vec<&PretrainRow> = prepared.iter().collect();
        let got = scalar(&pretrain::loss(&plm, &refs).unwrap());
        eprintln!("{name}: causal-LM loss {got:.6}, by prefixes {expected:.6}");
        assert!((got - expected).abs() < 1e-5, "{name}: {got} vs {expected}");
    }
}

#[test]
fn seq2seq_losses_are_the_decoders_cross_entropy_by_teacher_forcing() {
    for (name, objective) in [("t5", Pretraining::SpanCorruption), ("bart", Pretraining::Denoising)] {
        let plm = Plm::load(fixture(name), &Device::Cpu).unwrap();
        assert_eq!(plm.family().pretraining(), objective, "{name}");
        let prepared = prepared(&plm, 6, 2);
        assert_eq!(prepared, self::prepared(&plm, 6, 2), "{name}: the same seed corrupts the same way");
        assert_ne!(prepared, self::prepared(&plm, 6, 3), "{name}: another seed, another corruption");
        let start = plm.decoder_start_id().unwrap();
        let mut sum = 0f64;
        let mut n = 0usize;
        for (i, r) in prepared.iter().enumerate() {
            let PretrainRow::Seq2Seq(c) = r else { panic!("{name}: {r:?}") };
            match objective {
                Pretraining::SpanCorruption => {
                    let sentinel =
                        |k: usize| plm.tokenizer().inner().token_to_id(&format!("<extra_id_{k}>")).unwrap();
                    assert_eq!(
                        c.labels[0],
                        sentinel(0),
                        "{name} row {i}: the target starts with <extra_id_0>"
                    );
                    assert!(c.input.contains(&sentinel(0)), "{name} row {i}: a span was dropped");
                    assert_eq!(
                        c.labels.last(),
                        plm.tokenizer().special().sep.as_ref().map(|s| &s.1),
                        "{name}: </s>"
                    );
                }
                _ => {
                    let mask = plm.tokenizer().special().mask.1;
                    assert!(c.input.contains(&mask), "{name} row {i}: a span became <mask>");
                    assert!(
                        c.labels.len() >= c.input.len() && c.labels != c.input,
                        "{name} row {i}: the target is the whole text"
                    );
                    let text = plm.tokenizer().decode(&c.labels).unwrap();
                    if i == 0 {
                        assert!(text.contains("It was great."), "{name}: {text:?}");
                    }
                }
            }
            // Independently, one row at a time: full logits of the teacher-forced decoder.
            let t = |ids: &[u32]| Tensor::new(ids, plm.device()).unwrap().unsqueeze(0).unwrap();
            let ones = |len: usize| Tensor::ones((1, len), candle_core::DType::U32, plm.device()).unwrap();
            let enc = plm.encode(&plm.embed_tokens(&t(&c.input)).unwrap(), &ones(c.input.len())).unwrap();
            let mut dec = vec![start];
            dec.extend_from_slice(&c.labels[..c.labels.len() - 1]);
            let states = plm
                .decode(&enc, &ones(c.input.len()), &plm.embed_tokens(&t(&dec)).unwrap(), &ones(dec.len()))
                .unwrap();
            let head = plm.lm_head().unwrap();
            let logits = head.logits_full(&head.transform(&states.squeeze(0).unwrap()).unwrap()).unwrap();
            for (k, &want) in c.labels.iter().enumerate() {
                sum -= log_prob(&logits.get(k).unwrap(), want);
                n += 1;
            }
        }
        let expected = sum / n as f64;
        let refs: Vec<&PretrainRow> = prepared.iter().collect();
        let got = scalar(&pretrain::loss(&plm, &refs).unwrap());
        eprintln!("{name}: {} loss {got:.6}, row by row {expected:.6}", objective.name());
        assert!((got - expected).abs() < 1e-5, "{name}: {got} vs {expected}");
    }
}

/// Every logit a prepared row gives: the decoder's whole sequence, or the encoder–decoder's decoder.
fn logits(plm: &Plm, row: &PretrainRow) -> Vec<f32> {
    let head = plm.lm_head().unwrap();
    let states = match row {
        PretrainRow::Causal(ids) => plm.encode_batch(&plm.batch(&[ids]).unwrap()).unwrap(),
        PretrainRow::Seq2Seq(c) => {
            let enc_b = plm.batch(&[&c.input]).unwrap();
            let enc = plm.encode_batch(&enc_b).unwrap();
            let dec_b = plm.batch(&[&c.labels]).unwrap();
            plm.decode(&enc, enc_b.attention(), &plm.embed_tokens(dec_b.ids()).unwrap(), dec_b.attention())
                .unwrap()
        }
        PretrainRow::Masked(_) => unreachable!("encoders are checked in tuning.rs"),
    };
    head.logits_full(&head.transform(&states.squeeze(0).unwrap()).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn pretraining_lowers_each_familys_loss_and_the_saved_folder_loads_back_with_the_same_logits() {
    for name in ["llama", "qwen2", "gemma3", "gguf-llama/model-f32.gguf", "t5", "bart"] {
        let mut plm = Plm::load(fixture(name), &Device::Cpu).unwrap();
        let objective_name = plm.family().pretraining().name();
        let vars = plm.trainable().unwrap();
        let train = prepared(&plm, 16, 4);
        let mut objective = PretrainObjective { plm, vars, dev: train.clone(), train, zero_shot: None };
        let before = objective.dev_loss().unwrap().unwrap();
        let hyper = Hyper {
            learning_rate: 5e-3,
            epochs: 6,
            batch_size: 4,
            warmup_ratio: 0.0,
            dropout: Some(0.0),
            seed: 3,
            ..Hyper::default()
        };
        trainer::train(&mut objective, &hyper, None, &mut |_| true).unwrap();
        let after = objective.dev_loss().unwrap().unwrap();
        let dir = temp(&name.replace('/', "-"));
        objective.plm.save_pretrained(&dir).unwrap();
        let back = Plm::load(&dir, &Device::Cpu).unwrap();
        assert_eq!(back.family(), objective.plm.family(), "{name}");
        let trained = objective.plm.detached();
        let mut worst = 0f32;
        for row in objective.train.iter().take(4) {
            let (a, b) = (logits(&trained, row), logits(&back, row));
            assert_eq!(a.len(), b.len());
            worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(worst, f32::max);
        }
        eprintln!(
            "{name}: {objective_name} loss {before:.4} → {after:.4}; reloaded logits max |Δ| {worst:.2e}"
        );
        assert!(after < before * 0.8, "{name}: {before} → {after}");
        assert!(worst < 1e-4, "{name}: the saved model's logits differ by {worst}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn tune_run_pretrains_decoders_and_encoder_decoders_into_a_model_folder() {
    let verbalizer = Verbalizer::from_json(r#"{"negative": ["terrible"], "positive": ["great"]}"#).unwrap();
    for name in ["llama", "t5", "bart", "gguf-llama/model-q4_0.gguf"] {
        let mut cfg = TuneConfig::new(TuneStrategy::Pretrain, fixture(name), DataSource::Inline);
        cfg.template = Some(TEMPLATE.into());
        cfg.verbalizer = Some(verbalizer.clone());
        cfg.hyper =
            Hyper { learning_rate: 5e-3, epochs: 2, batch_size: 4, dropout: Some(0.0), ..Hyper::default() };
        let dir = temp(&format!("run-{}", name.replace('/', "-")));
        let mut losses = Vec::new();
        let mut notices = Vec::new();
        let summary = tune::run(&cfg, &rows(16), &rows(8), &dir, &Device::Cpu, false, &mut |e| {
            match e {
                tune::TuneEvent::Eval { metrics, .. } => losses.push(metrics.loss.unwrap()),
                tune::TuneEvent::Notice { message } => notices.push(message.clone()),
                _ => {}
            }
            true
        })
        .unwrap();
        // A quantised GGUF model is dequantised for training, and the user is told what it costs.
        match name.ends_with(".gguf") {
            true => assert!(
                notices.len() == 1 && notices[0].contains("stored as Q4_0") && notices[0].contains("MB"),
                "{notices:?}"
            ),
            false => assert!(notices.is_empty(), "{name}: {notices:?}"),
        }
        assert!(summary.steps > 0, "{name}");
        assert_eq!(losses.len(), 3, "{name}: the starting weights' dev loss, then one per epoch");
        let model = Plm::load(dir.join("model"), &Device::Cpu).unwrap();
        assert_eq!(model.family(), Plm::load(fixture(name), &Device::Cpu).unwrap().family());
        // The run classifies zero-shot with the pretrained model.
        let (_, run) = TunedRun::load(&dir, &Device::Cpu).unwrap();
        let predictions = run.classify(&rows(4), &mut |_, _| true).unwrap();
        assert_eq!(predictions.len(), 4, "{name}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_row_too_short_for_the_causal_lm_is_named_with_what_to_do() {
    let plm = Plm::load(fixture("llama"), &Device::Cpu).unwrap();
    let template = Template::parse("{text_a}").unwrap();
    let mut rows = rows(2);
    rows[1].text_a = String::new();
    let err = pretrain::prepare(&plm, &template, 64, &rows, &|_| None, 1, &source()).unwrap_err().to_string();
    assert!(err.contains("training row 2 (id \"r1\") of reviews.csv") && err.contains("at least 2"), "{err}");
    assert!(err.contains("template"), "says what to do: {err}");
}

#[test]
fn a_t5_tokenizer_without_sentinels_is_refused_naming_the_file() {
    let path = fixture("bart").join("tokenizer.json");
    let inner = tokenizers::Tokenizer::from_file(&path).unwrap();
    let tok = PlmTokenizer::from_tokenizer(inner, path.clone(), Family::T5, &|k| {
        (k == "mask_token").then(|| "<mask>".to_string())
    })
    .unwrap();
    let err = noising::SpanCorruption::new(&tok).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("<extra_id_0>"), "{err}");
    assert!(err.contains("tokenizer.json that came with the model"), "{err}");
    // The T5 fixture's tokenizer has its ten sentinels, in order.
    let t5 = Plm::load(fixture("t5"), &Device::Cpu).unwrap();
    assert_eq!(noising::sentinels(t5.tokenizer()).unwrap().len(), 10);
}
