//! Matrix products on ggml's quantised blocks (a GGUF file's weights, kept as stored), as
//! llama.cpp computes them: each input row is quantised to the weight type's 8-bit companion
//! (Q8_0, Q8_1 or Q8_K blocks), then every output is a block-wise integer dot product scaled by the
//! blocks' factors.
//!
//! candle's own `QMatMul` does the same arithmetic but threads it on a spinning barrier pool beside
//! the rayon pool the other kernels use; on 2 cores, or any machine with other work, the two pools
//! take turns spinning and generation ran 6× slower than on dequantised weights (2.8 against 16.6
//! tokens/s on SmolLM2-135M Q4_1). Here the work is split over rayon like every other kernel, and
//! the dot products are candle's (`GgmlType::vec_dot`, with its runtime-detected AVX2 paths for
//! Q4_0, Q8_0 and the K-quants), except Q4_1, which candle computes without SIMD: its AVX2 dot
//! product is below (llama.cpp's `ggml_vec_dot_q4_1_q8_1`).
//!
//! Reference: <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-cpu/arch/x86/quants.c>

use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0,
    GgmlType,
};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use rayon::prelude::*;

use super::f32_slice;

/// `y = x Wᵀ` for a quantised `W` `[out, in]` and f32 `x` `[…, in]` (no backward: the layers
/// dequantise before training).
#[derive(Debug, Clone)]
pub struct QuantisedMatmulOp(pub Arc<QTensor>);

/// From this many input rows on, a layer's product runs on its weight dequantised for the call
/// (the f32 kernels, and the numbers transformers computes from the same file): every prompt,
/// batch and training step. A single row — a generation step on the key/value cache — is
/// multiplied block by block, llama.cpp's arithmetic (measured: 26–39 against 17–19 tokens/s on
/// SmolLM2-135M Q4_1; batches of 8 × 128 tokens 2.8 seq/s either way, against 1.0 block by block).
pub const DENSE_FROM_ROWS: usize = 2;

/// The block types [`QuantisedMatmulOp`] multiplies.
const MULTIPLIED: [GgmlDType; 10] = {
    use GgmlDType as G;
    [G::Q4_0, G::Q4_1, G::Q5_0, G::Q5_1, G::Q8_0, G::Q2K, G::Q3K, G::Q4K, G::Q5K, G::Q6K]
};

/// Whether [`QuantisedMatmulOp`] multiplies weights stored as `dtype`.
pub fn multiplies(dtype: GgmlDType) -> bool {
    MULTIPLIED.contains(&dtype)
}

impl CustomOp1 for QuantisedMatmulOp {
    fn name(&self) -> &'static str {
        "cloze-quantised-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        super::refuse_when_composed(self.name())?;
        let x = f32_slice(storage, layout, "quantised matmul input")?;
        let (n, k) = self.0.shape().dims2()?;
        let dims = layout.shape().dims();
        if dims.last() != Some(&k) {
            candle_core::bail!("quantised matmul: input {dims:?}, weight [{n}, {k}]");
        }
        let m = x.len() / k;
        let bytes = self.0.data()?;
        let out = match self.0.dtype() {
            GgmlDType::Q4_0 => run::<BlockQ4_0>(x, m, k, n, &bytes, BlockQ4_0::vec_dot)?,
            GgmlDType::Q4_1 => run::<BlockQ4_1>(x, m, k, n, &bytes, dot_q4_1)?,
            GgmlDType::Q5_0 => run::<BlockQ5_0>(x, m, k, n, &bytes, BlockQ5_0::vec_dot)?,
            GgmlDType::Q5_1 => run::<BlockQ5_1>(x, m, k, n, &bytes, BlockQ5_1::vec_dot)?,
            GgmlDType::Q8_0 => run::<BlockQ8_0>(x, m, k, n, &bytes, BlockQ8_0::vec_dot)?,
            GgmlDType::Q2K => run::<BlockQ2K>(x, m, k, n, &bytes, BlockQ2K::vec_dot)?,
            GgmlDType::Q3K => run::<BlockQ3K>(x, m, k, n, &bytes, BlockQ3K::vec_dot)?,
            GgmlDType::Q4K => run::<BlockQ4K>(x, m, k, n, &bytes, BlockQ4K::vec_dot)?,
            GgmlDType::Q5K => run::<BlockQ5K>(x, m, k, n, &bytes, BlockQ5K::vec_dot)?,
            GgmlDType::Q6K => run::<BlockQ6K>(x, m, k, n, &bytes, BlockQ6K::vec_dot)?,
            other => {
                candle_core::bail!("quantised matmul: weights stored as {other:?} are not multiplied here")
            }
        };
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("checked above") = n;
        Ok((CpuStorage::F32(out), Shape::from(out_dims)))
    }
}

/// The weight's values `[out, in]` in f32, rows dequantised in parallel (for batches, whose
/// products run faster on the f32 kernels than block by block: measured 2.8× on SmolLM2 at 8 × 128
/// tokens, the dequantising included).
pub fn dequantise(q: &QTensor) -> candle_core::Result<candle_core::Tensor> {
    let (n, k) = q.shape().dims2()?;
    let bytes = q.data()?;
    let values = match q.dtype() {
        GgmlDType::Q4_0 => to_f32::<BlockQ4_0>(n, k, &bytes)?,
        GgmlDType::Q4_1 => to_f32::<BlockQ4_1>(n, k, &bytes)?,
        GgmlDType::Q5_0 => to_f32::<BlockQ5_0>(n, k, &bytes)?,
        GgmlDType::Q5_1 => to_f32::<BlockQ5_1>(n, k, &bytes)?,
        GgmlDType::Q8_0 => to_f32::<BlockQ8_0>(n, k, &bytes)?,
        GgmlDType::Q2K => to_f32::<BlockQ2K>(n, k, &bytes)?,
        GgmlDType::Q3K => to_f32::<BlockQ3K>(n, k, &bytes)?,
        GgmlDType::Q4K => to_f32::<BlockQ4K>(n, k, &bytes)?,
        GgmlDType::Q5K => to_f32::<BlockQ5K>(n, k, &bytes)?,
        GgmlDType::Q6K => to_f32::<BlockQ6K>(n, k, &bytes)?,
        _ => return q.dequantize(&candle_core::Device::Cpu),
    };
    candle_core::Tensor::from_vec(values, (n, k), &candle_core::Device::Cpu)
}

fn to_f32<T: GgmlType>(n: usize, k: usize, bytes: &[u8]) -> candle_core::Result<Vec<f32>> {
    if !k.is_multiple_of(T::BLCK_SIZE) {
        candle_core::bail!("dequantise: width {k} is not a whole number of {}-wide blocks", T::BLCK_SIZE);
    }
    let kb = k / T::BLCK_SIZE;
    let w: &[T] = blocks(bytes, n * kb)?;
    let mut out = vec![0f32; n * k];
    if k > 0 {
        out.par_chunks_mut(k).zip(w.par_chunks(kb.max(1))).for_each(|(row, b)| T::to_float(b, row));
    }
    Ok(out)
}

type Dot<T> = fn(usize, &[T], &[<T as GgmlType>::VecDotType]) -> f32;

/// The weight's blocks as `T`s: the storage is candle's `Vec<T>`, so the cast only checks length
/// and alignment.
fn blocks<T: GgmlType>(bytes: &[u8], count: usize) -> candle_core::Result<&[T]> {
    let size = std::mem::size_of::<T>();
    if bytes.len() != count * size || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()) {
        candle_core::bail!("quantised matmul: {} bytes of weights for {count} blocks of {size}", bytes.len());
    }
    // SAFETY: length and alignment checked; ggml blocks are plain `repr(C)` data valid for any bits.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), count) })
}

fn run<T: GgmlType>(
    x: &[f32],
    m: usize,
    k: usize,
    n: usize,
    bytes: &[u8],
    dot: Dot<T>,
) -> candle_core::Result<Vec<f32>> {
    if !k.is_multiple_of(T::BLCK_SIZE) {
        candle_core::bail!(
            "quantised matmul: input width {k} is not a whole number of {}-wide blocks",
            T::BLCK_SIZE
        );
    }
    let kb = k / T::BLCK_SIZE;
    let w: &[T] = blocks(bytes, n * kb)?;
    if m == 0 || n == 0 {
        return Ok(Vec::new());
    }
    // The input rows, quantised as the weight type's dot product reads them.
    let mut xq = vec![T::VecDotType::zeros(); m * kb];
    xq.par_chunks_mut(kb).zip(x.par_chunks(k)).for_each(|(q, row)| T::VecDotType::from_float(row, q));
    // Output columns (weight rows) in chunks over the pool; each weight row meets every input row
    // while it is in cache. Written transposed, `[n, m]`, so each task owns a contiguous slice.
    let threads = rayon::current_num_threads().max(1);
    let cols = n.div_ceil(threads * 8).max(1);
    let mut out_t = vec![0f32; n * m];
    out_t.par_chunks_mut(cols * m).enumerate().for_each(|(c, chunk)| {
        for (jj, col) in chunk.chunks_mut(m).enumerate() {
            let j = c * cols + jj;
            let wrow = &w[j * kb..(j + 1) * kb];
            for (r, y) in col.iter_mut().enumerate() {
                *y = dot(k, wrow, &xq[r * kb..(r + 1) * kb]);
            }
        }
    });
    if m == 1 {
        return Ok(out_t);
    }
    let mut out = vec![0f32; m * n];
    out.par_chunks_mut(n).enumerate().for_each(|(r, row)| {
        for (j, y) in row.iter_mut().enumerate() {
            *y = out_t[j * m + r];
        }
    });
    Ok(out)
}

/// Q4_1 · Q8_1 (llama.cpp's `ggml_vec_dot_q4_1_q8_1`): Σ over blocks of d₄·d₈·Σ q₄q₈ + m₄·s₈, where
/// s₈ = d₈·Σ q₈ is stored in the Q8_1 block.
fn dot_q4_1(n: usize, xs: &[BlockQ4_1], ys: &[<BlockQ4_1 as GgmlType>::VecDotType]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    {
        // SAFETY: the features are present; the slices hold whole blocks (checked by the caller).
        return unsafe { avx2::dot_q4_1(xs, ys) };
    }
    BlockQ4_1::vec_dot(n, xs, ys)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ8_1};

    /// Q4_1 block: d (f16), m (f16), 16 bytes holding 32 nibbles (element j in the low nibble of
    /// byte j, element j + 16 in its high nibble). Q8_1 block: d (f16), s (f16), 32 i8.
    const Q4_1_BYTES: usize = 20;
    const Q8_1_BYTES: usize = 36;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot_q4_1(xs: &[BlockQ4_1], ys: &[BlockQ8_1]) -> f32 {
        const { assert!(std::mem::size_of::<BlockQ4_1>() == Q4_1_BYTES) };
        const { assert!(std::mem::size_of::<BlockQ8_1>() == Q8_1_BYTES) };
        let nb = xs.len().min(ys.len());
        let (px, py) = (xs.as_ptr().cast::<u8>(), ys.as_ptr().cast::<u8>());
        let low = _mm_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_ps();
        // Lane 1 gathers m₄·s₈ (lane 0 holds scratch).
        let mut mins = _mm_setzero_ps();
        for b in 0..nb {
            // SAFETY: block b of each slice, at its fixed layout.
            unsafe {
                let x = px.add(b * Q4_1_BYTES);
                let y = py.add(b * Q8_1_BYTES);
                // [d₄, m₄, d₈, s₈] from the blocks' first 4 bytes each, in one conversion.
                let halves =
                    _mm_set_epi32(0, 0, y.cast::<i32>().read_unaligned(), x.cast::<i32>().read_unaligned());
                let f = _mm_cvtph_ps(halves);
                // [d₄·d₈, m₄·s₈, …]
                let prod = _mm_mul_ps(f, _mm_shuffle_ps::<0b00_00_11_10>(f, f));
                mins = _mm_add_ps(mins, prod);
                let packed = _mm_loadu_si128(x.add(4).cast());
                let lo = _mm_and_si128(packed, low);
                let hi = _mm_and_si128(_mm_srli_epi16::<4>(packed), low);
                let q4 = _mm256_set_m128i(hi, lo);
                let q8 = _mm256_loadu_si256(y.add(4).cast());
                let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(q4, q8), ones);
                acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(prod), _mm256_cvtepi32_ps(sums), acc);
            }
        }
        let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s) + _mm_cvtss_f32(_mm_shuffle_ps::<1>(mins, mins))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Module, Tensor};

    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// The kernel equals candle's `QMatMul` (the same block arithmetic) for every type it takes,
    /// for one row (generation) and many (a batch), with widths that are not multiples of the
    /// column chunks.
    #[test]
    fn quantised_products_equal_candles() {
        let dev = Device::Cpu;
        for dtype in MULTIPLIED {
            let k = 512;
            let w = Tensor::randn(0f32, 1.0, (37, k), &dev).unwrap();
            let q = Arc::new(QTensor::quantize(&w, dtype).unwrap());
            let reference = candle_core::quantized::QMatMul::from_arc(q.clone()).unwrap();
            for rows in [1, 5] {
                let x = Tensor::randn(0f32, 1.0, (rows, k), &dev).unwrap();
                let ours = x.apply_op1_no_bwd(&QuantisedMatmulOp(q.clone())).unwrap();
                let theirs = reference.forward(&x).unwrap();
                let scale = theirs.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                let d = max_diff(&ours, &theirs);
                assert!(d <= 1e-4 * scale, "{dtype:?} × {rows} rows: |Δ| {d} of {scale}");
            }
        }
    }

    #[test]
    fn parallel_dequantising_equals_candles() {
        let dev = Device::Cpu;
        for dtype in [GgmlDType::Q4_1, GgmlDType::Q8_0, GgmlDType::Q4K, GgmlDType::Q6K] {
            let w = Tensor::randn(0f32, 1.0, (9, 512), &dev).unwrap();
            let q = QTensor::quantize(&w, dtype).unwrap();
            assert_eq!(max_diff(&dequantise(&q).unwrap(), &q.dequantize(&dev).unwrap()), 0.0, "{dtype:?}");
        }
    }

    #[test]
    fn q4_1_dot_product_equals_the_scalar_one() {
        let dev = Device::Cpu;
        let k = 256;
        let w = Tensor::randn(0.3f32, 1.0, (1, k), &dev).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4_1).unwrap();
        let bytes = q.data().unwrap();
        let xs: &[BlockQ4_1] = blocks(&bytes, k / 32).unwrap();
        let x: Vec<f32> = (0..k).map(|i| ((i * 7919) % 97) as f32 / 13.0 - 3.0).collect();
        let mut ys = vec![<BlockQ4_1 as GgmlType>::VecDotType::zeros(); k / 32];
        <BlockQ4_1 as GgmlType>::VecDotType::from_float(&x, &mut ys);
        let (fast, slow) = (dot_q4_1(k, xs, &ys), BlockQ4_1::vec_dot_unopt(k, xs, &ys));
        assert!((fast - slow).abs() <= 1e-4 * slow.abs().max(1.0), "{fast} vs {slow}");
    }
}
