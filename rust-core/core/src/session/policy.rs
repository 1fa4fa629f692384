//! How much evidence a session collects, and the decision thresholds, read from
//! the packs' manifests (`thresholds`) with documented defaults when absent.
//! The keys are listed in `docs/decision-rule.md`.
use crate::pack::Manifest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// When a session has collected enough, and how strict it is about what it
/// collected. Plain data; `Default` is the documented policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionPolicy {
    /// Confident white cells to collect before the differential is trusted.
    pub target_cells: u32,
    /// Stop asking for more fields after this many photos (accepted or not).
    pub max_fields: u32,
    /// Below this fraction of accepted photos the session is inconclusive.
    pub min_accepted_fraction: f64,
    pub thresholds: Thresholds,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            target_cells: 100,
            max_fields: 30,
            min_accepted_fraction: 0.5,
            thresholds: Thresholds::default(),
        }
    }
}

/// Every number the decision rule compares against. Carried into each result's
/// provenance exactly as used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// all-screen `refer_malignant_prob`: aggregated P(malignant) at or above
    /// which the leukaemia screen is positive.
    pub refer_malignant_prob: f64,
    /// all-screen `cells_field_malignant_prob` (by default its
    /// `refer_malignant_prob`): a field whose own P(malignant) is at or above
    /// it has none of its cells counted as a type. The cell pack has no blast
    /// class and reads blasts as confident lymphocytes or monocytes; the
    /// screen, which sees the field, sets them apart. `None` in a policy
    /// stored before the rule existed (its cells were counted without it).
    #[serde(default)]
    pub cells_field_malignant_prob: Option<f64>,
    /// all-screen `clear_malignant_prob`: aggregated P(malignant) at or below
    /// which the screen is negative. Between the two the rule abstains.
    pub clear_malignant_prob: f64,
    /// all-screen `min_confidence`: a field's screen answer below this
    /// confidence counts as unsure.
    pub screen_min_confidence: f64,
    /// all-screen `min_screen_fields`: accepted fields needed before the screen
    /// may decide anything.
    pub min_screen_fields: u32,
    /// all-screen `max_unsure_field_fraction`: more unsure fields than this and
    /// the screen abstains.
    pub max_unsure_field_fraction: f64,
    /// wbc-type `min_confidence`: cells below it are counted as uncertain and
    /// kept out of the differential.
    pub cell_min_confidence: f64,
    /// wbc-type `max_uncertain_cell_fraction`: more uncertain cells than this
    /// and the differential abstains.
    pub max_uncertain_cell_fraction: f64,
    /// wbc-type `refer_ig_fraction`: refer when the 95% lower bound of the
    /// immature-granulocyte fraction exceeds it.
    pub refer_ig_fraction: f64,
    /// wbc-type `refer_erythroblast_fraction`: refer when the 95% lower bound
    /// of erythroblasts per white cell exceeds it.
    pub refer_erythroblast_fraction: f64,
    /// wbc-type `differential_<label>_low` / `_high`: a mature class whose whole
    /// 95% interval lies outside `[low, high]` makes the differential clearly
    /// abnormal.
    pub differential: BTreeMap<String, (f64, f64)>,
}

impl Default for Thresholds {
    fn default() -> Self {
        let differential = [
            ("neutrophil", 0.30, 0.85),
            ("lymphocyte", 0.10, 0.55),
            ("monocyte", 0.0, 0.15),
            ("eosinophil", 0.0, 0.12),
            ("basophil", 0.0, 0.04),
        ]
        .into_iter()
        .map(|(l, lo, hi)| (l.to_string(), (lo, hi)))
        .collect();
        Self {
            refer_malignant_prob: 0.5,
            cells_field_malignant_prob: Some(0.5),
            clear_malignant_prob: 0.2,
            screen_min_confidence: 0.6,
            min_screen_fields: 3,
            max_unsure_field_fraction: 0.5,
            cell_min_confidence: 0.5,
            max_uncertain_cell_fraction: 0.3,
            refer_ig_fraction: 0.05,
            refer_erythroblast_fraction: 0.02,
            differential,
        }
    }
}

impl Thresholds {
    /// Thresholds from the two packs' manifests, each key falling back to its
    /// default when the manifest does not name it.
    pub fn from_manifests(screen: &Manifest, cells: &Manifest) -> Self {
        Self::from_maps(&screen.thresholds, &cells.thresholds)
    }

    /// Thresholds from the manifests' `thresholds` maps.
    pub fn from_maps(screen: &BTreeMap<String, f64>, cells: &BTreeMap<String, f64>) -> Self {
        let d = Self::default();
        let s = |k: &str, def: f64| screen.get(k).copied().filter(|v| v.is_finite()).unwrap_or(def);
        let c = |k: &str, def: f64| cells.get(k).copied().filter(|v| v.is_finite()).unwrap_or(def);
        let differential = d
            .differential
            .iter()
            .map(|(label, &(lo, hi))| {
                let lo = c(&format!("differential_{label}_low"), lo);
                let hi = c(&format!("differential_{label}_high"), hi);
                (label.clone(), (lo, hi))
            })
            .collect();
        let refer = s("refer_malignant_prob", d.refer_malignant_prob);
        Self {
            refer_malignant_prob: refer,
            cells_field_malignant_prob: Some(s("cells_field_malignant_prob", refer)),
            clear_malignant_prob: s("clear_malignant_prob", d.clear_malignant_prob),
            screen_min_confidence: s("min_confidence", d.screen_min_confidence),
            min_screen_fields: s("min_screen_fields", f64::from(d.min_screen_fields)).max(1.0) as u32,
            max_unsure_field_fraction: s("max_unsure_field_fraction", d.max_unsure_field_fraction),
            cell_min_confidence: c("min_confidence", d.cell_min_confidence),
            max_uncertain_cell_fraction: c("max_uncertain_cell_fraction", d.max_uncertain_cell_fraction),
            refer_ig_fraction: c("refer_ig_fraction", d.refer_ig_fraction),
            refer_erythroblast_fraction: c("refer_erythroblast_fraction", d.refer_erythroblast_fraction),
            differential,
        }
    }

    /// The thresholds as the flat `name -> value` map the provenance records,
    /// named as in the manifests (prefixed with the pack they belong to).
    pub fn as_map(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("all-screen.refer_malignant_prob".into(), self.refer_malignant_prob);
        if let Some(v) = self.cells_field_malignant_prob {
            m.insert("all-screen.cells_field_malignant_prob".into(), v);
        }
        m.insert("all-screen.clear_malignant_prob".into(), self.clear_malignant_prob);
        m.insert("all-screen.min_confidence".into(), self.screen_min_confidence);
        m.insert("all-screen.min_screen_fields".into(), f64::from(self.min_screen_fields));
        m.insert("all-screen.max_unsure_field_fraction".into(), self.max_unsure_field_fraction);
        m.insert("wbc-type.min_confidence".into(), self.cell_min_confidence);
        m.insert("wbc-type.max_uncertain_cell_fraction".into(), self.max_uncertain_cell_fraction);
        m.insert("wbc-type.refer_ig_fraction".into(), self.refer_ig_fraction);
        m.insert("wbc-type.refer_erythroblast_fraction".into(), self.refer_erythroblast_fraction);
        for (label, (lo, hi)) in &self.differential {
            m.insert(format!("wbc-type.differential_{label}_low"), *lo);
            m.insert(format!("wbc-type.differential_{label}_high"), *hi);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_values_override_defaults_key_by_key() {
        let screen =
            BTreeMap::from([("refer_malignant_prob".to_string(), 0.7), ("min_confidence".into(), 0.8)]);
        let cells = BTreeMap::from([
            ("min_confidence".to_string(), 0.4),
            ("differential_neutrophil_low".into(), 0.2),
            ("refer_ig_fraction".into(), f64::NAN),
        ]);
        let t = Thresholds::from_maps(&screen, &cells);
        let d = Thresholds::default();
        assert_eq!(t.refer_malignant_prob, 0.7);
        assert_eq!(t.screen_min_confidence, 0.8);
        assert_eq!(t.cell_min_confidence, 0.4);
        assert_eq!(t.clear_malignant_prob, d.clear_malignant_prob);
        assert_eq!(t.refer_ig_fraction, d.refer_ig_fraction, "non-finite values fall back");
        assert_eq!(t.differential["neutrophil"], (0.2, d.differential["neutrophil"].1));
        let m = t.as_map();
        assert_eq!(m["all-screen.refer_malignant_prob"], 0.7);
        assert_eq!(m["wbc-type.differential_neutrophil_low"], 0.2);
    }

    #[test]
    fn the_field_line_follows_the_refer_line_and_is_absent_from_older_policies() {
        let screen = BTreeMap::from([("refer_malignant_prob".to_string(), 0.97)]);
        let t = Thresholds::from_maps(&screen, &BTreeMap::new());
        assert_eq!(t.cells_field_malignant_prob, Some(0.97));
        assert_eq!(t.as_map()["all-screen.cells_field_malignant_prob"], 0.97);
        let screen = BTreeMap::from([
            ("refer_malignant_prob".to_string(), 0.97),
            ("cells_field_malignant_prob".into(), 0.9),
        ]);
        assert_eq!(Thresholds::from_maps(&screen, &BTreeMap::new()).cells_field_malignant_prob, Some(0.9));
        // A policy stored before the line existed: its cells were counted without it.
        let old: Thresholds = serde_json::from_str(r#"{"refer_malignant_prob": 0.97}"#).unwrap();
        assert_eq!(old.cells_field_malignant_prob, None);
        assert!(!old.as_map().contains_key("all-screen.cells_field_malignant_prob"));
    }

    #[test]
    fn thresholds_are_read_from_the_packs_manifests() {
        let manifest = |id: &str, task: &str, thresholds: serde_json::Value| -> Manifest {
            serde_json::from_value(serde_json::json!({
                "schema": 1, "id": id, "version": "1.0.0", "task": task,
                "labels": ["a", "b"], "model_file": "model.tflite", "sha256": "x",
                "input": {"width": 8, "height": 8, "channels": 3, "batch": 1, "color_order": "rgb",
                          "dtype": "int8", "resize": "triangle",
                          "normalization": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
                          "rbc_diameter_px": 10.0},
                "output": {"dtype": "int8", "kind": "logits"},
                "calibration": {"temperature": 1.0},
                "thresholds": thresholds
            }))
            .expect("manifest")
        };
        let t = Thresholds::from_manifests(
            &manifest("all-screen", "field_screen", serde_json::json!({"refer_malignant_prob": 0.97})),
            &manifest("wbc-type", "cell_type", serde_json::json!({"min_confidence": 0.98})),
        );
        assert_eq!((t.refer_malignant_prob, t.cell_min_confidence), (0.97, 0.98));
        assert_eq!(t.screen_min_confidence, Thresholds::default().screen_min_confidence);
    }

    #[test]
    fn empty_maps_give_the_defaults() {
        let t = Thresholds::from_maps(&BTreeMap::new(), &BTreeMap::new());
        assert_eq!(t, Thresholds::default());
    }
}
