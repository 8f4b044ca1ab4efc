//! The element-wise loops of the kernels compiled for the vector extensions the CPU has.
//!
//! The build targets baseline x86-64 (SSE2), so a plain loop vectorises four lanes wide. The
//! [`multiversion!`] macro compiles one loop body three times, for AVX-512, for AVX2 with FMA and
//! for the baseline, and picks at run time (the gemm crate does the same for its matrix
//! products). Rust never fuses `a * b + c` into an FMA by itself, so the three versions round
//! identically: results do not depend on the machine. Sums are taken over [`LANES`] interleaved
//! accumulators in a fixed order ([`sum`], [`dot`]), so they vectorise and still give the same
//! value on every CPU.

use std::sync::OnceLock;

/// The vector extension the element-wise loops run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// AVX-512F (with AVX2 and FMA).
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// What every x86-64 CPU has, or another architecture.
    Baseline,
}

/// The level of this CPU, detected once.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let v3 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            if v3 && std::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if v3 {
                return Level::Avx2;
            }
        }
        Level::Baseline
    })
}

/// Defines `fn name(args) -> ret` whose body is compiled for AVX-512, for AVX2 + FMA and for the
/// baseline, the version picked by [`level`] at each call. Call it on a chunk of work (a block of
/// rows, a slice of elements), not per element.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match $crate::plm::cpu_kernels::simd::level() {
                    // SAFETY: the level was detected on this CPU.
                    $crate::plm::cpu_kernels::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::plm::cpu_kernels::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::plm::cpu_kernels::simd::Level::Baseline => {}
                }
            }
            body($($arg),*)
        }
    };
}
pub(super) use multiversion;

/// Interleaved accumulators of [`sum`] and [`dot`]: one AVX-512 register of f32.
pub const LANES: usize = 16;

/// `Σ x`, accumulated in [`LANES`] lanes then added lane by lane (inlined into the caller's
/// version).
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += v;
    }
    acc.iter().sum()
}

/// `Σ a·b` over the shorter length, in [`LANES`] lanes.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(ca.remainder()).zip(cb.remainder()) {
        *s += x * y;
    }
    acc.iter().sum()
}

/// The largest value (−∞ for none), in [`LANES`] lanes.
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a = if v > *a { v } else { *a };
    }
    let mut m = f32::NEG_INFINITY;
    for &a in &acc {
        m = m.max(a);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    multiversion! {
        fn sum_squares_plus(x: &[f32], add: f32) -> f32 {
            let mut acc = 0f32;
            for &v in x {
                acc += v * v;
            }
            acc + add
        }
    }

    #[test]
    fn reductions_table() {
        let long: Vec<f32> = (0..37).map(|i| i as f32 - 18.0).collect();
        let cases: [(&[f32], f32, f32, f32); 4] = [
            (&[], 0.0, 0.0, f32::NEG_INFINITY),
            (&[2.0], 2.0, 4.0, 2.0),
            (&[1.0; 17], 17.0, 17.0, 1.0),
            (&long, -18.0 * 37.0 + 666.0, long.iter().map(|x| x * x).sum(), 18.0),
        ];
        for (x, s, d, m) in cases {
            assert_eq!(sum(x), s, "sum {x:?}");
            assert_eq!(dot(x, x), d, "dot {x:?}");
            assert_eq!(max(x), m, "max {x:?}");
        }
        // Unequal lengths: the shorter one counts.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }

    /// Every version gives the baseline's bits: no fused multiply-adds are formed.
    #[test]
    fn versions_agree_bit_for_bit() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        let dispatched = sum_squares_plus(&x, 0.25);
        let mut plain = 0f32;
        for &v in &x {
            plain += v * v;
        }
        assert_eq!(dispatched.to_bits(), (plain + 0.25).to_bits());
        let _ = level();
    }
}
