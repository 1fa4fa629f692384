//! Site calibration: what one clinic's microscope, camera and stain have taught
//! the packs, kept as a small versioned *site profile*.
//!
//! A profile is made by [`calibrate()`] from photos of the site's own normal
//! slides and, optionally, cells its reviewers have labelled (or from enough
//! reviewed cells alone, for a site that sends crops), and applied to
//! every later photo by [`crate::field::Analyzer::with_site`]:
//! - **familiarity**: the packs' embedding Gaussian is also taken around the
//!   site's own mean, so the site's normal fields stop being "unfamiliar"
//!   while anything far from both (not blood, another stain) still is;
//! - **screen alignment**: the screening pack's logits are shifted so the
//!   site's normal fields average what the pack's own normal calibration fields
//!   average (the same shift moves a leukaemic field at that site, so the
//!   screen's boundary is kept, not taught "this site is benign");
//! - **cell refit**: among the white-cell types the reviewers labelled, the
//!   class boundaries are refitted on the pack's embeddings (L2-penalised
//!   softmax over a correction of the pack's logits, penalty chosen by
//!   cross-validation on the reviewed cells, temperature refitted out of fold).
//!   The probability of types nobody labelled there (blasts among them) is
//!   left exactly as the pack gives it: calibration never teaches a site that
//!   a type it has not seen is less likely;
//! - **scale and colour**: the measured red-cell scale and the light's colour
//!   across the photos, checked for consistency and kept for reference.
//!
//! Everything is plain f64 arithmetic in a fixed order, so a profile and its
//! effect are bitwise the same on every platform.
mod calibrate;
mod refit;

pub use calibrate::{
    calibrate, CalibrationPhoto, Reviewed, MAX_SITE_DISTANCE, MIN_PHOTOS, MIN_REVIEWED_ALONE,
};

use crate::error::Error;
use crate::field::ModelRef;
use crate::pack::Manifest;
use crate::probs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The site profile format version.
pub const SCHEMA: u32 = 1;

/// The screening pack's label for a normal field.
pub const NORMAL_LABEL: &str = "benign";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteProfile {
    pub schema: u32,
    /// The site's name: a place or a microscope, never a person.
    pub site: String,
    /// The version the records store gave it (1, 2, ...); 0 before it is stored.
    pub version: u32,
    /// The packs it was fitted for (screen, then cells); other packs refuse it.
    pub packs: Vec<ModelRef>,
    pub evidence: Evidence,
    /// Null for a profile made from reviewed cells alone (no photos).
    pub scale: Option<ScaleCheck>,
    pub colour: Option<ColourReference>,
    pub screen: Adjustment,
    pub cells: Adjustment,
}

/// What the profile was fitted on (counts only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Photos given, and those the quality gate accepted (familiarity aside).
    pub photos: u32,
    pub accepted: u32,
    pub tiles: u32,
    pub cells: u32,
    /// Reviewer-labelled cells, per label.
    pub reviewed: BTreeMap<String, u32>,
}

/// The red-cell scale measured on the calibration photos (displayed pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleCheck {
    pub median_rbc_px: f64,
    /// Interquartile range over the median: how much the magnification varies.
    pub spread: f64,
    /// `spread` within [`SCALE_SPREAD_MAX`]: one magnification throughout.
    pub consistent: bool,
}

/// Photos whose red-cell scale varies more than this (IQR / median) were not
/// taken at one magnification.
pub const SCALE_SPREAD_MAX: f64 = 0.15;

/// The light behind the slide on the calibration photos (raw RGB, 0..255).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColourReference {
    pub background: [f64; 3],
    /// Median distance of a photo's background from `background` (RGB units).
    pub spread: f64,
}

/// What the profile changes in one pack's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    /// The site's mean embedding (empty for a pack without an embedding).
    pub site_mean: Vec<f64>,
    /// The site's mean style statistics (empty for a pack without them, and
    /// in profiles made before packs had them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site_style_mean: Vec<f64>,
    /// Added to the pack's dequantised logits (empty: none).
    pub logit_offset: Vec<f64>,
    /// The refitted boundaries among the reviewed labels.
    pub refit: Option<Refit>,
}

/// `z'_c = z_c / T_pack + w_c . e + b_c` for each refitted label `c`; their
/// share of the probability is redistributed as `softmax(z' / temperature)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refit {
    /// Indices into the pack's labels, ascending.
    pub labels: Vec<usize>,
    pub weights: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
    pub temperature: f64,
    /// The L2 penalty the cross-validation chose, and its out-of-fold log loss.
    pub penalty: f64,
    pub cv_log_loss: Option<f64>,
}

/// A profile's name in a result's provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SiteRef {
    pub site: String,
    pub version: u32,
    /// Whether reviewers have checked the cell types at this site (the
    /// profile refits them). Until they have, a session counts every white
    /// cell read with the profile as uncertain: photos of normal slides make
    /// the site's fields familiar, but say nothing about whether the pack
    /// types this site's cells right.
    pub cells_reviewed: bool,
}

impl SiteProfile {
    pub fn reference(&self) -> SiteRef {
        SiteRef { site: self.site.clone(), version: self.version, cells_reviewed: self.cells.refit.is_some() }
    }

    /// Parses and checks a profile (JSON).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let p: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::Site(format!("not a site profile: {}", json_problem(&e))))?;
        if p.schema != SCHEMA {
            return Err(Error::Site(format!("profile schema {} (this core reads {SCHEMA})", p.schema)));
        }
        Ok(p)
    }

    /// Checks the profile was fitted for these packs and fits their shapes.
    pub fn check(&self, screen: &Manifest, cells: &Manifest) -> Result<(), Error> {
        let same =
            |r: Option<&ModelRef>, m: &Manifest| r.is_some_and(|r| r.id == m.id && r.sha256 == m.sha256);
        if !same(self.packs.first(), screen) || !same(self.packs.get(1), cells) || self.packs.len() != 2 {
            return Err(Error::Site(
                "the profile was calibrated for other model packs: calibrate the site again".into(),
            ));
        }
        self.screen.check(screen, "screen")?;
        self.cells.check(cells, "cells")
    }
}

/// What was wrong with a profile's JSON, in words that name no content.
fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "wrong fields or values",
        serde_json::error::Category::Eof => "truncated",
    }
}

impl Adjustment {
    fn check(&self, m: &Manifest, which: &str) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Site(format!("{which}: {what}")));
        let n = m.labels.len();
        let dim = m.familiarity.as_ref().map_or(0, |f| f.dim);
        if !self.site_mean.is_empty() && self.site_mean.len() != dim {
            return bad("site mean does not match the pack's embedding");
        }
        let style_dim = m.familiarity.as_ref().and_then(|f| f.style.as_ref()).map_or(0, |s| s.dim);
        if !self.site_style_mean.is_empty() && self.site_style_mean.len() != style_dim {
            return bad("site style mean does not match the pack's style statistics");
        }
        if !self.logit_offset.is_empty() && self.logit_offset.len() != n {
            return bad("logit offset does not match the pack's labels");
        }
        if let Some(r) = &self.refit {
            let ascending = r.labels.windows(2).all(|w| w[0] < w[1]);
            if r.labels.len() < 2 || !ascending || r.labels.iter().any(|&i| i >= n) {
                return bad("refitted labels must be two or more of the pack's, ascending");
            }
            if dim == 0 || r.weights.len() != r.labels.len() || r.weights.iter().any(|w| w.len() != dim) {
                return bad("refitted weights do not match the pack's embedding");
            }
            if r.bias.len() != r.labels.len() || !(r.temperature.is_finite() && r.temperature > 0.0) {
                return bad("refitted bias or temperature malformed");
            }
        }
        let finite = self
            .site_mean
            .iter()
            .chain(&self.site_style_mean)
            .chain(&self.logit_offset)
            .chain(self.refit.iter().flat_map(|r| r.weights.iter().flatten().chain(&r.bias)))
            .all(|v| v.is_finite());
        if !finite {
            return bad("non-finite numbers");
        }
        Ok(())
    }

    /// Calibrated probabilities from one item's dequantised logits `z` and
    /// embedding `e` (empty without one), the pack's manifest `m`.
    pub fn probs(&self, m: &Manifest, z: &[f64], e: &[f64]) -> Vec<f64> {
        let t = m.calibration.temperature;
        let shifted: Vec<f64> = if self.logit_offset.is_empty() {
            z.to_vec()
        } else {
            z.iter().zip(&self.logit_offset).map(|(a, b)| a + b).collect()
        };
        let mut p = probs::calibrated(&shifted, m.output.kind, t);
        if let (Some(r), false) = (&self.refit, e.is_empty()) {
            let u: Vec<f64> = r.labels.iter().map(|&c| shifted[c] / t).collect();
            let q = refit::conditional(r, &u, e);
            let mut mass = 0.0;
            for &c in &r.labels {
                mass += p[c];
            }
            for (k, &c) in r.labels.iter().enumerate() {
                p[c] = mass * q[k];
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str, labels: &[&str]) -> Manifest {
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "schema": 1, "id": id, "version": "1.0.0", "task": "cell_type",
            "labels": labels, "model_file": "model.tflite", "sha256": format!("{id}-sha"),
            "input": {"width": 8, "height": 8, "channels": 3, "batch": 1, "color_order": "rgb",
                      "dtype": "int8", "resize": "triangle",
                      "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
                      "rbc_diameter_px": 10.0},
            "output": {"dtype": "int8", "kind": "logits"},
            "calibration": {"temperature": 1.0}
        }))
        .unwrap();
        m.familiarity = Some(crate::familiar::tests::toy());
        m
    }

    fn profile(screen: &Manifest, cells: &Manifest) -> SiteProfile {
        let r = |m: &Manifest| ModelRef {
            id: m.id.clone(),
            version: m.version.clone(),
            sha256: m.sha256.clone(),
        };
        SiteProfile {
            schema: SCHEMA,
            site: "clinic".into(),
            version: 0,
            packs: vec![r(screen), r(cells)],
            evidence: Evidence { photos: 0, accepted: 0, tiles: 0, cells: 0, reviewed: BTreeMap::new() },
            scale: None,
            colour: None,
            screen: Adjustment::default(),
            cells: Adjustment::default(),
        }
    }

    #[test]
    fn a_refit_redistributes_only_the_reviewed_labels_share() {
        let m = manifest("cells", &["blast", "lymphocyte", "neutrophil"]);
        let z = [1.0, 0.5, 0.0];
        let shipped = probs::calibrated(&z, m.output.kind, 1.0);
        // A refit that strongly prefers neutrophil over lymphocyte.
        let a = Adjustment {
            refit: Some(Refit {
                labels: vec![1, 2],
                weights: vec![vec![0.0, 0.0], vec![3.0, 0.0]],
                bias: vec![0.0, 0.0],
                temperature: 1.0,
                penalty: 1.0,
                cv_log_loss: None,
            }),
            ..Adjustment::default()
        };
        let p = a.probs(&m, &z, &[1.0, 0.0]);
        assert_eq!(p[0], shipped[0], "a type nobody reviewed keeps its probability exactly");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[2] > p[1] && shipped[2] < shipped[1], "the reviewed boundary moved: {p:?}");
        assert_eq!(Adjustment::default().probs(&m, &z, &[1.0, 0.0]), shipped, "no adjustment: the pack");
    }

    #[test]
    fn a_logit_offset_shifts_the_screen() {
        let m = manifest("screen", &["benign", "malignant"]);
        let a = Adjustment { logit_offset: vec![1.0, -1.0], ..Adjustment::default() };
        let p = a.probs(&m, &[0.0, 0.0], &[]);
        assert!((p[0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-12);
    }

    #[test]
    fn a_profile_for_other_packs_or_of_the_wrong_shape_is_refused() {
        let (s, c) = (manifest("screen", &["benign", "malignant"]), manifest("cells", &["a", "b", "c"]));
        let p = profile(&s, &c);
        assert!(p.check(&s, &c).is_ok());
        let mut other = c.clone();
        other.sha256 = "retrained".into();
        assert_eq!(p.check(&s, &other).unwrap_err().kind(), crate::ErrorKind::Site);
        let mut bad = p.clone();
        bad.screen.logit_offset = vec![1.0];
        assert!(bad.check(&s, &c).is_err());
        let mut bad = p.clone();
        bad.cells.site_mean = vec![f64::NAN, 0.0];
        assert!(bad.check(&s, &c).is_err());
        let mut bad = p.clone();
        bad.cells.refit = Some(Refit {
            labels: vec![2, 1],
            weights: vec![vec![0.0; 2]; 2],
            bias: vec![0.0; 2],
            temperature: 1.0,
            penalty: 1.0,
            cv_log_loss: None,
        });
        assert!(bad.check(&s, &c).is_err(), "labels must ascend");
    }

    #[test]
    fn profiles_round_trip_and_garbage_is_a_typed_error() {
        let (s, c) = (manifest("screen", &["benign", "malignant"]), manifest("cells", &["a", "b"]));
        let p = profile(&s, &c);
        let back = SiteProfile::from_json(serde_json::to_string(&p).unwrap().as_bytes()).unwrap();
        assert_eq!(back, p);
        for bad in [&b"{"[..], b"[]", b"{\"schema\": 1}"] {
            assert_eq!(SiteProfile::from_json(bad).unwrap_err().kind(), crate::ErrorKind::Site);
        }
        let mut v = serde_json::to_value(&p).unwrap();
        v["schema"] = 99.into();
        assert!(SiteProfile::from_json(v.to_string().as_bytes()).is_err());
    }
}
