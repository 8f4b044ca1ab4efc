//! Gradients through the encoders — with respect to the input embeddings (what soft-prompt tuning
//! trains) and to every weight (what fine-tuning trains) — checked against central finite
//! differences in f64, for BERT, RoBERTa and DistilBERT (the tiny random fixtures). candle's fused
//! layer_norm and softmax_last_dim have no backward pass; if any block used them on tracked
//! tensors, a gradient would be missing or wrong here.
//!
//! The loss: cross-entropy at each row's mask over two label words, summed over a right-padded
//! batch of two rows.

use std::path::PathBuf;

use candle_core::{D, DType, Device, Tensor, Var};
use cloze::plm::Plm;

mod common;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/parity");

/// A right-padded batch of two prompts: ids `[2, t]`, mask `[2, t]`, each row's mask position
/// (the engine's gradient check's batch).
fn batch(plm: &Plm) -> (Tensor, Tensor, Vec<usize>) {
    let (ids, mask, positions) = cloze::plm::gradcheck::probe_batch(plm).unwrap();
    let lens: Vec<u32> = mask.sum(1).unwrap().to_vec1().unwrap();
    assert_ne!(lens[0], lens[1], "the batch must need padding");
    (ids, mask, positions)
}

/// Summed cross-entropy at the masks over two label-word ids (target: the first for row 0, the
/// second for row 1).
/// The hidden states at the masks come from [`Plm::encode_at`], as tuning reads them (the last
/// block at the mask rows only).
fn loss(plm: &Plm, embeds: &Tensor, mask: &Tensor, positions: &[usize], words: &Tensor) -> Tensor {
    loss_via(plm, embeds, mask, positions, words, true)
}

/// [`loss`], with the mask rows read from [`Plm::encode_at`] (`at_rows`) or selected from the
/// whole [`Plm::encode`].
fn loss_via(
    plm: &Plm,
    embeds: &Tensor,
    mask: &Tensor,
    positions: &[usize],
    words: &Tensor,
    at_rows: bool,
) -> Tensor {
    if at_rows {
        return cloze::plm::gradcheck::mask_loss(plm, embeds, mask, positions, words).unwrap();
    }
    let t = mask.dim(1).unwrap();
    let gather: Vec<u32> = positions.iter().enumerate().map(|(r, &p)| (r * t + p) as u32).collect();
    let hidden = plm.encode(embeds, mask).unwrap();
    let (b, t, h) = hidden.dims3().unwrap();
    let at_mask = hidden
        .reshape((b * t, h))
        .unwrap()
        .index_select(&Tensor::new(gather.as_slice(), plm.device()).unwrap(), 0)
        .unwrap();
    let head = plm.lm_head().unwrap();
    let logits = head.logits_for(&head.transform(&at_mask).unwrap(), words).unwrap();
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
    let picked = (logp.get(0).unwrap().get(0).unwrap() + logp.get(1).unwrap().get(1).unwrap()).unwrap();
    picked.neg().unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

#[test]
fn input_embedding_gradients_match_finite_differences() {
    for family in ["bert", "roberta", "distilbert"] {
        let dir = PathBuf::from(ROOT).join(family);
        let plm = Plm::load_with_dtype(&dir, &common::test_device(), DType::F64).unwrap();
        let (ids, mask, positions) = batch(&plm);
        // Two label words: the first two ordinary vocabulary ids after the specials.
        let words = Tensor::new(&[5u32, 9], plm.device()).unwrap();
        let embeds = Var::from_tensor(&plm.embed_tokens(&ids).unwrap()).unwrap();
        let l = loss(&plm, embeds.as_tensor(), &mask, &positions, &words);
        let grads = l.backward().unwrap();
        let g = grads
            .get(embeds.as_tensor())
            .unwrap_or_else(|| panic!("{family}: no gradient reached the embeddings"));
        let g: Vec<Vec<Vec<f64>>> = g.to_vec3().unwrap();
        let (b, t, h) = embeds.as_tensor().dims3().unwrap();
        let keep: Vec<Vec<u32>> = mask.to_vec2().unwrap();

        // Every real token's embedding gets a finite, non-zero gradient; padding gets exactly zero.
        for r in 0..b {
            for p in 0..t {
                let norm: f64 = g[r][p].iter().map(|x| x * x).sum::<f64>().sqrt();
                assert!(norm.is_finite(), "{family}: row {r} position {p}: gradient {norm}");
                if keep[r][p] == 1 {
                    assert!(norm > 0.0, "{family}: row {r} position {p} gets no gradient");
                } else {
                    assert_eq!(norm, 0.0, "{family}: padding at row {r} position {p} must not matter");
                }
            }
        }

        // Central differences on a spread of coordinates: first token, the mask, the last real one.
        let base: Vec<f64> = embeds.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        for (r, p, k) in [(0, 0, 0), (0, positions[0], 3), (1, positions[1], h - 1), (1, 2, h / 2), (0, 1, 7)]
        {
            let at = (r * t + p) * h + k;
            let at_value = |delta: f64| {
                let mut v = base.clone();
                v[at] += delta;
                let x = Tensor::from_vec(v, (b, t, h), plm.device()).unwrap();
                scalar(&loss(&plm, &x, &mask, &positions, &words))
            };
            let fd = (at_value(eps) - at_value(-eps)) / (2.0 * eps);
            let an = g[r][p][k];
            let err = (fd - an).abs() / an.abs().max(1e-3);
            worst = worst.max(err);
            // A cut or wrong backward is off by O(1); what is left here is ~1e-5 (see the note on
            // this in the step-5 issue: under investigation, far below what training notices).
            assert!(
                err < 1e-4,
                "{family}: d loss / d embeds[{r},{p},{k}]: analytic {an:e}, finite difference {fd:e}"
            );
        }
        eprintln!("{family}: largest relative error against finite differences {worst:.1e}");
    }
}

#[test]
fn inference_stays_on_the_fused_kernels() {
    // Untracked f32 inputs take the fused path, and give the same numbers as the composed one.
    let dir = PathBuf::from(ROOT).join("bert");
    let plm = Plm::load(&dir, &Device::Cpu).unwrap();
    let (ids, mask, _) = batch(&plm);
    let embeds = plm.embed_tokens(&ids).unwrap();
    let fused = plm.encode(&embeds, &mask).unwrap();
    let tracked = Var::from_tensor(&embeds).unwrap();
    let composed = plm.encode(tracked.as_tensor(), &mask).unwrap();
    let keep = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
    let diff = (fused - composed).unwrap().broadcast_mul(&keep).unwrap().abs().unwrap().max_all().unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() < 1e-4, "fused and composed forward differ by {diff}");
}

/// The last block run at the mask rows only gives the loss and every gradient of the whole block
/// followed by a selection of those rows.
#[test]
fn the_last_block_at_the_mask_rows_equals_the_whole_block() {
    for family in ["bert", "roberta", "distilbert"] {
        let dir = PathBuf::from(ROOT).join(family);
        let mut plm = Plm::load_with_dtype(&dir, &common::test_device(), DType::F64).unwrap();
        let vars = plm.trainable().unwrap();
        let (ids, mask, positions) = batch(&plm);
        let words = Tensor::new(&[5u32, 9], plm.device()).unwrap();
        let embeds = plm.embed_tokens(&ids).unwrap();
        let at = loss_via(&plm, &embeds, &mask, &positions, &words, true);
        let whole = loss_via(&plm, &embeds, &mask, &positions, &words, false);
        assert!(
            (scalar(&at) - scalar(&whole)).abs() < 1e-12,
            "{family}: {} vs {}",
            scalar(&at),
            scalar(&whole)
        );
        let (ga, gw) = (at.backward().unwrap(), whole.backward().unwrap());
        let mut worst: f64 = 0.0;
        for (name, var) in &vars {
            let a = ga
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{family}: {name}: no gradient at the rows"));
            let w = gw.get(var.as_tensor()).unwrap();
            let diff = (a - w).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
            worst = worst.max(diff);
            assert!(diff < 1e-10, "{family}: {name}: gradients differ by {diff:e}");
        }
        eprintln!("{family}: loss and {} gradients equal to {worst:.1e}", vars.len());
    }
}

#[test]
fn every_weight_gets_a_gradient_that_matches_finite_differences() {
    for family in ["bert", "roberta", "distilbert"] {
        let dir = PathBuf::from(ROOT).join(family);
        let mut plm = Plm::load_with_dtype(&dir, &common::test_device(), DType::F64).unwrap();
        let vars = plm.trainable().unwrap();
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"layers.0.attention.qkv.weight"), "{family}: {names:?}");
        assert!(
            !names.contains(&"head.decoder.weight"),
            "{family}: the decoder is tied to the word embeddings"
        );
        let (ids, mask, positions) = batch(&plm);
        let words = Tensor::new(&[5u32, 9], plm.device()).unwrap();
        let run = |plm: &Plm| loss(plm, &plm.embed_tokens(&ids).unwrap(), &mask, &positions, &words);
        let grads = run(&plm).backward().unwrap();

        // Every weight receives a finite gradient, and a non-zero one.
        for (name, var) in &vars {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{family}: {name} gets no gradient"));
            let norm = g.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f64>().unwrap();
            assert!(norm.is_finite() && norm > 0.0, "{family}: {name}: gradient norm {norm}");
        }

        // Central differences on one element of a spread of weights (for the word embeddings, an
        // element of the first word's row, which is both an input and a decoder row).
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        let hidden = plm.hidden_size();
        let first_word = ids.to_vec2::<u32>().unwrap()[0][1] as usize;
        for (name, index) in [
            ("embeddings.word_embeddings", first_word * hidden + 3),
            ("embeddings.norm.weight", 1),
            ("layers.0.attention.qkv.weight", 17),
            ("layers.0.attention.out.bias", 2),
            ("layers.1.ffn_in.weight", 40),
            ("layers.1.ffn_norm.bias", 0),
            ("head.dense.weight", 11),
            ("head.decoder.bias", 9),
        ] {
            let (_, var) =
                vars.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{family}: no {name}"));
            let shape = var.as_tensor().shape().clone();
            let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let analytic: Vec<f64> =
                grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            let at = |delta: f64| {
                let mut v = base.clone();
                v[index] += delta;
                var.set(&Tensor::from_vec(v, shape.clone(), plm.device()).unwrap()).unwrap();
                scalar(&run(&plm))
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            var.set(&Tensor::from_vec(base.clone(), shape.clone(), plm.device()).unwrap()).unwrap();
            let an = analytic[index];
            let err = (fd - an).abs() / an.abs().max(1e-3);
            worst = worst.max(err);
            assert!(
                err < 1e-4,
                "{family}: d loss / d {name}[{index}]: analytic {an:e}, finite difference {fd:e}"
            );
        }
        eprintln!(
            "{family}: {} weights, largest relative error against finite differences {worst:.1e}",
            vars.len()
        );
    }
}

/// Decoders (GPT-2; the Llama architecture with grouped KV heads, RoPE, RMSNorm and SwiGLU): the
/// label word is read at the token before the mask, so the loss reads there; a causal model gives
/// every token up to that position a gradient and every later one (the mask placeholder, the text
/// after it, padding) exactly none.
#[test]
fn decoder_input_embedding_gradients_match_finite_differences() {
    let shared = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/parity/gpt2"));
    for dir in [shared, PathBuf::from(ROOT).join("llama")] {
        let plm = Plm::load_with_dtype(&dir, &common::test_device(), DType::F64).unwrap();
        let (ids, mask, masks) = batch(&plm);
        let reads: Vec<usize> = masks.iter().map(|&m| m - 1).collect();
        let words = Tensor::new(&[5u32, 9], plm.device()).unwrap();
        let embeds = Var::from_tensor(&plm.embed_tokens(&ids).unwrap()).unwrap();
        let l = loss(&plm, embeds.as_tensor(), &mask, &reads, &words);
        let grads = l.backward().unwrap();
        let g: Vec<Vec<Vec<f64>>> = grads.get(embeds.as_tensor()).expect("a gradient").to_vec3().unwrap();
        let (b, t, h) = embeds.as_tensor().dims3().unwrap();
        for (r, row) in g.iter().enumerate() {
            for (p, gp) in row.iter().enumerate() {
                let norm: f64 = gp.iter().map(|x| x * x).sum::<f64>().sqrt();
                if p <= reads[r] {
                    assert!(norm > 0.0 && norm.is_finite(), "{dir:?}: row {r} position {p}: gradient {norm}");
                } else {
                    assert_eq!(
                        norm, 0.0,
                        "{dir:?}: row {r} position {p} comes after the read and must not matter"
                    );
                }
            }
        }
        let base: Vec<f64> = embeds.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        for (r, p, k) in [(0, 0, 0), (0, reads[0], 3), (1, reads[1], h - 1), (1, 2, h / 2), (0, 1, 7)] {
            let at = (r * t + p) * h + k;
            let at_value = |delta: f64| {
                let mut v = base.clone();
                v[at] += delta;
                let x = Tensor::from_vec(v, (b, t, h), plm.device()).unwrap();
                scalar(&loss(&plm, &x, &mask, &reads, &words))
            };
            let fd = (at_value(eps) - at_value(-eps)) / (2.0 * eps);
            let an = g[r][p][k];
            let err = (fd - an).abs() / an.abs().max(1e-3);
            worst = worst.max(err);
            assert!(
                err < 1e-4,
                "{dir:?}: d loss / d embeds[{r},{p},{k}]: analytic {an:e}, finite difference {fd:e}"
            );
        }
        eprintln!("{}: largest relative error against finite differences {worst:.1e}", dir.display());
    }
}
