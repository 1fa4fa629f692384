//! The referral rule: one outcome with its reasons and what to do next.
//! Positive evidence refers even from a short session; "no abnormality" needs
//! the whole of the evidence and confident models; anything else abstains.
use super::{Proportion, SessionPolicy, Summary};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum Decision {
    Refer,
    NoAbnormalityDetected,
    Inconclusive,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refer => "refer",
            Self::NoAbnormalityDetected => "no_abnormality_detected",
            Self::Inconclusive => "inconclusive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Refer, Self::NoAbnormalityDetected, Self::Inconclusive].into_iter().find(|d| d.as_str() == s)
    }
}

/// One reason: a stable machine code and a sentence for the health worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Reason {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Outcome {
    pub decision: Decision,
    pub reasons: Vec<Reason>,
    /// What to do now, in one English sentence (`next.sentence()`).
    pub next_step: String,
    /// What to do now as a code, for an app to word in its own language.
    #[serde(default)]
    pub next: NextStep,
    /// For `inconclusive` when more photos would help: how many more fields.
    pub more_fields: Option<u32>,
}

impl Outcome {
    pub(super) fn placeholder() -> Self {
        Self {
            decision: Decision::Inconclusive,
            reasons: vec![],
            next_step: String::new(),
            next: NextStep::Unknown,
            more_fields: None,
        }
    }

    fn with(decision: Decision, reasons: Vec<Reason>, next: NextStep, more_fields: Option<u32>) -> Self {
        Self { decision, reasons, next_step: next.sentence(), next, more_fields }
    }
}

/// What the health worker does next. The rule chooses it once; the apps
/// word it in the user's language from this code, and
/// [`NextStep::sentence`] is the English (the report's and the SMS's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NextStep {
    Refer,
    NoReferral,
    CaptureMore {
        fields: u32,
    },
    /// Many photos were refused: fix the microscope first.
    CheckThenCapture {
        fields: u32,
    },
    /// No room for more photos and no clear answer.
    FieldLimit,
    ExpertReview,
    /// A result stored before the codes existed: only its sentence is known.
    #[default]
    Unknown,
}

impl NextStep {
    pub fn sentence(self) -> String {
        match self {
            Self::Refer => {
                "Refer the patient to a hospital for a full blood count and expert smear review; keep the slide.".into()
            }
            Self::NoReferral => {
                "No referral needed from this screen; continue usual care and repeat if symptoms persist.".into()
            }
            Self::CaptureMore { fields } => format!("Capture {}.", more_fields_text(fields)),
            Self::CheckThenCapture { fields } => {
                format!("Check focus and lighting, then capture {}.", more_fields_text(fields))
            }
            Self::FieldLimit => "The field limit is reached without a clear answer: prepare a new smear or send the slide for expert review.".into(),
            Self::ExpertReview => "Send the slide for expert review: the models are unsure on this slide.".into(),
            Self::Unknown => String::new(),
        }
    }
}

fn reason(code: &str, message: String) -> Reason {
    Reason { code: code.into(), message }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The rule, applied to a summary's totals (see `docs/decision-rule.md`).
pub fn decide(s: &Summary, policy: &SessionPolicy) -> Outcome {
    let t = &policy.thresholds;
    let mut refer = Vec::new();
    let mut unsure = Vec::new();
    let mut clear = Vec::new();
    let mut more_fields: Option<u32> = None;

    // The leukaemia screen, over every accepted field and tile.
    match &s.screen {
        Some(scr) if scr.fields >= t.min_screen_fields => {
            let unsure_frac = f64::from(scr.unsure_fields) / f64::from(scr.fields);
            if scr.malignant_prob >= t.refer_malignant_prob {
                refer.push(reason(
                    "suspected_acute_leukaemia",
                    format!(
                        "The leukaemia screen over {} fields gives a probability of {} for acute lymphoblastic leukaemia (refer at {} or more).",
                        scr.fields,
                        pct(scr.malignant_prob),
                        pct(t.refer_malignant_prob)
                    ),
                ));
            } else if scr.malignant_prob > t.clear_malignant_prob {
                unsure.push(reason(
                    "screen_unsure",
                    format!(
                        "The leukaemia screen is unsure: probability {} lies between {} and {}.",
                        pct(scr.malignant_prob),
                        pct(t.clear_malignant_prob),
                        pct(t.refer_malignant_prob)
                    ),
                ));
            } else if unsure_frac > t.max_unsure_field_fraction {
                unsure.push(reason(
                    "screen_unsure",
                    format!(
                        "The leukaemia screen was unsure on {} of {} fields.",
                        scr.unsure_fields, scr.fields
                    ),
                ));
            } else {
                clear.push(reason(
                    "screen_negative",
                    format!(
                        "The leukaemia screen over {} fields gives a probability of {} (clear at {} or less).",
                        scr.fields,
                        pct(scr.malignant_prob),
                        pct(t.clear_malignant_prob)
                    ),
                ));
            }
        }
        scr => {
            let have = scr.as_ref().map_or(0, |x| x.fields);
            unsure.push(reason(
                "screen_too_few_fields",
                format!(
                    "The leukaemia screen needs {} accepted fields; it has {}.",
                    t.min_screen_fields, have
                ),
            ));
            more_fields = Some(t.min_screen_fields.saturating_sub(have).max(1));
        }
    }

    // Immature cells in peripheral blood: judged on the 95% lower bound, so a
    // handful of misclassified cells does not refer a healthy patient. Counted
    // two ways, referring if either is beyond the limit: confident cells among
    // confident white cells, and the estimated count (the sample's mixture
    // proportions, `mixture_proportions`) among all familiar white cells, so
    // immature cells the model is unsure about still count for what they are
    // likely to be.
    let n = s.cells.white;
    let n_all = s.differential.iter().map(|c| c.expected).sum::<f64>().round().max(0.0) as u32;
    for (label, limit, code, what) in [
        ("ig", t.refer_ig_fraction, "immature_granulocytes", "immature granulocytes"),
        (
            "erythroblast",
            t.refer_erythroblast_fraction,
            "erythroblasts",
            "erythroblasts (nucleated red cells)",
        ),
    ] {
        let Some(c) = s.differential.iter().find(|c| c.label == label) else { continue };
        let soft = Proportion::new((c.expected.round().max(0.0) as u32).min(n_all), n_all);
        if n > 0 && c.proportion.low > limit {
            refer.push(reason(
                code,
                format!(
                    "{} of {} white cells are {what} ({}, 95% CI {} to {}; refer above {}).",
                    c.count,
                    n,
                    pct(c.proportion.p),
                    pct(c.proportion.low),
                    pct(c.proportion.high),
                    pct(limit)
                ),
            ));
        } else if n_all > 0 && soft.low > limit {
            refer.push(reason(
                code,
                format!(
                    "About {} of {} white cells are likely {what} by their probabilities ({}, 95% CI {} to {}; refer above {}).",
                    soft.k,
                    n_all,
                    pct(soft.p),
                    pct(soft.low),
                    pct(soft.high),
                    pct(limit)
                ),
            ));
        }
    }

    // A clearly abnormal differential: a class whose whole 95% interval lies
    // outside its range.
    let uncertain_frac = f64::from(s.cells.uncertain) / f64::from((s.cells.white + s.cells.uncertain).max(1));
    let cells_trusted = uncertain_frac <= t.max_uncertain_cell_fraction;
    if cells_trusted && n > 0 {
        for c in &s.differential {
            let Some(&(lo, hi)) = t.differential.get(&c.label) else { continue };
            let (dir, bound) = if c.proportion.high < lo {
                ("low", lo)
            } else if c.proportion.low > hi {
                ("high", hi)
            } else {
                continue;
            };
            refer.push(reason(
                "abnormal_differential",
                format!(
                    "{} {dir}: {} of {} white cells ({}, 95% CI {} to {}; expected {} to {}, beyond {}).",
                    c.label,
                    c.count,
                    n,
                    pct(c.proportion.p),
                    pct(c.proportion.low),
                    pct(c.proportion.high),
                    pct(lo),
                    pct(hi),
                    pct(bound)
                ),
            ));
        }
    }

    if !refer.is_empty() {
        return Outcome::with(Decision::Refer, refer, NextStep::Refer, None);
    }

    // Not enough, or not good enough, evidence to say there is nothing.
    let f = &s.fields;
    if f.added == 0 {
        unsure.push(reason("no_fields", "No fields have been captured yet.".into()));
    } else if f64::from(f.accepted) < policy.min_accepted_fraction * f64::from(f.added) {
        let top = f
            .rejected_by_issue
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(c, _)| c.as_str())
            .unwrap_or("rejected");
        unsure.push(reason(
            "too_many_rejected",
            format!("{} of {} photos were rejected (most often: {top}).", f.rejected, f.added),
        ));
    }
    if !cells_trusted {
        unsure.push(reason(
            "cells_unsure",
            format!(
                "The cell model was unsure about {} of {} white cells.",
                s.cells.uncertain,
                s.cells.white + s.cells.uncertain
            ),
        ));
    }
    if n < policy.target_cells {
        unsure.push(reason(
            "too_few_cells",
            format!("{n} of the target {} white cells have been counted.", policy.target_cells),
        ));
        // Cells per accepted field so far, or a cautious guess before any.
        let per_field = if f.accepted > 0 && n > 0 { f64::from(n) / f64::from(f.accepted) } else { 10.0 };
        let need = (f64::from(policy.target_cells - n) / per_field).ceil().max(1.0) as u32;
        more_fields = Some(more_fields.map_or(need, |m| m.max(need)));
    } else {
        clear.push(reason(
            "differential_normal",
            format!("{n} white cells counted; no class outside its range and no immature cells beyond the limits."),
        ));
    }

    if unsure.is_empty() {
        return Outcome::with(Decision::NoAbnormalityDetected, clear, NextStep::NoReferral, None);
    }

    let room = policy.max_fields.saturating_sub(f.added);
    let next = match more_fields {
        _ if unsure.iter().any(|r| r.code == "too_many_rejected") && room > 0 => {
            NextStep::CheckThenCapture { fields: more_fields.unwrap_or(3).clamp(1, room) }
        }
        Some(k) if room > 0 => {
            more_fields = Some(k.min(room));
            NextStep::CaptureMore { fields: k.min(room) }
        }
        _ if room == 0 => {
            more_fields = None;
            NextStep::FieldLimit
        }
        _ => NextStep::ExpertReview,
    };
    Outcome::with(Decision::Inconclusive, unsure, next, more_fields)
}

/// "1 more field", "3 more fields".
fn more_fields_text(n: u32) -> String {
    if n == 1 {
        "1 more field".into()
    } else {
        format!("{n} more fields")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::{Session, SessionPolicy};
    use super::*;

    fn session_of(fields: &[crate::field::FieldReport]) -> Session {
        let mut s = Session::new(SessionPolicy::default(), "test");
        for f in fields {
            s.add_field(f);
        }
        s
    }

    fn codes(o: &Outcome) -> Vec<&str> {
        o.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn normal_complete_session_has_no_abnormality() {
        let s = session_of(&[normal_field(40), normal_field(40), normal_field(40)]);
        let o = s.summary().outcome;
        assert_eq!(o.decision, Decision::NoAbnormalityDetected, "{o:?}");
        assert_eq!(codes(&o), ["screen_negative", "differential_normal"]);
    }

    #[test]
    fn leukaemia_screen_refers_even_before_the_target() {
        let s = session_of(&[field(vec![], 0.9), field(vec![], 0.8), field(vec![], 0.7)]);
        let o = s.summary().outcome;
        assert_eq!(o.decision, Decision::Refer);
        assert_eq!(codes(&o), ["suspected_acute_leukaemia"]);
    }

    #[test]
    fn screen_between_thresholds_abstains() {
        let mut fields = vec![normal_field(40), normal_field(40), normal_field(40)];
        for f in &mut fields {
            *f = field(f.cells.clone(), 0.35);
        }
        let o = session_of(&fields).summary().outcome;
        assert_eq!(o.decision, Decision::Inconclusive);
        assert_eq!(codes(&o), ["screen_unsure"]);
        assert!(o.next_step.contains("expert review"), "{}", o.next_step);
    }

    #[test]
    fn immature_cells_refer_on_the_lower_bound() {
        let mut f = normal_field(90);
        for _ in 0..12 {
            f.cells.push(cell("ig", 0.9));
        }
        let s = session_of(&[f.clone(), normal_field(5), normal_field(5)]);
        let o = s.summary().outcome;
        assert_eq!(o.decision, Decision::Refer, "{o:?}");
        assert!(codes(&o).contains(&"immature_granulocytes"));
        // Two ig cells in 100 is within what a healthy smear and a model's
        // errors give: not a referral.
        let mut f = normal_field(100);
        f.cells.push(cell("ig", 0.9));
        f.cells.push(cell("ig", 0.9));
        let o = session_of(&[f, normal_field(5), normal_field(5)]).summary().outcome;
        assert_eq!(o.decision, Decision::NoAbnormalityDetected, "{o:?}");
    }

    #[test]
    fn uncertain_immature_cells_count_by_their_probabilities() {
        let mut f = normal_field(100);
        // 30 cells the model thinks are probably ig, none confidently.
        // Each below the confidence line, but far likelier ig than any type
        // this smear is full of.
        let unsure = |probs: [(&str, f64); 5]| {
            let mut c = cell(probs[0].0, probs[0].1);
            c.probs = probs.map(|(l, p)| (l.to_string(), p)).into_iter().collect();
            c
        };
        let likely_ig = [
            ("ig", 0.49),
            ("eosinophil", 0.24),
            ("basophil", 0.25),
            ("neutrophil", 0.01),
            ("monocyte", 0.01),
        ];
        f.cells.extend((0..30).map(|_| unsure(likely_ig)));
        let sum = session_of(&[f.clone(), normal_field(5), normal_field(5)]).summary();
        let o = sum.outcome.clone();
        assert_eq!(o.decision, Decision::Refer, "{:?} {o:?}", sum.differential);
        let m = &o.reasons[0].message;
        assert!(m.starts_with("About ") && m.contains("of 138 white cells are likely immature"), "{m}");
        // Cells that lean only slightly to ig are what a healthy smear's
        // neutrophils look like to the model: explained by the common class.
        let mut g = normal_field(100);
        let leaning =
            [("ig", 0.45), ("neutrophil", 0.41), ("monocyte", 0.1), ("eosinophil", 0.02), ("basophil", 0.02)];
        g.cells.extend((0..30).map(|_| unsure(leaning)));
        let o = session_of(&[g, normal_field(5), normal_field(5)]).summary().outcome;
        assert!(!codes(&o).contains(&"immature_granulocytes"), "{o:?}");
    }

    #[test]
    fn erythroblasts_refer() {
        let mut f = normal_field(100);
        for _ in 0..8 {
            f.cells.push(cell("erythroblast", 0.9));
        }
        let o = session_of(&[f, normal_field(5), normal_field(5)]).summary().outcome;
        assert_eq!(codes(&o), ["erythroblasts"]);
    }

    #[test]
    fn clearly_abnormal_differential_refers() {
        let cells: Vec<_> =
            (0..120).map(|i| cell(if i % 10 == 0 { "neutrophil" } else { "lymphocyte" }, 0.9)).collect();
        let o = session_of(&[field(cells, 0.02), normal_field(5), normal_field(5)]).summary().outcome;
        assert_eq!(o.decision, Decision::Refer);
        assert!(o
            .reasons
            .iter()
            .any(|r| r.code == "abnormal_differential" && r.message.starts_with("neutrophil low")));
        assert!(o.reasons.iter().any(|r| r.message.starts_with("lymphocyte high")));
    }

    #[test]
    fn too_few_cells_says_how_many_more_fields() {
        let o = session_of(&[normal_field(20), normal_field(20), normal_field(20)]).summary().outcome;
        assert_eq!(o.decision, Decision::Inconclusive);
        assert_eq!(codes(&o), ["too_few_cells"]);
        // 57 cells in 3 fields (19 a field): 43 more need 3 more fields.
        assert_eq!(o.more_fields, Some(3));
        assert_eq!(o.next_step, "Capture 3 more fields.");
        // 95 cells in 5 fields: one more field, said in the singular.
        let fields: Vec<_> = (0..5).map(|_| normal_field(20)).collect();
        let o = session_of(&fields).summary().outcome;
        assert_eq!(o.more_fields, Some(1));
        assert_eq!(o.next_step, "Capture 1 more field.");
        assert_eq!(o.next, NextStep::CaptureMore { fields: 1 });
    }

    #[test]
    fn the_next_step_is_a_code_with_its_english_sentence_and_old_records_still_read() {
        let o = session_of(&[normal_field(20), normal_field(20), normal_field(20)]).summary().outcome;
        assert_eq!(o.next, NextStep::CaptureMore { fields: 3 });
        assert_eq!(o.next_step, o.next.sentence());
        let json = serde_json::to_value(&o).expect("json");
        assert_eq!(json["next"], serde_json::json!({"capture_more": {"fields": 3}}));
        // A summary stored before the code existed reads as Unknown, its sentence kept.
        let mut old = json.clone();
        old.as_object_mut().expect("object").remove("next");
        let back: Outcome = serde_json::from_value(old).expect("old outcome");
        assert_eq!((back.next, back.next_step), (NextStep::Unknown, o.next_step));
    }

    #[test]
    fn too_many_rejected_fields_abstain() {
        let mut fields = vec![normal_field(40), normal_field(40), normal_field(40)];
        fields.extend((0..4).map(|_| rejected("out_of_focus")));
        let o = session_of(&fields).summary().outcome;
        assert_eq!(o.decision, Decision::Inconclusive);
        assert_eq!(codes(&o), ["too_many_rejected"]);
        assert!(o.reasons[0].message.contains("out_of_focus"));
        assert!(o.next_step.starts_with("Check focus and lighting"), "{}", o.next_step);
    }

    #[test]
    fn unsure_cell_model_abstains() {
        let mut fields = vec![normal_field(40), normal_field(40), normal_field(40)];
        for _ in 0..60 {
            let mut c = cell("monocyte", 0.3);
            c.probs = [("monocyte", 0.3), ("lymphocyte", 0.3), ("neutrophil", 0.3), ("eosinophil", 0.1)]
                .map(|(l, p)| (l.to_string(), p))
                .into_iter()
                .collect();
            fields[0].cells.push(c);
        }
        let o = session_of(&fields).summary().outcome;
        assert_eq!(o.decision, Decision::Inconclusive, "{o:?}");
        assert!(codes(&o).contains(&"cells_unsure"), "{o:?}");
    }

    #[test]
    fn empty_session_is_inconclusive_with_a_next_step() {
        let o = session_of(&[]).summary().outcome;
        assert_eq!(o.decision, Decision::Inconclusive);
        assert!(codes(&o).contains(&"no_fields"));
        assert!(o.more_fields.is_some());
    }

    #[test]
    fn field_limit_reached_asks_for_a_new_smear() {
        let policy = SessionPolicy { max_fields: 3, ..SessionPolicy::default() };
        let mut s = Session::new(policy, "test");
        for _ in 0..3 {
            s.add_field(&normal_field(10));
        }
        let o = s.summary().outcome;
        assert_eq!(o.decision, Decision::Inconclusive);
        assert_eq!(o.more_fields, None);
        assert!(o.next_step.contains("new smear"));
    }

    #[test]
    fn decisions_have_stable_names() {
        for d in [Decision::Refer, Decision::NoAbnormalityDetected, Decision::Inconclusive] {
            assert_eq!(Decision::parse(d.as_str()), Some(d));
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{}\"", d.as_str()));
        }
    }

    // Each threshold at its exact value and one step past it (found missing
    // by `cargo mutants` on this module: docs/reliability.md).

    /// A complete normal session's summary and the default policy.
    fn normal() -> (Summary, SessionPolicy) {
        let s = session_of(&[normal_field(40), normal_field(40), normal_field(40)]);
        let sum = s.summary();
        assert_eq!(codes(&sum.outcome), ["screen_negative", "differential_normal"]);
        (sum, SessionPolicy::default())
    }

    fn decided(s: &Summary, p: &SessionPolicy) -> Vec<String> {
        decide(s, p).reasons.into_iter().map(|r| r.code).collect()
    }

    fn has(s: &Summary, p: &SessionPolicy, code: &str) -> bool {
        decided(s, p).iter().any(|c| c == code)
    }

    fn class<'a>(s: &'a mut Summary, label: &str) -> &'a mut crate::session::ClassCount {
        if !s.differential.iter().any(|c| c.label == label) {
            s.differential.push(crate::session::ClassCount {
                label: label.into(),
                count: 0,
                proportion: crate::session::Proportion::new(0, 1),
                expected: 0.0,
            });
        }
        s.differential.iter_mut().find(|c| c.label == label).expect("class")
    }

    #[test]
    fn the_screen_needs_its_fields_and_words_its_probability() {
        let (mut s, p) = normal();
        let scr = s.screen.as_mut().expect("screen");
        scr.fields = p.thresholds.min_screen_fields - 1;
        assert!(has(&s, &p, "screen_too_few_fields"));
        s.screen.as_mut().expect("screen").fields = p.thresholds.min_screen_fields;
        assert!(!has(&s, &p, "screen_too_few_fields"));
        s.screen.as_mut().expect("screen").malignant_prob = 0.123;
        let o = decide(&s, &p);
        let m = &o.reasons.iter().find(|r| r.code == "screen_negative").expect("negative").message;
        assert!(m.contains("12.3%") && m.contains("20.0%"), "{m}");
    }

    #[test]
    fn the_screen_clears_at_its_clear_threshold_and_abstains_just_above() {
        let (mut s, p) = normal();
        s.screen.as_mut().expect("screen").malignant_prob = p.thresholds.clear_malignant_prob;
        assert!(has(&s, &p, "screen_negative"), "{:?}", decided(&s, &p));
        s.screen.as_mut().expect("screen").malignant_prob = p.thresholds.clear_malignant_prob + 1e-9;
        assert!(has(&s, &p, "screen_unsure"));
        s.screen.as_mut().expect("screen").malignant_prob = p.thresholds.refer_malignant_prob;
        assert!(has(&s, &p, "suspected_acute_leukaemia"));
    }

    #[test]
    fn unsure_screen_fields_abstain_only_beyond_their_fraction() {
        let (mut s, p) = normal();
        assert_eq!(p.thresholds.max_unsure_field_fraction, 0.5);
        for (unsure, fields, abstains) in [(1, 10, false), (5, 10, false), (6, 10, true)] {
            let scr = s.screen.as_mut().expect("screen");
            (scr.unsure_fields, scr.fields) = (unsure, fields);
            assert_eq!(has(&s, &p, "screen_unsure"), abstains, "{unsure} of {fields}");
        }
    }

    #[test]
    fn immature_cells_refer_only_beyond_the_limit_and_only_with_white_cells() {
        let (mut s, mut p) = normal();
        let limit = p.thresholds.refer_ig_fraction;
        // The lower bound exactly at the limit: not beyond it.
        class(&mut s, "ig").proportion.low = limit;
        assert!(!has(&s, &p, "immature_granulocytes"));
        class(&mut s, "ig").proportion.low = limit + 0.01;
        assert!(has(&s, &p, "immature_granulocytes"));
        // No white cells counted: the confident count says nothing.
        s.cells.white = 0;
        assert!(!has(&s, &p, "immature_granulocytes"));
        // The estimated count: its lower bound exactly at the limit is not beyond it.
        let (mut s, _) = normal();
        class(&mut s, "ig").expected = 20.0;
        let n_all = s.differential.iter().map(|c| c.expected).sum::<f64>().round() as u32;
        let soft = crate::session::Proportion::new(20, n_all);
        p.thresholds.refer_ig_fraction = soft.low;
        assert!(!has(&s, &p, "immature_granulocytes"), "{:?}", decided(&s, &p));
        p.thresholds.refer_ig_fraction = soft.low - 1e-9;
        assert!(has(&s, &p, "immature_granulocytes"));
    }

    #[test]
    fn an_abnormal_differential_needs_trusted_counted_cells_and_a_whole_interval_outside() {
        let (mut s, mut p) = normal();
        let lo = p.thresholds.differential["neutrophil"].0;
        // The interval's top exactly at the range's bottom: not outside it.
        class(&mut s, "neutrophil").proportion.high = lo;
        assert!(!has(&s, &p, "abnormal_differential"), "{:?}", decided(&s, &p));
        class(&mut s, "neutrophil").proportion.high = lo - 0.01;
        assert!(has(&s, &p, "abnormal_differential"));
        // A few uncertain cells leave the differential trusted...
        (s.cells.uncertain, s.cells.white) = (1, 99);
        assert!(has(&s, &p, "abnormal_differential") && !has(&s, &p, "cells_unsure"));
        // ...too many do not.
        (s.cells.uncertain, s.cells.white) = (50, 50);
        assert!(!has(&s, &p, "abnormal_differential") && has(&s, &p, "cells_unsure"));
        // No counted white cells: nothing to judge.
        (s.cells.uncertain, s.cells.white) = (0, 0);
        assert!(!has(&s, &p, "abnormal_differential"));
        p.thresholds.differential.clear();
        (s.cells.uncertain, s.cells.white) = (0, 100);
        assert!(!has(&s, &p, "abnormal_differential"));
    }

    #[test]
    fn a_differential_is_high_only_when_its_whole_interval_lies_above() {
        let (mut s, p) = normal();
        let hi = p.thresholds.differential["lymphocyte"].1;
        let c = class(&mut s, "lymphocyte");
        c.proportion.high = c.proportion.high.max(hi + 0.1);
        // The interval's bottom exactly at the range's top: not outside it.
        c.proportion.low = hi;
        assert!(!has(&s, &p, "abnormal_differential"), "{:?}", decided(&s, &p));
        class(&mut s, "lymphocyte").proportion.low = hi + 0.01;
        assert!(has(&s, &p, "abnormal_differential"));
    }

    #[test]
    fn rejected_photos_abstain_only_below_the_accepted_fraction() {
        let (mut s, mut p) = normal();
        p.min_accepted_fraction = 0.5;
        // Exactly half accepted: enough.
        (s.fields.accepted, s.fields.rejected, s.fields.added) = (3, 3, 6);
        assert!(!has(&s, &p, "too_many_rejected"), "{:?}", decided(&s, &p));
        (s.fields.accepted, s.fields.rejected, s.fields.added) = (3, 4, 7);
        assert!(has(&s, &p, "too_many_rejected"));
    }

    #[test]
    fn the_target_count_itself_is_enough() {
        let (mut s, p) = normal();
        s.cells.white = p.target_cells;
        assert!(has(&s, &p, "differential_normal") && !has(&s, &p, "too_few_cells"), "{:?}", decided(&s, &p));
        s.cells.white = p.target_cells - 1;
        assert!(has(&s, &p, "too_few_cells") && !has(&s, &p, "differential_normal"));
    }

    #[test]
    fn more_fields_are_guessed_at_ten_cells_a_field_until_cells_are_counted() {
        let (mut s, p) = normal();
        // Fields accepted but no white cell counted yet: the cautious guess.
        (s.cells.white, s.fields.accepted) = (0, 3);
        assert_eq!(decide(&s, &p).more_fields, Some(p.target_cells.div_ceil(10)));
        // Cells counted but no accepted field to divide by: the guess too.
        (s.cells.white, s.fields.accepted) = (40, 0);
        assert_eq!(decide(&s, &p).more_fields, Some((p.target_cells - 40).div_ceil(10)));
        // Both: the session's own rate (40 cells in 2 fields, 60 to go).
        (s.cells.white, s.fields.accepted) = (40, 2);
        assert_eq!(decide(&s, &p).more_fields, Some(3));
    }

    #[test]
    fn the_next_step_at_the_field_limit_and_when_only_the_models_are_unsure() {
        let (mut s, mut p) = normal();
        // Too many rejected and no room left: a new smear, not "check and capture".
        p.max_fields = 7;
        (s.fields.accepted, s.fields.rejected, s.fields.added) = (3, 4, 7);
        let o = decide(&s, &p);
        assert_eq!((o.next, o.more_fields), (NextStep::FieldLimit, None), "{o:?}");
        // Enough cells, room left, but the cell model unsure: nothing more to
        // capture helps, an expert should look.
        let (mut s, p) = normal();
        (s.cells.uncertain, s.cells.white) = (60, p.target_cells);
        let o = decide(&s, &p);
        assert_eq!(codes(&o), ["cells_unsure"], "{o:?}");
        assert_eq!((o.next, o.more_fields), (NextStep::ExpertReview, None));
    }
}
