//! Training kernels, each with a one-pass backward: the linear layer's weight and bias gradients,
//! activations, softmax, layer norm, RMSNorm, and self-attention with seeded dropout over the fused QKV
//! projection.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::super::layers::Activation;
use super::super::precision::Precision;
use super::bf16::{self, View};
use super::math::{activate, activation_grad_chunk, exp_f32, softmax_bwd_rows, softmax_rows};
use super::simd::{self, multiversion};
use super::{OutPtr, f32_slice, threads};

/// The weight gradient of a linear layer, `gᵀ·x` for `g` `[rows, out]` and `x` `[..., in]`, as one
/// matrix product that reads `g` transposed in place (candle would copy it first); with bf16
/// factors in [`Precision::Bf16`].
pub(super) struct WeightGradOp {
    pub precision: Precision,
}

impl candle_core::CustomOp2 for WeightGradOp {
    fn name(&self) -> &'static str {
        "cloze-linear-weight-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let g = f32_slice(s1, l1, "linear output gradient")?;
        let x = f32_slice(s2, l2, "linear input")?;
        let (rows, out_dim) = l1.shape().dims2()?;
        let in_dim = *l2.shape().dims().last().unwrap_or(&0);
        if rows * in_dim != x.len() {
            candle_core::bail!("linear weight gradient: gradient {:?}, input {:?}", l1.shape(), l2.shape());
        }
        let mut out = vec![0f32; out_dim * in_dim];
        if self.precision == Precision::Bf16 {
            // SAFETY: gᵀ (out×rows) is g (rows×out) read transposed, x is rows×in, out out×in.
            unsafe {
                bf16::gemm(
                    out_dim,
                    in_dim,
                    rows,
                    out.as_mut_ptr(),
                    in_dim,
                    false,
                    View::transposed(g, out_dim),
                    View::rows(x, in_dim),
                )
            };
            return Ok((CpuStorage::F32(out), Shape::from((out_dim, in_dim))));
        }
        // SAFETY: gᵀ is read with column stride out_dim and row stride 1 (g is rows×out), x is
        // rows×in, out is out×in.
        unsafe {
            gemm::gemm(
                out_dim,
                in_dim,
                rows,
                out.as_mut_ptr(),
                1,
                in_dim as isize,
                false,
                g.as_ptr(),
                out_dim as isize,
                1,
                x.as_ptr(),
                1,
                in_dim as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads()),
            );
        }
        Ok((CpuStorage::F32(out), Shape::from((out_dim, in_dim))))
    }
}

/// Column sums of a `[rows, cols]` matrix (a linear layer's bias gradient): partial sums over
/// fixed blocks of rows on the thread pool, added in block order (the same result on every run).
pub(super) struct ColumnSumOp;

impl CustomOp1 for ColumnSumOp {
    fn name(&self) -> &'static str {
        "cloze-column-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let g = f32_slice(s, l, "column sum input")?;
        let (_, cols) = l.shape().dims2()?;
        const BLOCK: usize = 64;
        let partials: Vec<Vec<f32>> = g
            .par_chunks(cols * BLOCK)
            .map(|block| {
                let mut acc = vec![0f32; cols];
                for row in block.chunks(cols) {
                    acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                acc
            })
            .collect();
        let mut out = vec![0f32; cols];
        for p in &partials {
            out.iter_mut().zip(p).for_each(|(o, v)| *o += v);
        }
        Ok((CpuStorage::F32(out), Shape::from(cols)))
    }
}

/// An activation (GELU exact or tanh, ReLU, SiLU) over every element, on the thread pool, with a
/// one-pass backward — for training, where candle's composed `gelu_erf` backward costs a dozen
/// passes over the tensor and SiLU's several.
#[derive(Debug, Clone, Copy)]
pub struct ActivationOp {
    pub act: Activation,
}

impl CustomOp1 for ActivationOp {
    fn name(&self) -> &'static str {
        "cloze-activation"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s, l, "activation input")?;
        let mut out = x.to_vec();
        activate(&mut out, self.act);
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(x.apply_op2_no_bwd(&g, &ActivationBwdOp { act: self.act })?))
    }
}

/// `grad · act'(x)` in one pass.
struct ActivationBwdOp {
    act: Activation,
}

impl candle_core::CustomOp2 for ActivationBwdOp {
    fn name(&self) -> &'static str {
        "cloze-activation-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s1, l1, "activation backward input")?;
        let g = f32_slice(s2, l2, "activation backward gradient")?;
        if x.len() != g.len() {
            candle_core::bail!("activation backward: input {:?}, gradient {:?}", l1.shape(), l2.shape());
        }
        let mut out = vec![0f32; x.len()];
        let act = self.act;
        out.par_chunks_mut(1 << 14)
            .zip(x.par_chunks(1 << 14))
            .zip(g.par_chunks(1 << 14))
            .for_each(|((o, x), g)| activation_grad_chunk(o, x, g, act));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Softmax over the last dimension, one row per task, with a backward pass
/// (`y · (g − Σ g·y)` per row) — for training, where the composed softmax's backward costs many
/// passes over the attention scores.
pub struct SoftmaxOp;

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        "cloze-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s, l, "softmax input")?;
        let n = *l.shape().dims().last().unwrap_or(&1);
        let mut out = x.to_vec();
        out.par_chunks_mut(n.max(1) * 16).for_each(|rows| softmax_rows(rows, n));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&g, &SoftmaxBwdOp)?))
    }
}

struct SoftmaxBwdOp;

impl candle_core::CustomOp2 for SoftmaxBwdOp {
    fn name(&self) -> &'static str {
        "cloze-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let y = f32_slice(s1, l1, "softmax backward output")?;
        let g = f32_slice(s2, l2, "softmax backward gradient")?;
        let n = (*l1.shape().dims().last().unwrap_or(&1)).max(1);
        let mut out = g.to_vec();
        out.par_chunks_mut(n * 16).zip(y.par_chunks(n * 16)).for_each(|(o, y)| softmax_bwd_rows(o, y, n));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Layer normalisation over the last dimension, `(x − mean) / √(var + ε) · γ + β`, with a one-pass
/// backward — for training, where candle's fused `layer_norm` has no backward and the composed one
/// costs a dozen passes over the activations (and as many in its backward).
#[derive(Debug, Clone, Copy)]
pub struct LayerNormOp {
    pub eps: f32,
}

/// Rows per task in the layer-norm kernels; fixed, so the parameter-gradient sums are reduced in
/// the same order on every run (bit-reproducible training).
const NORM_ROWS: usize = 32;

#[inline(always)]
fn mean_rstd(row: &[f32], eps: f32) -> (f32, f32) {
    let d = row.len() as f32;
    let mean = simd::sum(row) / d;
    let mut sq = [0f32; simd::LANES];
    let mut chunks = row.chunks_exact(simd::LANES);
    for c in &mut chunks {
        for (a, &x) in sq.iter_mut().zip(c) {
            *a += (x - mean) * (x - mean);
        }
    }
    for (a, &x) in sq.iter_mut().zip(chunks.remainder()) {
        *a += (x - mean) * (x - mean);
    }
    let var = sq.iter().sum::<f32>() / d;
    (mean, 1.0 / (var + eps).sqrt())
}

multiversion! {
    /// Layer norm of each `gamma.len()`-long row of `x` into `out`.
    fn layer_norm_rows(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let d = gamma.len();
        for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
            let (mean, rstd) = mean_rstd(x, eps);
            for (((o, &x), &g), &b) in o.iter_mut().zip(x).zip(gamma).zip(beta) {
                *o = (x - mean) * rstd * g + b;
            }
        }
    }
}

multiversion! {
    /// The backward pass of [`layer_norm_rows`] over a block of rows: the input gradient into
    /// `dx`, and when `acc` is `2·d` long, the γ and β gradients added into it. `scratch`: `2·d`.
    fn layer_norm_bwd_rows(
        dx: &mut [f32],
        x: &[f32],
        dy: &[f32],
        gamma: &[f32],
        eps: f32,
        scratch: &mut [f32],
        acc: &mut [f32],
    ) {
        let d = gamma.len();
        let (xhat, g) = scratch.split_at_mut(d);
        for ((dx, x), dy) in dx.chunks_mut(d).zip(x.chunks(d)).zip(dy.chunks(d)) {
            let (mean, rstd) = mean_rstd(x, eps);
            for (((xh, g), &x), (&dy, &gamma)) in xhat.iter_mut().zip(g.iter_mut()).zip(x).zip(dy.iter().zip(gamma)) {
                *xh = (x - mean) * rstd;
                *g = dy * gamma;
            }
            let (a, b) = (simd::sum(g) / d as f32, simd::dot(g, xhat) / d as f32);
            for ((dx, &xh), &g) in dx.iter_mut().zip(xhat.iter()).zip(g.iter()) {
                *dx = rstd * (g - a - xh * b);
            }
            if acc.len() == 2 * d {
                let (ag, ab) = acc.split_at_mut(d);
                for (((ag, ab), &xh), &dy) in ag.iter_mut().zip(ab.iter_mut()).zip(xhat.iter()).zip(dy) {
                    *ag += dy * xh;
                    *ab += dy;
                }
            }
        }
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "cloze-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s1, l1, "layer norm input")?;
        let gamma = f32_slice(s2, l2, "layer norm weight")?;
        let beta = f32_slice(s3, l3, "layer norm bias")?;
        let d = gamma.len();
        if l1.shape().dims().last() != Some(&d) || beta.len() != d {
            candle_core::bail!("layer norm: input {:?}, weight {d}, bias {}", l1.shape(), beta.len());
        }
        let mut out = vec![0f32; x.len()];
        let eps = self.eps;
        out.par_chunks_mut(d * NORM_ROWS)
            .zip(x.par_chunks(d * NORM_ROWS))
            .for_each(|(o, x)| layer_norm_rows(o, x, gamma, beta, eps));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = gamma.elem_count();
        let rows = x.elem_count() / d;
        let params = gamma.track_op() || beta.track_op();
        let op = LayerNormBwdOp { eps: self.eps, params };
        // `[rows (+ 2), d]`: the input gradient, then (when wanted) the γ and β gradients.
        let out = x.contiguous()?.apply_op3_no_bwd(gamma, &grad.contiguous()?, &op)?;
        let gx = if x.track_op() { Some(out.narrow(0, 0, rows)?.reshape(x.dims())?) } else { None };
        let gg = if gamma.track_op() { Some(out.get(rows)?) } else { None };
        let gb = if beta.track_op() { Some(out.get(rows + 1)?) } else { None };
        Ok((gx, gg, gb))
    }
}

/// `dx = rstd · (g − mean(g) − x̂ · mean(g · x̂))` with `g = dy · γ`; `dγ = Σ dy · x̂`, `dβ = Σ dy`.
struct LayerNormBwdOp {
    eps: f32,
    params: bool,
}

impl CustomOp3 for LayerNormBwdOp {
    fn name(&self) -> &'static str {
        "cloze-layer-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s1, l1, "layer norm backward input")?;
        let gamma = f32_slice(s2, l2, "layer norm backward weight")?;
        let dy = f32_slice(s3, l3, "layer norm backward gradient")?;
        let d = gamma.len();
        let rows = x.len() / d;
        let extra = if self.params { 2 } else { 0 };
        let mut out = vec![0f32; (rows + extra) * d];
        let eps = self.eps;
        let (dx, param_grads) = out.split_at_mut(rows * d);
        let partials: Vec<Vec<f32>> = dx
            .par_chunks_mut(d * NORM_ROWS)
            .zip(x.par_chunks(d * NORM_ROWS))
            .zip(dy.par_chunks(d * NORM_ROWS))
            .map(|((dx, x), dy)| {
                let mut acc = if self.params { vec![0f32; 2 * d] } else { Vec::new() };
                let mut scratch = vec![0f32; 2 * d];
                layer_norm_bwd_rows(dx, x, dy, gamma, eps, &mut scratch, &mut acc);
                acc
            })
            .collect();
        // Summed in chunk order: the same result on every run.
        for p in &partials {
            for (o, v) in param_grads.iter_mut().zip(p) {
                *o += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + extra, d))))
    }
}

/// RMSNorm over the last dimension, `x / √(mean(x²) + ε) · w` (Zhang & Sennrich, 2019), with a
/// one-pass backward — for training the decoder families, where candle's composed `rms_norm_slow`
/// takes several passes each way. `w` is the scale as applied (Gemma's `1 + w` already added).
#[derive(Debug, Clone, Copy)]
pub struct RmsNormOp {
    pub eps: f32,
}

#[inline(always)]
fn rstd_of(row: &[f32], eps: f32) -> f32 {
    1.0 / (simd::dot(row, row) / row.len().max(1) as f32 + eps).sqrt()
}

multiversion! {
    /// RMSNorm of each `w.len()`-long row of `x` into `out`.
    fn rms_norm_rows(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
        let d = w.len();
        for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
            let rstd = rstd_of(x, eps);
            for ((o, &x), &w) in o.iter_mut().zip(x).zip(w) {
                *o = w * (x * rstd);
            }
        }
    }
}

multiversion! {
    /// The backward pass of [`rms_norm_rows`] over a block of rows: with `x̂ = x · rstd` and
    /// `g = dy · w`, `dx = rstd · (g − x̂ · mean(g · x̂))` into `dx`, and `Σ dy · x̂` added into
    /// `acc` when it is `d` long. `scratch`: `2·d`.
    fn rms_norm_bwd_rows(dx: &mut [f32], x: &[f32], dy: &[f32], w: &[f32], eps: f32, scratch: &mut [f32], acc: &mut [f32]) {
        let d = w.len();
        let (xhat, g) = scratch.split_at_mut(d);
        for ((dx, x), dy) in dx.chunks_mut(d).zip(x.chunks(d)).zip(dy.chunks(d)) {
            let rstd = rstd_of(x, eps);
            for (((xh, g), &x), (&dy, &w)) in xhat.iter_mut().zip(g.iter_mut()).zip(x).zip(dy.iter().zip(w)) {
                *xh = x * rstd;
                *g = dy * w;
            }
            let b = simd::dot(g, xhat) / d as f32;
            for ((dx, &xh), &g) in dx.iter_mut().zip(xhat.iter()).zip(g.iter()) {
                *dx = rstd * (g - xh * b);
            }
            if acc.len() == d {
                for ((a, &xh), &dy) in acc.iter_mut().zip(xhat.iter()).zip(dy) {
                    *a += dy * xh;
                }
            }
        }
    }
}

impl candle_core::CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "cloze-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s1, l1, "rms norm input")?;
        let w = f32_slice(s2, l2, "rms norm weight")?;
        let d = w.len();
        if l1.shape().dims().last() != Some(&d) {
            candle_core::bail!("rms norm: input {:?}, weight {d}", l1.shape());
        }
        let mut out = vec![0f32; x.len()];
        let eps = self.eps;
        out.par_chunks_mut(d * NORM_ROWS)
            .zip(x.par_chunks(d * NORM_ROWS))
            .for_each(|(o, x)| rms_norm_rows(o, x, w, eps));
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let rows = x.elem_count() / d.max(1);
        let op = RmsNormBwdOp { eps: self.eps, weight: w.track_op() };
        // `[rows (+ 1), d]`: the input gradient, then (when wanted) the weight's.
        let out = x.contiguous()?.apply_op3_no_bwd(w, &grad.contiguous()?, &op)?;
        let gx = if x.track_op() { Some(out.narrow(0, 0, rows)?.reshape(x.dims())?) } else { None };
        let gw = if w.track_op() { Some(out.get(rows)?) } else { None };
        Ok((gx, gw))
    }
}

struct RmsNormBwdOp {
    eps: f32,
    weight: bool,
}

impl CustomOp3 for RmsNormBwdOp {
    fn name(&self) -> &'static str {
        "cloze-rms-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s1, l1, "rms norm backward input")?;
        let w = f32_slice(s2, l2, "rms norm backward weight")?;
        let dy = f32_slice(s3, l3, "rms norm backward gradient")?;
        let d = w.len();
        if d == 0 || x.len() % d != 0 || dy.len() != x.len() {
            candle_core::bail!(
                "rms norm backward: input {:?}, weight {d}, gradient {:?}",
                l1.shape(),
                l3.shape()
            );
        }
        let rows = x.len() / d;
        let extra = usize::from(self.weight);
        let mut out = vec![0f32; (rows + extra) * d];
        let eps = self.eps;
        let (dx, weight_grad) = out.split_at_mut(rows * d);
        let partials: Vec<Vec<f32>> = dx
            .par_chunks_mut(d * NORM_ROWS)
            .zip(x.par_chunks(d * NORM_ROWS))
            .zip(dy.par_chunks(d * NORM_ROWS))
            .map(|((dx, x), dy)| {
                let mut acc = if self.weight { vec![0f32; d] } else { Vec::new() };
                let mut scratch = vec![0f32; 2 * d];
                rms_norm_bwd_rows(dx, x, dy, w, eps, &mut scratch, &mut acc);
                acc
            })
            .collect();
        // Summed in chunk order: the same result on every run.
        for p in &partials {
            for (o, v) in weight_grad.iter_mut().zip(p) {
                *o += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((rows + extra, d))))
    }
}

/// The dropout mask of one (sequence, head) task of [`AttentionTrainOp`]: drawn from a generator
/// seeded by the op's seed and the task's index, so the backward pass redraws exactly the mask the
/// forward pass used, whatever thread ran the task.
fn attention_dropout_mask(seed: u64, task: usize, p: f32, out: &mut [f32]) {
    let mut rng = crate::data::SplitMix64::new(seed ^ (task as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let scale = 1.0 / (1.0 - p);
    for m in out.iter_mut() {
        *m = if (rng.next_f64() as f32) < p { 0.0 } else { scale };
    }
}

/// `dst (m×n) = lhs (m×k) · rhs (k×n)`, each operand given by its pointer, column stride and row
/// stride (in elements): [`super::attention::product`] without accumulating.
///
/// # Safety
/// The pointers must cover the elements their strides address.
unsafe fn gemm_strided(
    dims: (usize, usize, usize),
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
) {
    // SAFETY: forwarded from the caller.
    unsafe { super::attention::product(dims, dst, lhs, rhs, false, 1.0) }
}

/// Self-attention for training: as [`AttentionOp`] (fused `[batch, seq, 3·hidden]` QKV input,
/// right padding by lengths, one task per (sequence, head)), plus dropout of the attention
/// probabilities and a backward pass that writes the query, key and value gradients straight into
/// a `[batch, seq, 3·hidden]` gradient — where composed ops would copy Q, K and V out of the fused
/// projection, run four batched products and a masked softmax, and copy the gradients back.
/// The probabilities are kept from the forward pass for the backward pass (`heads · n²` floats
/// per sequence).
pub struct AttentionTrainOp {
    pub heads: usize,
    pub head_dim: usize,
    pub lengths: Vec<usize>,
    /// Dropout probability of the attention probabilities (0 for none).
    pub dropout: f32,
    /// Seed of the dropout masks.
    pub seed: u64,
    saved: std::sync::Arc<std::sync::Mutex<Vec<Vec<f32>>>>,
}

impl AttentionTrainOp {
    pub fn new(heads: usize, head_dim: usize, lengths: Vec<usize>, dropout: f32, seed: u64) -> Self {
        Self { heads, head_dim, lengths, dropout, seed, saved: Default::default() }
    }

    fn check(&self, shape: &Shape) -> candle_core::Result<(usize, usize, usize)> {
        let (b, t, three_h) = shape.dims3()?;
        if three_h != 3 * self.heads * self.head_dim || self.lengths.len() != b {
            candle_core::bail!("attention: input {shape:?} for {} heads of {}", self.heads, self.head_dim);
        }
        Ok((b, t, three_h))
    }
}

impl CustomOp1 for AttentionTrainOp {
    fn name(&self) -> &'static str {
        "cloze-attention-train"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let qkv = f32_slice(s, l, "attention input")?;
        let (b, t, three_h) = self.check(l.shape())?;
        let (nh, hd) = (self.heads, self.head_dim);
        let h = nh * hd;
        let mut out = vec![0f32; b * t * h];
        let out_ptr = OutPtr(out.as_mut_ptr());
        let probs: Vec<Vec<f32>> = (0..b * nh)
            .into_par_iter()
            .map(|task| {
                let (bi, head) = (task / nh, task % nh);
                let n = self.lengths[bi].min(t);
                let mut p = vec![0f32; n * n];
                if n == 0 {
                    return p;
                }
                let base = bi * t * three_h;
                let q = qkv[base + head * hd..].as_ptr();
                let k = qkv[base + h + head * hd..].as_ptr();
                let v = qkv[base + 2 * h + head * hd..].as_ptr();
                let (n_, th) = (n as isize, three_h as isize);
                // SAFETY: q, k, v rows are `three_h` apart inside this sequence's block; p is n×n;
                // the output cells (row < n, columns of this head) belong to this task only.
                unsafe { gemm_strided((n, n, hd), (p.as_mut_ptr(), 1, n_), (q, 1, th), (k, th, 1)) };
                softmax_rows(&mut p, n);
                let dropped;
                let used = if self.dropout > 0.0 {
                    let mut m = vec![0f32; n * n];
                    attention_dropout_mask(self.seed, task, self.dropout, &mut m);
                    m.iter_mut().zip(&p).for_each(|(m, p)| *m *= p);
                    dropped = m;
                    &dropped
                } else {
                    &p
                };
                let dst = &out_ptr;
                unsafe {
                    gemm_strided(
                        (n, hd, n),
                        (dst.0.add(bi * t * h + head * hd), 1, h as isize),
                        (used.as_ptr(), 1, n_),
                        (v, 1, th),
                    )
                };
                p
            })
            .collect();
        if let Ok(mut saved) = self.saved.lock() {
            *saved = probs;
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }

    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let op = AttentionBwdOp {
            heads: self.heads,
            head_dim: self.head_dim,
            lengths: self.lengths.clone(),
            dropout: self.dropout,
            seed: self.seed,
            saved: self.saved.clone(),
        };
        Ok(Some(qkv.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

/// The backward pass of [`AttentionTrainOp`], per (sequence, head), with `P` the saved
/// probabilities, `M` the dropout mask and `dC` the context gradient:
/// `dV = (P∘M)ᵀ·dC`, `dP = (dC·Vᵀ)∘M`, `dS = P∘(dP − rowsum(dP∘P))`, `dQ = dS·K`, `dK = dSᵀ·Q`.
struct AttentionBwdOp {
    heads: usize,
    head_dim: usize,
    lengths: Vec<usize>,
    dropout: f32,
    seed: u64,
    saved: std::sync::Arc<std::sync::Mutex<Vec<Vec<f32>>>>,
}

impl candle_core::CustomOp2 for AttentionBwdOp {
    fn name(&self) -> &'static str {
        "cloze-attention-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let qkv = f32_slice(s1, l1, "attention backward input")?;
        let dc = f32_slice(s2, l2, "attention backward gradient")?;
        let (b, t, three_h) = l1.shape().dims3()?;
        let (nh, hd) = (self.heads, self.head_dim);
        let h = nh * hd;
        if three_h != 3 * h || dc.len() != b * t * h {
            candle_core::bail!("attention backward: input {:?}, gradient {:?}", l1.shape(), l2.shape());
        }
        let saved = self.saved.lock().map_err(|_| candle_core::Error::Msg("attention: lock".into()))?;
        if saved.len() != b * nh {
            candle_core::bail!("attention backward: the forward pass's probabilities are missing");
        }
        let mut out = vec![0f32; b * t * three_h];
        let out_ptr = OutPtr(out.as_mut_ptr());
        (0..b * nh).into_par_iter().for_each(|task| {
            let (bi, head) = (task / nh, task % nh);
            let n = self.lengths[bi].min(t);
            if n == 0 {
                return;
            }
            let p = &saved[task];
            let base = bi * t * three_h;
            let q = qkv[base + head * hd..].as_ptr();
            let k = qkv[base + h + head * hd..].as_ptr();
            let v = qkv[base + 2 * h + head * hd..].as_ptr();
            let g = dc[bi * t * h + head * hd..].as_ptr();
            let (n_, th, h_) = (n as isize, three_h as isize, h as isize);
            let dst = &out_ptr;
            let (dq, dk, dv) = unsafe {
                let d = dst.0.add(base + head * hd);
                (d, d.add(h), d.add(2 * h))
            };
            let mask = (self.dropout > 0.0).then(|| {
                let mut m = vec![0f32; n * n];
                attention_dropout_mask(self.seed, task, self.dropout, &mut m);
                m
            });
            let mut ds = vec![0f32; n * n];
            // SAFETY: as in the forward pass; each task writes rows < n of its own head's columns
            // in the query, key and value thirds of the gradient.
            unsafe {
                match &mask {
                    Some(m) => {
                        let pm: Vec<f32> = p.iter().zip(m).map(|(p, m)| p * m).collect();
                        gemm_strided((n, hd, n), (dv, 1, th), (pm.as_ptr(), n_, 1), (g, 1, h_));
                    }
                    None => gemm_strided((n, hd, n), (dv, 1, th), (p.as_ptr(), n_, 1), (g, 1, h_)),
                }
                gemm_strided((n, n, hd), (ds.as_mut_ptr(), 1, n_), (g, 1, h_), (v, th, 1));
            }
            if let Some(m) = &mask {
                ds.iter_mut().zip(m).for_each(|(d, m)| *d *= m);
            }
            softmax_bwd_rows(&mut ds, p, n);
            unsafe {
                gemm_strided((n, hd, n), (dq, 1, th), (ds.as_ptr(), 1, n_), (k, 1, th));
                gemm_strided((n, hd, n), (dk, 1, th), (ds.as_ptr(), n_, 1), (q, 1, th));
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// The target id that marks a position with no loss (padding, prompt tokens): its loss and
/// gradient are 0.
pub const IGNORE_TARGET: u32 = u32::MAX;

/// Cross-entropy of a frozen vocabulary projection, fused: `nll[i] = logsumexp(x_i Wᵀ + b) −
/// (x_i Wᵀ + b)[t_i]` for `x` `[n, d]`, `W` `[vocab, d]` and u32 targets `[n]`
/// ([`IGNORE_TARGET`] gives 0). The logits are computed a block of rows at a time and never held
/// whole (`n × vocab` floats would be 200 MB for GPT-2 at 1024 tokens), and the input gradient
/// `(softmax − onehot)·W` is taken in the same pass from the block still in cache, so the backward
/// pass only scales it: one product forward, one for the gradient, none for the frozen weight.
/// The idea of Liger Kernel's fused linear cross-entropy (Hsu et al., 2024).
pub struct LinearCrossEntropyOp {
    bias: Option<Vec<f32>>,
    /// Whether to take the input gradient (not when the input is not tracked).
    with_grad: bool,
    grad: std::sync::Mutex<Option<Tensor>>,
}

impl LinearCrossEntropyOp {
    pub fn new(bias: Option<Vec<f32>>, with_grad: bool) -> Self {
        Self { bias, with_grad, grad: std::sync::Mutex::new(None) }
    }
}

/// Rows per block of logits.
const CE_BLOCK: usize = 128;

impl CustomOp3 for LinearCrossEntropyOp {
    fn name(&self) -> &'static str {
        "cloze-linear-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(s1, l1, "cross-entropy input")?;
        let w = f32_slice(s2, l2, "cross-entropy weight")?;
        let targets = match (s3, l3.contiguous_offsets()) {
            (CpuStorage::U32(t), Some((a, b))) => &t[a..b],
            _ => candle_core::bail!("cross-entropy: the targets must be contiguous u32"),
        };
        let (n, d) = l1.shape().dims2()?;
        let (vocab, wd) = l2.shape().dims2()?;
        if wd != d || targets.len() != n || self.bias.as_ref().is_some_and(|b| b.len() != vocab) {
            candle_core::bail!(
                "cross-entropy: input [{n}, {d}], weight [{vocab}, {wd}], {} targets",
                targets.len()
            );
        }
        if let Some(&t) = targets.iter().find(|&&t| t != IGNORE_TARGET && t as usize >= vocab) {
            candle_core::bail!("cross-entropy: target {t} is outside the vocabulary of {vocab}");
        }
        let mut nll = vec![0f32; n];
        let mut grad = vec![0f32; if self.with_grad { n * d } else { 0 }];
        let mut block = vec![0f32; CE_BLOCK.min(n.max(1)) * vocab];
        for start in (0..n).step_by(CE_BLOCK) {
            let rows = CE_BLOCK.min(n - start);
            let logits = &mut block[..rows * vocab];
            match &self.bias {
                Some(b) => logits.par_chunks_mut(vocab).for_each(|r| r.copy_from_slice(b)),
                None => logits.fill(0.0),
            }
            // SAFETY: x holds n×d, w vocab×d and `logits` rows×vocab f32 values with the strides
            // given; row `start + rows` ≤ n.
            unsafe {
                gemm::gemm(
                    rows,
                    vocab,
                    d,
                    logits.as_mut_ptr(),
                    1,
                    vocab as isize,
                    true,
                    x.as_ptr().add(start * d),
                    1,
                    d as isize,
                    w.as_ptr(),
                    d as isize,
                    1,
                    1.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(threads()),
                );
            }
            // Each row becomes softmax − onehot (zeros for an ignored row), its loss kept.
            let tgt = &targets[start..start + rows];
            logits
                .par_chunks_mut(vocab)
                .zip(nll[start..start + rows].par_iter_mut())
                .zip(tgt.par_iter())
                .for_each(|((row, loss), &t)| {
                    if t == IGNORE_TARGET {
                        row.fill(0.0);
                        return;
                    }
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let t = t as usize;
                    let target = row[t] - max;
                    let mut sum = 0f32;
                    for v in row.iter_mut() {
                        *v = exp_f32(*v - max);
                        sum += *v;
                    }
                    // −log p_t = log Σ e^(l − max) − (l_t − max).
                    *loss = sum.ln() - target;
                    let inv = 1.0 / sum;
                    row.iter_mut().for_each(|v| *v *= inv);
                    row[t] -= 1.0;
                });
            if !self.with_grad {
                continue;
            }
            // SAFETY: `logits` holds rows×vocab, w vocab×d and grad n×d values; the destination
            // rows start..start+rows are inside grad.
            unsafe {
                gemm::gemm(
                    rows,
                    d,
                    vocab,
                    grad.as_mut_ptr().add(start * d),
                    1,
                    d as isize,
                    false,
                    logits.as_ptr(),
                    1,
                    vocab as isize,
                    w.as_ptr(),
                    1,
                    d as isize,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(threads()),
                );
            }
        }
        let grad =
            self.with_grad.then(|| Tensor::from_vec(grad, (n, d), &candle_core::Device::Cpu)).transpose()?;
        *self.grad.lock().map_err(|_| candle_core::Error::Msg("cross-entropy gradient lock".into()))? = grad;
        Ok((CpuStorage::F32(nll), Shape::from(n)))
    }

    /// `∂nll_i/∂x_i` was computed in the forward pass; the upstream gradient scales each row.
    /// The weight is frozen (the caller takes the composed path otherwise) and targets have none.
    fn bwd(
        &self,
        _x: &Tensor,
        _w: &Tensor,
        _t: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self
            .grad
            .lock()
            .map_err(|_| candle_core::Error::Msg("cross-entropy gradient lock".into()))?
            .clone()
            .ok_or_else(|| candle_core::Error::Msg("cross-entropy: backward before forward".into()))?;
        Ok((Some(g.broadcast_mul(&grad.unsqueeze(1)?)?), None, None))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Tensor, Var};

    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    fn var(shape: &[usize], seed: u64) -> Var {
        let mut rng = crate::data::SplitMix64::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    #[test]
    fn layer_norm_kernel_matches_composed_ops_forward_and_backward() {
        let x = var(&[3, 37, 48], 1);
        let gamma = var(&[48], 2);
        let beta = var(&[48], 3);
        let weights = var(&[3, 37, 48], 4);
        let fused =
            x.as_tensor().apply_op3(gamma.as_tensor(), beta.as_tensor(), LayerNormOp { eps: 1e-12 }).unwrap();
        let composed =
            candle_nn::ops::layer_norm_slow(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-12)
                .unwrap();
        assert!(max_diff(&fused, &composed) < 1e-5, "forward differs by {}", max_diff(&fused, &composed));
        let g1 = (fused * weights.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (composed * weights.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
        for (name, v) in [("x", &x), ("gamma", &gamma), ("beta", &beta)] {
            let (a, b) = (g1.get(v).unwrap(), g2.get(v).unwrap());
            assert_eq!(a.dims(), b.dims(), "{name}");
            let d = max_diff(a, b);
            assert!(d < 2e-4, "gradient of {name} differs by {d}");
        }
    }

    /// The attention kernel against composed candle ops on the real rows of each sequence, with
    /// the same dropout masks; gradients of the whole fused QKV input.
    #[test]
    fn rms_norm_kernel_matches_composed_ops_forward_and_backward() {
        let x = var(&[3, 37, 48], 11);
        let w = var(&[48], 12);
        let y = x.as_tensor().apply_op2(w.as_tensor(), RmsNormOp { eps: 1e-6 }).unwrap();
        let want = candle_nn::ops::rms_norm_slow(x.as_tensor(), w.as_tensor(), 1e-6).unwrap();
        assert!(max_diff(&y, &want) < 1e-5, "forward {}", max_diff(&y, &want));
        let probe = var(&[3, 37, 48], 13);
        let loss = |y: &Tensor| (y * probe.as_tensor()).unwrap().sum_all().unwrap();
        let (g1, g2) = (loss(&y).backward().unwrap(), loss(&want).backward().unwrap());
        for (name, t) in [("x", x.as_tensor()), ("w", w.as_tensor())] {
            let (a, b) = (g1.get(t).unwrap(), g2.get(t).unwrap());
            assert!(max_diff(a, b) < 1e-4, "{name} gradient {}", max_diff(a, b));
        }
    }

    #[test]
    fn activation_kernel_gradients_match_composed_ops() {
        let x = var(&[5, 300], 21);
        let probe = var(&[5, 300], 22);
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Relu, Activation::Silu] {
            let y = x.as_tensor().apply_op1(ActivationOp { act }).unwrap();
            let want = match act {
                Activation::Gelu => x.as_tensor().gelu_erf(),
                Activation::GeluTanh => x.as_tensor().gelu(),
                Activation::Relu => x.as_tensor().relu(),
                Activation::Silu => x.as_tensor().silu(),
            }
            .unwrap();
            assert!(max_diff(&y, &want) < 1e-5, "{act:?} forward {}", max_diff(&y, &want));
            let loss = |y: &Tensor| (y * probe.as_tensor()).unwrap().sum_all().unwrap();
            let (g1, g2) = (loss(&y).backward().unwrap(), loss(&want).backward().unwrap());
            let (a, b) = (g1.get(x.as_tensor()).unwrap(), g2.get(x.as_tensor()).unwrap());
            assert!(max_diff(a, b) < 1e-4, "{act:?} gradient {}", max_diff(a, b));
        }
    }

    #[test]
    fn attention_kernel_matches_composed_ops_with_and_without_dropout() {
        let (b, t, nh, hd) = (3, 9, 2, 4);
        let h = nh * hd;
        let lengths = vec![9, 5, 1];
        for p in [0.0f32, 0.3] {
            let qkv = var(&[b, t, 3 * h], 5);
            let weights = var(&[b, t, h], 6);
            let op = AttentionTrainOp::new(nh, hd, lengths.clone(), p, 77);
            let fused = qkv.as_tensor().apply_op1(op).unwrap();
            let mut rows = Vec::new();
            for (bi, &n) in lengths.iter().enumerate() {
                let x = qkv.as_tensor().get(bi).unwrap().narrow(0, 0, n).unwrap();
                let x = x.reshape((n, 3, nh, hd)).unwrap().permute((1, 2, 0, 3)).unwrap();
                let mut heads = Vec::new();
                for head in 0..nh {
                    let q = x.get(0).unwrap().get(head).unwrap().contiguous().unwrap();
                    let k = x.get(1).unwrap().get(head).unwrap().contiguous().unwrap();
                    let v = x.get(2).unwrap().get(head).unwrap().contiguous().unwrap();
                    let mut probs =
                        candle_nn::ops::softmax(&q.matmul(&k.t().unwrap()).unwrap(), D::Minus1).unwrap();
                    if p > 0.0 {
                        let mut m = vec![0f32; n * n];
                        attention_dropout_mask(77, bi * nh + head, p, &mut m);
                        probs = (probs * Tensor::from_vec(m, (n, n), &Device::Cpu).unwrap()).unwrap();
                    }
                    heads.push(probs.matmul(&v).unwrap());
                }
                let ctx = Tensor::cat(&heads, 1).unwrap(); // [n, h]
                let pad = Tensor::zeros((t - n, h), candle_core::DType::F32, &Device::Cpu).unwrap();
                rows.push(Tensor::cat(&[ctx, pad], 0).unwrap());
            }
            let composed = Tensor::stack(&rows, 0).unwrap();
            assert!(
                max_diff(&fused, &composed) < 1e-5,
                "p {p}: forward differs by {}",
                max_diff(&fused, &composed)
            );
            let g1 = (fused * weights.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (composed * weights.as_tensor()).unwrap().sum_all().unwrap().backward().unwrap();
            let (a, c) = (g1.get(&qkv).unwrap(), g2.get(&qkv).unwrap());
            let d = max_diff(a, c);
            assert!(d < 1e-5, "p {p}: QKV gradient differs by {d}");
            assert!(a.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() > 0.1);
        }
    }

    #[test]
    fn attention_dropout_masks_depend_on_seed_and_task_only() {
        let mut a = vec![0f32; 1000];
        let mut b = vec![0f32; 1000];
        attention_dropout_mask(1, 3, 0.25, &mut a);
        attention_dropout_mask(1, 3, 0.25, &mut b);
        assert_eq!(a, b);
        attention_dropout_mask(1, 4, 0.25, &mut b);
        assert_ne!(a, b);
        let dropped = a.iter().filter(|&&m| m == 0.0).count();
        assert!((200..300).contains(&dropped), "{dropped} of 1000 dropped at p 0.25");
        assert!(a.iter().all(|&m| m == 0.0 || (m - 1.0 / 0.75).abs() < 1e-6));
    }

    #[test]
    fn fused_linear_cross_entropy_equals_composed_ops_and_their_gradient() {
        // 300 rows cross the 128-row blocks; row 5 is ignored; the vocabulary is not a multiple
        // of any SIMD width.
        let (n, d, vocab) = (300, 24, 37);
        let x = var(&[n, d], 1);
        let w = var(&[vocab, d], 2).as_tensor().detach();
        let bias: Vec<f32> = (0..vocab).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut rng = crate::data::SplitMix64::new(3);
        let mut t: Vec<u32> = (0..n).map(|_| rng.below(vocab) as u32).collect();
        t[5] = IGNORE_TARGET;
        let targets = Tensor::new(t.as_slice(), &Device::Cpu).unwrap();
        let weights: Vec<f32> = (0..n).map(|i| 1.0 + i as f32 / n as f32).collect();
        let weights = Tensor::new(weights.as_slice(), &Device::Cpu).unwrap();

        let op = LinearCrossEntropyOp::new(Some(bias.clone()), true);
        let fused = x.as_tensor().apply_op3(&w, &targets, op).unwrap();
        let fused_grad = (&fused * &weights).unwrap().sum_all().unwrap().backward().unwrap();

        let b = Tensor::new(bias.as_slice(), &Device::Cpu).unwrap();
        let logits = x.as_tensor().matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
        let keep: Vec<f32> = t.iter().map(|&t| if t == IGNORE_TARGET { 0.0 } else { 1.0 }).collect();
        let keep = Tensor::new(keep.as_slice(), &Device::Cpu).unwrap();
        let safe: Vec<u32> = t.iter().map(|&t| if t == IGNORE_TARGET { 0 } else { t }).collect();
        let safe = Tensor::new(safe.as_slice(), &Device::Cpu).unwrap().unsqueeze(1).unwrap();
        let picked = logits.gather(&safe, 1).unwrap().squeeze(1).unwrap();
        let composed = ((logits.log_sum_exp(D::Minus1).unwrap() - picked).unwrap() * &keep).unwrap();
        let composed_grad = (&composed * &weights).unwrap().sum_all().unwrap().backward().unwrap();

        assert!(max_diff(&fused, &composed) < 1e-5, "loss {}", max_diff(&fused, &composed));
        assert_eq!(fused.get(5).unwrap().to_scalar::<f32>().unwrap(), 0.0, "an ignored row has no loss");
        let (a, b) = (fused_grad.get(&x).unwrap(), composed_grad.get(&x).unwrap());
        assert!(max_diff(a, b) < 1e-5, "gradient {}", max_diff(a, b));
        let bad = Tensor::new(&[vocab as u32], &Device::Cpu).unwrap();
        let err =
            x.as_tensor().narrow(0, 0, 1).unwrap().apply_op3(&w, &bad, LinearCrossEntropyOp::new(None, true));
        assert!(err.unwrap_err().to_string().contains("outside the vocabulary"));
    }
}
