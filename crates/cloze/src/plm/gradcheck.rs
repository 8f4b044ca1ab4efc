//! Gradients against central finite differences, on any device: what `cloze bench gradcheck`
//! runs, and what scripts/gpu-check.sh uses to prove that training computes the right gradients on
//! a GPU (where the composed differentiable ops replace the CPU kernels).
//!
//! The model is loaded in f64 (finite differences in f32 are too noisy to tell a wrong gradient
//! from rounding), the loss is tuning's: cross-entropy at each row's mask over two label words, the
//! mask rows read with [`Plm::encode_at`], summed over a right-padded batch of two prompts. The
//! gradients checked are the input embeddings' (what soft-prompt tuning trains) and one element of
//! each of a spread of weights (what fine-tuning trains). Masked LMs only: a decoder reads its
//! label word elsewhere, and `tests/gradients.rs` covers decoders on the CPU.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};

use super::{Family, Kind, Plm};
use crate::error::{Error, Result};

/// The step of the central differences; the loss is f64, so its rounding error (~1e-16 / 1e-6)
/// stays far below the tolerance.
const EPS: f64 = 1e-6;

/// What one check found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GradCheck {
    /// Coordinates compared (input-embedding elements and weight elements).
    pub checked: usize,
    /// Weights that received a gradient, of all the trainable ones.
    pub weights_with_gradient: usize,
    pub weights: usize,
    /// The largest relative error, |analytic − finite difference| / max(|analytic|, 1e-3).
    pub worst_relative_error: f64,
    /// Where that was, e.g. `embeds[1,4,31]` or `layers.0.attention.qkv.weight[17]`.
    pub worst_at: String,
}

/// A right-padded batch of two prompts that need padding: ids `[2, t]`, attention mask `[2, t]`,
/// and each row's mask position.
pub fn probe_batch(plm: &Plm) -> Result<(Tensor, Tensor, Vec<usize>)> {
    let tok = plm.tokenizer();
    let (mask_text, mask_id) = tok.special().mask.clone();
    let texts =
        [format!("the movie was {mask_text} ."), format!("a long and boring film , it was {mask_text} !")];
    let mut encoded = Vec::with_capacity(2);
    for t in &texts {
        encoded.push(tok.encode_with_specials(t)?.get_ids().to_vec());
    }
    let positions: Vec<usize> =
        encoded.iter().map(|ids| ids.iter().position(|&i| i == mask_id)).collect::<Option<_>>().ok_or_else(
            || Error::invalid("the tokenizer split the mask token; the gradient check needs it whole"),
        )?;
    let t = encoded.iter().map(Vec::len).max().unwrap_or(0);
    let pad = tok.special().pad.1;
    let mut ids = vec![pad; 2 * t];
    let mut keep = vec![0u32; 2 * t];
    for (r, row) in encoded.iter().enumerate() {
        ids[r * t..r * t + row.len()].copy_from_slice(row);
        keep[r * t..r * t + row.len()].iter_mut().for_each(|k| *k = 1);
    }
    let dev = plm.device();
    Ok((Tensor::from_vec(ids, (2, t), dev)?, Tensor::from_vec(keep, (2, t), dev)?, positions))
}

/// Summed cross-entropy at the masks over two label-word ids (target: the first for row 0, the
/// second for row 1), the mask rows read with [`Plm::encode_at`] as tuning reads them.
pub fn mask_loss(
    plm: &Plm,
    embeds: &Tensor,
    mask: &Tensor,
    positions: &[usize],
    words: &Tensor,
) -> Result<Tensor> {
    let t = mask.dim(1)?;
    let gather: Vec<u32> = positions.iter().enumerate().map(|(r, &p)| (r * t + p) as u32).collect();
    let at_mask = plm.encode_at(embeds, mask, &gather)?;
    let head = plm.lm_head()?;
    let logits = head.logits_for(&head.transform(&at_mask)?, words)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    Ok((logp.get(0)?.get(0)? + logp.get(1)?.get(1)?)?.neg()?)
}

fn relative_error(analytic: f64, finite: f64) -> f64 {
    (finite - analytic).abs() / analytic.abs().max(1e-3)
}

/// Loads the masked LM in `dir` on `device` in f64 and compares its gradients with central finite
/// differences: 5 input-embedding coordinates and one element of each of up to 8 weights spread
/// over the model.
pub fn check_gradients(dir: &Path, device: &Device) -> Result<GradCheck> {
    // Refused from its config alone: a decoder or GGUF file is not read in full (in f64) first.
    let refuse = |what: &str| {
        Error::invalid(format!(
            "{}: the gradient check takes a masked LM (BERT, RoBERTa, …); this is a {what}",
            dir.display()
        ))
    };
    if super::find_gguf(dir)?.is_some() {
        return Err(refuse("GGUF file (a decoder)"));
    }
    let config_path = dir.join("config.json");
    if config_path.is_file() {
        let text =
            super::checks::read_text_limited(&config_path, super::checks::SMALL_FILE_LIMIT, "config.json")?;
        if let Ok(config) = serde_json::from_str::<serde_json::Value>(&text)
            && let Ok(family) = Family::from_config(&config, &config_path)
            && family.kind() != Kind::Encoder
        {
            return Err(refuse(family.name()));
        }
    }
    let mut plm = Plm::load_with_dtype(dir, device, DType::F64)?;
    if plm.kind() != Kind::Encoder {
        return Err(refuse(plm.family().name()));
    }
    let (ids, mask, positions) = probe_batch(&plm)?;
    let words = Tensor::new(&[5u32, 9], device)?;
    let vars = plm.trainable()?;
    let mut worst = (0f64, String::new());
    let mut checked = 0;
    let mut note = |err: f64, at: String| {
        checked += 1;
        if err >= worst.0 {
            worst = (err, at);
        }
    };

    // The input embeddings.
    let embeds = Var::from_tensor(&plm.embed_tokens(&ids)?)?;
    let grads = mask_loss(&plm, embeds.as_tensor(), &mask, &positions, &words)?.backward()?;
    let g = grads
        .get(embeds.as_tensor())
        .ok_or_else(|| Error::internal("no gradient reached the input embeddings"))?
        .flatten_all()?
        .to_vec1::<f64>()?;
    let (b, t, h) = embeds.as_tensor().dims3()?;
    let base = embeds.as_tensor().flatten_all()?.to_vec1::<f64>()?;
    for (r, p, k) in [
        (0, 0, 0),
        (0, positions[0], 3 % h),
        (1, positions[1], h - 1),
        (1, 2.min(t - 1), h / 2),
        (0, 1, 7 % h),
    ] {
        let at = (r * t + p) * h + k;
        let loss_at = |delta: f64| -> Result<f64> {
            let mut v = base.clone();
            v[at] += delta;
            let x = Tensor::from_vec(v, (b, t, h), device)?;
            Ok(mask_loss(&plm, &x, &mask, &positions, &words)?.to_scalar::<f64>()?)
        };
        let fd = (loss_at(EPS)? - loss_at(-EPS)?) / (2.0 * EPS);
        note(relative_error(g[at], fd), format!("embeds[{r},{p},{k}]"));
    }

    // The weights: every one gets a gradient; one element each of a spread of them is compared.
    let run = |plm: &Plm| mask_loss(plm, &plm.embed_tokens(&ids)?, &mask, &positions, &words);
    let grads = run(&plm)?.backward()?;
    let with_gradient = vars.iter().filter(|(_, v)| grads.get(v.as_tensor()).is_some()).count();
    let step = vars.len().div_ceil(8).max(1);
    for (name, var) in vars.iter().step_by(step) {
        let Some(analytic) = grads.get(var.as_tensor()) else { continue };
        let analytic = analytic.flatten_all()?.to_vec1::<f64>()?;
        let shape = var.as_tensor().shape().clone();
        let base = var.as_tensor().flatten_all()?.to_vec1::<f64>()?;
        // The element with the largest gradient: a zero one (a padding row, an unused word)
        // would compare nothing.
        let index =
            analytic.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map_or(0, |(i, _)| i);
        let loss_at = |delta: f64| -> Result<f64> {
            let mut v = base.clone();
            v[index] += delta;
            var.set(&Tensor::from_vec(v, shape.clone(), device)?)?;
            Ok(run(&plm)?.to_scalar::<f64>()?)
        };
        let fd = (loss_at(EPS)? - loss_at(-EPS)?) / (2.0 * EPS);
        var.set(&Tensor::from_vec(base, shape.clone(), device)?)?;
        note(relative_error(analytic[index], fd), format!("{name}[{index}]"));
    }
    Ok(GradCheck {
        checked,
        weights_with_gradient: with_gradient,
        weights: vars.len(),
        worst_relative_error: worst.0,
        worst_at: worst.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/parity").join(name)
    }

    #[test]
    fn encoders_pass_and_decoders_are_refused() {
        for name in ["bert", "roberta"] {
            let c = check_gradients(&fixture(name), &Device::Cpu).unwrap();
            assert_eq!(c.checked, 5 + c.weights.div_ceil(c.weights.div_ceil(8)), "{name}: {c:?}");
            assert_eq!(c.weights_with_gradient, c.weights, "{name}: {c:?}");
            assert!(c.worst_relative_error < 1e-4, "{name}: {c:?}");
        }
        let e = check_gradients(&fixture("llama"), &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("the gradient check takes a masked LM"), "{e}");
    }

    /// A decoder is refused from its config.json or its file name alone: folders that hold no
    /// weights (nothing is read in full before the refusal).
    #[test]
    fn decoders_are_refused_before_loading() {
        let cases = [
            ("config.json", r#"{"model_type": "llama"}"#, "this is a llama"),
            ("config.json", r#"{"model_type": "gpt2"}"#, "this is a gpt2"),
            ("model.gguf", "", "this is a GGUF file"),
        ];
        for (file, body, want) in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(file), body).unwrap();
            let e = check_gradients(dir.path(), &Device::Cpu).unwrap_err().to_string();
            assert!(e.contains(want), "{file} {body}: {e}");
        }
    }

    #[test]
    fn relative_errors_have_a_floor() {
        for (analytic, finite, want) in
            [(1.0, 1.0, 0.0), (2.0, 1.0, 0.5), (0.0, 1e-6, 1e-3), (-4.0, -4.4, 0.1)]
        {
            assert!((relative_error(analytic, finite) - want).abs() < 1e-12, "{analytic} {finite}");
        }
    }
}
