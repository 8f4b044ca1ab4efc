//! Forward kernels: a linear layer with its bias and activation inside one matrix product, and
//! multi-head self-attention over the fused QKV projection, one task per (sequence, head).

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::super::layers::Activation;
use super::super::precision::Precision;
use super::bf16::{self, View};
use super::math::{activate, softmax_rows};
use super::training::{ColumnSumOp, WeightGradOp};
use super::{OutPtr, f32_slice, threads};

/// Rows from which a linear layer with more inputs than outputs multiplies by a transposed copy
/// of its weight (below, the copy is most of the cost).
const TRANSPOSE_FROM_ROWS: usize = 32;

thread_local! {
    /// The transposed weight of the last such product on this thread, reused as scratch.
    static TRANSPOSED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `dst` ← `w`ᵀ for a row-major `w` `[rows, cols]`: `dst` `[cols, rows]`, in tiles of 16 × 16 on
/// the thread pool.
fn transpose(w: &[f32], rows: usize, cols: usize, dst: &mut Vec<f32>) {
    const TILE: usize = 16;
    if dst.len() != rows * cols {
        dst.clear();
        dst.resize(rows * cols, 0.0);
    }
    dst.par_chunks_mut(rows * TILE).enumerate().for_each(|(block, out)| {
        let c0 = block * TILE;
        let n_cols = out.len() / rows;
        for r0 in (0..rows).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                let src = &w[r * cols + c0..r * cols + c0 + n_cols];
                for (c, &v) in src.iter().enumerate() {
                    out[c * rows + r] = v;
                }
            }
        }
    });
}

/// `act(x Wᵀ + b)` for `x` `[..., in]`, `W` `[out, in]`, `b` `[out]`: the bias is written into the
/// output first and the matrix product accumulates onto it. In [`Precision::Bf16`] the product
/// (and the backward pass's products) take bf16 factors ([`bf16::gemm`]).
pub struct LinearOp {
    pub activation: Option<Activation>,
    pub precision: Precision,
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
        super::refuse_when_composed(self.name())?;
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
        match self.precision {
            // SAFETY: x is rows×in, w out×in (read transposed: Wᵀ is in×out), out rows×out.
            Precision::Bf16 => unsafe {
                bf16::gemm(
                    rows,
                    out_dim,
                    in_dim,
                    out.as_mut_ptr(),
                    out_dim,
                    true,
                    View::rows(x, in_dim),
                    View::transposed(w, in_dim),
                )
            },
            Precision::F32 => {
                let par = if rows * out_dim * in_dim > 1 << 18 {
                    gemm::Parallelism::Rayon(threads())
                } else {
                    gemm::Parallelism::None
                };
                // x·B with B = Wᵀ `[in, out]` given by its pointer, column and row strides.
                // SAFETY (for both calls below): x is rows×in, B covers in×out values with the
                // strides given, out is rows×out.
                let mut product = |b: *const f32, b_cs: isize, b_rs: isize| unsafe {
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
                        b,
                        b_cs,
                        b_rs,
                        1.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        par,
                    )
                };
                if in_dim > out_dim && rows >= TRANSPOSE_FROM_ROWS {
                    // A long inner dimension (a feed-forward output): the gemm crate multiplies
                    // by Wᵀ read in place at 55–75% of its speed on a row-major Wᵀ, which costs
                    // less to make than it saves (1184 × 3072 × 768: 154 → 198 GFLOP/s,
                    // transpose included; 64 rows: 31 → 78).
                    TRANSPOSED.with_borrow_mut(|wt| {
                        transpose(w, out_dim, in_dim, wt);
                        product(wt.as_ptr(), 1, out_dim as isize);
                    });
                } else {
                    product(w.as_ptr(), in_dim as isize, 1);
                }
            }
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
        let on_cpu =
            super::kernels_allowed() && g2.device().is_cpu() && g2.dtype() == candle_core::DType::F32;
        let gx = match (x.track_op(), self.precision) {
            (false, _) => None,
            (true, Precision::Bf16) if on_cpu => {
                Some(g2.contiguous()?.apply_op2_no_bwd(&w.contiguous()?, &Bf16MatmulOp)?.reshape(x.dims())?)
            }
            (true, _) => Some(g2.matmul(w)?.reshape(x.dims())?),
        };
        let gw = match (w.track_op(), on_cpu) {
            (false, _) => None,
            (true, true) => Some(
                g2.contiguous()?
                    .apply_op2_no_bwd(&x.contiguous()?, &WeightGradOp { precision: self.precision })?,
            ),
            (true, false) => Some(g2.t()?.matmul(&x.reshape((rows, in_dim))?)?),
        };
        let gb = match (b.track_op(), on_cpu) {
            (false, _) => None,
            (true, true) => Some(g2.contiguous()?.apply_op1_no_bwd(&ColumnSumOp)?),
            (true, false) => Some(g2.sum(0)?),
        };
        Ok((gx, gw, gb))
    }
}

/// `a·b` for row-major `a` `[m, k]` and `b` `[k, n]` with bf16 factors and f32 sums: the input
/// gradient `g·W` of a linear layer in [`Precision::Bf16`].
struct Bf16MatmulOp;

impl candle_core::CustomOp2 for Bf16MatmulOp {
    fn name(&self) -> &'static str {
        "cloze-bf16-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let a = f32_slice(s1, l1, "bf16 product, left factor")?;
        let b = f32_slice(s2, l2, "bf16 product, right factor")?;
        let (m, k) = l1.shape().dims2()?;
        let (k2, n) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("bf16 product: {:?} times {:?}", l1.shape(), l2.shape());
        }
        let mut out = vec![0f32; m * n];
        // SAFETY: a is m×k, b k×n, out m×n, all row-major.
        unsafe { bf16::gemm(m, n, k, out.as_mut_ptr(), n, false, View::rows(a, k), View::rows(b, n)) };
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
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

impl CustomOp1 for AttentionOp {
    fn name(&self) -> &'static str {
        "cloze-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
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
                softmax_rows(scores, n);
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

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = crate::data::SplitMix64::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn transpose_table() {
        // (rows, cols): square, wide, tall, and sizes that are not multiples of the tile.
        for (rows, cols) in [(1, 1), (3, 5), (16, 16), (17, 40), (40, 17), (33, 1)] {
            let w: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut dst = vec![7.0; 3];
            transpose(&w, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], w[r * cols + c], "{rows}×{cols} at ({r}, {c})");
                }
            }
        }
    }

    /// The kernel against `x Wᵀ + b` composed, on both sides of the transposed-weight rule:
    /// more inputs than outputs from `TRANSPOSE_FROM_ROWS` rows on, and the other shapes.
    #[test]
    fn linear_matches_composed_on_every_path() {
        let cases = [
            (5, 48, 16),                       // more inputs, few rows: Wᵀ read in place
            (TRANSPOSE_FROM_ROWS, 48, 16),     // more inputs, enough rows: a transposed copy
            (TRANSPOSE_FROM_ROWS + 7, 96, 40), // the same, odd sizes
            (64, 16, 48),                      // more outputs
            (64, 24, 24),                      // square
        ];
        for (seed, (rows, inp, out)) in cases.into_iter().enumerate() {
            let x = random(&[rows, inp], seed as u64 * 3 + 1);
            let w = random(&[out, inp], seed as u64 * 3 + 2);
            let b = random(&[out], seed as u64 * 3 + 3);
            let op = LinearOp { activation: None, precision: Precision::F32 };
            let got = x.apply_op3_no_bwd(&w, &b, &op).unwrap();
            let want = x.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
            let diff = (got - want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
            let diff = diff.to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "{rows}×{inp} → {out}: {diff}");
        }
    }
}
