//! How far an input lies from what a pack was trained on, in the pack's own
//! embedding space (its second output: the pooled features under the logits).
//!
//! The pack's manifest carries a Gaussian fitted on its training rows
//! (probabilistic PCA: a mean, the top principal axes with their variances, one
//! variance for the rest) and a line chosen on its tuning rows
//! (`scripts/fit_familiarity.py`). The *distance* is the Gaussian's score over
//! that line: 1.0 is the line, beyond it the input is unfamiliar (another
//! microscope or stain the pack was not calibrated for, or not blood at all).
//!
//! A pack may carry a second Gaussian of the same kind, [`Familiarity::style`],
//! on its third output: each channel's mean and mean absolute deviation over
//! an early feature map, computed in the model. The embedding says what a
//! picture shows, and a long-trained screen's embedding no longer sees that a
//! drawn smear is drawn; the early statistics say how the picture is made
//! (stain, texture, edges, drawing: docs/layer-familiarity.md). An input's
//! distance is the larger of the two.
use crate::error::Error;
use crate::pack::{DType, OutputKind, OutputSpec, QuantParams};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Familiarity {
    /// Index of the embedding output tensor (the logits are output 0).
    pub output: usize,
    /// Features in the embedding.
    pub dim: usize,
    pub quantization: QuantParams,
    pub mean: Vec<f64>,
    /// Principal axes, one row of `dim` values each.
    pub components: Vec<Vec<f64>>,
    /// Variance along each axis.
    pub variances: Vec<f64>,
    /// Variance of what the axes leave out, per feature.
    pub residual_variance: f64,
    /// The score at the line (distance 1.0).
    pub threshold: f64,
    /// Each label's mean logits over the calibration rows (site calibration
    /// aligns a site's normal fields to the normal label's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub logit_means: BTreeMap<String, Vec<f64>>,
    /// How the numbers were fitted (for people; not read).
    #[serde(default)]
    pub fitted_on: serde_json::Value,
    /// The same kind of Gaussian on the style statistics (output 2), if the
    /// pack has them; its own `style` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Box<Familiarity>>,
}

/// Output index of the embedding, and of the style statistics.
pub const EMBEDDING_OUTPUT: usize = 1;
pub const STYLE_OUTPUT: usize = 2;

impl Familiarity {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.output != EMBEDDING_OUTPUT {
            return Err(Error::mismatch("familiarity.output", "the embedding must be output 1"));
        }
        self.validate_gaussian()?;
        if let Some(st) = &self.style {
            if st.output != STYLE_OUTPUT || st.style.is_some() {
                return Err(Error::mismatch(
                    "familiarity.style.output",
                    "the style statistics must be output 2, with no style of their own",
                ));
            }
            st.validate_gaussian()?;
        }
        Ok(())
    }

    fn validate_gaussian(&self) -> Result<(), Error> {
        let bad = |field: &str, problem: &str| Err(Error::mismatch(field, problem));
        if self.dim == 0 || self.mean.len() != self.dim {
            return bad("familiarity.mean", "must have `dim` values");
        }
        if self.components.len() != self.variances.len()
            || self.components.iter().any(|c| c.len() != self.dim)
        {
            return bad("familiarity.components", "one row of `dim` values per variance");
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let ok = self.variances.iter().all(|v| positive(*v))
            && positive(self.residual_variance)
            && positive(self.threshold)
            && positive(f64::from(self.quantization.scale));
        if !ok {
            return bad("familiarity", "variances, threshold and scale must be positive");
        }
        let finite = self
            .mean
            .iter()
            .chain(self.components.iter().flatten())
            .chain(self.logit_means.values().flatten())
            .all(|v| v.is_finite());
        if !finite {
            return bad("familiarity", "mean, components and logit means must be finite");
        }
        Ok(())
    }

    /// The distance of one item's raw embedding bytes (1.0 = the line).
    pub fn distance(&self, raw: &[u8], dtype: DType) -> f64 {
        self.distance_about(&self.dequantize(raw, dtype), &self.mean)
    }

    /// One item's raw embedding bytes as values.
    pub fn dequantize(&self, raw: &[u8], dtype: DType) -> Vec<f64> {
        let spec = OutputSpec { dtype, kind: OutputKind::Logits, quantization: Some(self.quantization) };
        crate::probs::dequantize(raw, &spec)
    }

    /// The distance of `e` from the nearer of the pack's own Gaussian and the
    /// same Gaussian moved to a site's mean (a mean of another length, as from
    /// an older profile, is not used).
    pub fn distance_nearer(&self, e: &[f64], site_mean: Option<&[f64]>) -> f64 {
        let own = self.distance_about(e, &self.mean);
        match site_mean {
            Some(m) if m.len() == e.len() => own.min(self.distance_about(e, m)),
            _ => own,
        }
    }

    /// The distance of an embedding from the Gaussian moved to `centre` (the
    /// pack's own mean, or a site's: [`crate::site`]).
    pub fn distance_about(&self, e: &[f64], centre: &[f64]) -> f64 {
        let z: Vec<f64> = e.iter().zip(centre).map(|(e, m)| e - m).collect();
        let mut total: f64 = z.iter().map(|v| v * v).sum();
        let mut score = 0.0;
        for (axis, var) in self.components.iter().zip(&self.variances) {
            let p: f64 = axis.iter().zip(&z).map(|(a, v)| a * v).sum();
            score += p * p / var;
            total -= p * p;
        }
        score += total.max(0.0) / self.residual_variance;
        score / self.dim as f64 / self.threshold
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Two features, one principal axis (also used by the site tests).
    pub(crate) fn toy() -> Familiarity {
        Familiarity {
            output: 1,
            dim: 2,
            quantization: QuantParams { scale: 0.5, zero_point: 0 },
            mean: vec![1.0, 0.0],
            components: vec![vec![1.0, 0.0]],
            variances: vec![4.0],
            residual_variance: 1.0,
            threshold: 1.0,
            logit_means: BTreeMap::new(),
            fitted_on: serde_json::Value::Null,
            style: None,
        }
    }

    #[test]
    fn distance_grows_away_from_the_mean_and_weighs_each_axis_by_its_variance() {
        let f = toy();
        // raw int8 (2, 0) -> (1.0, 0.0): the mean itself.
        assert_eq!(f.distance(&[2, 0], DType::Int8), 0.0);
        // (3.0, 0) along the wide axis: 2^2 / 4 / 2 = 0.5.
        assert!((f.distance(&[6, 0], DType::Int8) - 0.5).abs() < 1e-12);
        // (1.0, 2.0) across it: 2^2 / 1 / 2 = 2.0.
        assert!((f.distance(&[2, 4], DType::Int8) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn malformed_statistics_are_refused() {
        let mut f = toy();
        f.variances = vec![0.0];
        assert!(f.validate().is_err());
        let mut f = toy();
        f.mean = vec![1.0];
        assert!(f.validate().is_err());
        assert!(toy().validate().is_ok());
    }
}
