//! Numeric parity of the encoder–decoder families with PyTorch/transformers, on the tiny random
//! checkpoints `tests/fixtures/parity/{t5,t5-v1_0,bart}` (made by `make_families.py`, kind
//! `seq2seq`; fields in `tests/fixtures/parity/README.md`): the tokenizer reproduces the encoder's
//! ids (with the sentinel `<extra_id_0>` or `<mask>`) and the label words' ids (leading space);
//! encoder then decoder, teacher-forced on each word's `decoder_input_ids`, reproduce the label
//! words' logits, the first 50 vocabulary logits at `position` and each word token's
//! log-probability within 1e-4; a plain greedy loop reproduces `generation` exactly; a model
//! written with `save_pretrained` loads back with the same logits; and gradients through encoder
//! and decoder, to the input embeddings and to every weight, match central finite differences in
//! f64 (what soft-prompt tuning and fine-tuning train).

use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor, Var};
use cloze::plm::{Family, Kind, Plm};
use serde_json::Value;

mod common;
use common::parity::{assert_close, floats, ids};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name)
}

fn row(plm: &Plm, ids: &[u32]) -> (Tensor, Tensor) {
    let t = Tensor::new(ids, plm.device()).unwrap().unsqueeze(0).unwrap();
    let mask = Tensor::ones((1, ids.len()), candle_core::DType::U32, plm.device()).unwrap();
    (t, mask)
}

/// The encoder's states and mask for one row of token ids.
fn encode(plm: &Plm, input: &[u32]) -> (Tensor, Tensor) {
    let (t, mask) = row(plm, input);
    (plm.encode(&plm.embed_tokens(&t).unwrap(), &mask).unwrap(), mask)
}

/// Full-vocabulary logits `[dec_len, vocab]` of the decoder run on `dec` (teacher forcing).
fn decoder_logits(plm: &Plm, encoded: &(Tensor, Tensor), dec: &[u32]) -> Tensor {
    let (t, mask) = row(plm, dec);
    let states = plm.decode(&encoded.0, &encoded.1, &plm.embed_tokens(&t).unwrap(), &mask).unwrap();
    let head = plm.lm_head().unwrap();
    head.logits_full(&head.transform(&states.squeeze(0).unwrap()).unwrap()).unwrap()
}

/// Runs every check of one fixture and returns the largest difference seen.
fn check(dir: &Path, family: Family) -> f32 {
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let plm = Plm::load(dir, &Device::Cpu).unwrap();
    assert_eq!(plm.family(), family);
    assert_eq!(plm.kind(), Kind::EncoderDecoder);
    let start = reference["decoder_start_token_id"].as_u64().unwrap() as u32;
    assert_eq!(plm.decoder_start_id(), Some(start), "decoder start token");
    let mask_token = reference["mask_token"].as_str().unwrap();
    assert_eq!(plm.tokenizer().special().mask.0, mask_token, "the family's mask token");
    let prefix = reference["label_word_prefix"].as_str().unwrap();
    let mut worst = 0f32;
    let cases = reference["cases"].as_array().unwrap();
    for (n, case) in cases.iter().enumerate() {
        let rendered = case["rendered"].as_str().unwrap();
        let input = plm.tokenizer().encode_with_specials(rendered).unwrap().get_ids().to_vec();
        assert_eq!(input, ids(&case["input_ids"]), "case {n}: encoder ids of {rendered:?}");
        let m = case["encoder_mask_position"].as_u64().unwrap() as usize;
        assert_eq!(input[m], plm.tokenizer().special().mask.1, "case {n}: the mask token's place");
        let encoded = encode(&plm, &input);
        let position = case["position"].as_u64().unwrap() as usize;
        let words = case["label_word_ids"].as_object().unwrap();
        let mut first: Option<Vec<f32>> = None;
        for (word, want_ids) in words {
            let word_ids = plm.tokenizer().encode_plain(&format!("{prefix}{word}")).unwrap();
            assert_eq!(word_ids, ids(want_ids), "case {n}: ids of {word:?}");
            let dec = ids(&case["decoder_input_ids"][word]);
            let logits = decoder_logits(&plm, &encoded, &dec).to_vec2::<f32>().unwrap();
            let at = &logits[position];
            let got: Vec<f32> = word_ids.iter().map(|&i| at[i as usize]).collect();
            worst = worst.max(assert_close(&got, &floats(&case["label_word_logits"][word]), word));
            worst = worst.max(assert_close(&at[..50], &floats(&case["first_50_logits"]), "first_50_logits"));
            if let Some(f) = &first {
                // The logits at `position` do not depend on the word that follows.
                worst = worst.max(assert_close(at, f, "logits at position across words"));
            }
            first.get_or_insert_with(|| at.clone());
            // Teacher-forced log-probabilities: word token k is predicted at `position + k`.
            let lp =
                candle_nn::ops::log_softmax(&Tensor::new(logits.clone(), plm.device()).unwrap(), D::Minus1)
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap();
            let got: Vec<f32> =
                word_ids.iter().enumerate().map(|(k, &i)| lp[position + k][i as usize]).collect();
            worst = worst.max(assert_close(&got, &floats(&case["label_word_logprobs"][word]), "logprobs"));
            let score: f32 = got.iter().sum();
            let want = case["label_word_scores"][word].as_f64().unwrap() as f32;
            worst = worst.max(assert_close(&[score], &[want], "label_word_scores"));
        }
    }
    // Greedy generation: 8 argmax steps from the decoder start, re-running the whole decoder each
    // step (no cache).
    let generation = &reference["generation"];
    let encoded = encode(&plm, &ids(&generation["input_ids"]));
    let mut dec = ids(&generation["decoder_input_ids"]);
    let mut maxima = Vec::new();
    for _ in 0..generation["max_new_tokens"].as_u64().unwrap() {
        let logits = decoder_logits(&plm, &encoded, &dec);
        let last = logits.get(dec.len() - 1).unwrap();
        dec.push(last.argmax(0).unwrap().to_scalar::<u32>().unwrap());
        maxima.push(last.max(0).unwrap().to_scalar::<f32>().unwrap());
    }
    assert_eq!(dec[1..].to_vec(), ids(&generation["new_ids"]), "greedy generation");
    worst = worst.max(assert_close(&maxima, &floats(&generation["step_max_logits"]), "step_max_logits"));
    eprintln!("{}: {} cases and generation, largest |Δ| {worst:.2e}", dir.display(), cases.len());
    worst
}

/// A model written by `save_pretrained` loads back with the same family, parameters and logits.
fn round_trip(dir: &Path) {
    let plm = Plm::load(dir, &Device::Cpu).unwrap();
    let out = std::env::temp_dir().join(format!(
        "cloze-seq2seq-save-{}-{}",
        dir.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    plm.save_pretrained(&out).unwrap();
    let back = Plm::load(&out, &Device::Cpu).unwrap();
    assert_eq!(back.family(), plm.family());
    assert_eq!(back.named_weights().len(), plm.named_weights().len(), "same parameters");
    assert_eq!(
        back.network().head().unwrap().decoder_weight.id() == back.network().word_embeddings().id(),
        plm.network().head().unwrap().decoder_weight.id() == plm.network().word_embeddings().id(),
        "tied stays tied, untied stays untied"
    );
    let input = plm.tokenizer().encode_with_specials("the film was fine It was <extra_id_0>.").unwrap();
    let input = input.get_ids().to_vec();
    let start = plm.decoder_start_id().unwrap();
    let dec = [start, input[0], input[1]];
    let a =
        decoder_logits(&plm, &encode(&plm, &input), &dec).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b =
        decoder_logits(&back, &encode(&back, &input), &dec).flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a, b, "logits after save_pretrained and load");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn t5_v1_1_matches_transformers() {
    check(&fixture("t5"), Family::T5);
}

#[test]
fn t5_v1_0_matches_transformers() {
    check(&fixture("t5-v1_0"), Family::T5);
}

#[test]
fn bart_matches_transformers() {
    check(&fixture("bart"), Family::Bart);
}

#[test]
fn seq2seq_models_load_back_after_save_pretrained() {
    for name in ["t5", "t5-v1_0", "bart"] {
        round_trip(&fixture(name));
    }
}

#[test]
fn only_encoder_decoders_decode() {
    let plm = Plm::load(fixture("llama"), &Device::Cpu).unwrap();
    assert_eq!(plm.decoder_start_id(), None);
    let x = Tensor::zeros((1, 2, plm.hidden_size()), candle_core::DType::F32, plm.device()).unwrap();
    let m = Tensor::ones((1, 2), candle_core::DType::U32, plm.device()).unwrap();
    let err = plm.decode(&x, &m, &x, &m).unwrap_err().to_string();
    assert!(err.contains("only encoder–decoders (T5, BART)"), "{err}");
}

/// A right-padded batch of two encoder rows (different lengths) and, per row, the decoder input
/// `[start, first token of the row, word…]` with the word token ids it predicts from index 1.
struct GradBatch {
    ids: Tensor,
    mask: Tensor,
    dec: Tensor,
    dec_mask: Tensor,
    targets: Vec<Vec<u32>>,
}

fn grad_batch(plm: &Plm) -> GradBatch {
    let mask = plm.tokenizer().special().mask.0.clone();
    let texts = [format!("the movie was {mask}."), format!("a long and boring film, it was {mask}!")];
    let rows: Vec<Vec<u32>> =
        texts.iter().map(|t| plm.tokenizer().encode_with_specials(t).unwrap().get_ids().to_vec()).collect();
    assert_ne!(rows[0].len(), rows[1].len(), "the batch must need padding");
    let batch = plm.batch(&[&rows[0], &rows[1]]).unwrap();
    let start = plm.decoder_start_id().unwrap();
    let words =
        [plm.tokenizer().encode_plain(" great").unwrap(), plm.tokenizer().encode_plain(" bad").unwrap()];
    let dec_rows: Vec<Vec<u32>> =
        words.iter().zip(&rows).map(|(w, r)| [vec![start, r[1]], w.clone()].concat()).collect();
    let dec = plm.batch(&[&dec_rows[0], &dec_rows[1]]).unwrap();
    GradBatch {
        ids: batch.ids().clone(),
        mask: batch.attention().clone(),
        dec: dec.ids().clone(),
        dec_mask: dec.attention().clone(),
        targets: words.to_vec(),
    }
}

/// Minus the teacher-forced log-probability of each row's word (token k read at index 1 + k),
/// summed over the batch, from the encoder's input embeddings.
fn seq2seq_loss(plm: &Plm, embeds: &Tensor, b: &GradBatch) -> Tensor {
    let encoded = plm.encode(embeds, &b.mask).unwrap();
    let states = plm.decode(&encoded, &b.mask, &plm.embed_tokens(&b.dec).unwrap(), &b.dec_mask).unwrap();
    let head = plm.lm_head().unwrap();
    let mut total: Option<Tensor> = None;
    for (r, word) in b.targets.iter().enumerate() {
        let rows = states.get(r).unwrap().narrow(0, 1, word.len()).unwrap();
        let logp = candle_nn::ops::log_softmax(
            &head.logits_full(&head.transform(&rows).unwrap()).unwrap(),
            D::Minus1,
        )
        .unwrap();
        for (k, &w) in word.iter().enumerate() {
            let term = logp.get(k).unwrap().get(w as usize).unwrap();
            total = Some(match total {
                Some(t) => (t - term).unwrap(),
                None => term.neg().unwrap(),
            });
        }
    }
    total.unwrap()
}

fn relative_error(fd: f64, an: f64) -> f64 {
    (fd - an).abs() / an.abs().max(1e-3)
}

#[test]
fn seq2seq_gradients_match_finite_differences() {
    // (fixture, weights checked element-wise against central differences)
    let cases: [(&str, &[&str]); 2] = [
        (
            "t5",
            &[
                "shared.weight",
                "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                "encoder.block.1.layer.1.DenseReluDense.wi_0.weight",
                "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                "decoder.block.1.layer.1.EncDecAttention.k.weight",
                "decoder.final_layer_norm.weight",
                "lm_head.weight",
            ],
        ),
        (
            "bart",
            &[
                "model.shared.weight",
                "model.encoder.embed_positions.weight",
                "model.encoder.layers.0.self_attn.q_proj.bias",
                "model.decoder.layernorm_embedding.weight",
                "model.decoder.layers.1.encoder_attn.v_proj.weight",
                "model.decoder.layers.1.fc2.bias",
                "final_logits_bias",
            ],
        ),
    ];
    for (name, checked) in cases {
        let mut plm = Plm::load_with_dtype(fixture(name), &Device::Cpu, DType::F64).unwrap();
        let b = grad_batch(&plm);
        let eps = 1e-6;
        let mut worst: f64 = 0.0;

        // To the encoder's input embeddings (a soft prompt's gradient): real tokens only.
        let embeds = Var::from_tensor(&plm.embed_tokens(&b.ids).unwrap()).unwrap();
        let grads = seq2seq_loss(&plm, embeds.as_tensor(), &b).backward().unwrap();
        let g: Vec<Vec<Vec<f64>>> = grads.get(embeds.as_tensor()).expect("a gradient").to_vec3().unwrap();
        let keep: Vec<Vec<u32>> = b.mask.to_vec2().unwrap();
        let (rows, t, h) = embeds.as_tensor().dims3().unwrap();
        for r in 0..rows {
            for p in 0..t {
                let norm = g[r][p].iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!(norm.is_finite(), "{name}: row {r} position {p}: gradient {norm}");
                assert_eq!(keep[r][p] == 1, norm > 0.0, "{name}: row {r} position {p}: gradient {norm}");
            }
        }
        let base: Vec<f64> = embeds.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        for (r, p, k) in [(0, 0, 0), (0, 3, 5), (1, 2, h - 1)] {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[(r * t + p) * h + k] += delta;
                let x = Tensor::from_vec(v, (rows, t, h), plm.device()).unwrap();
                seq2seq_loss(&plm, &x, &b).to_scalar::<f64>().unwrap()
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            let err = relative_error(fd, g[r][p][k]);
            worst = worst.max(err);
            assert!(
                err < 1e-4,
                "{name}: d loss / d embeds[{r},{p},{k}]: analytic {:e}, fd {fd:e}",
                g[r][p][k]
            );
        }

        // To every weight: each gets a finite, non-zero gradient; a spread of them is checked.
        let vars = plm.trainable().unwrap();
        let run = |plm: &Plm| seq2seq_loss(plm, &plm.embed_tokens(&b.ids).unwrap(), &b);
        let grads = run(&plm).backward().unwrap();
        for (n, var) in &vars {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: {n} gets no gradient"));
            let norm = g.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f64>().unwrap();
            // A key bias adds the same amount to every score of a query, which softmax ignores: its
            // gradient is zero up to rounding.
            match n.ends_with("k_proj.bias") {
                true => assert!(norm < 1e-12, "{name}: {n}: gradient norm {norm}"),
                false => assert!(norm.is_finite() && norm > 0.0, "{name}: {n}: gradient norm {norm}"),
            }
        }
        for wanted in checked {
            let (_, var) =
                vars.iter().find(|(n, _)| n == wanted).unwrap_or_else(|| panic!("{name}: no {wanted}"));
            let shape = var.as_tensor().shape().clone();
            let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let analytic: Vec<f64> =
                grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            // The element with the largest gradient, so the check is never of a zero.
            let index =
                (0..analytic.len()).max_by(|&i, &j| analytic[i].abs().total_cmp(&analytic[j].abs())).unwrap();
            let at = |delta: f64| {
                let mut v = base.clone();
                v[index] += delta;
                var.set(&Tensor::from_vec(v, shape.clone(), plm.device()).unwrap()).unwrap();
                run(&plm).to_scalar::<f64>().unwrap()
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            var.set(&Tensor::from_vec(base.clone(), shape.clone(), plm.device()).unwrap()).unwrap();
            let err = relative_error(fd, analytic[index]);
            worst = worst.max(err);
            assert!(
                err < 1e-4,
                "{name}: d loss / d {wanted}[{index}]: analytic {:e}, fd {fd:e}",
                analytic[index]
            );
        }
        eprintln!(
            "{name}: {} weights, largest relative error against finite differences {worst:.1e}",
            vars.len()
        );
    }
}

/// A copy of fixture `name` with config.json edited by `edit` and the tensors kept by `keep`.
fn edited_copy(name: &str, tag: &str, edit: &dyn Fn(&mut Value), keep: &dyn Fn(&str) -> bool) -> PathBuf {
    let src = fixture(name);
    let dir = std::env::temp_dir().join(format!("cloze-seq2seq-hostile-{name}-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dir.join("config.json"), serde_json::to_string(&config).unwrap()).unwrap();
    let tensors = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    let kept: std::collections::HashMap<String, Tensor> =
        tensors.into_iter().filter(|(n, _)| keep(n)).collect();
    candle_core::safetensors::save(&kept, dir.join("model.safetensors")).unwrap();
    dir
}

/// One hostile case: fixture, tag, config edit, tensors kept, the words the error must contain.
type Hostile = (&'static str, &'static str, Box<dyn Fn(&mut Value)>, Box<dyn Fn(&str) -> bool>, &'static str);

#[test]
fn hostile_seq2seq_checkpoints_are_explained() {
    let all = |_: &str| true;
    let set = |key: &'static str, v: Value| move |c: &mut Value| c[key] = v.clone();
    let cases: Vec<Hostile> = vec![
        (
            "t5",
            "relu",
            Box::new(set("feed_forward_proj", "relu".into())),
            Box::new(all),
            "do not match config.json (T5)",
        ),
        ("t5", "heads", Box::new(set("num_heads", 3.into())), Box::new(all), "do not match config.json (T5)"),
        (
            "t5",
            "act",
            Box::new(set("feed_forward_proj", "gated-mish".into())),
            Box::new(all),
            "`feed_forward_proj`",
        ),
        (
            "t5",
            "buckets",
            Box::new(set("relative_attention_num_buckets", 1.into())),
            Box::new(all),
            "`relative_attention_num_buckets` is 1",
        ),
        (
            "t5",
            "encoder-only",
            Box::new(|_: &mut Value| {}),
            Box::new(|n: &str| !n.starts_with("decoder.") && n != "lm_head.weight"),
            "encoder-only T5 export",
        ),
        (
            "bart",
            "start",
            Box::new(set("decoder_start_token_id", 100000.into())),
            Box::new(all),
            "outside the vocabulary",
        ),
        ("bart", "positions", Box::new(set("max_position_embeddings", 64.into())), Box::new(all), "(BART)"),
        (
            "bart",
            "heads",
            Box::new(set("decoder_attention_heads", 5.into())),
            Box::new(all),
            "does not divide d_model 32",
        ),
    ];
    for (name, tag, edit, keep, want) in cases {
        let dir = edited_copy(name, tag, &*edit, &*keep);
        let err = Plm::load(&dir, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains(want), "{name} {tag}: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // An input longer than BART's learned positions is an error, not a panic.
    let plm = Plm::load(fixture("bart"), &Device::Cpu).unwrap();
    let long = vec![5u32; plm.max_len() + 1];
    let (t, mask) = row(&plm, &long);
    let err = plm.encode(&plm.embed_tokens(&t).unwrap(), &mask).unwrap_err().to_string();
    assert!(err.contains("more than the 128 positions"), "{err}");
}

/// Classification on an encoder–decoder reads the label word as the decoder's answer (T5: after
/// `<extra_id_0>`; BART: in place of `<mask>`), scored exactly: each word's summed token
/// log-probabilities equal transformers' `label_word_scores`.
#[test]
fn classification_reads_the_decoders_answer_as_transformers_scores_it() {
    use cloze::classify::{Classifier, ClassifyOptions};
    use cloze::template::Template;
    use cloze::verbalizer::{Class, Verbalizer};
    for name in ["t5", "t5-v1_0", "bart"] {
        let dir =
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity")).join(name);
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
        let plm = Plm::load(&dir, &Device::Cpu).unwrap();
        let words: Vec<String> = reference["label_words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect();
        let verbalizer = Verbalizer::new(
            words.iter().map(|w| Class { name: w.clone(), words: vec![w.clone()] }).collect(),
        )
        .unwrap();
        let mut worst = 0f32;
        for (n, case) in reference["cases"].as_array().unwrap().iter().enumerate() {
            let template = Template::parse(case["template"].as_str().unwrap()).unwrap();
            let c = Classifier::new(&plm, template, &verbalizer, ClassifyOptions::default()).unwrap();
            let rendered = c.render(&[("text_a", case["text_a"].as_str().unwrap())]).unwrap();
            assert_eq!(rendered.ids, ids(&case["input_ids"]), "{name} case {n}: encoder ids");
            let (scores, tokens, _) = c.word_scores(&[&rendered], false).unwrap();
            for (k, w) in c.verbalizer().words.iter().enumerate() {
                assert_eq!(
                    w.ids,
                    ids(&case["label_word_ids"][&w.word]),
                    "{name} case {n}: ids of {}",
                    w.word
                );
                let want = case["label_word_scores"][&w.word].as_f64().unwrap() as f32;
                worst =
                    worst.max(assert_close(&[scores[0][k]], &[want], &format!("{name} case {n} {}", w.word)));
                let per_token = floats(&case["label_word_logprobs"][&w.word]);
                worst = worst.max(assert_close(&tokens[0][k], &per_token, "token log-probs"));
            }
        }
        eprintln!("{name}: word scores as the decoder's answer, largest |Δ| {worst:.2e}");
    }
}
