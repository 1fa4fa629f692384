//! A screening session: many fields of one slide turned into one decision a
//! health worker can act on. Pure: field reports in, a [`Summary`] out; the
//! records store (`hemalens-store`) keeps them. The rule is described, with its
//! held-out figures, in `docs/decision-rule.md`.
mod decide;
mod policy;
mod stats;

pub use decide::{decide, Decision, NextStep, Outcome, Reason};
pub use policy::{SessionPolicy, Thresholds};
pub use stats::{mixture_proportions, wilson, Proportion, Z95};

use crate::field::{Cell, FieldReport, ModelRef, Probs};
use crate::site::SiteRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};

/// The white-cell classes of the `wbc-type` pack that make up the differential
/// (every label but `platelet`), in the pack's label order. Labels a newer pack
/// adds are counted too.
pub const WHITE_CELL_LABELS: [&str; 7] =
    ["basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil"];
/// Not a white cell: counted apart from the differential.
pub const PLATELET: &str = "platelet";

/// Count per name, in name order: a JSON object here, a map across the bindings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tally(pub BTreeMap<String, u32>);

/// Value per name, in name order: a JSON object here, a map across the bindings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NamedValues(pub BTreeMap<String, f64>);

macro_rules! map_newtype {
    ($t:ident, $v:ty) => {
        impl Deref for $t {
            type Target = BTreeMap<String, $v>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
        impl DerefMut for $t {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
        impl From<BTreeMap<String, $v>> for $t {
            fn from(m: BTreeMap<String, $v>) -> Self {
                Self(m)
            }
        }
        #[cfg(feature = "uniffi")]
        uniffi::custom_type!($t, std::collections::HashMap<String, $v>, {
            lower: |m| m.0.into_iter().collect(),
            try_lift: |m| Ok($t(m.into_iter().collect())),
        });
    };
}
map_newtype!(Tally, u32);
map_newtype!(NamedValues, f64);

/// The running state of one session. Adding a field is cheap; the summary is
/// computed from the totals, so a session of any length costs the same to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    policy: SessionPolicy,
    app_version: String,
    fields_added: u32,
    fields_accepted: u32,
    rejected_by_issue: Tally,
    cells_detected: u32,
    platelets: u32,
    uncertain_cells: u32,
    counts: BTreeMap<String, u32>,
    /// The white-cell labels seen in cells' probabilities, and each familiar
    /// white cell's probabilities over them (uncertain cells included): the
    /// sample the class proportions are estimated from ([`mixture_proportions`]).
    white_labels: Vec<String>,
    white_probs: Vec<Vec<f64>>,
    screen_fields: u32,
    screen_tiles: u64,
    screen_unsure_fields: u32,
    screen_weighted: Vec<(String, f64)>,
    models: Vec<ModelRef>,
    site: Option<SiteRef>,
}

impl Session {
    /// An empty session. `app_version` is the version of the app (or command)
    /// that runs it, carried into the provenance.
    pub fn new(policy: SessionPolicy, app_version: impl Into<String>) -> Self {
        Self {
            policy,
            app_version: app_version.into(),
            fields_added: 0,
            fields_accepted: 0,
            rejected_by_issue: Tally::default(),
            cells_detected: 0,
            platelets: 0,
            uncertain_cells: 0,
            counts: WHITE_CELL_LABELS.iter().map(|l| (l.to_string(), 0)).collect(),
            white_labels: Vec::new(),
            white_probs: Vec::new(),
            screen_fields: 0,
            screen_tiles: 0,
            screen_unsure_fields: 0,
            screen_weighted: Vec::new(),
            models: Vec::new(),
            site: None,
        }
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Adds one photo's report. A photo that failed the quality gate counts as
    /// rejected (by its issue codes) and contributes no cells or screen.
    pub fn add_field(&mut self, report: &FieldReport) {
        self.fields_added += 1;
        if report.site.is_some() {
            self.site.clone_from(&report.site);
        }
        for m in &report.models {
            if !self.models.contains(m) {
                self.models.push(m.clone());
            }
        }
        if !report.quality.ok {
            if report.quality.issues.is_empty() {
                *self.rejected_by_issue.entry("rejected".into()).or_default() += 1;
            }
            for issue in &report.quality.issues {
                *self.rejected_by_issue.entry(issue.code.to_string()).or_default() += 1;
            }
            return;
        }
        self.fields_accepted += 1;
        let t = &self.policy.thresholds;
        // Read with a site profile whose cell types nobody has reviewed: no cell evidence.
        let cells_unchecked = report.site.as_ref().is_some_and(|s| !s.cells_reviewed);
        for cell in &report.cells {
            self.cells_detected += 1;
            if cell.label == PLATELET {
                self.platelets += 1;
                continue;
            }
            // A cell unlike the pack's training data is no evidence either way.
            let unfamiliar = cells_unchecked || cell.unfamiliar();
            if !unfamiliar {
                for (label, _) in cell.probs.iter() {
                    if label != PLATELET && !self.white_labels.iter().any(|l| l == label) {
                        self.white_labels.push(label.to_string());
                        for v in &mut self.white_probs {
                            v.push(0.0);
                        }
                    }
                }
                let v = self.white_labels.iter().map(|l| cell.probs.get(l).unwrap_or(0.0)).collect();
                self.white_probs.push(v);
            }
            if !counts_as_typed(report, cell, t.cell_min_confidence, t.cells_field_malignant_prob) {
                self.uncertain_cells += 1;
            } else {
                *self.counts.entry(cell.label.clone()).or_default() += 1;
            }
        }
        if let Some(screen) = &report.screen {
            let w = f64::from(screen.tiles.max(1));
            self.screen_fields += 1;
            self.screen_tiles += u64::from(screen.tiles.max(1));
            if screen.confidence < t.screen_min_confidence {
                self.screen_unsure_fields += 1;
            }
            for (label, p) in screen.probs.iter() {
                match self.screen_weighted.iter_mut().find(|(l, _)| l == label) {
                    Some((_, acc)) => *acc += w * p,
                    None => self.screen_weighted.push((label.to_string(), w * p)),
                }
            }
        }
    }

    /// Confident white cells counted so far (the differential's denominator).
    pub fn white_cells(&self) -> u32 {
        self.counts.values().sum()
    }

    pub fn fields_added(&self) -> u32 {
        self.fields_added
    }

    /// Enough evidence collected: the target number of white cells, or the
    /// maximum number of fields.
    pub fn has_enough(&self) -> bool {
        self.white_cells() >= self.policy.target_cells || self.fields_added >= self.policy.max_fields
    }

    /// The running (or, once closed, final) summary with its outcome.
    pub fn summary(&self) -> Summary {
        let n = self.white_cells();
        let shares = mixture_proportions(&self.white_probs);
        let sampled = self.white_probs.len() as f64;
        let mut labels: Vec<&String> = self.counts.keys().chain(&self.white_labels).collect();
        labels.sort();
        labels.dedup();
        let differential = labels
            .into_iter()
            .map(|label| {
                let k = self.counts.get(label).copied().unwrap_or(0);
                let share = self.white_labels.iter().position(|l| l == label).map_or(0.0, |i| shares[i]);
                ClassCount {
                    label: label.clone(),
                    count: k,
                    proportion: Proportion::new(k, n),
                    expected: share * sampled,
                }
            })
            .collect();
        let screen = (self.screen_fields > 0).then(|| {
            let total = self.screen_tiles.max(1) as f64;
            let probs: Probs = self.screen_weighted.iter().map(|(l, s)| (l.clone(), s / total)).collect();
            let (label, confidence) = probs.iter().fold((String::new(), f64::MIN), |best, (l, p)| {
                if p > best.1 {
                    (l.to_string(), p)
                } else {
                    best
                }
            });
            let malignant_prob = malignant_prob(&probs);
            ScreenSummary {
                fields: self.screen_fields,
                tiles: self.screen_tiles,
                unsure_fields: self.screen_unsure_fields,
                label,
                confidence,
                malignant_prob,
                probs,
            }
        });
        let mut summary = Summary {
            fields: FieldCounts {
                added: self.fields_added,
                accepted: self.fields_accepted,
                rejected: self.fields_added - self.fields_accepted,
                rejected_by_issue: self.rejected_by_issue.clone(),
            },
            cells: CellCounts {
                detected: self.cells_detected,
                white: n,
                uncertain: self.uncertain_cells,
                platelets: self.platelets,
            },
            differential,
            screen,
            enough_evidence: self.has_enough(),
            outcome: Outcome::placeholder(),
            provenance: Provenance {
                models: self.models.clone(),
                site: self.site.clone(),
                core_version: crate::VERSION.to_string(),
                app_version: self.app_version.clone(),
                target_cells: self.policy.target_cells,
                max_fields: self.policy.max_fields,
                min_accepted_fraction: self.policy.min_accepted_fraction,
                thresholds: self.policy.thresholds.as_map().into(),
            },
        };
        summary.outcome = decide(&summary, &self.policy);
        summary
    }
}

/// Whether a session counts `cell` of the accepted field `report` as its type
/// (in the differential) rather than as uncertain: a white cell at or above
/// `min_confidence`, within its pack's familiarity line, read without an
/// unreviewed site profile, in a field whose own screen P(malignant) is below
/// `field_malignant_line` (`Thresholds::cells_field_malignant_prob`; `None`:
/// no such line). The report and the hospital's page mark cells by it too.
pub fn counts_as_typed(
    report: &FieldReport,
    cell: &Cell,
    min_confidence: f64,
    field_malignant_line: Option<f64>,
) -> bool {
    let cells_unchecked = report.site.as_ref().is_some_and(|s| !s.cells_reviewed);
    let field_malignant = field_malignant_line
        .is_some_and(|line| report.screen.as_ref().is_some_and(|s| malignant_prob(&s.probs) >= line));
    !cells_unchecked && !cell.unfamiliar() && !field_malignant && cell.confidence >= min_confidence
}

/// P(malignant): the summed probability of every `malignant_*` label.
pub fn malignant_prob(probs: &Probs) -> f64 {
    probs.iter().filter(|(l, _)| l.starts_with("malignant")).map(|(_, p)| p).sum()
}

/// What a session says: the JSON of `hemalens session show`.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub fields: FieldCounts,
    pub cells: CellCounts,
    /// Each white-cell class among the confident white cells, with its 95%
    /// Wilson interval.
    pub differential: Vec<ClassCount>,
    /// The leukaemia screen over all accepted fields and tiles (tile-weighted
    /// mean of calibrated probabilities); null before any accepted field.
    pub screen: Option<ScreenSummary>,
    pub enough_evidence: bool,
    pub outcome: Outcome,
    pub provenance: Provenance,
}

#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldCounts {
    pub added: u32,
    pub accepted: u32,
    pub rejected: u32,
    /// Rejected photos by quality issue code (a photo may carry several).
    pub rejected_by_issue: Tally,
}

#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellCounts {
    /// Every detected cell in accepted fields.
    pub detected: u32,
    /// Confident white cells: the differential's denominator.
    pub white: u32,
    /// White cells not counted as a type: below the cell model's confidence
    /// threshold, beyond its familiarity line, or in a field the screen calls
    /// malignant.
    pub uncertain: u32,
    pub platelets: u32,
}

#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCount {
    pub label: String,
    pub count: u32,
    pub proportion: Proportion,
    /// Estimated count among every familiar white cell, the uncertain ones
    /// included: the class's share by [`mixture_proportions`] times the cells.
    #[serde(default)]
    pub expected: f64,
}

#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreenSummary {
    pub fields: u32,
    pub tiles: u64,
    /// Fields whose own screen answer was below the confidence threshold.
    pub unsure_fields: u32,
    pub label: String,
    pub confidence: f64,
    pub malignant_prob: f64,
    pub probs: Probs,
}

/// Where a result came from: enough to reproduce it or to know it is stale.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The packs (id, version, sha256) that produced the fields.
    pub models: Vec<ModelRef>,
    /// The site profile the fields were read with (the latest, if it changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteRef>,
    pub core_version: String,
    pub app_version: String,
    pub target_cells: u32,
    pub max_fields: u32,
    pub min_accepted_fraction: f64,
    /// Every threshold the rule compared against, as used.
    pub thresholds: NamedValues,
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::field::{Cell, FieldReport, IssueCode, ModelRef, Probs, Quality, QualityIssue, Screen};

    pub fn cell(label: &str, confidence: f64) -> Cell {
        Cell {
            bbox: [0, 0, 10, 10].into(),
            label: label.into(),
            confidence,
            probs: [(label.into(), confidence)].into_iter().collect(),
            distance: None,
        }
    }

    /// A field with `cells` and a screen answer of P(malignant) = `malignant`.
    pub fn field(cells: Vec<Cell>, malignant: f64) -> FieldReport {
        let probs: Probs = [
            ("benign".into(), 1.0 - malignant),
            ("malignant_early_pre_b".into(), malignant * 0.5),
            ("malignant_pre_b".into(), malignant * 0.25),
            ("malignant_pro_b".into(), malignant * 0.25),
        ]
        .into_iter()
        .collect();
        let (label, confidence) = if malignant > 0.5 {
            ("malignant_early_pre_b", malignant * 0.5)
        } else {
            ("benign", 1.0 - malignant)
        };
        FieldReport {
            quality: Quality { ok: true, issues: vec![], focus: 1.0, exposure: 0.5, fov: None },
            scale: None,
            cells,
            screen: Some(Screen { label: label.into(), confidence, probs, tiles: 4, distance: None }),
            models: vec![ModelRef { id: "all-screen".into(), version: "1.0.0".into(), sha256: "ab".into() }],
            site: None,
        }
    }

    pub fn rejected(code: &str) -> FieldReport {
        let mut f = field(vec![], 0.0);
        f.quality.ok = false;
        f.quality.issues =
            vec![QualityIssue { code: IssueCode::parse(code).expect("a gate code"), message: "m".into() }];
        f.screen = None;
        f
    }

    /// A field with a normal mix of `n` white cells (60% neutrophils, 30%
    /// lymphocytes, 6% monocytes, 3% eosinophils, 1% basophils per 100).
    pub fn normal_field(n: usize) -> FieldReport {
        let mix =
            [("neutrophil", 60), ("lymphocyte", 30), ("monocyte", 6), ("eosinophil", 3), ("basophil", 1)];
        let mut cells = Vec::new();
        for (label, per100) in mix {
            for _ in 0..(n * per100 / 100) {
                cells.push(cell(label, 0.95));
            }
        }
        field(cells, 0.02)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn cells_of_a_field_the_screen_calls_malignant_are_uncertain_however_confident() {
        let policy = SessionPolicy::default();
        let line = policy.thresholds.cells_field_malignant_prob.unwrap();
        let mut s = Session::new(policy, "test");
        s.add_field(&field(vec![cell("lymphocyte", 0.99), cell("platelet", 0.99)], line));
        s.add_field(&field(vec![cell("lymphocyte", 0.99)], line - 0.01));
        let sum = s.summary();
        assert_eq!((sum.cells.white, sum.cells.uncertain, sum.cells.platelets), (1, 1, 1));
        let lym = sum.differential.iter().find(|c| c.label == "lymphocyte").unwrap();
        assert_eq!(lym.count, 1);
    }

    #[test]
    fn unfamiliar_cells_are_uncertain_however_confident() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        let far = crate::field::Cell { distance: Some(1.5), ..cell("neutrophil", 0.99) };
        let near = crate::field::Cell { distance: Some(0.7), ..cell("neutrophil", 0.99) };
        s.add_field(&field(vec![far, near], 0.1));
        let sum = s.summary();
        assert_eq!((sum.cells.white, sum.cells.uncertain), (1, 1));
    }

    #[test]
    fn counts_accepted_rejected_uncertain_and_platelets() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        s.add_field(&field(
            vec![cell("neutrophil", 0.9), cell("lymphocyte", 0.2), cell("platelet", 0.9)],
            0.1,
        ));
        s.add_field(&rejected("out_of_focus"));
        let sum = s.summary();
        assert_eq!((sum.fields.added, sum.fields.accepted, sum.fields.rejected), (2, 1, 1));
        assert_eq!(sum.fields.rejected_by_issue["out_of_focus"], 1);
        assert_eq!(sum.cells, CellCounts { detected: 3, white: 1, uncertain: 1, platelets: 1 });
        let neut = sum.differential.iter().find(|c| c.label == "neutrophil").unwrap();
        assert_eq!((neut.count, neut.proportion.n), (1, 1));
        assert_eq!(sum.differential.len(), WHITE_CELL_LABELS.len());
        assert_eq!(sum.provenance.models.len(), 1, "models are deduplicated");
        assert_eq!(sum.provenance.core_version, crate::VERSION);
    }

    #[test]
    fn cells_read_at_a_site_whose_cell_types_nobody_reviewed_are_uncertain() {
        let mut f = normal_field(20);
        f.site = Some(SiteRef { site: "clinic".into(), version: 1, cells_reviewed: false });
        let mut s = Session::new(SessionPolicy::default(), "test");
        s.add_field(&f);
        let sum = s.summary();
        let n = f.cells.len() as u32;
        assert_eq!((sum.cells.white, sum.cells.uncertain), (0, n));
        assert!(sum.differential.iter().all(|c| c.expected == 0.0));
        assert_eq!(sum.provenance.site.as_ref().map(|r| r.version), Some(1));
        f.site = Some(SiteRef { site: "clinic".into(), version: 2, cells_reviewed: true });
        s.add_field(&f);
        assert_eq!(s.summary().cells.white, n, "reviewed: counted");
    }

    #[test]
    fn screen_is_the_tile_weighted_mean() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        let mut a = field(vec![], 0.9);
        a.screen.as_mut().unwrap().tiles = 3;
        let mut b = field(vec![], 0.1);
        b.screen.as_mut().unwrap().tiles = 1;
        s.add_field(&a);
        s.add_field(&b);
        let scr = s.summary().screen.unwrap();
        assert!((scr.malignant_prob - (0.9 * 3.0 + 0.1) / 4.0).abs() < 1e-12);
        assert_eq!(scr.tiles, 4);
        assert!((scr.probs.iter().map(|(_, p)| p).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn enough_at_target_cells_or_max_fields() {
        let policy = SessionPolicy { target_cells: 50, max_fields: 3, ..SessionPolicy::default() };
        let mut s = Session::new(policy.clone(), "test");
        s.add_field(&normal_field(30));
        assert!(!s.has_enough());
        s.add_field(&normal_field(30));
        assert!(s.has_enough(), "60 white cells >= 50");
        let mut s = Session::new(policy, "test");
        for _ in 0..3 {
            s.add_field(&rejected("too_dark"));
        }
        assert!(s.has_enough(), "max fields reached");
    }

    #[test]
    fn summary_round_trips_through_json() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        s.add_field(&normal_field(40));
        let sum = s.summary();
        let json = serde_json::to_string(&sum).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        // Floats may differ in the last bit without serde_json's float_roundtrip.
        assert_eq!((back.outcome, back.cells, back.fields), (sum.outcome, sum.cells, sum.fields));
        assert_eq!(back.provenance.thresholds, sum.provenance.thresholds);
    }

    #[test]
    fn the_session_keeps_the_policy_it_was_given() {
        let policy = SessionPolicy { target_cells: 77, max_fields: 9, ..SessionPolicy::default() };
        let s = Session::new(policy.clone(), "test");
        assert_eq!(s.policy(), &policy);
    }

    #[test]
    fn a_field_rejected_without_an_issue_code_counts_as_rejected() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        for _ in 0..3 {
            let mut f = rejected("too_dark");
            f.quality.issues.clear();
            s.add_field(&f);
        }
        let sum = s.summary();
        assert_eq!(sum.fields.rejected, 3);
        assert_eq!(
            sum.fields.rejected_by_issue.iter().collect::<Vec<_>>(),
            vec![(&"rejected".to_string(), &3)]
        );
    }

    #[test]
    fn a_cell_counts_from_the_confidence_threshold_and_up_to_distance_one() {
        let policy = SessionPolicy::default();
        let at = policy.thresholds.cell_min_confidence;
        let below = at - 1e-9;
        let mut s = Session::new(policy, "test");
        let with = |d: f64, c: f64| crate::field::Cell { distance: Some(d), ..cell("neutrophil", c) };
        // Counted: exactly at the threshold, at distance 0.5 and exactly 1.
        s.add_field(&field(vec![with(0.5, at), with(1.0, at), cell("neutrophil", at)], 0.1));
        assert_eq!((s.summary().cells.white, s.summary().cells.uncertain), (3, 0));
        // Uncertain: just below the threshold, or just beyond distance 1.
        s.add_field(&field(vec![with(0.5, below), with(1.0 + 1e-9, 0.99), cell("neutrophil", below)], 0.1));
        assert_eq!((s.summary().cells.white, s.summary().cells.uncertain), (3, 3));
    }

    #[test]
    fn the_estimated_differential_has_each_white_label_once_and_never_platelets() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        let mixed = |label: &str| crate::field::Cell {
            probs: [("neutrophil".into(), 0.7), ("lymphocyte".into(), 0.2), ("platelet".into(), 0.1)]
                .into_iter()
                .collect(),
            ..cell(label, 0.7)
        };
        s.add_field(&field(vec![mixed("neutrophil"), mixed("neutrophil")], 0.1));
        s.add_field(&field(vec![mixed("neutrophil")], 0.1));
        let sum = s.summary();
        assert!(sum.differential.iter().all(|c| c.label != "platelet"), "{:?}", sum.differential);
        let mut labels: Vec<&str> = sum.differential.iter().map(|c| c.label.as_str()).collect();
        labels.dedup();
        assert_eq!(labels.len(), sum.differential.len());
        // Every familiar white cell is shared out among the classes.
        let expected: f64 = sum.differential.iter().map(|c| c.expected).sum();
        assert!((expected - 3.0).abs() < 1e-9, "{expected}");
    }

    #[test]
    fn a_screen_field_is_unsure_only_below_the_screen_threshold() {
        let policy = SessionPolicy::default();
        let at = policy.thresholds.screen_min_confidence;
        let mut s = Session::new(policy, "test");
        let with = |c: f64| {
            let mut f = field(vec![], 0.1);
            f.screen.as_mut().unwrap().confidence = c;
            f
        };
        s.add_field(&with(at));
        s.add_field(&with(0.999));
        assert_eq!(s.summary().screen.unwrap().unsure_fields, 0);
        s.add_field(&with(at - 1e-9));
        s.add_field(&with(0.0));
        assert_eq!(s.summary().screen.unwrap().unsure_fields, 2);
    }

    #[test]
    fn the_screen_summary_appears_with_the_first_screened_field_and_names_the_top_label() {
        let mut s = Session::new(SessionPolicy::default(), "test");
        assert_eq!(s.summary().screen, None, "nothing screened yet");
        s.add_field(&rejected("too_dark"));
        assert_eq!(s.summary().screen, None, "a rejected field is not screened");
        assert_eq!(s.fields_added(), 1);
        s.add_field(&field(vec![], 0.2));
        s.add_field(&field(vec![], 0.4));
        assert_eq!(s.fields_added(), 3);
        let scr = s.summary().screen.unwrap();
        assert_eq!((scr.fields, scr.label.as_str()), (2, "benign"));
        assert!((scr.confidence - 0.7).abs() < 1e-12, "{}", scr.confidence);
        // A tie names the first of the tied labels in the pack's order.
        let mut s = Session::new(SessionPolicy::default(), "test");
        let mut f = field(vec![], 0.0);
        f.screen.as_mut().unwrap().probs =
            [("malignant_pre_b".into(), 0.5), ("benign".into(), 0.5)].into_iter().collect();
        s.add_field(&f);
        assert_eq!(s.summary().screen.unwrap().label, "malignant_pre_b");
    }
}
