//! Proportions with honest uncertainty.
use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion `k / n` with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Proportion {
    pub k: u32,
    pub n: u32,
    /// `k / n`, 0 when `n` is 0.
    pub p: f64,
    pub low: f64,
    pub high: f64,
}

impl Proportion {
    pub fn new(k: u32, n: u32) -> Self {
        let (low, high) = wilson(k, n, Z95);
        let p = if n == 0 { 0.0 } else { f64::from(k) / f64::from(n) };
        Self { k, n, p, low, high }
    }
}

/// EM steps of [`mixture_proportions`] (fixed: the same answer everywhere).
const EM_STEPS: usize = 500;

/// The class proportions of a sample of cells from each cell's calibrated
/// probabilities, by expectation-maximisation (Saerens, Latinne & Decaestecker
/// 2002, "Adjusting the outputs of a classifier to new a priori
/// probabilities"). The packs are calibrated on class-balanced rows, so a
/// cell's probabilities carry a uniform prior; summing them would count a rare
/// class (immature granulocytes in a healthy smear) as if one cell in eight
/// could be one. EM re-weights each cell's probabilities by the sample's own
/// estimated proportions until they agree: the maximum-likelihood mixture.
pub fn mixture_proportions(probs: &[Vec<f64>]) -> Vec<f64> {
    let k = probs.first().map_or(0, Vec::len);
    if k == 0 {
        return Vec::new();
    }
    let mut pi = vec![1.0 / k as f64; k];
    for _ in 0..EM_STEPS {
        let mut next = vec![0.0; k];
        let mut used = 0usize;
        for p in probs {
            let mut total = 0.0;
            for (a, b) in p.iter().zip(&pi) {
                total += a * b;
            }
            if !(total > 0.0 && total.is_finite()) {
                continue;
            }
            used += 1;
            for ((acc, a), b) in next.iter_mut().zip(p).zip(&pi) {
                *acc += a * b / total;
            }
        }
        if used == 0 {
            return pi;
        }
        pi = next.iter().map(|v| v / used as f64).collect();
    }
    pi
}

/// The Wilson score interval for `k` successes in `n` trials. With no trials
/// the interval is the whole of `[0, 1]`: nothing is known.
pub fn wilson(k: u32, n: u32, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = f64::from(n);
    let p = f64::from(k.min(n)) / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    // Exact ends where the count is at an end (no rounding residue).
    let low = if k == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if k >= n { 1.0 } else { (centre + half).min(1.0) };
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_without_a_usable_likelihood_are_left_out_of_the_mixture() {
        let cells: Vec<Vec<f64>> =
            (0..30).map(|i| if i % 3 == 0 { vec![0.2, 0.8] } else { vec![0.9, 0.1] }).collect();
        let clean = mixture_proportions(&cells);
        for bad in [vec![0.0, 0.0], vec![f64::INFINITY, 0.5], vec![f64::NAN, 0.5]] {
            let mut with = cells.clone();
            with.insert(5, bad.clone());
            let got = mixture_proportions(&with);
            assert!(got.iter().all(|p| p.is_finite()), "{bad:?}: {got:?}");
            assert_eq!(got, clean, "{bad:?}");
        }
        // Nothing usable: the uniform start.
        assert_eq!(mixture_proportions(&[vec![0.0, 0.0]]), vec![0.5, 0.5]);
    }

    #[test]
    fn mixture_proportions_undo_the_balanced_prior() {
        // 100 neutrophils, each with P(ig) = 0.15 under the packs' balanced
        // prior: summing would say 15 ig cells; the likelihoods say none.
        let cells: Vec<Vec<f64>> = (0..100).map(|_| vec![0.85, 0.15]).collect();
        let naive: f64 = cells.iter().map(|p| p[1]).sum();
        let em = mixture_proportions(&cells);
        assert!((naive - 15.0).abs() < 1e-9);
        assert!(em[1] < 0.02, "{em:?}");
        // 20 clear ig cells among them are found.
        let mut with_ig = cells.clone();
        with_ig.extend((0..20).map(|_| vec![0.05, 0.95]));
        let em = mixture_proportions(&with_ig);
        assert!((em[1] - 20.0 / 120.0).abs() < 0.03, "{em:?}");
        assert!((em.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(mixture_proportions(&[]).is_empty());
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), table I: 81/263 -> 0.2553 .. 0.3662.
        let (lo, hi) = wilson(81, 263, Z95);
        assert!((lo - 0.2553).abs() < 5e-4, "{lo}");
        assert!((hi - 0.3662).abs() < 5e-4, "{hi}");
        // 0/10 -> 0 .. 0.2775 (not the degenerate Wald 0 .. 0).
        let (lo, hi) = wilson(0, 10, Z95);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 5e-4, "{hi}");
        let (lo, hi) = wilson(10, 10, Z95);
        assert!((lo - 0.7225).abs() < 5e-4, "{lo}");
        assert_eq!(hi, 1.0);
    }

    #[test]
    fn no_trials_means_nothing_is_known() {
        assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
        let p = Proportion::new(0, 0);
        assert_eq!((p.p, p.low, p.high), (0.0, 0.0, 1.0));
    }

    #[test]
    fn interval_always_contains_the_estimate() {
        for n in 1..60 {
            for k in 0..=n {
                let p = Proportion::new(k, n);
                assert!(p.low <= p.p + 1e-12 && p.p <= p.high + 1e-12, "{k}/{n}");
                assert!(p.low >= 0.0 && p.high <= 1.0);
            }
        }
    }
}
