//! AdamW (Loshchilov & Hutter, 2019, <https://arxiv.org/abs/1711.05101>) with a linear warmup then
//! linear decay schedule and global gradient-norm clipping, as `torch.optim.AdamW`,
//! `transformers.get_linear_schedule_with_warmup` and `torch.nn.utils.clip_grad_norm_` compute them.
//!
//! Reference: <https://github.com/pytorch/pytorch/blob/main/torch/optim/adamw.py>
//!
//! The moments are saved with a checkpoint so a resumed run continues exactly. On the CPU in f32
//! they are plain vectors and each parameter is updated in one pass
//! ([`crate::plm::cpu_kernels::AdamWOp`]); elsewhere they are tensors and the update is composed.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, backprop::GradStore};

use crate::error::{Error, Result};
use crate::plm::cpu_kernels::{self, AdamWOp, AdamWStep};

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

/// AdamW's two moments of one parameter.
#[derive(Debug)]
enum Moments {
    /// On the CPU in f32: updated in place with the parameter, in one pass.
    Host { m: Vec<f32>, v: Vec<f32> },
    /// Anywhere else (a GPU, f64): tensors, updated by composed ops.
    Tensors { m: Tensor, v: Tensor },
}

impl Moments {
    fn zeros(var: &Var) -> Result<Self> {
        let t = var.as_tensor();
        if Self::fused(t) {
            let n = t.elem_count();
            return Ok(Self::Host { m: vec![0.0; n], v: vec![0.0; n] });
        }
        Ok(Self::Tensors { m: t.zeros_like()?, v: t.zeros_like()? })
    }

    /// Whether the fused update applies to this parameter.
    fn fused(t: &Tensor) -> bool {
        matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32 && cpu_kernels::kernels_allowed()
    }

    /// The moments as tensors shaped like the parameter (for a checkpoint, or the composed path).
    fn tensors(&self, like: &Tensor) -> Result<(Tensor, Tensor)> {
        match self {
            Self::Host { m, v } => Ok((
                Tensor::from_slice(m, like.shape(), like.device())?,
                Tensor::from_slice(v, like.shape(), like.device())?,
            )),
            Self::Tensors { m, v } => Ok((m.clone(), v.clone())),
        }
    }

    /// Moments read from a checkpoint, kept the way [`Moments::zeros`] would for this parameter.
    fn restored(var: &Var, m: Tensor, v: Tensor) -> Result<Self> {
        let t = var.as_tensor();
        if m.dims() != t.dims() || v.dims() != t.dims() {
            return Err(Error::invalid(format!(
                "the checkpoint's optimiser state has shape {:?} for a parameter of shape {:?}; start the run afresh",
                m.dims(),
                t.dims()
            )));
        }
        if Self::fused(t) {
            let host =
                |x: Tensor| -> Result<Vec<f32>> { Ok(x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?) };
            return Ok(Self::Host { m: host(m)?, v: host(v)? });
        }
        Ok(Self::Tensors {
            m: m.to_dtype(t.dtype())?.to_device(t.device())?,
            v: v.to_dtype(t.dtype())?.to_device(t.device())?,
        })
    }
}

/// One trained tensor with its optimiser state.
#[derive(Debug)]
struct Slot {
    name: String,
    var: Var,
    moments: Moments,
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
                let moments = Moments::zeros(&var)?;
                let decay = decays(&name);
                Ok(Slot { name, var, moments, decay })
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
                sum += match cpu_kernels::sum_squares(g) {
                    Some(s) => s,
                    None => g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?,
                };
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
            let fused = Moments::fused(s.var.as_tensor());
            if let (Moments::Host { m, v }, true) = (&mut s.moments, fused) {
                let decay = if s.decay && c.weight_decay > 0.0 { 1.0 - lr * c.weight_decay } else { 1.0 };
                let step = AdamWStep { grad_scale, beta1: c.beta1, beta2: c.beta2, eps: c.eps, lr, decay, t };
                s.var.as_tensor().inplace_op2(&g.contiguous()?, &AdamWOp::new(step, m, v))?;
                continue;
            }
            if let Moments::Host { .. } = s.moments {
                // The kernels were turned off since (force_composed): continue composed.
                let (m, v) = s.moments.tensors(s.var.as_tensor())?;
                s.moments = Moments::Tensors { m, v };
            }
            let Moments::Tensors { m, v } = &mut s.moments else {
                return Err(Error::internal(
                    "AdamW: the moments were not made tensors for the composed update",
                ));
            };
            // Gradients computed from variables carry their own op graph; detached, the moments
            // do not chain every step's graph to the next (which would keep them all in memory).
            let g = g.detach();
            let g = if grad_scale == 1.0 { g } else { (g * grad_scale)? };
            *m = ((&*m * c.beta1)? + (&g * (1.0 - c.beta1))?)?.detach();
            *v = ((&*v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?.detach();
            let w = s.var.as_tensor().detach();
            let decayed =
                if s.decay && c.weight_decay > 0.0 { (w * (1.0 - lr * c.weight_decay))? } else { w.clone() };
            let m_hat = (&*m / bias1)?;
            let denom = ((&*v / bias2)?.sqrt()? + c.eps)?;
            let update = (m_hat / denom)?;
            s.var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// The moments by `{name}.m` / `{name}.v`, for a checkpoint.
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for s in &self.slots {
            let (m, v) = s.moments.tensors(s.var.as_tensor())?;
            out.insert(format!("{}.m", s.name), m);
            out.insert(format!("{}.v", s.name), v);
        }
        Ok(out)
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
            s.moments =
                Moments::restored(&s.var, get(format!("{}.m", s.name))?, get(format!("{}.v", s.name))?)?;
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
        let state = opt.state_tensors().unwrap();
        let mut again = AdamW::new(vec![("w".into(), w.clone())], cfg).unwrap();
        again.load_state(&state, 1).unwrap();
        assert_eq!(again.steps_taken(), 1);
        assert!(again.load_state(&HashMap::new(), 1).unwrap_err().to_string().contains("afresh"));
    }

    /// A checkpoint whose moments do not fit the parameter is refused with the fix, on both paths.
    #[test]
    fn misshapen_moments_are_refused() {
        for dtype in [DType::F32, DType::F64] {
            let w = Var::zeros((2, 3), dtype, &Device::Cpu).unwrap();
            let mut opt = AdamW::new(vec![("w".into(), w)], AdamWConfig::default()).unwrap();
            let wrong = Tensor::zeros(5, dtype, &Device::Cpu).unwrap();
            let state = HashMap::from([("w.m".to_string(), wrong.clone()), ("w.v".to_string(), wrong)]);
            let e = opt.load_state(&state, 3).unwrap_err().to_string();
            assert!(e.contains("shape [5] for a parameter of shape [2, 3]") && e.contains("afresh"), "{e}");
        }
    }

    /// The one-pass update of an f32 parameter on the CPU against the composed update of the same
    /// values in f64, over steps with decay, clipping scale and a learning-rate change; and a
    /// checkpoint taken in between continues exactly.
    #[test]
    fn fused_update_matches_composed() {
        let w0: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
        let w32 = Var::from_slice(&w0.iter().map(|&x| x as f32).collect::<Vec<_>>(), (10, 100), &Device::Cpu)
            .unwrap();
        let w64 = Var::from_slice(&w0, (10, 100), &Device::Cpu).unwrap();
        let cfg = AdamWConfig { weight_decay: 0.05, ..Default::default() };
        let mut fused = AdamW::new(vec![("a.weight".into(), w32.clone())], cfg).unwrap();
        let mut composed = AdamW::new(vec![("a.weight".into(), w64.clone())], cfg).unwrap();
        assert!(matches!(fused.slots[0].moments, Moments::Host { .. }));
        assert!(matches!(composed.slots[0].moments, Moments::Tensors { .. }));
        // loss = Σ (w³ / 3 + w): gradient w² + 1, different for every weight.
        let loss = |w: &Var| -> Tensor {
            let w = w.as_tensor();
            ((w.sqr().unwrap() * w).unwrap() / 3.0).unwrap().add(w).unwrap().sum_all().unwrap()
        };
        let mut resumed = None;
        for (step, (lr, scale)) in [(1e-2, 1.0), (5e-3, 0.5), (2e-3, 0.25)].into_iter().enumerate() {
            let (grads32, grads64) = (loss(&w32).backward().unwrap(), loss(&w64).backward().unwrap());
            let (n32, n64) = (fused.grad_norm(&grads32).unwrap(), composed.grad_norm(&grads64).unwrap());
            assert!((n32 - n64).abs() < 1e-5 * n64, "norms {n32} and {n64}");
            if step == 1 {
                // A checkpoint after the first update: the resumed optimiser takes the same steps.
                let copy = Var::from_tensor(&w32.as_tensor().copy().unwrap()).unwrap();
                let mut again = AdamW::new(vec![("a.weight".into(), copy.clone())], cfg).unwrap();
                again.load_state(&fused.state_tensors().unwrap(), fused.steps_taken()).unwrap();
                resumed = Some((again, copy));
            }
            if let Some((again, copy)) = resumed.as_mut() {
                again.step(&loss(copy).backward().unwrap(), lr, scale).unwrap();
            }
            fused.step(&grads32, lr, scale).unwrap();
            composed.step(&grads64, lr, scale).unwrap();
        }
        let a = w32.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = w64.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let worst = a.iter().zip(&b).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-6, "fused and composed differ by {worst}");
        let (_, copy) = resumed.unwrap();
        assert_eq!(
            copy.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            a,
            "resumed run differs"
        );
    }
}
