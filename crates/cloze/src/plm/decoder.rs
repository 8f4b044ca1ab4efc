//! Building blocks of the decoder families: the causal attention mask, multi-head attention with
//! grouped key/value heads (Ainslie et al., 2023) and optional rotary position embeddings (Su et
//! al., 2021), RMSNorm (Zhang & Sennrich, 2019).
//!
//! References:
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py>
//!   (`LlamaRotaryEmbedding`, `apply_rotary_pos_emb`, `repeat_kv`, `LlamaRMSNorm`)
//! - <https://github.com/huggingface/transformers/blob/main/src/transformers/modeling_rope_utils.py>
//!   (`_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters`,
//!   `_compute_llama3_parameters`)
//!
//! As in [`super::layers`], untracked f32 tensors on the CPU run candle's fused ops, and any tracked
//! input switches to differentiable ones (the engine's RMSNorm and softmax kernels with their own
//! backward passes on the CPU, `rms_norm_slow` elsewhere, `rope_slow`).

use candle_core::{DType, Device, Module, Tensor};

use super::layers::{Dropout, Linear, ParamFn, dropout, on_cpu_f32, softmax};

/// Which keys each query may attend to in a causal LM: itself, the tokens before it, never padding.
#[derive(Debug, Clone)]
pub struct CausalMask {
    /// Additive `[batch, 1, seq, seq]` mask: 0 where allowed, a large negative number elsewhere.
    pub additive: Tensor,
}

impl CausalMask {
    /// From a 0/1 `[batch, seq]` attention mask (right or left padding).
    pub fn new(attention_mask: &Tensor, dtype: DType) -> candle_core::Result<Self> {
        Self::windowed(attention_mask, dtype, None)
    }

    /// As [`CausalMask::new`], and with `Some(window)` each query sees only the `window` latest
    /// tokens, itself included: key `k` is visible from query `q` when `q - window < k ≤ q`
    /// (transformers' `sliding_window_overlay`, as Mistral and Gemma's local layers use it).
    pub fn windowed(
        attention_mask: &Tensor,
        dtype: DType,
        window: Option<usize>,
    ) -> candle_core::Result<Self> {
        let (b, t) = attention_mask.dims2()?;
        let rows = attention_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let window = window.unwrap_or(usize::MAX);
        let mut m = vec![0f32; b * t * t];
        for (i, row) in rows.iter().enumerate() {
            for q in 0..t {
                for k in 0..t {
                    if k > q || q - k >= window || row[k] <= 0.5 {
                        m[(i * t + q) * t + k] = -1e30;
                    }
                }
            }
        }
        let additive = Tensor::from_vec(m, (b, 1, t, t), attention_mask.device())?.to_dtype(dtype)?;
        Ok(Self { additive })
    }
}

impl CausalMask {
    /// The mask of `new` tokens that follow `past` cached ones in one unpadded row (incremental
    /// decoding): `[1, 1, new, past + new]`, query `i` (position `past + i`) seeing keys up to its
    /// own position and, with `Some(window)`, only the `window` latest.
    pub fn step(
        past: usize,
        new: usize,
        window: Option<usize>,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let total = past + new;
        let window = window.unwrap_or(usize::MAX);
        let mut m = vec![0f32; new * total];
        for i in 0..new {
            let q = past + i;
            for k in 0..total {
                if k > q || q - k >= window {
                    m[i * total + k] = -1e30;
                }
            }
        }
        Ok(Self { additive: Tensor::from_vec(m, (1, 1, new, total), device)?.to_dtype(dtype)? })
    }
}

/// The keys and values of the tokens a decoder has seen, per layer, so that generating a token
/// runs the network on that token alone (incremental decoding): `[1, kv_heads, len, head_dim]`
/// each, before grouped heads are repeated and after rotation.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        Self { layers: vec![None; layers], len: 0 }
    }

    /// Tokens cached so far (the position of the next one).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Layer `i`'s slot.
    pub fn layer(&mut self, i: usize) -> candle_core::Result<&mut Option<(Tensor, Tensor)>> {
        let n = self.layers.len();
        self.layers
            .get_mut(i)
            .ok_or_else(|| candle_core::Error::Msg(format!("kv cache has {n} layers, not {}", i + 1)))
    }

    /// Records that `new` more tokens went through every layer.
    pub fn advance(&mut self, new: usize) {
        self.len += new;
    }
}

/// The additive `[batch, 1, 1, seq]` bias that hides padded keys (0 where the 0/1 `[batch, seq]`
/// attention mask is 1, a large negative number where it is 0): an encoder's bidirectional
/// self-attention, an encoder–decoder's cross-attention.
pub fn key_padding_bias(attention_mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let (b, t) = attention_mask.dims2()?;
    let keep = attention_mask.to_dtype(DType::F32)?.ge(0.5)?;
    let zeros = Tensor::zeros((b, t), DType::F32, attention_mask.device())?;
    let neg = Tensor::full(-1e30f32, (b, t), attention_mask.device())?;
    keep.where_cond(&zeros, &neg)?.to_dtype(dtype)?.reshape((b, 1, 1, t))
}

/// Rotary position embeddings: the cosine and sine tables, `[max_len, head_dim / 2]`.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

/// How rotary frequencies are scaled (config.json `rope_scaling`).
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.1's frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

impl Rope {
    /// Tables for `head_dim` (rotating `rotary_dim` of it — all of it for Llama) at positions
    /// `0..max_len`, with base `theta`.
    pub fn new(
        head_dim: usize,
        theta: f64,
        scaling: &RopeScaling,
        max_len: usize,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let half = head_dim / 2;
        let mut inv_freq: Vec<f64> =
            (0..half).map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64)).collect();
        match *scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => inv_freq.iter_mut().for_each(|f| *f /= factor),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let low_wavelen = original_max_position_embeddings / low_freq_factor;
                let high_wavelen = original_max_position_embeddings / high_freq_factor;
                for f in inv_freq.iter_mut() {
                    let wavelen = 2.0 * std::f64::consts::PI / *f;
                    let scaled = if wavelen > low_wavelen { *f / factor } else { *f };
                    let medium = (high_wavelen..=low_wavelen).contains(&wavelen);
                    *f = if medium {
                        let smooth = (original_max_position_embeddings / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * scaled / factor + smooth * scaled
                    } else {
                        scaled
                    };
                }
            }
        }
        // Computed in f32 as transformers does (inv_freq is f32 there, the product in f32).
        let inv: Vec<f32> = inv_freq.iter().map(|&f| f as f32).collect();
        let mut cos = Vec::with_capacity(max_len * half);
        let mut sin = Vec::with_capacity(max_len * half);
        for p in 0..max_len {
            for &f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (max_len, half), device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, (max_len, half), device)?.to_dtype(dtype)?,
        })
    }

    /// Rotates `xs` `[batch, heads, seq, head_dim]` at positions `0..seq`.
    pub fn apply(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.apply_at(xs, 0)
    }

    /// Rotates `xs` `[batch, heads, seq, head_dim]` at positions `offset..offset + seq`.
    pub fn apply_at(&self, xs: &Tensor, offset: usize) -> candle_core::Result<Tensor> {
        let t = xs.dim(2)?;
        let cos = self.cos.narrow(0, offset, t)?;
        let sin = self.sin.narrow(0, offset, t)?;
        if xs.track_op() || xs.dtype() == DType::F64 {
            candle_nn::rotary_emb::rope_slow(&xs.contiguous()?, &cos, &sin)
        } else {
            candle_nn::rotary_emb::rope(&xs.contiguous()?, &cos, &sin)
        }
    }
}

/// Root-mean-square layer norm: `x / rms(x) * w` (Gemma: `* (1 + w)`).
#[derive(Debug, Clone)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f64,
    /// Gemma stores `w - 1`.
    pub plus_one: bool,
}

impl RmsNorm {
    pub fn visit_params(&mut self, name: &str, f: ParamFn) {
        f(format!("{name}.weight"), &mut self.weight);
    }
}

impl Module for RmsNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let w = if self.plus_one { (&self.weight + 1.0)? } else { self.weight.clone() };
        let tracked = xs.track_op() || w.track_op();
        if tracked && on_cpu_f32(&[xs, &w]) {
            // Training on the CPU: the kernel with a one-pass backward.
            return xs.contiguous()?.apply_op2(&w, super::cpu_kernels::RmsNormOp { eps: self.eps as f32 });
        }
        if tracked || xs.dtype() == DType::F64 {
            candle_nn::ops::rms_norm_slow(xs, &w, self.eps as f32)
        } else {
            candle_nn::ops::rms_norm(&xs.contiguous()?, &w, self.eps as f32)
        }
    }
}

/// Causal multi-head attention with separate query, key, value and output projections, `kv_heads`
/// key/value heads shared by groups of query heads, and optional rotary embeddings.
#[derive(Debug, Clone)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Multiplies the scores (1/√head_dim unless the config says otherwise).
    pub scale: f64,
    pub rope: Option<Rope>,
    /// RMSNorms of each query and key head before the rotation (Gemma 3's `q_norm`, `k_norm`).
    pub qk_norm: Option<(RmsNorm, RmsNorm)>,
}

impl Attention {
    /// `xs`: `[batch, seq, hidden]`; `drop`: dropout of the attention probabilities when training.
    pub fn forward(
        &self,
        xs: &Tensor,
        mask: &CausalMask,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        self.attend(xs, xs, &mask.additive, drop)
    }

    /// Queries from `xs` (`[batch, q_len, hidden]`) attend to keys and values computed from
    /// `memory` (`[batch, k_len, hidden]`: `xs` itself for self-attention, the encoder's states for
    /// an encoder–decoder's cross-attention), with `additive` added to the scores (broadcast to
    /// `[batch, heads, q_len, k_len]`: masks, T5's relative position bias).
    pub fn attend(
        &self,
        xs: &Tensor,
        memory: &Tensor,
        additive: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (q, k, v) = self.project(xs, memory, 0)?;
        self.combine(&q, k, v, additive, drop)
    }

    /// Self-attention of `xs` (`[1, new, hidden]`, the tokens after the `offset` ones whose keys
    /// and values are in `slot`), which gains the new keys and values. `mask`:
    /// [`CausalMask::step`]. Equal to [`Attention::forward`] over the whole row, restricted to the
    /// new positions.
    pub fn forward_cached(
        &self,
        xs: &Tensor,
        mask: &CausalMask,
        slot: &mut Option<(Tensor, Tensor)>,
        offset: usize,
    ) -> candle_core::Result<Tensor> {
        let (q, k, v) = self.project(xs, xs, offset)?;
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *slot = Some((k.clone(), v.clone()));
        self.combine(&q, k, v, &mask.additive, None)
    }

    /// Queries `[b, heads, q_len, head_dim]` from `xs`, keys and values `[b, kv_heads, k_len,
    /// head_dim]` from `memory`, normed and rotated (positions from `offset`) when the family does.
    fn project(
        &self,
        xs: &Tensor,
        memory: &Tensor,
        offset: usize,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let (b, t, _) = xs.dims3()?;
        let tk = memory.dim(1)?;
        let split = |y: Tensor, len: usize, n: usize| -> candle_core::Result<Tensor> {
            y.reshape((b, len, n, self.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let mut q = split(self.q.forward(xs)?, t, self.heads)?;
        let mut k = split(self.k.forward(memory)?, tk, self.kv_heads)?;
        let v = split(self.v.forward(memory)?, tk, self.kv_heads)?;
        if let Some((q_norm, k_norm)) = &self.qk_norm {
            q = q_norm.forward(&q)?;
            k = k_norm.forward(&k)?;
        }
        if let Some(rope) = &self.rope {
            q = rope.apply_at(&q, offset)?;
            k = rope.apply_at(&k, offset)?;
        }
        Ok((q, k, v))
    }

    /// Scaled dot-product attention of `q` over `k`, `v` (grouped heads repeated), with
    /// `additive` added to the scores, through the output projection: `[b, q_len, hidden]`.
    fn combine(
        &self,
        q: &Tensor,
        k: Tensor,
        v: Tensor,
        additive: &Tensor,
        drop: Option<&Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (b, _, t, _) = q.dims4()?;
        let tk = k.dim(2)?;
        let tracked = q.track_op() || k.track_op() || v.track_op();
        let plain_mask = additive.rank() == 4 && additive.dim(1)? == 1 && !additive.track_op();
        if tracked && plain_mask && drop.is_none_or(|d| d.p() == 0.0) && on_cpu_f32(&[q, &k, &v, additive]) {
            // Training on the CPU: the kernel with its one-pass backward (grouped heads read in
            // place, the context written in [b, t, heads · d]).
            let op = super::cpu_kernels::MaskedAttentionOp::new(self.scale, Some(additive))?;
            let ctx = q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, op)?;
            return self.o.forward(&ctx);
        }
        let (k, v) = if self.kv_heads == self.heads {
            (k, v)
        } else {
            let rep = self.heads / self.kv_heads;
            let repeat = |x: Tensor| -> candle_core::Result<Tensor> {
                x.unsqueeze(2)?
                    .broadcast_as((b, self.kv_heads, rep, tk, self.head_dim))?
                    .contiguous()?
                    .reshape((b, self.heads, tk, self.head_dim))
            };
            (repeat(k)?, repeat(v)?)
        };
        let scores = (q.matmul(&k.t()?)? * self.scale)?.broadcast_add(additive)?;
        let probs =
            if scores.track_op() { softmax(&scores)? } else { candle_nn::ops::softmax_last_dim(&scores)? };
        let probs = dropout(probs, drop)?;
        let ctx =
            probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, t, self.heads * self.head_dim))?;
        self.o.forward(&ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_hides_the_future_padding_and_what_is_outside_the_window() {
        let allowed = |mask: &[u32], window: Option<usize>| -> Vec<Vec<bool>> {
            let t = mask.len();
            let m = Tensor::new(mask, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let v = CausalMask::windowed(&m, DType::F32, window)
                .unwrap()
                .additive
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            v.chunks(t).map(|r| r.iter().map(|&x| x == 0.0).collect()).collect()
        };
        let (y, n) = (true, false);
        let cases = [
            // window 2: each query sees itself and the token before it.
            (
                vec![1u32, 1, 1, 1],
                Some(2),
                vec![vec![y, n, n, n], vec![y, y, n, n], vec![n, y, y, n], vec![n, n, y, y]],
            ),
            // window 1: itself only.
            (vec![1, 1, 1], Some(1), vec![vec![y, n, n], vec![n, y, n], vec![n, n, y]]),
            // a window longer than the row is full causal attention; padding stays hidden (query 2,
            // padding itself, sees keys 0 and 1 only).
            (vec![1, 1, 0], Some(8), vec![vec![y, n, n], vec![y, y, n], vec![y, y, n]]),
            (vec![1, 1, 0], None, vec![vec![y, n, n], vec![y, y, n], vec![y, y, n]]),
        ];
        for (mask, window, want) in cases {
            assert_eq!(allowed(&mask, window), want, "{mask:?} window {window:?}");
        }
    }

    #[test]
    fn llama3_scaling_keeps_high_frequencies_and_divides_low_ones() {
        let scaling = RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192.0,
        };
        let plain = Rope::new(128, 500000.0, &RopeScaling::None, 2, DType::F64, &Device::Cpu).unwrap();
        let scaled = Rope::new(128, 500000.0, &scaling, 2, DType::F64, &Device::Cpu).unwrap();
        let a = plain.sin.get(1).unwrap().to_vec1::<f64>().unwrap();
        let b = scaled.sin.get(1).unwrap().to_vec1::<f64>().unwrap();
        assert!((a[0] - b[0]).abs() < 1e-12, "the highest frequency is unchanged");
        assert!((a[63].asin() / 8.0 - b[63].asin()).abs() < 1e-9, "the lowest is divided by the factor");
    }
}
