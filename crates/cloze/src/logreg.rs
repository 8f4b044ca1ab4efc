//! Multinomial logistic regression with an L2 penalty, fitted exactly (to the optimum of a convex
//! objective, by L-BFGS in f64), for the small problems the engine meets outside the networks: a
//! template ensemble's learned weighting (features: each member's class log-probabilities) and any
//! fit on soft targets (a teacher's class probabilities instead of one-hot labels).
//!
//! The objective, over rows `i`, classes `c` and targets `t` (each row's a distribution):
//! `L(W, b) = −(1/n) Σᵢ Σ_c t_ic · log softmax(W xᵢ + b)_c + (λ/2) ‖W‖²` — the bias is not
//! penalised, as scikit-learn's `LogisticRegression(C = 1/(nλ))` does. L-BFGS (Nocedal & Wright,
//! algorithm 7.4/7.5) with a backtracking Armijo line search; stops when the gradient's largest
//! entry is below `1e-7`, or after [`MAX_ITERATIONS`].

use crate::error::{Error, Result};

/// L-BFGS iterations at most.
pub const MAX_ITERATIONS: usize = 1000;
/// Pairs of updates L-BFGS remembers.
const MEMORY: usize = 10;
/// The gradient's largest entry at which the fit stops.
const TOLERANCE: f64 = 1e-7;

/// A fitted model: `weights[c][d]`, `bias[c]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogisticRegression {
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    /// The penalty it was fitted with.
    pub l2: f64,
}

/// One-hot targets for class indices.
pub fn one_hot(labels: &[usize], classes: usize) -> Vec<Vec<f64>> {
    labels.iter().map(|&l| (0..classes).map(|c| f64::from(u8::from(c == l))).collect()).collect()
}

/// `log softmax(z)` computed stably.
fn log_softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
    z.iter().map(|v| v - lse).collect()
}

impl LogisticRegression {
    /// Checks a model read from a file: shapes agree with `classes` × `dims`, every value finite.
    pub fn check(&self, classes: usize, dims: usize) -> Result<()> {
        if self.bias.len() != classes
            || self.weights.len() != classes
            || self.weights.iter().any(|w| w.len() != dims)
        {
            return Err(Error::invalid(format!(
                "the logistic regression has {} × {} weights and {} biases; {classes} × {dims} and {classes} expected",
                self.weights.len(),
                self.weights.first().map_or(0, Vec::len),
                self.bias.len()
            )));
        }
        if self.weights.iter().flatten().chain(&self.bias).any(|v| !v.is_finite()) || !self.l2.is_finite() {
            return Err(Error::invalid("the logistic regression holds a value that is not a finite number"));
        }
        Ok(())
    }

    /// Class log-probabilities of one row.
    pub fn log_probs(&self, x: &[f64]) -> Vec<f64> {
        let z: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| b + w.iter().zip(x).map(|(w, x)| w * x).sum::<f64>())
            .collect();
        log_softmax(&z)
    }

    /// Class probabilities of one row.
    pub fn probs(&self, x: &[f64]) -> Vec<f64> {
        self.log_probs(x).into_iter().map(f64::exp).collect()
    }

    /// Fits on rows `x` (all of one length) and `targets` (one distribution over the classes per
    /// row) with penalty `l2 ≥ 0`.
    pub fn fit(x: &[Vec<f64>], targets: &[Vec<f64>], l2: f64) -> Result<Self> {
        let n = x.len();
        if n == 0 || targets.len() != n {
            return Err(Error::invalid(format!(
                "a logistic regression needs rows and one target per row ({n} rows, {} targets)",
                targets.len()
            )));
        }
        let d = x[0].len();
        let c = targets[0].len();
        if c < 2 || targets.iter().any(|t| t.len() != c) || x.iter().any(|r| r.len() != d) {
            return Err(Error::invalid(
                "a logistic regression needs rows of one length and targets over ≥ 2 classes",
            ));
        }
        if !(l2.is_finite() && l2 >= 0.0)
            || x.iter().flatten().chain(targets.iter().flatten()).any(|v| !v.is_finite())
        {
            return Err(Error::invalid("a logistic regression's inputs must be finite numbers"));
        }
        let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
            grad.iter_mut().for_each(|g| *g = 0.0);
            let mut loss = 0.0;
            let (w, b) = theta.split_at(c * d);
            let mut z = vec![0.0; c];
            for (row, t) in x.iter().zip(targets) {
                for k in 0..c {
                    z[k] = b[k] + w[k * d..(k + 1) * d].iter().zip(row).map(|(w, x)| w * x).sum::<f64>();
                }
                let lp = log_softmax(&z);
                let mass: f64 = t.iter().sum();
                for k in 0..c {
                    loss -= t[k] * lp[k];
                    // d/dz_k of −Σ t log softmax = mass · p_k − t_k.
                    let e = (mass * lp[k].exp() - t[k]) / n as f64;
                    grad[c * d + k] += e;
                    for (g, xv) in grad[k * d..(k + 1) * d].iter_mut().zip(row) {
                        *g += e * xv;
                    }
                }
            }
            loss /= n as f64;
            for (g, w) in grad[..c * d].iter_mut().zip(w) {
                *g += l2 * w;
                loss += 0.5 * l2 * w * w;
            }
            loss
        };
        let theta = lbfgs(vec![0.0; c * d + c], objective);
        let (w, b) = theta.split_at(c * d);
        Ok(Self { weights: (0..c).map(|k| w[k * d..(k + 1) * d].to_vec()).collect(), bias: b.to_vec(), l2 })
    }
}

/// Minimises `f` from `theta` (L-BFGS, backtracking Armijo line search); `f` returns the value and
/// writes the gradient.
fn lbfgs(mut theta: Vec<f64>, mut f: impl FnMut(&[f64], &mut [f64]) -> f64) -> Vec<f64> {
    let m = theta.len();
    let mut grad = vec![0.0; m];
    let mut value = f(&theta, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let mut next = vec![0.0; m];
    let mut next_grad = vec![0.0; m];
    for _ in 0..MAX_ITERATIONS {
        if grad.iter().all(|g| g.abs() < TOLERANCE) {
            break;
        }
        // Two-loop recursion: direction = −H·grad.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            axpy(-a, y, &mut q);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            axpy(a - b, s, &mut q);
        }
        let mut direction: Vec<f64> = q.into_iter().map(|v| -v).collect();
        let mut slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (curvature lost to rounding): steepest descent, fresh memory.
            history.clear();
            direction = grad.iter().map(|g| -g).collect();
            slope = dot(&grad, &direction);
        }
        let mut step = if history.is_empty() { 1.0 / norm(&grad).max(1.0) } else { 1.0 };
        let mut accepted = false;
        for _ in 0..60 {
            for ((n, t), d) in next.iter_mut().zip(&theta).zip(&direction) {
                *n = t + step * d;
            }
            let v = f(&next, &mut next_grad);
            if v.is_finite() && v <= value + 1e-4 * step * slope {
                accepted = true;
                let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
                let y: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &y);
                if sy > 1e-12 {
                    if history.len() == MEMORY {
                        history.pop_front();
                    }
                    history.push_back((s, y, 1.0 / sy));
                }
                std::mem::swap(&mut theta, &mut next);
                std::mem::swap(&mut grad, &mut next_grad);
                value = v;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    theta
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// The penalties [`cross_validated`] tries, strongest last.
pub const L2_GRID: [f64; 6] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0];

/// What cross-validation found: per penalty of the grid, the held-out accuracy and mean
/// log-loss; the chosen penalty (the lowest log-loss, the stronger penalty on a tie).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossValidation {
    pub folds: usize,
    pub grid: Vec<CvPoint>,
    pub chosen: f64,
    /// Each row's held-out class probabilities under the chosen penalty.
    #[serde(skip)]
    pub out_of_fold: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CvPoint {
    pub l2: f64,
    pub accuracy: f64,
    pub log_loss: f64,
}

/// Chooses the penalty from `grid` by `k`-fold cross-validation on `x` and class indices `labels`
/// (`fold[i]` is row i's fold, e.g. [`crate::data::stratified_folds`]), then fits on every row.
pub fn cross_validated(
    x: &[Vec<f64>],
    labels: &[usize],
    classes: usize,
    fold: &[usize],
    grid: &[f64],
) -> Result<(LogisticRegression, CrossValidation)> {
    let k = fold.iter().copied().max().map_or(0, |m| m + 1);
    if k < 2 || fold.len() != x.len() || labels.len() != x.len() || grid.is_empty() {
        return Err(Error::invalid(
            "cross-validation needs at least 2 folds, one per row, and a grid of penalties",
        ));
    }
    let targets = one_hot(labels, classes);
    let mut points = Vec::with_capacity(grid.len());
    let mut best: Option<(f64, Vec<Vec<f64>>)> = None;
    for &l2 in grid {
        let mut oof = vec![Vec::new(); x.len()];
        for f in 0..k {
            let (train, test): (Vec<usize>, Vec<usize>) = (0..x.len()).partition(|&i| fold[i] != f);
            if test.is_empty() || train.is_empty() {
                continue;
            }
            let xs: Vec<Vec<f64>> = train.iter().map(|&i| x[i].clone()).collect();
            let ts: Vec<Vec<f64>> = train.iter().map(|&i| targets[i].clone()).collect();
            let model = LogisticRegression::fit(&xs, &ts, l2)?;
            for i in test {
                oof[i] = model.probs(&x[i]);
            }
        }
        let scored: Vec<usize> = (0..x.len()).filter(|&i| !oof[i].is_empty()).collect();
        let hits = scored.iter().filter(|&&i| argmax(&oof[i]) == labels[i]).count();
        let log_loss = scored.iter().map(|&i| -oof[i][labels[i]].max(1e-300).ln()).sum::<f64>()
            / scored.len().max(1) as f64;
        let point = CvPoint { l2, accuracy: hits as f64 / scored.len().max(1) as f64, log_loss };
        if best.as_ref().is_none_or(|(b, _)| {
            let bp = points.iter().find(|p: &&CvPoint| p.l2 == *b).expect("best is a point");
            log_loss < bp.log_loss - 1e-12 || (log_loss <= bp.log_loss + 1e-12 && l2 > *b)
        }) {
            best = Some((l2, oof));
        }
        points.push(point);
    }
    let (chosen, out_of_fold) = best.expect("the grid is not empty");
    let model = LogisticRegression::fit(x, &targets, chosen)?;
    Ok((model, CrossValidation { folds: k, grid: points, chosen, out_of_fold }))
}

/// The index of the largest value; the first on a tie.
pub fn argmax(xs: &[f64]) -> usize {
    xs.iter().enumerate().fold(0, |best, (i, v)| if *v > xs[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One feature, two classes, no penalty: the fit's probabilities reproduce each x's class
    /// frequency (the optimum of the log-loss when every x value has its own logit). Rows: x = 0
    /// three times with class 1 once (p = 1/3), x = 1 four times with class 1 three times (p = 3/4):
    /// logit(1/3) = −ln 2 = b, logit(3/4) = ln 3 = w + b.
    #[test]
    fn unpenalised_fit_matches_the_frequencies() {
        let x: Vec<Vec<f64>> = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0].iter().map(|&v| vec![v]).collect();
        let labels = [1, 0, 0, 1, 1, 1, 0];
        let m = LogisticRegression::fit(&x, &one_hot(&labels, 2), 0.0).unwrap();
        let (w, b) = (m.weights[1][0] - m.weights[0][0], m.bias[1] - m.bias[0]);
        assert!((b + 2f64.ln()).abs() < 1e-5, "{b}");
        assert!((w + b - 3f64.ln()).abs() < 1e-5, "{w} {b}");
        assert!((m.probs(&[0.0])[1] - 1.0 / 3.0).abs() < 1e-6);
    }

    /// With the penalty, the gradient of the objective vanishes at the fit: Σ (p − t) x / n + λw = 0.
    #[test]
    fn penalised_fit_is_stationary_and_soft_targets_work() {
        let x = vec![vec![1.0, 2.0], vec![-1.0, 0.5], vec![0.3, -2.0], vec![2.0, 1.0]];
        let t = vec![vec![0.9, 0.1, 0.0], vec![0.2, 0.5, 0.3], vec![0.0, 0.0, 1.0], vec![0.6, 0.4, 0.0]];
        let l2 = 0.1;
        let m = LogisticRegression::fit(&x, &t, l2).unwrap();
        for c in 0..3 {
            for d in 0..2 {
                let g: f64 = x.iter().zip(&t).map(|(r, t)| (m.probs(r)[c] - t[c]) * r[d]).sum::<f64>() / 4.0
                    + l2 * m.weights[c][d];
                assert!(g.abs() < 1e-6, "class {c} feature {d}: {g}");
            }
            let gb: f64 = x.iter().zip(&t).map(|(r, t)| m.probs(r)[c] - t[c]).sum::<f64>() / 4.0;
            assert!(gb.abs() < 1e-6);
        }
    }

    #[test]
    fn bad_inputs_are_refused() {
        type Case = (Vec<Vec<f64>>, Vec<Vec<f64>>, f64);
        let cases: [Case; 4] = [
            (vec![], vec![], 0.0),
            (vec![vec![1.0]], vec![vec![1.0]], 0.0),
            (vec![vec![f64::NAN]], vec![vec![1.0, 0.0]], 0.0),
            (vec![vec![1.0]], vec![vec![1.0, 0.0]], -1.0),
        ];
        for (x, t, l2) in cases {
            assert!(LogisticRegression::fit(&x, &t, l2).is_err(), "{x:?} {t:?} {l2}");
        }
        let m = LogisticRegression { weights: vec![vec![0.0]; 2], bias: vec![0.0; 2], l2: 0.0 };
        assert!(m.check(2, 1).is_ok() && m.check(3, 1).is_err() && m.check(2, 2).is_err());
    }

    #[test]
    fn cross_validation_prefers_the_penalty_with_the_lowest_held_out_loss() {
        // Separable data: a weak penalty wins; the chosen penalty is one of the grid's.
        let x: Vec<Vec<f64>> =
            (0..20).map(|i| vec![if i % 2 == 0 { -1.0 } else { 1.0 } + i as f64 * 0.01]).collect();
        let labels: Vec<usize> = (0..20).map(|i| i % 2).collect();
        let fold: Vec<usize> = (0..20).map(|i| (i / 2) % 4).collect();
        let (m, cv) = cross_validated(&x, &labels, 2, &fold, &L2_GRID).unwrap();
        assert_eq!(cv.grid.len(), L2_GRID.len());
        assert_eq!(cv.chosen, 1e-4);
        assert!(cv.grid.iter().all(|p| p.accuracy == 1.0));
        assert_eq!(argmax(&m.probs(&[2.0])), 1);
        assert_eq!(cv.out_of_fold.len(), 20);
    }
}
