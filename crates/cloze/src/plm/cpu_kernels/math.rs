//! f32 approximations of `exp` and `erf` that vectorise, and the activations (and their
//! derivatives) the kernels apply element by element.

use rayon::prelude::*;

use super::super::layers::Activation;
use super::simd::{self, multiversion};

/// `eˣ` in f32, branch-free so that loops over slices vectorise: Cody–Waite range reduction and
/// Cephes' degree-6 polynomial; relative error below 2e-7 on the whole f32 range. It never returns
/// inf or a subnormal: inputs above 88.3 are clamped, and below -87.3 the result is exactly 0 —
/// a softmax's masked scores (-1e30) must give zeros, since the subnormals the clamped value
/// becomes once divided by the row's sum make every later multiply of them (the probabilities ·
/// values product) dozens of times slower on x86.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer
    let underflow = x < -87.3;
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
    let e = y * f32::from_bits(((n as i32 + 127) as u32) << 23);
    if underflow { 0.0 } else { e }
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
pub(super) fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
pub(super) fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    let u = C * (x + 0.044715 * x * x * x);
    // tanh(u) = 1 - 2 / (e^{2u} + 1)
    0.5 * x * (2.0 - 2.0 / (exp_f32(2.0 * u) + 1.0))
}

#[inline(always)]
pub(super) fn silu(x: f32) -> f32 {
    x / (1.0 + exp_f32(-x))
}

pub(super) fn activate(out: &mut [f32], act: Activation) {
    out.par_chunks_mut(1 << 14).for_each(|c| activate_chunk(c, act));
}

multiversion! {
    /// One loop per activation, so each inlines and vectorises.
    fn activate_chunk(c: &mut [f32], act: Activation) {
        // Plain `for` loops: an iterator's `for_each` may stay a call to a generic `fold`
        // compiled without the version's vector extension.
        match act {
            Activation::Gelu => {
                for x in c.iter_mut() {
                    *x = gelu_erf(*x);
                }
            }
            Activation::GeluTanh => {
                for x in c.iter_mut() {
                    *x = gelu_tanh(*x);
                }
            }
            Activation::Relu => {
                for x in c.iter_mut() {
                    *x = x.max(0.0);
                }
            }
            Activation::Silu => {
                for x in c.iter_mut() {
                    *x = silu(*x);
                }
            }
        }
    }
}

multiversion! {
    /// `grad · act'(x)` element by element.
    pub(super) fn activation_grad_chunk(out: &mut [f32], x: &[f32], grad: &[f32], act: Activation) {
        match act {
            Activation::Gelu => {
                for ((o, &x), &g) in out.iter_mut().zip(x).zip(grad) {
                    *o = g * gelu_erf_grad(x);
                }
            }
            Activation::GeluTanh => {
                for ((o, &x), &g) in out.iter_mut().zip(x).zip(grad) {
                    *o = g * gelu_tanh_grad(x);
                }
            }
            Activation::Relu => {
                for ((o, &x), &g) in out.iter_mut().zip(x).zip(grad) {
                    *o = if x > 0.0 { g } else { 0.0 };
                }
            }
            Activation::Silu => {
                for ((o, &x), &g) in out.iter_mut().zip(x).zip(grad) {
                    *o = g * silu_grad(x);
                }
            }
        }
    }
}

multiversion! {
    /// The softmax's backward pass in place, row by row: `g ← p · (g − Σ g·p)` for the gradient
    /// rows `g` of probability rows `p`, each `width` long.
    pub(super) fn softmax_bwd_rows(g: &mut [f32], p: &[f32], width: usize) {
        let w = width.max(1);
        for (g, p) in g.chunks_mut(w).zip(p.chunks(w)) {
            let dot = simd::dot(g, p);
            for (g, &p) in g.iter_mut().zip(p) {
                *g = p * (*g - dot);
            }
        }
    }
}

multiversion! {
    /// Each `width`-long row of `rows` turned into its softmax in place: `exp(x − max) / Σ`.
    pub(super) fn softmax_rows(rows: &mut [f32], width: usize) {
        for row in rows.chunks_mut(width.max(1)) {
            let max = simd::max(row);
            for x in row.iter_mut() {
                *x = exp_f32(*x - max);
            }
            let inv = 1.0 / simd::sum(row);
            for x in row.iter_mut() {
                *x *= inv;
            }
        }
    }
}

/// `Φ(x) + x·φ(x)`: the derivative of exact GELU.
#[inline(always)]
pub(super) fn gelu_erf_grad(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + erf_f32(x * std::f32::consts::FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * exp_f32(-0.5 * x * x)
}

/// `σ(x) · (1 + x · (1 − σ(x)))`: the derivative of SiLU.
#[inline(always)]
pub(super) fn silu_grad(x: f32) -> f32 {
    let s = 1.0 / (1.0 + exp_f32(-x));
    s * (1.0 + x * (1.0 - s))
}

/// The derivative of the tanh approximation of GELU.
#[inline(always)]
pub(super) fn gelu_tanh_grad(x: f32) -> f32 {
    const C: f32 = 0.797_884_6;
    let u = C * (x + 0.044715 * x * x * x);
    let t = 1.0 - 2.0 / (exp_f32(2.0 * u) + 1.0);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044715 * x * x)
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
        assert_eq!(exp_f32(-1000.0), 0.0, "an underflow is exactly 0, never a subnormal");
        assert_eq!(exp_f32(-1e30), 0.0);
        assert!(exp_f32(-87.0).is_normal());
        assert!(exp_f32(1000.0).is_finite());
    }

    type Reference = fn(f64) -> f64;

    /// Each activation's definition in f64.
    fn references() -> [(Activation, Reference); 4] {
        [
            (Activation::Gelu, |x| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))),
            (Activation::GeluTanh, |x| {
                0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            }),
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Silu, |x| x / (1.0 + (-x).exp())),
        ]
    }

    /// Each derivative against a central difference of its activation in f64.
    #[test]
    fn activation_gradients_match_finite_differences() {
        let cases = references();
        // Away from 0, where ReLU has no derivative.
        let xs: Vec<f32> = (-800..800).filter(|i| i % 100 != 0).map(|i| i as f32 * 0.01 + 0.005).collect();
        let ones = vec![1f32; xs.len()];
        for (act, f) in cases {
            let mut got = vec![0f32; xs.len()];
            activation_grad_chunk(&mut got, &xs, &ones, act);
            for (&x, &g) in xs.iter().zip(&got) {
                let (x, h) = (x as f64, 1e-5);
                let want = (f(x + h) - f(x - h)) / (2.0 * h);
                assert!((g as f64 - want).abs() < 1e-5, "{act:?}'({x}) = {g}, want {want}");
            }
        }
    }

    #[test]
    fn activations_match_their_definitions() {
        let cases = references();
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
