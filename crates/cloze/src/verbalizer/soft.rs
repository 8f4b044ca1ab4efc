//! The soft verbalizer (WARP, Hambardzumyan et al. 2021, <https://arxiv.org/abs/2101.00121>;
//! OpenPrompt's `SoftVerbalizer`): class scores are a trained projection `h · Wᵀ + b` of the hidden
//! state at the mask — through the MLM head's transform when the model has one, else the raw state
//! (bare encoders such as all-MiniLM-L6-v2).
//!
//! Each class's row of `W` starts as the mean of its label words' decoder rows (their input
//! embeddings when there is no head) and `b` as the mean of their decoder biases, so before
//! training the soft verbalizer scores as the manual one does.
//!
//! Reference: <https://github.com/thunlp/OpenPrompt/blob/main/openprompt/prompts/soft_verbalizer.py>

use std::collections::HashMap;

use candle_core::{Tensor, Var};

use super::BoundVerbalizer;
use crate::error::{Error, Result};
use crate::plm::Plm;

/// The names of the soft verbalizer's tensors in `prompt.safetensors`.
pub const WEIGHT: &str = "verbalizer.weight";
pub const BIAS: &str = "verbalizer.bias";

/// A trainable projection from the mask's hidden state to class scores.
#[derive(Debug, Clone)]
pub struct SoftVerbalizer {
    /// `[classes, hidden]`.
    weight: Tensor,
    /// `[classes]`.
    bias: Tensor,
}

impl SoftVerbalizer {
    /// Initialised from the label words of `bound`: each class's row is the mean of its words'
    /// decoder rows (input `embeddings` for a model without an MLM head).
    pub fn from_label_words(plm: &Plm, bound: &BoundVerbalizer, embeddings: &Tensor) -> Result<Self> {
        let device = plm.device();
        let (rows, bias_rows) = match plm.lm_head() {
            Ok(h) => (h.decoder_weight.clone(), h.decoder_bias.clone()),
            Err(_) => (embeddings.clone(), None),
        };
        let mut ws = Vec::with_capacity(bound.num_classes());
        let mut bs = Vec::with_capacity(bound.num_classes());
        for c in 0..bound.num_classes() {
            let ids: Vec<u32> =
                bound.words.iter().filter(|w| w.class == c).flat_map(|w| w.ids.clone()).collect();
            let idx = Tensor::new(ids.as_slice(), device)?;
            ws.push(rows.index_select(&idx, 0)?.mean_keepdim(0)?);
            bs.push(match &bias_rows {
                Some(b) => b.index_select(&idx, 0)?.mean_keepdim(0)?,
                None => Tensor::zeros(1, rows.dtype(), device)?,
            });
        }
        Ok(Self { weight: Tensor::cat(&ws, 0)?, bias: Tensor::cat(&bs, 0)? })
    }

    /// Class scores `[batch, classes]` (logits) from the hidden states at the mask `[batch, hidden]`.
    pub fn scores(&self, plm: &Plm, at_mask: &Tensor) -> Result<Tensor> {
        let x = match plm.lm_head() {
            Ok(head) => head.transform(at_mask)?,
            Err(_) => at_mask.clone(),
        };
        Ok(x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?)
    }

    /// What the projection reads from the states at the mask `[rows, hidden]`: the MLM head's
    /// transform of them when the model has one, else the states themselves (as [`Self::scores`]).
    pub fn features(&self, plm: &Plm, at_mask: &Tensor) -> Result<Tensor> {
        Ok(match plm.lm_head() {
            Ok(head) => head.transform(at_mask)?,
            Err(_) => at_mask.clone(),
        })
    }

    /// Sets the projection to `weights` (`classes × hidden`, row-major) and `bias` (`classes`),
    /// e.g. a logistic regression fitted on [`Self::features`] (LP-FT's probe stage).
    pub fn set(&mut self, weights: Vec<f64>, bias: Vec<f64>) -> Result<()> {
        let (classes, hidden) = self.weight.dims2()?;
        if weights.len() != classes * hidden || bias.len() != classes {
            return Err(Error::internal(format!(
                "a {classes} × {hidden} projection cannot take {} weights and {} biases",
                weights.len(),
                bias.len()
            )));
        }
        let (dtype, device) = (self.weight.dtype(), self.weight.device().clone());
        self.weight = Tensor::from_vec(weights, (classes, hidden), &device)?.to_dtype(dtype)?;
        self.bias = Tensor::from_vec(bias, classes, &device)?.to_dtype(dtype)?;
        Ok(())
    }

    /// Makes the weight and bias variables and returns them by their saved names.
    pub fn vars(&mut self) -> Result<Vec<(String, Var)>> {
        let w = Var::from_tensor(&self.weight)?;
        let b = Var::from_tensor(&self.bias)?;
        self.weight = w.as_tensor().clone();
        self.bias = b.as_tensor().clone();
        Ok(vec![(WEIGHT.to_string(), w), (BIAS.to_string(), b)])
    }

    /// The tensors by their saved names, detached.
    pub fn tensors(&self) -> [(&'static str, Tensor); 2] {
        [(WEIGHT, self.weight.detach()), (BIAS, self.bias.detach())]
    }

    /// A copy whose tensors are detached from any graph.
    pub fn detached(&self) -> Self {
        Self { weight: self.weight.detach(), bias: self.bias.detach() }
    }

    /// Replaces the tensors with saved ones, checked for shape and moved to this one's device and
    /// dtype.
    pub fn load(&mut self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        self.weight = take(tensors, WEIGHT, &self.weight)?;
        self.bias = take(tensors, BIAS, &self.bias)?;
        Ok(())
    }
}

/// The saved tensor `name`, checked against the shape of `current` and converted to its device and
/// dtype. Shared by every trained prompt tensor.
pub fn take(tensors: &HashMap<String, Tensor>, name: &str, current: &Tensor) -> Result<Tensor> {
    let t = tensors.get(name).ok_or_else(|| {
        Error::invalid(format!("prompt.safetensors has no {name:?}; was it saved by another template?"))
    })?;
    if t.dims() != current.dims() {
        return Err(Error::invalid(format!(
            "{name} has shape {:?} but this template and model need {:?}; the run was made with a \
             different template or model",
            t.dims(),
            current.dims()
        )));
    }
    Ok(t.to_device(current.device())?.to_dtype(current.dtype())?)
}
