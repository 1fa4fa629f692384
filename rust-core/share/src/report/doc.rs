//! What the report says, decided once from the record: every sentence, number
//! and grouping the PDF and the HTML page both show. The pictures are added by
//! [`super::images`]; the two writers only lay this out.

use hemalens_core::field::Cell;
use hemalens_core::session::{Decision, PLATELET, WHITE_CELL_LABELS};

use super::images::{Jpeg, Overlay};
use crate::Record;

/// Said on every page: what this report is and is not.
pub(crate) const DISCLAIMER: &str = "This report is decision support, not a diagnosis. It comes from \
machine-learning models reading photos of one blood smear and can be wrong. A trained health worker or \
clinician must interpret it with the patient's history and examination, and confirm an abnormal or \
inconclusive result with a full blood count and expert review of the smear.";

/// The short form, in every page's footer.
pub(crate) const FOOTER: &str = "Decision support, not a diagnosis.";

/// The gallery group of cells the models were unsure of (not counted).
pub(crate) const UNCERTAIN: &str = "uncertain";

/// Cells shown per gallery group at most; the rest are counted in a note.
pub(crate) const GALLERY_CAP: usize = 60;

/// How the outcome is coloured: red, green or amber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Refer,
    Clear,
    Unsure,
}

#[derive(Debug)]
pub(crate) struct OutcomeView {
    pub tone: Tone,
    /// "Refer", "No abnormality detected", "Inconclusive".
    pub headline: String,
    pub next_step: String,
    /// The machine's reasons, as sentences.
    pub reasons: Vec<String>,
    /// Who reviewed the outcome and when (or that nobody has yet), and what
    /// the machine said when a reviewer changed it.
    pub review: Vec<String>,
    /// Whether a reviewer replaced the machine's outcome.
    pub overridden: bool,
}

#[derive(Debug)]
pub(crate) struct DiffRow {
    pub label: String,
    pub name: String,
    pub count: u32,
    pub p: f64,
    pub low: f64,
    pub high: f64,
    /// The range the rule accepts (fractions), if it has one for this class.
    pub range: Option<(f64, f64)>,
    pub range_text: String,
}

#[derive(Debug)]
pub(crate) struct ScreenView {
    pub headline: String,
    pub detail: Vec<String>,
    /// (class, probability as text), most probable first.
    pub probs: Vec<(String, String)>,
    pub tone: Tone,
}

#[derive(Debug)]
pub(crate) struct ReviewView {
    pub at: String,
    pub who: String,
    pub what: String,
    pub note: Option<String>,
}

/// One white cell (or platelet) as the report shows it.
#[derive(Debug, Clone)]
pub(crate) struct CellView {
    /// Index into `record.fields` and into that field's cells.
    pub field: usize,
    pub cell: usize,
    /// The label that stands: a reviewer's, else the machine's.
    pub label: String,
    pub machine: String,
    pub confidence: f64,
    pub relabelled_by: Option<String>,
    /// In the differential's count: confident and familiar (or relabelled).
    pub counted: bool,
    /// "F3·1" style name: field and cell numbered from 1.
    pub tag: String,
}

impl CellView {
    /// The text on the cell's box in an overlay.
    pub(crate) fn mark_text(&self) -> String {
        match &self.relabelled_by {
            Some(_) => format!("{} (reviewed)", self.label),
            None if self.counted => format!("{} {:.0}%", self.label, self.confidence * 100.0),
            None => format!("{}? {:.0}%", self.label, self.confidence * 100.0),
        }
    }

    /// The caption under the cell's crop in the gallery.
    pub(crate) fn caption(&self, group: &str) -> String {
        match &self.relabelled_by {
            Some(_) => format!("{} was {}", self.tag, self.machine),
            None if group == UNCERTAIN => {
                format!("{} {}? {:.0}%", self.tag, short(&self.label), self.confidence * 100.0)
            }
            None => format!("{} {:.0}%", self.tag, self.confidence * 100.0),
        }
    }
}

#[derive(Debug)]
pub(crate) struct FieldView {
    /// Index into `record.fields`.
    pub index: usize,
    /// Numbered from 1.
    pub number: i64,
    pub summary: String,
    pub cells: Vec<CellView>,
    pub overlay: Option<Overlay>,
    /// Why there is no overlay, when there is none.
    pub missing: Option<String>,
}

#[derive(Debug)]
pub(crate) struct RejectedView {
    pub number: i64,
    pub codes: String,
    pub messages: String,
}

#[derive(Debug)]
pub(crate) struct Crop {
    pub cell: CellView,
    pub caption: String,
    pub image: Option<Jpeg>,
}

#[derive(Debug)]
pub(crate) struct GroupView {
    pub key: String,
    pub title: String,
    pub total: usize,
    pub crops: Vec<Crop>,
}

#[derive(Debug)]
pub(crate) struct ModelView {
    pub id: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug)]
pub(crate) struct Doc {
    pub patient: String,
    /// Key-value pairs of the patient block, in order.
    pub identity: Vec<(String, String)>,
    pub outcome: OutcomeView,
    pub differential: Vec<DiffRow>,
    pub differential_note: String,
    pub screen: Option<ScreenView>,
    pub photos_line: String,
    pub cells_line: String,
    pub reviews: Vec<ReviewView>,
    pub fields: Vec<FieldView>,
    pub rejected: Vec<RejectedView>,
    pub gallery: Vec<GroupView>,
    /// Things left out of the pictures, said in the report.
    pub notes: Vec<String>,
    pub models: Vec<ModelView>,
    pub provenance: Vec<(String, String)>,
    pub thresholds: Vec<(String, String)>,
    /// One colour per cell class (Okabe-Ito, as in the app's overlays).
    pub colour_labels: Vec<String>,
}

/// Milliseconds since the Unix epoch as UTC ISO 8601, to the second.
pub(crate) fn iso(ms: i64) -> String {
    let t = crate::time::Utc::from_ms(ms);
    format!("{}T{:02}:{:02}:{:02}Z", t.date(), t.hour, t.minute, t.second)
}

/// A fraction as a percentage with one decimal: `0.75` is `75.0%`.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A 95% interval: `30.1–95.4%`.
pub(crate) fn interval(low: f64, high: f64) -> String {
    format!("{:.1}–{:.1}%", 100.0 * low, 100.0 * high)
}

/// A range limit without needless decimals: `0.3` is `30%`, `0.025` is `2.5%`.
fn pct_short(x: f64) -> String {
    let v = 100.0 * x;
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}%")
    } else {
        format!("{v:.1}%")
    }
}

/// The classes in the order a differential is read (CellaVision's order).
const ORDER: [&str; 7] =
    ["neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil", "ig", "erythroblast"];

fn rank(label: &str) -> usize {
    match label {
        UNCERTAIN => ORDER.len() + 1,
        PLATELET => ORDER.len() + 2,
        l => ORDER.iter().position(|o| *o == l).unwrap_or(ORDER.len()),
    }
}

/// One cell of a class, in words.
pub(crate) fn class_name(label: &str) -> String {
    match label {
        "neutrophil" => "Neutrophil".into(),
        "lymphocyte" => "Lymphocyte".into(),
        "monocyte" => "Monocyte".into(),
        "eosinophil" => "Eosinophil".into(),
        "basophil" => "Basophil".into(),
        "ig" => "Immature granulocyte".into(),
        "erythroblast" => "Erythroblast".into(),
        PLATELET => "Platelet".into(),
        other => other.replace('_', " "),
    }
}

/// A gallery heading.
fn group_title(label: &str) -> String {
    match label {
        "ig" => "Immature granulocytes (IG)".into(),
        "erythroblast" => "Erythroblasts (nucleated red cells)".into(),
        UNCERTAIN => "Uncertain cells (not counted)".into(),
        PLATELET => "Platelets (not white cells)".into(),
        other => format!("{}s", class_name(other)),
    }
}

/// A label short enough for a caption under a crop.
fn short(label: &str) -> &str {
    match label {
        "neutrophil" => "neut",
        "lymphocyte" => "lymph",
        "monocyte" => "mono",
        "eosinophil" => "eos",
        "basophil" => "baso",
        "erythroblast" => "NRBC",
        "platelet" => "plt",
        l => l,
    }
}

fn decision_words(d: Decision) -> &'static str {
    match d {
        Decision::Refer => "Refer",
        Decision::NoAbnormalityDetected => "No abnormality detected",
        Decision::Inconclusive => "Inconclusive",
    }
}

fn decision_words_str(s: &str) -> String {
    Decision::parse(s).map_or_else(|| s.replace('_', " "), |d| decision_words(d).to_string())
}

fn tone(d: Decision) -> Tone {
    match d {
        Decision::Refer => Tone::Refer,
        Decision::NoAbnormalityDetected => Tone::Clear,
        Decision::Inconclusive => Tone::Unsure,
    }
}

/// What to do when a reviewer's outcome replaced the machine's (the
/// machine's next step was written for its own outcome).
fn next_step_for(d: Decision) -> &'static str {
    match d {
        Decision::Refer => {
            "Refer the patient to a hospital for a full blood count and expert smear review; keep the slide."
        }
        Decision::NoAbnormalityDetected => {
            "No referral needed from this screen; continue usual care and repeat if symptoms persist."
        }
        Decision::Inconclusive => "Prepare a new smear or send the slide for expert review.",
    }
}

fn screen_class(label: &str) -> String {
    match label {
        "benign" => "Benign (no leukaemic blasts)".into(),
        "malignant_early_pre_b" => "B-ALL, early pre-B".into(),
        "malignant_pre_b" => "B-ALL, pre-B".into(),
        "malignant_pro_b" => "B-ALL, pro-B".into(),
        other => other.replace('_', " "),
    }
}

/// A threshold as written in the policy: `0.9695`, `3`.
fn num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// The labels in the order that picks their colours (every picture the same).
pub(crate) fn colour_labels() -> Vec<String> {
    WHITE_CELL_LABELS.iter().copied().chain([PLATELET]).map(str::to_string).collect()
}

/// The cells of every accepted field with their standing labels.
pub(crate) fn cells(record: &Record) -> Vec<Vec<CellView>> {
    // The latest relabel of each cell wins.
    let relabel = |seq: i64, idx: usize| {
        record
            .reviews
            .iter()
            .rev()
            .find(|r| r.kind == "relabel_cell" && r.field == Some(seq) && r.cell == Some(idx as i64))
    };
    record
        .fields
        .iter()
        .enumerate()
        .map(|(fi, f)| {
            if !f.report.quality.ok {
                return Vec::new();
            }
            f.report
                .cells
                .iter()
                .enumerate()
                .map(|(ci, c): (usize, &Cell)| {
                    let review = relabel(f.seq, ci);
                    let label = review.and_then(|r| r.to.clone()).unwrap_or_else(|| c.label.clone());
                    let counted = review.is_some() || record.machine_counted(f, c);
                    CellView {
                        field: fi,
                        cell: ci,
                        label,
                        machine: c.label.clone(),
                        confidence: c.confidence,
                        relabelled_by: review.map(|r| r.reviewer.clone()),
                        counted,
                        tag: format!("F{}·{}", f.seq + 1, ci + 1),
                    }
                })
                .collect()
        })
        .collect()
}

fn field_summary(cells: &[CellView], screen: Option<&hemalens_core::field::Screen>) -> String {
    let white: Vec<&CellView> = cells.iter().filter(|c| c.label != PLATELET).collect();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in &white {
        match counts.iter_mut().find(|(l, _)| *l == c.label) {
            Some(e) => e.1 += 1,
            None => counts.push((c.label.clone(), 1)),
        }
    }
    counts.sort_by_key(|(l, _)| rank(l));
    let mut s = match white.len() {
        0 => "No white cells".to_string(),
        1 => "1 white cell".to_string(),
        n => format!("{n} white cells"),
    };
    if !counts.is_empty() {
        let parts: Vec<String> = counts.iter().map(|(l, n)| format!("{l} {n}")).collect();
        s += &format!(" ({})", parts.join(", "));
    }
    let unsure = white.iter().filter(|c| !c.counted).count();
    if unsure > 0 {
        s += &format!(", {unsure} uncertain");
    }
    if let Some(sc) = screen {
        s += &format!("; screen {} {:.0}%", sc.label.replace('_', " "), sc.confidence * 100.0);
    }
    s
}

/// Everything the report says, without its pictures.
pub(crate) fn build(record: &Record) -> Doc {
    let s = record.summary();
    let th = &s.provenance.thresholds;

    let operator = record.operator().unwrap_or("not recorded").to_string();
    let site = match record.site() {
        Some(site) => format!(
            "{} (profile v{}{})",
            site.site,
            site.version,
            if site.cells_reviewed { "" } else { ", cell types not yet reviewed" }
        ),
        None => "no site profile".into(),
    };
    // The patient code, then pairs read across: who and where on the left,
    // when on the right.
    let identity = vec![
        ("Patient code".to_string(), record.session.patient.clone()),
        ("Operator".to_string(), operator),
        ("Started (UTC)".to_string(), iso(record.session.started_at)),
        ("Site".to_string(), site),
        ("Closed (UTC)".to_string(), record.session.closed_at.map_or_else(|| "open".to_string(), iso)),
        ("Session".to_string(), record.uid.clone()),
        ("Device".to_string(), record.device.id.clone()),
    ];

    // The outcome that stands, and who made it stand.
    let machine = &s.outcome;
    let effective = Decision::parse(record.outcome()).unwrap_or(machine.decision);
    let overridden = effective != machine.decision;
    // The latest override (if any) and every confirmation after it.
    let mut review = Vec::new();
    let last_override = record.reviews.iter().rposition(|r| r.kind == "override_outcome");
    if let Some(r) = last_override.map(|i| &record.reviews[i]) {
        review.push(format!(
            "Outcome set to {} by reviewer {} on {}.",
            decision_words_str(r.to.as_deref().unwrap_or("")).to_lowercase(),
            r.reviewer,
            iso(r.at)
        ));
    }
    let confirms =
        record.reviews.iter().skip(last_override.map_or(0, |i| i + 1)).filter(|r| r.kind == "confirm");
    for r in confirms {
        review.push(format!("Outcome confirmed by reviewer {} on {}.", r.reviewer, iso(r.at)));
    }
    if review.is_empty() {
        review.push("Not yet reviewed by a clinician.".into());
    }
    if overridden {
        review.push(format!(
            "The machine's outcome was {}; its reasons are kept below.",
            decision_words(machine.decision).to_lowercase()
        ));
    }
    let outcome = OutcomeView {
        tone: tone(effective),
        headline: decision_words(effective).to_string(),
        next_step: if overridden { next_step_for(effective).to_string() } else { machine.next_step.clone() },
        reasons: machine.reasons.iter().map(|r| r.message.clone()).collect(),
        review,
        overridden,
    };

    // The differential, in reading order.
    let mut rows: Vec<DiffRow> = s
        .differential
        .iter()
        .map(|c| {
            let lo = th.get(&format!("wbc-type.differential_{}_low", c.label)).copied();
            let hi = th.get(&format!("wbc-type.differential_{}_high", c.label)).copied();
            let limit = th.get(&format!("wbc-type.refer_{}_fraction", c.label)).copied();
            let (range, range_text) = match (lo, hi, limit) {
                (Some(lo), Some(hi), _) => {
                    (Some((lo, hi)), format!("{}–{}", pct_short(lo).trim_end_matches('%'), pct_short(hi)))
                }
                (_, _, Some(l)) => (Some((0.0, l)), format!("up to {}", pct_short(l))),
                _ => (None, String::new()),
            };
            DiffRow {
                label: c.label.clone(),
                name: class_name(&c.label),
                count: c.count,
                p: c.proportion.p,
                low: c.proportion.low,
                high: c.proportion.high,
                range,
                range_text,
            }
        })
        .collect();
    rows.sort_by_key(|r| rank(&r.label));
    let c = &s.cells;
    let differential_note = format!(
        "Shares of the {} white cells the cell model was confident about; {} uncertain white {} not counted. \
         Counts are the machine's at closing; reviewers' relabels are listed under Reviews.",
        c.white,
        c.uncertain,
        if c.uncertain == 1 { "cell is" } else { "cells are" }
    );
    let cells_line = format!(
        "{} cells detected in accepted fields: {} white cells counted, {} uncertain, {} platelets.",
        c.detected, c.white, c.uncertain, c.platelets
    );
    let f = &s.fields;
    let mut photos_line =
        format!("{} photos taken: {} accepted, {} rejected", f.added, f.accepted, f.rejected);
    if !f.rejected_by_issue.is_empty() {
        let parts: Vec<String> = f.rejected_by_issue.iter().map(|(k, n)| format!("{k} {n}")).collect();
        photos_line += &format!(" ({})", parts.join(", "));
    }
    photos_line.push('.');

    let screen = s.screen.as_ref().map(|sc| {
        let refer = th.get("all-screen.refer_malignant_prob").copied();
        let clear = th.get("all-screen.clear_malignant_prob").copied();
        let (tone, verdict) = match (refer, clear) {
            (Some(r), _) if sc.malignant_prob >= r => {
                (Tone::Refer, format!("at or above the referral line of {}", pct(r)))
            }
            (_, Some(c)) if sc.malignant_prob <= c => (Tone::Clear, format!("at or below the clear line of {}", pct(c))),
            (Some(r), Some(c)) => (Tone::Unsure, format!("between the clear line ({}) and the referral line ({})", pct(c), pct(r))),
            _ => (Tone::Unsure, "no lines recorded".into()),
        };
        let mut probs: Vec<(f64, String, String)> =
            sc.probs.iter().map(|(l, p)| (p, screen_class(l), pct(p))).collect();
        probs.sort_by(|a, b| b.0.total_cmp(&a.0));
        ScreenView {
            headline: format!(
                "Probability of acute lymphoblastic leukaemia: {}, {}.",
                pct(sc.malignant_prob),
                verdict
            ),
            detail: vec![format!(
                "Over {} accepted fields ({} tiles); the screen was unsure on {} of them. Most probable class: {} ({}).",
                sc.fields,
                sc.tiles,
                sc.unsure_fields,
                screen_class(&sc.label),
                pct(sc.confidence)
            )],
            probs: probs.into_iter().map(|(_, l, p)| (l, p)).collect(),
            tone,
        }
    });

    let reviews = record
        .reviews
        .iter()
        .map(|r| {
            let from = r.from.as_deref().unwrap_or("none");
            let to = r.to.as_deref().unwrap_or("none");
            let what = match r.kind.as_str() {
                "relabel_cell" => format!(
                    "Relabelled cell {} of field {}: {} to {}",
                    r.cell.map_or(0, |c| c + 1),
                    r.field.map_or(0, |f| f + 1),
                    from,
                    to
                ),
                "confirm" => format!("Confirmed the outcome: {}", decision_words_str(to)),
                "override_outcome" => format!(
                    "Overrode the outcome: {} to {}",
                    decision_words_str(from),
                    decision_words_str(to)
                ),
                other => other.replace('_', " "),
            };
            ReviewView { at: iso(r.at), who: r.reviewer.clone(), what, note: r.note.clone() }
        })
        .collect();

    let cells = cells(record);
    let mut fields = Vec::new();
    let mut rejected = Vec::new();
    for (i, (fr, cs)) in record.fields.iter().zip(&cells).enumerate() {
        let q = &fr.report.quality;
        if q.ok {
            fields.push(FieldView {
                index: i,
                number: fr.seq + 1,
                summary: field_summary(cs, fr.report.screen.as_ref()),
                cells: cs.clone(),
                overlay: None,
                missing: None,
            });
        } else {
            let codes: Vec<&str> = q.issues.iter().map(|i| i.code.as_str()).collect();
            let messages: Vec<&str> = q.issues.iter().map(|i| i.message.as_str()).collect();
            rejected.push(RejectedView {
                number: fr.seq + 1,
                codes: if codes.is_empty() { "rejected".into() } else { codes.join(", ") },
                messages: messages.join(" "),
            });
        }
    }

    // The gallery: each cell under its standing class; uncertain ones apart.
    let mut groups: Vec<GroupView> = Vec::new();
    for c in cells.iter().flatten() {
        let key = if c.label == PLATELET {
            PLATELET.to_string()
        } else if c.counted {
            c.label.clone()
        } else {
            UNCERTAIN.to_string()
        };
        let i = match groups.iter().position(|g| g.key == key) {
            Some(i) => i,
            None => {
                groups.push(GroupView { title: group_title(&key), key, total: 0, crops: Vec::new() });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        g.total += 1;
        if g.crops.len() < GALLERY_CAP {
            g.crops.push(Crop { caption: c.caption(&g.key), cell: c.clone(), image: None });
        }
    }
    groups.sort_by(|a, b| rank(&a.key).cmp(&rank(&b.key)).then_with(|| a.key.cmp(&b.key)));
    let mut notes = Vec::new();
    for g in &groups {
        if g.total > g.crops.len() {
            notes.push(format!(
                "{}: the first {} of {} cells are shown in the gallery.",
                g.title,
                g.crops.len(),
                g.total
            ));
        }
    }

    let p = &s.provenance;
    let mut provenance = vec![
        ("Record id".to_string(), record.uid.clone()),
        ("Device id".to_string(), record.device.id.clone()),
        ("App version".to_string(), p.app_version.clone()),
        ("Core version".to_string(), p.core_version.clone()),
        (
            "Site profile".to_string(),
            record.site().map_or_else(|| "none".into(), |s| format!("{} v{}", s.site, s.version)),
        ),
        ("Target white cells".to_string(), p.target_cells.to_string()),
        ("Most fields".to_string(), p.max_fields.to_string()),
        ("Least accepted fraction".to_string(), num(p.min_accepted_fraction)),
        ("Decided at (UTC)".to_string(), iso(record.result.decided_at)),
    ];
    if record.device.app_version != p.app_version {
        provenance.push(("Reporting app version".into(), record.device.app_version.clone()));
    }
    let colour_labels = colour_labels();

    Doc {
        patient: record.session.patient.clone(),
        identity,
        outcome,
        differential: rows,
        differential_note,
        screen,
        photos_line,
        cells_line,
        reviews,
        fields,
        rejected,
        gallery: groups,
        notes,
        models: p
            .models
            .iter()
            .map(|m| ModelView { id: m.id.clone(), version: m.version.clone(), sha256: m.sha256.clone() })
            .collect(),
        provenance,
        thresholds: p.thresholds.iter().map(|(k, v)| (k.clone(), num(*v))).collect(),
        colour_labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn iso_dates_are_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso(1_796_526_442_603), "2026-12-06T03:07:22Z");
        assert_eq!(iso(-1000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn percentages_and_intervals() {
        assert_eq!(pct(0.75), "75.0%");
        assert_eq!(interval(0.300_641, 0.954_41), "30.1–95.4%");
        assert_eq!(pct_short(0.3), "30%");
        assert_eq!(pct_short(0.025), "2.5%");
        assert_eq!(num(0.9695), "0.9695");
        assert_eq!(num(3.0), "3");
    }

    #[test]
    fn the_fixture_reads_as_a_reviewed_inconclusive_session() {
        let r = sample();
        let d = build(&r);
        assert_eq!(d.patient, "P-0001");
        assert_eq!(d.outcome.tone, Tone::Unsure);
        assert_eq!(d.outcome.headline, "Inconclusive");
        assert_eq!(d.outcome.next_step, "Capture 10 more fields.");
        assert!(d.outcome.review[0].contains("confirmed by reviewer dr-okafor"), "{:?}", d.outcome.review);
        assert_eq!(d.fields.len(), 2);
        assert_eq!(d.rejected.len(), 2);
        assert_eq!(d.rejected[0].codes, "unfamiliar_image");
        // Reading order: neutrophils first; the rule's range beside each.
        assert_eq!(d.differential[0].label, "neutrophil");
        assert_eq!(d.differential[0].range_text, "30–85%");
        assert_eq!(
            d.differential.iter().find(|r| r.label == "ig").map(|r| r.range_text.as_str()),
            Some("up to 5%")
        );
        // The relabelled cell stands under the reviewer's label, counted.
        let relabelled = d.gallery.iter().flat_map(|g| &g.crops).find(|c| c.cell.relabelled_by.is_some());
        assert_eq!(relabelled.map(|c| c.cell.tag.as_str()), Some("F1·1"));
        assert!(d.models.iter().any(|m| m.sha256.starts_with("818dc355")));
    }

    #[test]
    fn an_override_changes_the_headline_and_the_next_step() {
        let mut r = sample();
        r.session.outcome = Some("refer".into());
        r.reviews.push(crate::record::Review {
            kind: "override_outcome".into(),
            field: None,
            cell: None,
            from: Some("inconclusive".into()),
            to: Some("refer".into()),
            reviewer: "dr-x".into(),
            at: 0,
            note: None,
        });
        let d = build(&r);
        assert_eq!(d.outcome.tone, Tone::Refer);
        assert!(d.outcome.overridden);
        assert!(d.outcome.next_step.starts_with("Refer the patient"));
        assert_eq!(d.outcome.review[0], "Outcome set to refer by reviewer dr-x on 1970-01-01T00:00:00Z.");
        assert!(d.outcome.review[1].contains("inconclusive"));
    }
}
