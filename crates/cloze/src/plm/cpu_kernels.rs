//! Fused CPU kernels for inference: a linear layer with its bias (and optionally its activation)
//! done inside one matrix product, and multi-head self-attention that reads queries, keys and
//! values straight out of the fused QKV projection and writes each head into place — no permuted
//! copies, no padded key columns, one task per (sequence, head) on the thread pool.
//!
//! The results equal the composed candle ops up to float rounding (the parity tests run through
//! these kernels). The attention kernel and the fused activations have no backward pass, so
//! [`super::layers`] uses them only for tensors that are not tracked for gradients, on the CPU, in
//! f32; the linear kernel has one (skipping frozen weights), so training uses it too.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::layers::Activation;

fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{what}: the fused CPU kernels take f32"),
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{what}: the fused CPU kernels take contiguous tensors"),
    }
}

fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// `eˣ` in f32, branch-free so that loops over slices vectorise: Cody–Waite range reduction and
/// Cephes' degree-6 polynomial; relative error below 2e-7 on the whole f32 range (inputs are
/// clamped to [-87.3, 88.3], so it never returns inf or a subnormal).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `erf(x)` by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7), the approximation
/// PyTorch's vectorised CPU `erf` uses too.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_8) * t - 0.284_496_72) * t + 0.254_829_6) * t;
    (1.0 - poly * exp_f32(-a * a)).copysign(x)
}

/// Exact (erf) GELU, as transformers' "gelu".
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    let u = C * (x + 0.044715 * x * x * x);
    // tanh(u) = 1 - 2 / (e^{2u} + 1)
    0.5 * x * (2.0 - 2.0 / (exp_f32(2.0 * u) + 1.0))
}

#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp_f32(-x))
}

fn activate(out: &mut [f32], act: Activation) {
    // One loop per activation, so each inlines and vectorises.
    out.par_chunks_mut(1 << 14).for_each(|c| match act {
        Activation::Gelu => c.iter_mut().for_each(|x| *x = gelu_erf(*x)),
        Activation::GeluTanh => c.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
        Activation::Relu => c.iter_mut().for_each(|x| *x = x.max(0.0)),
        Activation::Silu => c.iter_mut().for_each(|x| *x = silu(*x)),
    });
}

/// `act(x Wᵀ + b)` for `x` `[..., in]`, `W` `[out, in]`, `b` `[out]`: the bias is written into the
/// output first and the matrix product accumulates onto it.
pub struct LinearOp {
    pub activation: Option<Activation>,
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "cloze-linear"
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
        let x = f32_slice(s1, l1, "linear input")?;
        let w = f32_slice(s2, l2, "linear weight")?;
        let b = f32_slice(s3, l3, "linear bias")?;
        let (out_dim, in_dim) = l2.shape().dims2()?;
        let dims = l1.shape().dims();
        if dims.last() != Some(&in_dim) || b.len() != out_dim {
            candle_core::bail!("linear: input {:?}, weight {:?}, bias {}", dims, l2.shape(), b.len());
        }
        let rows = x.len() / in_dim;
        let mut out: Vec<f32> = Vec::with_capacity(rows * out_dim);
        out.spare_capacity_mut().par_chunks_mut(out_dim * 64).for_each(|block| {
            for row in block.chunks_mut(out_dim) {
                for (d, v) in row.iter_mut().zip(b) {
                    d.write(*v);
                }
            }
        });
        // SAFETY: every one of the rows × out_dim values was written just above.
        unsafe { out.set_len(rows * out_dim) };
        let par = if rows * out_dim * in_dim > 1 << 18 {
            gemm::Parallelism::Rayon(threads())
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: the pointers cover rows×in (x), out×in (w) and rows×out (out) f32 values, laid
        // out with the strides given.
        unsafe {
            gemm::gemm(
                rows,
                out_dim,
                in_dim,
                out.as_mut_ptr(),
                1,
                out_dim as isize,
                true,
                x.as_ptr(),
                1,
                in_dim as isize,
                w.as_ptr(),
                in_dim as isize,
                1,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                par,
            );
        }
        if let Some(act) = self.activation {
            activate(&mut out, act);
        }
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("non-empty") = out_dim;
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }

    /// The backward pass of `x Wᵀ + b` (without activation: training applies the activation as a
    /// separate, differentiable op). Unlike candle's matmul backward, the weight and bias
    /// gradients are computed only when they are tracked, so a frozen model costs one product per
    /// layer in the backward pass, not two.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.activation.is_some() {
            candle_core::bail!("cloze-linear: no backward with a fused activation; apply it separately");
        }
        let (out_dim, in_dim) = w.dims2()?;
        let rows = grad.elem_count() / out_dim;
        let g2 = grad.reshape((rows, out_dim))?;
        let gx = if x.track_op() { Some(g2.matmul(w)?.reshape(x.dims())?) } else { None };
        let gw = if w.track_op() { Some(g2.t()?.matmul(&x.reshape((rows, in_dim))?)?) } else { None };
        let gb = if b.track_op() { Some(g2.sum(0)?) } else { None };
        Ok((gx, gw, gb))
    }
}

/// Self-attention over a fused `[batch, seq, 3·hidden]` QKV projection (queries already scaled),
/// with right padding given as the number of real tokens per row. Output `[batch, seq, hidden]`;
/// rows past a sequence's length are zero (nothing reads them).
pub struct AttentionOp {
    pub heads: usize,
    pub head_dim: usize,
    pub lengths: Vec<usize>,
}

struct OutPtr(*mut f32);
// SAFETY: every task writes a disjoint set of (row, head) cells of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl CustomOp1 for AttentionOp {
    fn name(&self) -> &'static str {
        "cloze-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = f32_slice(s, l, "attention input")?;
        let (b, t, three_h) = l.shape().dims3()?;
        let (nh, hd) = (self.heads, self.head_dim);
        let h = nh * hd;
        if three_h != 3 * h || self.lengths.len() != b {
            candle_core::bail!("attention: input {:?} for {nh} heads of {hd}", l.shape());
        }
        let mut out = vec![0f32; b * t * h];
        let out_ptr = OutPtr(out.as_mut_ptr());
        (0..b * nh).into_par_iter().for_each_init(
            || vec![0f32; t * t],
            |scores, task| {
                let (bi, head) = (task / nh, task % nh);
                let n = self.lengths[bi];
                if n == 0 {
                    return;
                }
                let base = bi * t * three_h;
                let q = qkv[base + head * hd..].as_ptr();
                let k = qkv[base + h + head * hd..].as_ptr();
                let v = qkv[base + 2 * h + head * hd..].as_ptr();
                let scores = &mut scores[..n * n];
                // SAFETY: q, k, v rows are `three_h` apart inside this sequence's block; scores is
                // n×n; the output cells (row < n, columns of this head) belong to this task only.
                unsafe {
                    gemm::gemm(
                        n,
                        n,
                        hd,
                        scores.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        q,
                        1,
                        three_h as isize,
                        k,
                        three_h as isize,
                        1,
                        0.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for row in scores.chunks_mut(n) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    row.iter_mut().for_each(|x| *x = exp_f32(*x - max));
                    let sum: f32 = row.iter().sum();
                    let inv = 1.0 / sum;
                    row.iter_mut().for_each(|x| *x *= inv);
                }
                let dst = &out_ptr;
                unsafe {
                    gemm::gemm(
                        n,
                        hd,
                        n,
                        dst.0.add(bi * t * h + head * hd),
                        1,
                        h as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        n as isize,
                        v,
                        1,
                        three_h as isize,
                        0.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            },
        );
        Ok((CpuStorage::F32(out), Shape::from((b, t, h))))
    }
}

/// Keeps freed tensor buffers in the process heap for reuse.
///
/// glibc returns every allocation above its mmap threshold (at most 32 MiB by default) to the
/// kernel when it is freed, so each activation buffer of a bert-base batch (tens of MiB) is faulted
/// in afresh on every layer: about a fifth of a linear layer's time here. Raising the thresholds
/// makes those pages reusable. Call once at start-up, before loading a model; a no-op elsewhere.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_and_erf_are_accurate() {
        let mut worst_exp = 0f64;
        let mut worst_erf = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let e = (exp_f32(x) as f64 - (x as f64).exp()).abs() / (x as f64).exp();
            worst_exp = worst_exp.max(e);
            x += 0.013;
        }
        let mut x = -6.0f32;
        while x < 6.0 {
            let e = (erf_f32(x) as f64 - libm::erf(x as f64)).abs();
            worst_erf = worst_erf.max(e);
            x += 0.0007;
        }
        assert!(worst_exp < 2e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf absolute error {worst_erf}");
        assert!(exp_f32(-1000.0) > 0.0);
        assert!(exp_f32(1000.0).is_finite());
    }

    #[test]
    fn activations_match_their_definitions() {
        type Reference = fn(f64) -> f64;
        let cases: [(Activation, Reference); 4] = [
            (Activation::Gelu, |x| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))),
            (Activation::GeluTanh, |x| {
                0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            }),
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Silu, |x| x / (1.0 + (-x).exp())),
        ];
        for (act, reference) in cases {
            let mut xs: Vec<f32> = (-800..800).map(|i| i as f32 * 0.01).collect();
            let inputs = xs.clone();
            activate(&mut xs, act);
            for (x, y) in inputs.iter().zip(&xs) {
                let want = reference(*x as f64);
                assert!(
                    (*y as f64 - want).abs() < 1e-6 * (1.0 + want.abs()),
                    "{act:?}({x}) = {y}, want {want}"
                );
            }
        }
    }
}

/// `Φ(x) + x·φ(x)`: the derivative of exact GELU.
#[inline(always)]
fn gelu_erf_grad(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * exp_f32(-0.5 * x * x)
}

/// The derivative of the tanh approximation of GELU.
#[inline(always)]
fn gelu_tanh_grad(x: f32) -> f32 {
    const C: f32 = 0.797_884_6;
    let u = C * (x + 0.044715 * x * x * x);
    let t = 1.0 - 2.0 / (exp_f32(2.0 * u) + 1.0);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044715 * x * x)
}

/// GELU (exact or tanh) over every element, on the thread pool, with a backward pass — for
/// training, where candle's composed `gelu_erf` backward costs a dozen passes over the tensor.
#[derive(Debug, Clone, Copy)]
pub struct GeluOp {
    pub tanh: bool,
}

impl CustomOp1 for GeluOp {
    fn name(&self) -> &'static str {
        "cloze-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "gelu input")?;
        let mut out = x.to_vec();
        activate(&mut out, if self.tanh { Activation::GeluTanh } else { Activation::Gelu });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(x.apply_op2_no_bwd(&g, &GeluBwdOp { tanh: self.tanh })?))
    }
}

/// `grad · gelu'(x)` in one pass.
struct GeluBwdOp {
    tanh: bool,
}

impl candle_core::CustomOp2 for GeluBwdOp {
    fn name(&self) -> &'static str {
        "cloze-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, "gelu backward input")?;
        let g = f32_slice(s2, l2, "gelu backward gradient")?;
        let mut out = vec![0f32; x.len()];
        let tanh = self.tanh;
        out.par_chunks_mut(1 << 14).zip(x.par_chunks(1 << 14)).zip(g.par_chunks(1 << 14)).for_each(
            |((o, x), g)| {
                if tanh {
                    o.iter_mut().zip(x).zip(g).for_each(|((o, &x), &g)| *o = g * gelu_tanh_grad(x));
                } else {
                    o.iter_mut().zip(x).zip(g).for_each(|((o, &x), &g)| *o = g * gelu_erf_grad(x));
                }
            },
        );
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
        let x = f32_slice(s, l, "softmax input")?;
        let n = *l.shape().dims().last().unwrap_or(&1);
        let mut out = x.to_vec();
        out.par_chunks_mut(n.max(1)).for_each(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for v in row.iter_mut() {
                *v = exp_f32(*v - max);
                sum += *v;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|v| *v *= inv);
        });
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
        let y = f32_slice(s1, l1, "softmax backward output")?;
        let g = f32_slice(s2, l2, "softmax backward gradient")?;
        let n = (*l1.shape().dims().last().unwrap_or(&1)).max(1);
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(n).zip(y.par_chunks(n)).zip(g.par_chunks(n)).for_each(|((o, y), g)| {
            let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
            o.iter_mut().zip(y).zip(g).for_each(|((o, &y), &g)| *o = y * (g - dot));
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
