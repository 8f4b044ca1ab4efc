//! Distillation (PET: Schick & Schütze, EACL 2021, §3.3): a template ensemble labels the unlabelled
//! rows with soft labels — its class probabilities, softened with a temperature — and a final model
//! (probe, soft prompt or fine-tuning) trains on them beside the human labels, with the
//! cross-entropy against the soft distribution (a human label is a one-hot one).
//!
//! The soft label travels with its row as the meta field [`SOFT_FIELD`] (a JSON object class →
//! probability; the row's `label` is set to the most probable class, so every other step sees a
//! labelled row); the run records which rows were pseudo-labelled in `pseudo_labels.jsonl`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::Example;
use crate::ensemble::{Ensemble, EnsembleClassifier};
use crate::error::{Error, Result};
use crate::plm::Plm;

/// The meta field holding a pseudo-labelled row's soft label (no column can have this name: a
/// template field name has no `:`).
pub const SOFT_FIELD: &str = "cloze:soft";
/// The run folder's list of pseudo-labelled rows.
pub const PSEUDO_LABELS: &str = "pseudo_labels.jsonl";
/// PET's temperature for the ensemble's soft labels.
pub const DEFAULT_TEMPERATURE: f64 = 2.0;

/// Distillation settings, stored in the run's config (the whole ensemble, so the run can be
/// repeated from its config alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    pub ensemble: Ensemble,
    /// The model the ensemble scores with; `None`: the run's own model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<std::path::PathBuf>,
    /// Soft labels are `p^(1/T)` normalised (T > 1 flattens them; 1 keeps the ensemble's).
    pub temperature: f64,
}

impl Distill {
    pub fn validate(&self) -> Result<()> {
        self.ensemble.check()?;
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::invalid(format!(
                "distillation temperature {} must be a positive number (PET uses {DEFAULT_TEMPERATURE})",
                self.temperature
            )));
        }
        Ok(())
    }
}

/// `p^(1/t)` normalised.
pub fn soften(p: &[f32], t: f64) -> Vec<f32> {
    let logs: Vec<f64> = p.iter().map(|&v| f64::from(v).max(1e-30).ln() / t).collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logs.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| (v / sum) as f32).collect()
}

/// A pseudo-labelled row as `pseudo_labels.jsonl` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PseudoLabel {
    pub id: String,
    pub label: String,
    pub soft: BTreeMap<String, f32>,
}

/// Labels every row of `rows` that has no label with the ensemble's softened probabilities on
/// `plm` (see the module documentation) and lists them in `run_dir/pseudo_labels.jsonl`. Returns how
/// many rows it labelled. `progress(done, total)` counts prompt-rows; `false` cancels.
pub fn pseudo_label(
    distill: &Distill,
    plm: &Plm,
    rows: &mut [Example],
    run_dir: &Path,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<usize> {
    distill.validate()?;
    let unlabelled: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].label.is_none()).collect();
    let mut listed = String::new();
    if !unlabelled.is_empty() {
        let classifier = EnsembleClassifier::new(plm, distill.ensemble.clone(), 32)?;
        let todo: Vec<Example> = unlabelled.iter().map(|&i| rows[i].clone()).collect();
        let out = classifier.classify(&todo, progress)?;
        let classes = &distill.ensemble.classes;
        for (&i, p) in unlabelled.iter().zip(&out.combined) {
            let probs: Vec<f32> = p.probs.iter().map(|(_, v)| *v).collect();
            let soft = soften(&probs, distill.temperature);
            let best = crate::verbalizer::argmax(&soft);
            let map: BTreeMap<String, f32> = classes.iter().cloned().zip(soft).collect();
            let row = &mut rows[i];
            row.label = Some(classes[best].clone());
            let json =
                serde_json::to_string(&map).map_err(|e| Error::internal(format!("soft label: {e}")))?;
            row.meta.insert(SOFT_FIELD.to_string(), json);
            let line = PseudoLabel { id: row.id.clone(), label: classes[best].clone(), soft: map };
            listed.push_str(&serde_json::to_string(&line).map_err(|e| Error::internal(format!("{e}")))?);
            listed.push('\n');
        }
    }
    crate::files::write_atomic(run_dir.join(PSEUDO_LABELS), listed.as_bytes())?;
    Ok(unlabelled.len())
}

/// A row's soft label over `classes` (in that order), when it has one: the probabilities of
/// [`SOFT_FIELD`], checked (finite, non-negative, every class named, summing to 1).
pub fn soft_target(row: &Example, classes: &[String]) -> Result<Option<Vec<f32>>> {
    let Some(json) = row.meta.get(SOFT_FIELD) else { return Ok(None) };
    let bad = |why: &str| Error::invalid(format!("row {}: its soft label {why}", row.id));
    let map: BTreeMap<String, f32> =
        serde_json::from_str(json).map_err(|_| bad("is not an object class → probability"))?;
    let target: Vec<f32> = classes
        .iter()
        .map(|c| map.get(c).copied().ok_or_else(|| bad(&format!("has no probability for class {c:?}"))))
        .collect::<Result<_>>()?;
    let sum: f32 = target.iter().sum();
    if target.iter().any(|p| !p.is_finite() || *p < 0.0)
        || (sum - 1.0).abs() > 1e-3
        || map.len() != classes.len()
    {
        return Err(bad("is not a probability distribution over the classes"));
    }
    Ok(Some(target))
}

/// Sets the unlabelled rows aside: `(labelled, unlabelled)`, each in file order.
pub fn split_unlabelled(rows: Vec<Example>) -> (Vec<Example>, Vec<Example>) {
    rows.into_iter().partition(|r| r.label.is_some())
}

/// The targets of a training batch when one of its rows has a soft label: `[batch, classes]`, the
/// soft labels and one-hot rows for the others; `None` when no row has one (the plain
/// cross-entropy on class indices is used then, exactly as without distillation).
pub fn batch_targets(
    soft: &[Option<Vec<f32>>],
    batch: &[usize],
    labels: &[u32],
    classes: usize,
    device: &candle_core::Device,
) -> Result<Option<candle_core::Tensor>> {
    if !batch.iter().any(|&i| soft.get(i).is_some_and(Option::is_some)) {
        return Ok(None);
    }
    let mut flat = Vec::with_capacity(batch.len() * classes);
    for (&i, &label) in batch.iter().zip(labels) {
        match soft.get(i).and_then(Option::as_ref) {
            Some(t) => flat.extend_from_slice(t),
            None => flat.extend((0..classes).map(|c| f32::from(u8::from(c == label as usize)))),
        }
    }
    Ok(Some(candle_core::Tensor::from_vec(flat, (batch.len(), classes), device)?))
}

/// `−(1/b) Σ_rows Σ_c t_c · log softmax(scores)_c`: the cross-entropy against target distributions.
pub fn soft_cross_entropy(
    scores: &candle_core::Tensor,
    targets: &candle_core::Tensor,
) -> Result<candle_core::Tensor> {
    let logp =
        candle_nn::ops::log_softmax(&scores.to_dtype(candle_core::DType::F32)?, candle_core::D::Minus1)?;
    let b = targets.dim(0)? as f64;
    Ok(((logp * targets)?.sum_all()? * (-1.0 / b))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softening_by_hand() {
        // (0.9, 0.1) at T = 2: √0.9 = 0.948683, √0.1 = 0.316228 → 0.75, 0.25.
        let s = soften(&[0.9, 0.1], 2.0);
        assert!((s[0] - 0.75).abs() < 1e-6 && (s[1] - 0.25).abs() < 1e-6, "{s:?}");
        let same = soften(&[0.2, 0.3, 0.5], 1.0);
        assert!(same.iter().zip([0.2, 0.3, 0.5]).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    /// With one-hot targets the soft cross-entropy equals candle's; with soft ones it is
    /// −Σ t log p by hand: scores (0, ln 3) → p = (0.25, 0.75); targets (0.5, 0.5) →
    /// −(0.5 ln 0.25 + 0.5 ln 0.75) = 0.836988.
    #[test]
    fn soft_cross_entropy_by_hand() {
        let dev = candle_core::Device::Cpu;
        let scores = candle_core::Tensor::new(&[[0f32, 3f32.ln()], [1.0, -1.0]], &dev).unwrap();
        let soft = vec![Some(vec![0.5f32, 0.5]), None];
        let t = batch_targets(&soft, &[0, 1], &[1, 0], 2, &dev).unwrap().unwrap();
        let got = soft_cross_entropy(&scores.narrow(0, 0, 1).unwrap(), &t.narrow(0, 0, 1).unwrap()).unwrap();
        assert!((got.to_scalar::<f32>().unwrap() - 0.836988).abs() < 1e-5);
        let hard = batch_targets(&[None, Some(vec![0.0, 1.0])], &[0, 1], &[1, 1], 2, &dev).unwrap().unwrap();
        let labels = candle_core::Tensor::new(&[1u32, 1], &dev).unwrap();
        let want = candle_nn::loss::cross_entropy(&scores, &labels).unwrap().to_scalar::<f32>().unwrap();
        let got = soft_cross_entropy(&scores, &hard).unwrap().to_scalar::<f32>().unwrap();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        assert!(batch_targets(&[None, None], &[0, 1], &[0, 1], 2, &dev).unwrap().is_none());
    }

    #[test]
    fn soft_targets_are_checked() {
        let classes = vec!["neg".to_string(), "pos".to_string()];
        let row = |json: &str| {
            let mut e = Example::new("7", "text");
            e.meta.insert(SOFT_FIELD.into(), json.into());
            e
        };
        assert_eq!(soft_target(&Example::new("1", "t"), &classes).unwrap(), None);
        assert_eq!(
            soft_target(&row(r#"{"pos": 0.25, "neg": 0.75}"#), &classes).unwrap(),
            Some(vec![0.75, 0.25])
        );
        for (json, want) in [
            (r#"[0.5, 0.5]"#, "not an object"),
            (r#"{"neg": 1.0}"#, "no probability for class \"pos\""),
            (r#"{"neg": 0.9, "pos": 0.9}"#, "not a probability distribution"),
            (r#"{"neg": 1.5, "pos": -0.5}"#, "not a probability distribution"),
        ] {
            let msg = soft_target(&row(json), &classes).unwrap_err().to_string();
            assert!(msg.contains(want) && msg.contains("row 7"), "{json}: {msg}");
        }
    }
}
