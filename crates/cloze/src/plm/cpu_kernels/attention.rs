//! Attention over separate queries, keys and values with any additive mask — the decoder and
//! encoder–decoder families' attention (causal masks, left or right padding, grouped key/value
//! heads, rotated queries and keys) — for training: one task per (sequence, key/value head), the
//! context written straight into `[batch, seq, heads · head_dim]`, the probabilities kept for a
//! backward pass that writes the three gradients in one pass. Composed candle ops take a dozen
//! passes each way (scores, scale, mask, softmax, transposes, copies of the repeated key/value
//! heads).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::math::{softmax_bwd_rows, softmax_rows};
use super::{OutPtr, f32_slice};

/// `softmax(scale · Q Kᵀ + mask) · V` for `q` `[b, heads, t, d]`, `k` and `v` `[b, kv_heads, tk,
/// d]` (each group of `heads / kv_heads` query heads shares one key/value head), the mask
/// `[mb, 1, mt, tk]` broadcast over the batch (`mb` 1 or `b`) and the query rows (`mt` 1 or `t`).
/// Output `[b, t, heads · d]`. The mask is a constant (an untracked tensor).
pub struct MaskedAttentionOp {
    scale: f32,
    mask: Option<(Vec<f32>, usize, usize)>,
    saved: Arc<Mutex<Vec<Vec<f32>>>>,
}

impl MaskedAttentionOp {
    /// `mask`: an additive `[mb, 1, mt, tk]` tensor (read now), or none.
    pub fn new(scale: f64, mask: Option<&Tensor>) -> candle_core::Result<Self> {
        let mask = match mask {
            None => None,
            Some(m) => {
                let (mb, one, mt, _) = m.dims4()?;
                if one != 1 {
                    candle_core::bail!("attention mask: shape {:?}, want [batch, 1, rows, keys]", m.dims());
                }
                Some((m.contiguous()?.flatten_all()?.to_vec1::<f32>()?, mb, mt))
            }
        };
        Ok(Self { scale: scale as f32, mask, saved: Arc::default() })
    }
}

/// The shapes of one call: batch, heads, key/value heads, query rows, key rows, head size.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    h: usize,
    kvh: usize,
    t: usize,
    tk: usize,
    d: usize,
}

impl Dims {
    fn of(
        q: &Shape,
        k: &Shape,
        v: &Shape,
        mask: &Option<(Vec<f32>, usize, usize)>,
    ) -> candle_core::Result<Self> {
        let (b, h, t, d) = q.dims4()?;
        let (kb, kvh, tk, kd) = k.dims4()?;
        let ok_kv = kb == b && kd == d && kvh > 0 && h % kvh == 0 && v.dims() == k.dims();
        let ok_mask = mask.as_ref().is_none_or(|(m, mb, mt)| {
            (*mb == 1 || *mb == b) && (*mt == 1 || *mt == t) && m.len() == mb * mt * tk
        });
        if !ok_kv || !ok_mask {
            candle_core::bail!(
                "attention: queries {q:?}, keys {k:?}, values {v:?} do not fit together or with the mask"
            );
        }
        Ok(Self { b, h, kvh, t, tk, d })
    }
}

impl MaskedAttentionOp {
    /// The scaled, masked scores of query head `head` of sequence `bi` into `s` (`t × tk`).
    ///
    /// # Safety
    /// `q` and `k` cover the shapes of `dims`.
    unsafe fn scores(&self, dims: Dims, bi: usize, head: usize, q: *const f32, k: *const f32, s: &mut [f32]) {
        let Dims { h, kvh, t, tk, d, .. } = dims;
        let g = head / (h / kvh);
        // SAFETY: q's head block is t×d, k's key/value head block tk×d (read transposed), s t×tk.
        unsafe {
            product(
                (t, tk, d),
                (s.as_mut_ptr(), 1, tk as isize),
                (q.add((bi * h + head) * t * d), 1, d as isize),
                (k.add((bi * kvh + g) * tk * d), d as isize, 1),
                false,
                self.scale,
            )
        };
        if let Some((m, mb, mt)) = &self.mask {
            let base = if *mb == 1 { 0 } else { bi * mt * tk };
            for (i, row) in s.chunks_mut(tk).enumerate() {
                let mrow = &m[base + if *mt == 1 { 0 } else { i * tk }..][..tk];
                for (x, &a) in row.iter_mut().zip(mrow) {
                    *x += a;
                }
            }
        }
    }
}

/// `dst (m×n) (+)= alpha · lhs (m×k) · rhs (k×n)`, operands as (pointer, column stride, row stride).
///
/// # Safety
/// The pointers must cover the elements their strides address.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn product(
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, isize, isize),
    lhs: (*const f32, isize, isize),
    rhs: (*const f32, isize, isize),
    accumulate: bool,
    alpha: f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.1,
            dst.2,
            accumulate,
            lhs.0,
            lhs.1,
            lhs.2,
            rhs.0,
            rhs.1,
            rhs.2,
            1.0,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

impl CustomOp3 for MaskedAttentionOp {
    fn name(&self) -> &'static str {
        "cloze-masked-attention"
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
        let (q, k, v) =
            (f32_slice(s1, l1, "queries")?, f32_slice(s2, l2, "keys")?, f32_slice(s3, l3, "values")?);
        let dims = Dims::of(l1.shape(), l2.shape(), l3.shape(), &self.mask)?;
        let Dims { b, h, kvh, t, tk, d } = dims;
        let mut out = vec![0f32; b * t * h * d];
        let out_ptr = OutPtr(out.as_mut_ptr());
        let probs: Vec<Vec<f32>> = (0..b * h)
            .into_par_iter()
            .map(|task| {
                let (bi, head) = (task / h, task % h);
                let g = head / (h / kvh);
                let mut p = vec![0f32; t * tk];
                // SAFETY: q and k have the shapes checked above; each task writes its own head's
                // columns of its own sequence's rows of the output.
                unsafe {
                    self.scores(dims, bi, head, q.as_ptr(), k.as_ptr(), &mut p);
                    softmax_rows(&mut p, tk);
                    let dst = &out_ptr;
                    product(
                        (t, d, tk),
                        (dst.0.add(bi * t * h * d + head * d), 1, (h * d) as isize),
                        (p.as_ptr(), 1, tk as isize),
                        (v.as_ptr().add((bi * kvh + g) * tk * d), 1, d as isize),
                        false,
                        1.0,
                    );
                }
                p
            })
            .collect();
        if let Ok(mut saved) = self.saved.lock() {
            *saved = probs;
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, h * d))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op =
            MaskedAttentionBwdOp { scale: self.scale, saved: self.saved.clone(), grad: grad.contiguous()? };
        // `[dq | dk | dv]` flat.
        let all = q.apply_op3_no_bwd(k, v, &op)?;
        let (nq, nk) = (q.elem_count(), k.elem_count());
        let dq = q.track_op().then(|| all.narrow(0, 0, nq)?.reshape(q.dims())).transpose()?;
        let dk = k.track_op().then(|| all.narrow(0, nq, nk)?.reshape(k.dims())).transpose()?;
        let dv = v.track_op().then(|| all.narrow(0, nq + nk, nk)?.reshape(v.dims())).transpose()?;
        Ok((dq, dk, dv))
    }
}

/// With `P` the saved probabilities and `dC` the context gradient, per query head:
/// `dV += Pᵀ·dC`, `dP = dC·Vᵀ`, `dS = P∘(dP − rowsum(dP∘P))`, `dQ = scale·dS·K`,
/// `dK += scale·dSᵀ·Q` — one task per (sequence, key/value head), its query heads in turn, so
/// the shared key/value gradients have one writer.
struct MaskedAttentionBwdOp {
    scale: f32,
    saved: Arc<Mutex<Vec<Vec<f32>>>>,
    grad: Tensor,
}

impl CustomOp3 for MaskedAttentionBwdOp {
    fn name(&self) -> &'static str {
        "cloze-masked-attention-bwd"
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
        let (q, k, v) =
            (f32_slice(s1, l1, "queries")?, f32_slice(s2, l2, "keys")?, f32_slice(s3, l3, "values")?);
        let dims = Dims::of(l1.shape(), l2.shape(), l3.shape(), &None)?;
        let Dims { b, h, kvh, t, tk, d } = dims;
        let (storage, layout) = self.grad.storage_and_layout();
        let Storage::Cpu(gs) = &*storage else {
            candle_core::bail!("attention backward: the gradient is not on the CPU")
        };
        let dc = f32_slice(gs, layout, "attention backward gradient")?;
        let saved = self.saved.lock().map_err(|_| candle_core::Error::Msg("attention: lock".into()))?;
        if dc.len() != b * t * h * d || saved.len() != b * h {
            candle_core::bail!(
                "attention backward: gradient {:?}, {} saved heads",
                layout.shape(),
                saved.len()
            );
        }
        let (nq, nk) = (q.len(), k.len());
        let mut out = vec![0f32; nq + 2 * nk];
        let out_ptr = OutPtr(out.as_mut_ptr());
        let rep = h / kvh;
        (0..b * kvh).into_par_iter().for_each(|task| {
            let (bi, g) = (task / kvh, task % kvh);
            let mut dp = vec![0f32; t * tk];
            let kv = (bi * kvh + g) * tk * d;
            for head in g * rep..(g + 1) * rep {
                let p = &saved[bi * h + head];
                let qh = (bi * h + head) * t * d;
                let gc = dc[bi * t * h * d + head * d..].as_ptr();
                let dst = &out_ptr;
                let first = head == g * rep;
                // SAFETY: every block lies inside its tensor (shapes checked); this task alone
                // writes its query heads' rows of dq and its key/value head's rows of dk and dv.
                unsafe {
                    let (dq, dk, dv) = (dst.0.add(qh), dst.0.add(nq + kv), dst.0.add(nq + nk + kv));
                    // dV (+)= Pᵀ · dC: P read transposed (t×tk → tk×t), dC rows h·d apart.
                    product(
                        (tk, d, t),
                        (dv, 1, d as isize),
                        (p.as_ptr(), tk as isize, 1),
                        (gc, 1, (h * d) as isize),
                        !first,
                        1.0,
                    );
                    // dP = dC · Vᵀ.
                    product(
                        (t, tk, d),
                        (dp.as_mut_ptr(), 1, tk as isize),
                        (gc, 1, (h * d) as isize),
                        (v.as_ptr().add(kv), d as isize, 1),
                        false,
                        1.0,
                    );
                    softmax_bwd_rows(&mut dp, p, tk);
                    // dQ = scale · dS · K.
                    product(
                        (t, d, tk),
                        (dq, 1, d as isize),
                        (dp.as_ptr(), 1, tk as isize),
                        (k.as_ptr().add(kv), 1, d as isize),
                        false,
                        self.scale,
                    );
                    // dK (+)= scale · dSᵀ · Q.
                    product(
                        (tk, d, t),
                        (dk, 1, d as isize),
                        (dp.as_ptr(), tk as isize, 1),
                        (q.as_ptr().add(qh), 1, d as isize),
                        !first,
                        self.scale,
                    );
                }
            }
        });
        Ok((CpuStorage::F32(out), Shape::from(nq + 2 * nk)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;

    fn var(shape: &[usize], seed: u64) -> Var {
        let mut rng = crate::data::SplitMix64::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// The kernel against composed ops (repeated key/value heads, scores, mask, softmax, context)
    /// forward and backward: grouped heads with a causal mask per sequence (left padding in the
    /// second), one mask for every sequence, and none.
    #[test]
    fn masked_attention_matches_composed_ops() {
        let (b, h, kvh, t, d) = (2, 4, 2, 5, 3);
        let causal: Vec<f32> = (0..b)
            .flat_map(|bi| {
                (0..t).flat_map(move |i| {
                    (0..t).map(move |j| if j > i || (bi == 1 && j < 2) { -1e30 } else { 0.0 })
                })
            })
            .collect();
        let masks = [
            Some(Tensor::from_vec(causal, (b, 1, t, t), &Device::Cpu).unwrap()),
            Some(
                Tensor::from_vec((0..t).map(|j| -(j as f32)).collect::<Vec<_>>(), (1, 1, 1, t), &Device::Cpu)
                    .unwrap(),
            ),
            None,
        ];
        for (case, mask) in masks.iter().enumerate() {
            let q = var(&[b, h, t, d], 1 + case as u64);
            let k = var(&[b, kvh, t, d], 11 + case as u64);
            let v = var(&[b, kvh, t, d], 21 + case as u64);
            let probe = var(&[b, t, h * d], 31);
            let scale = 0.7;
            let op = MaskedAttentionOp::new(scale, mask.as_ref()).unwrap();
            let got = q.as_tensor().apply_op3(k.as_tensor(), v.as_tensor(), op).unwrap();
            let repeat = |x: &Tensor| {
                x.unsqueeze(2)
                    .unwrap()
                    .broadcast_as((b, kvh, h / kvh, t, d))
                    .unwrap()
                    .contiguous()
                    .unwrap()
                    .reshape((b, h, t, d))
                    .unwrap()
            };
            let (kr, vr) = (repeat(k.as_tensor()), repeat(v.as_tensor()));
            let mut scores = (q.as_tensor().matmul(&kr.t().unwrap()).unwrap() * scale).unwrap();
            if let Some(m) = mask {
                scores = scores.broadcast_add(m).unwrap();
            }
            let probs = candle_nn::ops::softmax(&scores, D::Minus1).unwrap();
            let want = probs
                .matmul(&vr)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
                .reshape((b, t, h * d))
                .unwrap();
            assert!(max_diff(&got, &want) < 1e-5, "case {case}: forward {}", max_diff(&got, &want));
            let loss = |y: &Tensor| (y * probe.as_tensor()).unwrap().sum_all().unwrap();
            let (g1, g2) = (loss(&got).backward().unwrap(), loss(&want).backward().unwrap());
            for (name, x) in [("q", &q), ("k", &k), ("v", &v)] {
                let (a, e) = (g1.get(x.as_tensor()).unwrap(), g2.get(x.as_tensor()).unwrap());
                assert!(max_diff(a, e) < 1e-4, "case {case}: {name} gradient {}", max_diff(a, e));
            }
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        let q = Tensor::zeros((1, 3, 4, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let k = Tensor::zeros((1, 2, 4, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let op = MaskedAttentionOp::new(1.0, None).unwrap();
        let err = q.apply_op3_no_bwd(&k, &k, &op).unwrap_err().to_string();
        assert!(err.contains("do not fit"), "{err}");
    }
}
