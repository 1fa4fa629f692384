//! Proportions with honest uncertainty.
use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion `k / n` with its 95% Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
