//! AdamW (Loshchilov & Hutter, 2019, <https://arxiv.org/abs/1711.05101>) with a linear warmup then
//! linear decay schedule and global gradient-norm clipping, as `torch.optim.AdamW`,
//! `transformers.get_linear_schedule_with_warmup` and `torch.nn.utils.clip_grad_norm_` compute them.
//!
//! Reference: <https://github.com/pytorch/pytorch/blob/main/torch/optim/adamw.py>
//!
//! The moments are plain tensors so a checkpoint can save them and a resumed run continue exactly.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var, backprop::GradStore};

use crate::error::{Error, Result};

/// AdamW's settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// One trained tensor with its optimiser state.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
    /// Whether weight decay applies (not to biases and layer-norm weights, as transformers' Trainer).
    decay: bool,
}

/// AdamW over named variables.
#[derive(Debug)]
pub struct AdamW {
    slots: Vec<Slot>,
    config: AdamWConfig,
    /// Updates applied so far (Adam's `t`).
    step: usize,
}

/// Whether a parameter gets weight decay: everything but biases and normalisation weights.
pub fn decays(name: &str) -> bool {
    !(name.ends_with(".bias") || name.contains("norm") || name.contains("LayerNorm"))
}

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let m = var.as_tensor().zeros_like()?;
                let v = var.as_tensor().zeros_like()?;
                let decay = decays(&name);
                Ok(Slot { name, var, m, v, decay })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { slots, config, step: 0 })
    }

    pub fn steps_taken(&self) -> usize {
        self.step
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.slots.iter().map(|s| (s.name.as_str(), &s.var))
    }

    /// The L2 norm of all gradients together (what clipping compares to its maximum).
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0f64;
        for s in &self.slots {
            if let Some(g) = grads.get(s.var.as_tensor()) {
                sum += g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
            }
        }
        Ok(sum.sqrt())
    }

    /// One update with learning rate `lr`; gradients are first multiplied by `grad_scale` (the
    /// clipping factor and 1/accumulation steps). A variable without a gradient is left alone.
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for s in &mut self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else { continue };
            // Gradients computed from variables carry their own op graph; detached, the moments
            // do not chain every step's graph to the next (which would keep them all in memory).
            let g = g.detach();
            let g = if grad_scale == 1.0 { g } else { (g * grad_scale)? };
            s.m = ((&s.m * c.beta1)? + (&g * (1.0 - c.beta1))?)?.detach();
            s.v = ((&s.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?.detach();
            let w = s.var.as_tensor().detach();
            let decayed =
                if s.decay && c.weight_decay > 0.0 { (w * (1.0 - lr * c.weight_decay))? } else { w.clone() };
            let m_hat = (&s.m / bias1)?;
            let denom = ((&s.v / bias2)?.sqrt()? + c.eps)?;
            let update = (m_hat / denom)?;
            s.var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// The moments by `{name}.m` / `{name}.v`, for a checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for s in &self.slots {
            out.insert(format!("{}.m", s.name), s.m.clone());
            out.insert(format!("{}.v", s.name), s.v.clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: usize) -> Result<()> {
        for s in &mut self.slots {
            let get = |k: String| {
                tensors.get(&k).cloned().ok_or_else(|| {
                    Error::invalid(format!(
                        "the checkpoint has no optimiser state {k:?}; start the run afresh"
                    ))
                })
            };
            s.m = get(format!("{}.m", s.name))?;
            s.v = get(format!("{}.v", s.name))?;
        }
        self.step = steps;
        Ok(())
    }
}

/// Linear warmup from 0 to the peak over `warmup` steps, then linear decay to 0 at `total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
}

impl Schedule {
    /// The learning rate for update number `step` (0-based), as
    /// `get_linear_schedule_with_warmup` gives it.
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * step as f64 / self.warmup.max(1) as f64;
        }
        let rest = self.total.saturating_sub(self.warmup).max(1) as f64;
        self.peak * (self.total.saturating_sub(step) as f64 / rest).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_by_hand() {
        let s = Schedule { peak: 1.0, warmup: 2, total: 6 };
        let got: Vec<f64> = (0..7).map(|i| s.lr(i)).collect();
        assert_eq!(got, vec![0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]);
        let no_warmup = Schedule { peak: 2.0, warmup: 0, total: 4 };
        assert_eq!(no_warmup.lr(0), 2.0);
        assert_eq!(no_warmup.lr(2), 1.0);
    }

    #[test]
    fn decay_names() {
        let cases = [
            ("layers.0.ffn_in.weight", true),
            ("layers.0.ffn_in.bias", false),
            ("embeddings.norm.weight", false),
            ("soft_prompt", true),
        ];
        for (name, expected) in cases {
            assert_eq!(decays(name), expected, "{name}");
        }
    }

    /// Two AdamW steps on f(w) = Σ w², against torch.optim.AdamW's formula worked by hand:
    /// step 1 moves every weight by lr (Adam's first step is ±lr), after decay.
    #[test]
    fn adamw_first_steps() {
        let w = Var::new(&[1.0f64, -2.0], &Device::Cpu).unwrap();
        let cfg = AdamWConfig { weight_decay: 0.1, ..Default::default() };
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], cfg).unwrap();
        let loss = w.as_tensor().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads, 0.01, 1.0).unwrap();
        let got = w.as_tensor().to_vec1::<f64>().unwrap();
        // decay: w·(1 - 0.01·0.1); update: m̂/(√v̂+ε) = g/|g| = sign(g)
        let expected = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) + 0.01];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-9, "{got:?} vs {expected:?}");
        }
        assert!((opt.grad_norm(&grads).unwrap() - (4.0f64 + 16.0).sqrt()).abs() < 1e-12);
        // Saved state restores to the same step.
        let state = opt.state_tensors();
        let mut again = AdamW::new(vec![("w".into(), w.clone())], cfg).unwrap();
        again.load_state(&state, 1).unwrap();
        assert_eq!(again.steps_taken(), 1);
        assert!(again.load_state(&HashMap::new(), 1).unwrap_err().to_string().contains("afresh"));
    }
}
