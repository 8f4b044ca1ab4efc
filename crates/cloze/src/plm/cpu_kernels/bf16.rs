//! Matrix products in bf16 with f32 accumulation, for `--precision bf16`.
//!
//! Both factors are rounded to bf16 (round to nearest even) while they are packed, and multiplied
//! with AVX512_BF16's `vdpbf16ps`, which adds the products of two bf16 pairs into each f32 lane:
//! twice the multiply–adds of an f32 FMA per instruction, on half the bytes. The packing follows
//! the usual GotoBLAS scheme (as in the `gemm` crate and oneDNN): the left factor in panels of
//! [`MR`] rows, the right in panels of [`NR`] columns, each stored as consecutive pairs along the
//! reduction dimension so that one 32-bit broadcast of the left and one 64-byte load of the right
//! feed a `vdpbf16ps`; a 12 × 32 tile of the result stays in 24 registers across a block of
//! [`KC_PAIRS`] pairs.
//!
//! CPUs without AVX512_BF16 (and other architectures) get the same numbers from [`emulated`]:
//! the factors rounded to bf16, then the f32 `gemm` kernel — products of two bf16 values are exact
//! in f32, so the two differ only in the order of the f32 additions. It is slower than f32, and
//! exists so that a bf16 run gives the same result on every machine, not for speed.

use rayon::prelude::*;

use super::threads;

/// Rows of the left factor per micro-tile.
pub const MR: usize = 12;
/// Columns of the right factor per micro-tile (two 16-lane registers).
pub const NR: usize = 32;
/// Reduction pairs per block: the right factor's micro-panel (128 × 32 pairs, 16 KiB) stays in L1.
const KC_PAIRS: usize = 128;
/// Row panels per block of the left factor (96 rows × 128 pairs, 48 KiB, in L2).
const MC_PANELS: usize = 8;
/// Below this many multiply–adds, packing and the thread pool cost more than they save.
const SMALL: usize = 1 << 16;

/// A strided f32 matrix: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy, Debug)]
pub struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

// SAFETY: a view is only read, and every caller keeps the data alive and unchanged for the call.
unsafe impl Send for View {}
unsafe impl Sync for View {}

impl View {
    /// A row-major `[rows, cols]` matrix.
    pub fn rows(data: &[f32], cols: usize) -> Self {
        Self { ptr: data.as_ptr(), rs: cols as isize, cs: 1 }
    }

    /// The transpose of a row-major `[rows, cols]` matrix (a `[cols, rows]` view of it).
    pub fn transposed(data: &[f32], cols: usize) -> Self {
        Self { ptr: data.as_ptr(), rs: 1, cs: cols as isize }
    }

    /// # Safety
    /// (i, j) must lie inside the matrix the view was made from.
    #[inline]
    unsafe fn at(self, i: usize, j: usize) -> f32 {
        // SAFETY: by the caller.
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

/// The bf16 bits of `x`, rounded to nearest even (NaN stays NaN), as `vcvtneps2bf16` does for
/// normal numbers.
#[inline]
pub fn bf16_bits(x: f32) -> u32 {
    let b = x.to_bits();
    if x.is_nan() {
        return (b >> 16) | 0x40;
    }
    (b + 0x7fff + ((b >> 16) & 1)) >> 16
}

/// `x` rounded to the nearest bf16 value, as an f32.
#[inline]
pub fn round_bf16(x: f32) -> f32 {
    f32::from_bits(bf16_bits(x) << 16)
}

/// Whether this CPU multiplies bf16 natively (AVX512_BF16); otherwise [`gemm`] emulates.
pub fn native() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512bf16")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C = [C +] A·B` for `A` `[m, k]` and `B` `[k, n]` (strided f32 views), `C` row-major with row
/// stride `ldc`: both factors rounded to bf16, products summed in f32.
///
/// # Safety
/// The views must cover `m × k` and `k × n` readable values, and `c` `m` rows of `ldc ≥ n`
/// writable values that alias neither.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: View,
    b: View,
) {
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if native() && m * n * k >= SMALL {
        // SAFETY: by the caller; the CPU has the instructions (checked just above).
        unsafe { native_gemm(m, n, k, c, ldc, accumulate, a, b) };
        return;
    }
    // SAFETY: by the caller.
    unsafe { emulated(m, n, k, c, ldc, accumulate, a, b) }
}

/// [`gemm`] without the instructions: the factors rounded to bf16, then the f32 kernel.
///
/// # Safety
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn emulated(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    a: View,
    b: View,
) {
    // SAFETY: by the caller, the views cover m×k and k×n values.
    let (ar, br) = unsafe { (rounded(a, m, k), rounded(b, k, n)) };
    let par = if m * n * k > SMALL { gemm::Parallelism::Rayon(threads()) } else { gemm::Parallelism::None };
    // SAFETY: `ar` is m×k, `br` k×n, both row-major; `c` by the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            ar.as_ptr(),
            1,
            k as isize,
            br.as_ptr(),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// A `[rows, cols]` view's values rounded to bf16, row-major.
///
/// # Safety
/// The view must cover `rows × cols` readable values.
unsafe fn rounded(v: View, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    out.par_chunks_mut(cols.max(1)).enumerate().for_each(|(i, row)| {
        for (j, x) in row.iter_mut().enumerate() {
            // SAFETY: i < rows, j < cols.
            *x = round_bf16(unsafe { v.at(i, j) });
        }
    });
    out
}

#[cfg(target_arch = "x86_64")]
use x86::native_gemm;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use rayon::prelude::*;

    use super::{KC_PAIRS, MC_PANELS, MR, NR, View, bf16_bits};

    /// Packs a matrix `M` (reduction index r < k, free index f < nf; element at
    /// `ptr + r·r_stride + f·f_stride`) into panels of `width` free indices:
    /// `out[panel][pair][f] = bf16(M[2p][f]) | bf16(M[2p+1][f]) << 16`, zero past the edges.
    fn pack(
        out: &mut [u32],
        ptr: *const f32,
        r_stride: isize,
        f_stride: isize,
        k: usize,
        nf: usize,
        width: usize,
    ) {
        let pairs = k.div_ceil(2);
        let whole = View { ptr, rs: r_stride, cs: f_stride };
        out.par_chunks_mut(pairs * width).enumerate().for_each(|(panel, dst)| {
            let v = whole;
            let f0 = panel * width;
            let fw = width.min(nf.saturating_sub(f0));
            // SAFETY: every read is at r < k, f0 + f < nf, inside the matrix; the CPU has
            // AVX512_BF16 (the only caller checked).
            unsafe {
                if v.cs == 1 {
                    pack_free_contiguous(dst, v, k, f0, fw, width);
                } else if v.rs == 1 {
                    pack_reduction_contiguous(dst, v, k, f0, fw, width);
                } else {
                    for p in 0..pairs {
                        for f in 0..width {
                            dst[p * width + f] = if f < fw {
                                let lo = bf16_bits(v.at(2 * p, f0 + f));
                                let hi = if 2 * p + 1 < k { bf16_bits(v.at(2 * p + 1, f0 + f)) } else { 0 };
                                lo | (hi << 16)
                            } else {
                                0
                            };
                        }
                    }
                }
            }
        });
    }

    /// Free index contiguous: rows 2p and 2p+1, 16 free indices per vector, interleaved.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack_free_contiguous(dst: &mut [u32], v: View, k: usize, f0: usize, fw: usize, width: usize) {
        let pairs = k.div_ceil(2);
        for p in 0..pairs {
            // SAFETY (whole body): reads are masked to the fw valid free indices of rows < k;
            // stores to the width × pairs panel.
            unsafe {
                let r0 = v.ptr.offset((2 * p) as isize * v.rs + f0 as isize);
                let r1 = v.ptr.offset((2 * p + 1) as isize * v.rs + f0 as isize);
                let mut c = 0;
                while c < width {
                    let lanes = (width - c).min(16);
                    let valid = fw.saturating_sub(c).min(lanes);
                    let load = ((1u32 << valid) - 1) as __mmask16;
                    let store = ((1u32 << lanes) - 1) as __mmask16;
                    let lo = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(load, r0.add(c)));
                    let hi = match 2 * p + 1 < k {
                        true => _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(load, r1.add(c))),
                        false => std::mem::transmute::<__m256i, __m256bh>(_mm256_setzero_si256()),
                    };
                    let lo32 = _mm512_cvtepu16_epi32(std::mem::transmute::<__m256bh, __m256i>(lo));
                    let hi32 = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(std::mem::transmute::<
                        __m256bh,
                        __m256i,
                    >(hi)));
                    _mm512_mask_storeu_epi32(
                        dst.as_mut_ptr().add(p * width + c) as *mut i32,
                        store,
                        _mm512_or_si512(lo32, hi32),
                    );
                    c += lanes;
                }
            }
        }
    }

    /// Reduction index contiguous: 32 values of one free index convert to 16 ready pairs, stored
    /// with the panel's stride.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn pack_reduction_contiguous(
        dst: &mut [u32],
        v: View,
        k: usize,
        f0: usize,
        fw: usize,
        width: usize,
    ) {
        let pairs = k.div_ceil(2);
        let mut tmp = [0u32; 16];
        for f in 0..width {
            if f >= fw {
                for p in 0..pairs {
                    dst[p * width + f] = 0;
                }
                continue;
            }
            // SAFETY (whole block): reads at r < k of free index f0 + f < nf; stores inside the
            // panel.
            unsafe {
                let col = v.ptr.offset((f0 + f) as isize * v.cs);
                let mut p = 0;
                while 2 * p + 32 <= k {
                    let a = _mm512_loadu_ps(col.add(2 * p));
                    let b = _mm512_loadu_ps(col.add(2 * p + 16));
                    let pairs16 = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(b, a));
                    _mm512_storeu_si512(tmp.as_mut_ptr() as *mut __m512i, pairs16);
                    for (t, &x) in tmp.iter().enumerate() {
                        *dst.get_unchecked_mut((p + t) * width + f) = x;
                    }
                    p += 16;
                }
                while p < pairs {
                    let lo = bf16_bits(*col.add(2 * p));
                    let hi = if 2 * p + 1 < k { bf16_bits(*col.add(2 * p + 1)) } else { 0 };
                    dst[p * width + f] = lo | (hi << 16);
                    p += 1;
                }
            }
        }
    }

    /// One MR × NR tile of C over `pairs` reduction pairs: `a` an MR-row panel, `b` an NR-column
    /// panel (both packed), C loaded first when `load`, else started at zero.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn kernel(pairs: usize, a: *const u32, b: *const u32, c: *mut f32, ldc: usize, load: bool) {
        // SAFETY (whole body): a holds pairs × MR and b pairs × NR packed values; c an MR × NR
        // tile with row stride ldc.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            if load {
                for (i, row) in acc.iter_mut().enumerate() {
                    row[0] = _mm512_loadu_ps(c.add(i * ldc));
                    row[1] = _mm512_loadu_ps(c.add(i * ldc + 16));
                }
            }
            let (mut a, mut b) = (a, b);
            for _ in 0..pairs {
                let b0 = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b as *const __m512i));
                let b1 =
                    std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(b.add(16) as *const __m512i));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*a.add(i) as i32));
                    row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
                    row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
                }
                a = a.add(MR);
                b = b.add(NR);
            }
            for (i, row) in acc.iter().enumerate() {
                _mm512_storeu_ps(c.add(i * ldc), row[0]);
                _mm512_storeu_ps(c.add(i * ldc + 16), row[1]);
            }
        }
    }

    #[derive(Clone, Copy)]
    struct Out(*mut f32);
    // SAFETY: every task writes its own tiles of C.
    unsafe impl Send for Out {}
    unsafe impl Sync for Out {}

    impl Out {
        /// (A method, so that a closure captures the whole `Out`, not its raw pointer.)
        fn ptr(self) -> *mut f32 {
            self.0
        }
    }

    /// [`super::gemm`] on AVX512_BF16.
    ///
    /// # Safety
    /// As [`super::gemm`], on a CPU with AVX512F, AVX512BW and AVX512_BF16.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn native_gemm(
        m: usize,
        n: usize,
        k: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
        a: View,
        b: View,
    ) {
        let pairs = k.div_ceil(2);
        let (m_panels, n_panels) = (m.div_ceil(MR), n.div_ceil(NR));
        let mut ap = vec![0u32; m_panels * MR * pairs];
        let mut bp = vec![0u32; n_panels * NR * pairs];
        // A's free index is its row (stride rs), B's its column (stride cs).
        pack(&mut ap, a.ptr, a.cs, a.rs, k, m, MR);
        pack(&mut bp, b.ptr, b.rs, b.cs, k, n, NR);
        let (ap, bp) = (&ap, &bp);
        let out = Out(c);
        let blocks = m_panels.div_ceil(MC_PANELS);
        // Row blocks, split by column too when there are few (both threads need work).
        let groups = if blocks >= 2 * super::threads() { 1 } else { n_panels.min(4) };
        let tasks: Vec<(usize, usize)> = (0..blocks).flat_map(|r| (0..groups).map(move |g| (r, g))).collect();
        tasks.par_iter().for_each(|&(block, group)| {
            let c = out.ptr();
            let (q_lo, q_hi) = (group * n_panels / groups, (group + 1) * n_panels / groups);
            let (p_lo, p_hi) = (block * MC_PANELS, ((block + 1) * MC_PANELS).min(m_panels));
            let mut tile = [0f32; MR * NR];
            let mut p0 = 0;
            while p0 < pairs {
                let pc = KC_PAIRS.min(pairs - p0);
                let load = accumulate || p0 > 0;
                for q in q_lo..q_hi {
                    let (j0, nw) = (q * NR, NR.min(n - q * NR));
                    // SAFETY: panel q, pairs p0.. of the packed B; panel p of the packed A; tile
                    // (i0, j0) of C, of mh × nw values inside it.
                    unsafe {
                        let bq = bp.as_ptr().add(q * NR * pairs + p0 * NR);
                        for p in p_lo..p_hi {
                            let ap = ap.as_ptr().add(p * MR * pairs + p0 * MR);
                            let (i0, mh) = (p * MR, MR.min(m - p * MR));
                            let ct = c.add(i0 * ldc + j0);
                            if mh == MR && nw == NR {
                                kernel(pc, ap, bq, ct, ldc, load);
                                continue;
                            }
                            if load {
                                for i in 0..mh {
                                    std::ptr::copy_nonoverlapping(
                                        ct.add(i * ldc),
                                        tile.as_mut_ptr().add(i * NR),
                                        nw,
                                    );
                                }
                            }
                            kernel(pc, ap, bq, tile.as_mut_ptr(), NR, load);
                            for i in 0..mh {
                                std::ptr::copy_nonoverlapping(tile.as_ptr().add(i * NR), ct.add(i * ldc), nw);
                            }
                        }
                    }
                }
                p0 += pc;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect()
    }

    /// The exact product of the bf16-rounded factors, in f64.
    fn reference(m: usize, n: usize, k: usize, a: View, b: View, c0: Option<&[f32]>) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = c0.map_or(0.0, |c| c[i * n + j] as f64);
                for r in 0..k {
                    // SAFETY: inside the matrices.
                    let (x, y) = unsafe { (a.at(i, r), b.at(r, j)) };
                    s += round_bf16(x) as f64 * round_bf16(y) as f64;
                }
                out[i * n + j] = s;
            }
        }
        out
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        let cases: [(f32, f32); 6] = [
            (1.0, 1.0),
            (f32::from_bits(0x3f80_8000), 1.0), // halfway, even below
            (f32::from_bits(0x3f81_8000), f32::from_bits(0x3f82_0000)), // halfway, odd below: up
            (f32::from_bits(0x3f80_8001), f32::from_bits(0x3f81_0000)), // past halfway: up
            (-2.5, -2.5),
            (f32::INFINITY, f32::INFINITY),
        ];
        for (x, want) in cases {
            assert_eq!(round_bf16(x), want, "{x:e}");
        }
        assert!(round_bf16(f32::NAN).is_nan());
    }

    /// Every layout a linear layer uses (x·Wᵀ, g·W, gᵀ·x), edges that fill no tile, an odd
    /// reduction, accumulation onto C: the native kernel and the emulation both equal the exact
    /// product of the rounded factors up to f32 summation.
    #[test]
    fn products_equal_the_rounded_reference() {
        let shapes = [(37, 45, 33), (12, 32, 2), (100, 70, 256), (130, 96, 301), (1, 64, 7)];
        for (case, &(m, n, k)) in shapes.iter().enumerate() {
            let a = random(m * k, 1 + case as u64);
            let b = random(k * n, 100 + case as u64);
            let c0 = random(m * n, 200 + case as u64);
            let layouts = [
                ("a·b", View::rows(&a, k), View::rows(&b, n)),
                ("a·bᵀ", View::rows(&a, k), View::transposed(&b, k)),
                ("aᵀ·b", View::transposed(&a, m), View::rows(&b, n)),
            ];
            for (name, av, bv) in layouts {
                for accumulate in [false, true] {
                    let want = reference(m, n, k, av, bv, accumulate.then_some(c0.as_slice()));
                    let tol = 1e-5 * (k as f64).sqrt() + 1e-6;
                    for (kind, native_kernel) in [("native", true), ("emulated", false)] {
                        if native_kernel && !native() {
                            continue;
                        }
                        let mut c = c0.clone();
                        // SAFETY: the views cover the m×k and k×n data, c is m×n.
                        unsafe {
                            match native_kernel {
                                #[cfg(target_arch = "x86_64")]
                                true => native_gemm(m, n, k, c.as_mut_ptr(), n, accumulate, av, bv),
                                _ => emulated(m, n, k, c.as_mut_ptr(), n, accumulate, av, bv),
                            }
                        }
                        let err = c.iter().zip(&want).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max);
                        assert!(
                            err < tol,
                            "{kind} {name} {m}×{n}×{k} accumulate={accumulate}: error {err:e}"
                        );
                    }
                }
            }
        }
    }
}
