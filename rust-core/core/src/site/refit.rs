//! Refitting class boundaries on a pack's embeddings from a few reviewed cells.
//!
//! Among the reviewed labels S the model is `q = softmax((u + W e + b) / T)`:
//! `u` the pack's own calibrated logits for S, `e` the embedding, and the
//! correction `(W, b)` fitted by minimising the mean cross-entropy plus
//! `penalty / 2 * (|W|^2 + |b|^2)`, so with no evidence it stays the pack.
//! With far fewer cells than embedding features, `W` stays in the span of the
//! cells' embeddings (`W = A^T E`), so plain gradient descent on `W` is run as
//! the same steps on `A` over the n x n Gram matrix: identical iterates,
//! hundreds of times cheaper. Fixed iteration counts and summation orders make
//! the result bitwise reproducible everywhere.
use super::Refit;
use crate::probs::softmax;

/// Nesterov steps per fit.
const ITERATIONS: usize = 400;
/// Penalties tried by the cross-validation.
const PENALTIES: [f64; 5] = [1e-3, 1e-2, 1e-1, 1.0, 10.0];
/// Fewer reviewed cells than this: no cross-validation, [`DEFAULT_PENALTY`]
/// and the pack's temperature.
pub(crate) const MIN_CV: usize = 10;
const DEFAULT_PENALTY: f64 = 1.0;
const FOLDS: usize = 5;

/// One reviewed cell: its embedding, the pack's calibrated logits for the
/// refitted labels, and the index (into those labels) of the reviewer's label.
pub(crate) struct Sample {
    pub e: Vec<f64>,
    pub u: Vec<f64>,
    pub y: usize,
}

/// The refitted labels' probabilities (summing to 1) for one item.
pub(crate) fn conditional(r: &Refit, u: &[f64], e: &[f64]) -> Vec<f64> {
    let z: Vec<f64> =
        r.weights.iter().zip(&r.bias).zip(u).map(|((w, b), u)| (u + dot(w, e) + b) / r.temperature).collect();
    softmax(&z)
}

/// Fits the refit of `labels` (pack label indices) on `samples`.
pub(crate) fn fit(labels: Vec<usize>, samples: &[Sample]) -> Refit {
    let k = labels.len();
    let dim = samples.first().map_or(0, |s| s.e.len());
    let (penalty, cv_log_loss, temperature) = if samples.len() >= MIN_CV {
        let folds = folds(samples.len());
        let mut best: Option<(f64, f64, Vec<Vec<f64>>)> = None;
        for &pen in &PENALTIES {
            let oof = out_of_fold(samples, k, pen, &folds);
            let loss = mean_log_loss(&oof, samples, 1.0);
            if best.as_ref().is_none_or(|b| loss < b.1) {
                best = Some((pen, loss, oof));
            }
        }
        let (pen, loss, oof) = best.unwrap_or((DEFAULT_PENALTY, f64::NAN, Vec::new()));
        (pen, Some(loss), best_temperature(&oof, samples))
    } else {
        (DEFAULT_PENALTY, None, 1.0)
    };
    let idx: Vec<usize> = (0..samples.len()).collect();
    let (a, b) = train(samples, &idx, k, penalty);
    // W = A^T E.
    let mut weights = vec![vec![0.0; dim]; k];
    for (i, s) in samples.iter().enumerate() {
        for c in 0..k {
            let ai = a[i][c];
            for (w, v) in weights[c].iter_mut().zip(&s.e) {
                *w += ai * v;
            }
        }
    }
    Refit {
        labels,
        weights,
        bias: b,
        temperature,
        penalty,
        cv_log_loss: cv_log_loss.filter(|v| v.is_finite()),
    }
}

/// Fold of each sample: round robin in the order given.
fn folds(n: usize) -> Vec<usize> {
    (0..n).map(|i| i % FOLDS.min(n)).collect()
}

/// Each sample's correction logits `u + W e + b` from a fit without its fold.
fn out_of_fold(samples: &[Sample], k: usize, pen: f64, folds: &[usize]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::new(); samples.len()];
    for f in 0..=folds.iter().copied().max().unwrap_or(0) {
        let train_idx: Vec<usize> = (0..samples.len()).filter(|&i| folds[i] != f).collect();
        let (a, b) = train(samples, &train_idx, k, pen);
        for i in (0..samples.len()).filter(|&i| folds[i] == f) {
            out[i] = logits_at(samples, &train_idx, &a, &b, &samples[i]);
        }
    }
    out
}

fn logits_at(samples: &[Sample], idx: &[usize], a: &[Vec<f64>], b: &[f64], s: &Sample) -> Vec<f64> {
    let mut z: Vec<f64> = s.u.iter().zip(b).map(|(u, b)| u + b).collect();
    for (row, &j) in a.iter().zip(idx) {
        let g = dot(&samples[j].e, &s.e);
        for (zc, ac) in z.iter_mut().zip(row) {
            *zc += ac * g;
        }
    }
    z
}

/// Nesterov gradient descent on (A, b) for the samples `idx`.
fn train(samples: &[Sample], idx: &[usize], k: usize, pen: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = idx.len();
    let gram: Vec<Vec<f64>> =
        idx.iter().map(|&i| idx.iter().map(|&j| dot(&samples[i].e, &samples[j].e)).collect()).collect();
    // Lipschitz bound of the mean loss's gradient in (W, b): the softmax's
    // Hessian is at most 1/2, times the largest |[e; 1]|^2.
    let reach = gram.iter().enumerate().map(|(i, r)| r[i] + 1.0).fold(1.0, f64::max);
    let step = 1.0 / (0.5 * reach + pen);
    let zeros = || (vec![vec![0.0; k]; n], vec![0.0; k]);
    let (mut a, mut b) = zeros();
    let (mut a_prev, mut b_prev) = zeros();
    if n == 0 {
        return (a, b);
    }
    for t in 0..ITERATIONS {
        let mom = t as f64 / (t as f64 + 3.0);
        let ya: Vec<Vec<f64>> = a
            .iter()
            .zip(&a_prev)
            .map(|(r, p)| r.iter().zip(p).map(|(x, q)| x + mom * (x - q)).collect())
            .collect();
        let yb: Vec<f64> = b.iter().zip(&b_prev).map(|(x, q)| x + mom * (x - q)).collect();
        // Residuals r_i = softmax(z_i) - onehot(y_i) / n.
        let mut resid = vec![vec![0.0; k]; n];
        for (i, &si) in idx.iter().enumerate() {
            let s = &samples[si];
            let mut z: Vec<f64> = s.u.iter().zip(&yb).map(|(u, b)| u + b).collect();
            for (j, row) in ya.iter().enumerate() {
                let g = gram[j][i];
                for (zc, ac) in z.iter_mut().zip(row) {
                    *zc += ac * g;
                }
            }
            let p = softmax(&z);
            for c in 0..k {
                resid[i][c] = (p[c] - f64::from(u8::from(c == s.y))) / n as f64;
            }
        }
        a_prev = a;
        b_prev = b;
        // grad_W = (R + pen A)^T E  =>  A <- yA - step (R + pen yA).
        a = ya
            .iter()
            .zip(&resid)
            .map(|(y, r)| y.iter().zip(r).map(|(v, g)| v - step * (g + pen * v)).collect())
            .collect();
        let mut gb = vec![0.0; k];
        for r in &resid {
            for (g, v) in gb.iter_mut().zip(r) {
                *g += v;
            }
        }
        b = yb.iter().zip(&gb).map(|(v, g)| v - step * (g + pen * v)).collect();
    }
    (a, b)
}

fn mean_log_loss(z: &[Vec<f64>], samples: &[Sample], t: f64) -> f64 {
    let mut total = 0.0;
    for (zi, s) in z.iter().zip(samples) {
        let scaled: Vec<f64> = zi.iter().map(|v| v / t).collect();
        total -= softmax(&scaled)[s.y].max(1e-300).ln();
    }
    total / samples.len().max(1) as f64
}

/// The temperature (0.30 to 3.00 in steps of 0.05) that minimises the
/// out-of-fold log loss.
fn best_temperature(oof: &[Vec<f64>], samples: &[Sample]) -> f64 {
    let mut best = (1.0, f64::INFINITY);
    for step in 6..=60 {
        let t = f64::from(step) * 0.05;
        let loss = mean_log_loss(oof, samples, t);
        if loss < best.1 {
            best = (t, loss);
        }
    }
    best.0
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for (x, y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two labels the pack confuses (its logits say nothing) that the
    /// embedding separates along its first feature.
    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| {
                let y = i % 2;
                let x = if y == 0 { 1.0 } else { -1.0 } + 0.1 * ((i * 7 % 5) as f64 - 2.0);
                Sample { e: vec![x, 0.3, 0.1 * (i % 3) as f64], u: vec![0.0, 0.0], y }
            })
            .collect()
    }

    #[test]
    fn the_refit_learns_what_the_reviewers_label() {
        let s = samples(30);
        let r = fit(vec![3, 5], &s);
        let p0 = conditional(&r, &[0.0, 0.0], &[1.0, 0.3, 0.0]);
        let p1 = conditional(&r, &[0.0, 0.0], &[-1.0, 0.3, 0.0]);
        assert!(p0[0] > 0.8 && p1[1] > 0.8, "{p0:?} {p1:?}");
        assert!(r.cv_log_loss.is_some() && PENALTIES.contains(&r.penalty));
        // Bitwise reproducible.
        assert_eq!(fit(vec![3, 5], &s), r);
    }

    #[test]
    fn logits_from_the_gram_form_equal_those_of_the_explicit_weights() {
        let s = samples(2);
        let (a, b) = train(&s, &[0, 1], 2, 0.5);
        let z = logits_at(&s, &[0, 1], &a, &b, &s[0]);
        let w: Vec<Vec<f64>> =
            (0..2).map(|c| (0..3).map(|d| a[0][c] * s[0].e[d] + a[1][c] * s[1].e[d]).collect()).collect();
        let direct: Vec<f64> = (0..2).map(|c| s[0].u[c] + dot(&w[c], &s[0].e) + b[c]).collect();
        for (x, y) in z.iter().zip(&direct) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn with_no_evidence_the_correction_is_zero() {
        let r = fit(vec![0, 1], &[]);
        assert!(r.weights.is_empty() || r.weights.iter().flatten().all(|w| *w == 0.0));
        assert_eq!(r.bias, vec![0.0, 0.0]);
    }
}
