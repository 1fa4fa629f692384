//! `/cases/{id}`: one case as a haematologist reviews it. The outcome and
//! why, the confirm / override forms, the differential with intervals, the
//! screen, every cell in a gallery by class (big crops; select one and press
//! a number to relabel it), each field with its boxes, the reviews so far
//! and the provenance.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hemalens_share::record::Record;
use maud::html;
use serde::Deserialize;

use super::auth::Authed;
use super::pictures::{self, cell_name, field_name};
use super::{html_page, layout, outcome_badge, outcome_text, when};
use crate::ingest::take::Summary;
use crate::reviews::{self, Decision, Stored, OUTCOMES};
use crate::{AppState, Error};

type CaseRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// A case as stored.
#[derive(Debug)]
pub struct Case {
    pub id: i64,
    pub uid: String,
    pub device_id: String,
    pub patient: Option<String>,
    pub machine_outcome: Option<String>,
    pub status: String,
    pub closed_at: Option<i64>,
    pub received_at: i64,
    pub summary: Option<Summary>,
    pub record: Option<Record>,
    pub results_at: Option<i64>,
    pub photos_at: Option<i64>,
    pub sms: Option<String>,
    pub sms_at: Option<i64>,
    pub final_outcome: Option<String>,
    pub reviewed_by: Option<String>,
}

pub async fn load(state: &AppState, id: i64) -> Result<Case, Error> {
    let r: Option<CaseRow> = sqlx::query_as(
        "SELECT session_uid, device_id, patient, machine_outcome, status, closed_at, received_at, summary, record, \
         results_at, photos_at, sms, sms_at, final_outcome, reviewed_by FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let r = r.ok_or(Error::NotFound)?;
    Ok(Case {
        id,
        uid: r.0,
        device_id: r.1,
        patient: r.2,
        machine_outcome: r.3,
        status: r.4,
        closed_at: r.5,
        received_at: r.6,
        summary: r.7.as_deref().and_then(|s| serde_json::from_str(s).ok()),
        record: r.8.as_deref().and_then(|s| serde_json::from_str(s).ok()),
        results_at: r.9,
        photos_at: r.10,
        sms: r.11,
        sms_at: r.12,
        final_outcome: r.13,
        reviewed_by: r.14,
    })
}

/// The class labels a reviewer may choose: every class the cell model
/// gave a probability for, in the model's order.
fn labels(record: &Record) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in &record.fields {
        for c in &f.report.cells {
            for (k, _) in c.probs.iter() {
                if !out.iter().any(|o| o == k) {
                    out.push(k.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        out = ["neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil"].map(String::from).to_vec();
    }
    out
}

/// A cell as the page shows it: the machine's label, a reviewer's if any.
struct CellView<'a> {
    seq: i64,
    idx: usize,
    machine: &'a str,
    confidence: f64,
    /// Counted by the machine (a familiar, confident white cell).
    counted: bool,
    relabel: Option<&'a Stored>,
}

impl CellView<'_> {
    fn label(&self) -> &str {
        self.relabel.and_then(|r| r.label.as_deref()).unwrap_or(self.machine)
    }
}

#[derive(Debug, Deserialize)]
pub struct Selected {
    /// `<field seq>-<cell index>`, the cell the relabel form acts on.
    #[serde(default)]
    sel: Option<String>,
}

fn pct(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

pub async fn page_(state: &AppState, who: &Authed, id: i64, sel: Option<&str>) -> Result<Response, Error> {
    let case = load(state, id).await?;
    if let Some(rec) = &case.record {
        pictures::ensure(&state.db, id, rec).await?;
    }
    let sizes = pictures::sizes(&state.db, id).await?;
    let reviews = reviews::of_case(&state.db, id).await?;
    let outcome = case.final_outcome.as_deref().or(case.machine_outcome.as_deref());
    let summary =
        case.record.as_ref().map(|r| &r.result.summary).or(case.summary.as_ref().map(|s| &s.result.summary));
    let labels = case.record.as_ref().map(labels).unwrap_or_default();
    // Latest relabel per cell.
    let mut relabels: BTreeMap<(i64, i64), &Stored> = BTreeMap::new();
    for r in reviews.iter().filter(|r| r.kind == "relabel_cell") {
        if let (Some(f), Some(c)) = (r.field, r.cell) {
            relabels.insert((f, c), r);
        }
    }
    let mut cells: Vec<CellView> = Vec::new();
    if let Some(rec) = &case.record {
        for f in rec.fields.iter().filter(|f| f.report.quality.ok) {
            for (i, c) in f.report.cells.iter().enumerate() {
                cells.push(CellView {
                    seq: f.seq,
                    idx: i,
                    machine: &c.label,
                    confidence: c.confidence,
                    counted: rec.machine_counted(f, c),
                    relabel: relabels.get(&(f.seq, i as i64)).copied(),
                });
            }
        }
    }
    let mut groups: BTreeMap<usize, (String, Vec<&CellView>)> = BTreeMap::new();
    for c in &cells {
        // Cells the machine was unsure of (and no reviewer has labelled) come
        // last, apart: they are the ones to look at.
        let (k, l) = if c.counted || c.relabel.is_some() {
            let l = c.label();
            (labels.iter().position(|x| x == l).unwrap_or(labels.len()), l.to_string())
        } else {
            (usize::MAX, "Uncertain (not counted)".to_string())
        };
        groups.entry(k).or_insert_with(|| (l, Vec::new())).1.push(c);
    }
    let selected = sel
        .and_then(|s| s.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<usize>().ok()?)));
    let selected = selected.and_then(|(f, i)| cells.iter().find(|c| c.seq == f && c.idx == i));
    let csrf = who.csrf.as_str();
    let body = html! {
        div.case-head {
            a.back href="/queue" accesskey="q" { "← Queue" }
            h1 { "Case " code { (case.uid) } }
            span.patient { "Patient " strong { (case.patient.as_deref().unwrap_or("–")) } }
            (outcome_badge(outcome))
            @if case.status == "reviewed" {
                span.reviewed { "Reviewed by " (case.reviewed_by.as_deref().unwrap_or("")) }
            }
        }
        div.case-grid {
            section.panel.decision {
                h2 { "Outcome" }
                p.big { (outcome_badge(case.machine_outcome.as_deref())) " machine" }
                @if let Some(s) = summary {
                    @if !s.outcome.reasons.is_empty() {
                        ul.reasons { @for r in &s.outcome.reasons { li { (r.message) } } }
                    }
                    @if !s.outcome.next_step.is_empty() { p { strong { "Next step: " } (s.outcome.next_step) } }
                }
                @if case.machine_outcome.is_some() {
                    form.review method="post" action=(format!("/cases/{id}/review")) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="action" value="confirm";
                        label { "Note (optional)" textarea name="note" rows="2" {} }
                        button.primary type="submit" id="confirm" { "Confirm " (outcome_text(case.machine_outcome.as_deref().unwrap_or(""))) }
                    }
                }
                form.review method="post" action=(format!("/cases/{id}/review")) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="action" value="override";
                    label { "Change the outcome to"
                        select name="outcome" {
                            @for o in OUTCOMES { option value=(o) { (outcome_text(o)) } }
                        }
                    }
                    label { "Why" textarea name="note" rows="2" required {} }
                    button type="submit" { "Override" }
                }
                h3 { "What arrived" }
                ul.arrivals {
                    li { "SMS: " @if let Some(t) = case.sms_at { (when(t)) br; code.sms { (case.sms.as_deref().unwrap_or("")) } } @else { "none" } }
                    li { "Results: " (case.results_at.map(when).unwrap_or_else(|| "not yet".into())) }
                    li { "Photos: " (case.photos_at.map(when).unwrap_or_else(|| "not yet".into()))
                        @if case.photos_at.is_some() { " · " a href=(format!("/cases/{id}/report.pdf")) { "PDF report" } } }
                    li { "Closed on the phone: " (case.closed_at.map(when).unwrap_or_default()) }
                }
            }
            section.panel.numbers {
                h2 { "Differential" }
                @if let Some(s) = summary {
                    table.diff {
                        thead { tr { th { "Class" } th.num { "Count" } th.num { "%" } th { "95% interval" } } }
                        tbody {
                            @for c in &s.differential {
                                tr {
                                    td { (c.label) }
                                    td.num { (c.count) }
                                    td.num { (pct(c.proportion.p)) }
                                    td {
                                        svg.ci viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" {
                                            rect.track x="0" y="0" width="100" height="10" {}
                                            rect.bar x=(format!("{:.1}", c.proportion.low * 100.0)) y="0" width=(format!("{:.1}", ((c.proportion.high - c.proportion.low) * 100.0).max(0.8))) height="10" {}
                                            rect.point x=(format!("{:.1}", (c.proportion.p * 100.0 - 0.6).max(0.0))) y="0" width="1.2" height="10" {}
                                        }
                                        " " (pct(c.proportion.low)) "–" (pct(c.proportion.high))
                                    }
                                }
                            }
                        }
                    }
                    p.muted { (s.cells.white) " confident white cells, " (s.cells.uncertain) " uncertain, " (s.cells.platelets) " platelets; "
                        (s.fields.accepted) " of " (s.fields.added) " fields accepted." }
                    h2 { "Leukaemia screen" }
                    @if let Some(sc) = &s.screen {
                        p { "P(malignant) " strong { (pct(sc.malignant_prob)) } " · most likely " (sc.label) " (" (pct(sc.confidence)) ") over "
                            (sc.fields) " fields, " (sc.tiles) " tiles" @if sc.unsure_fields > 0 { "; " (sc.unsure_fields) " fields unsure" } "." }
                    } @else { p.muted { "No field was screened." } }
                } @else {
                    p.muted { "Only the SMS has arrived; the numbers come with the results bundle." }
                }
            }
        }
        @if !cells.is_empty() {
            section.panel.gallery id="gallery" data-case=(id) data-csrf=(csrf) {
                div.gallery-head {
                    h2 { "Cells" }
                    p.keys { "Select a cell (click, or ←/→), then press a number to relabel it:" }
                    ol.legend { @for (i, l) in labels.iter().enumerate() { li { kbd { (i + 1) } " " (l) } } }
                }
                form id="relabel" class="relabel" method="post" action=(format!("/cases/{id}/relabel")) {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="cell" id="relabel-cell" value=[selected.map(|c| format!("{}-{}", c.seq, c.idx))];
                    span id="relabel-which" { @if let Some(c) = selected { "Field " (c.seq) ", cell " (c.idx) " (" (c.label()) ")" } @else { "No cell selected" } }
                    select name="label" id="relabel-label" {
                        @for l in &labels { option value=(l) selected[selected.is_some_and(|c| c.label() == l)] { (l) } }
                    }
                    button type="submit" { "Relabel" }
                }
                @for (label, group) in groups.values() {
                    h3 { (label) " " span.muted { "(" (group.len()) ")" } }
                    div.cells {
                        @for c in group {
                            a.cell href=(format!("/cases/{id}?sel={}-{}#gallery", c.seq, c.idx))
                                data-cell=(format!("{}-{}", c.seq, c.idx))
                                class=[selected.is_some_and(|s| s.seq == c.seq && s.idx == c.idx).then_some("selected")]
                                data-uncertain=[(!c.counted && c.relabel.is_none()).then_some("1")] {
                                img src=(format!("/cases/{id}/files/{}", cell_name(c.seq, c.idx))) alt=(format!("{} cell", c.label())) loading="lazy" width="224" height="224";
                                span.caption {
                                    @if let Some(r) = c.relabel { s { (c.machine) } " → " strong.relabelled { (c.label()) } " (" (r.reviewer) ")" }
                                    @else { (c.machine) " " span.muted { (format!("{:.0}%", c.confidence * 100.0)) @if !c.counted { " · uncertain" } } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(rec) = &case.record {
            section.panel.fields {
                h2 { "Fields" }
                @for f in rec.fields.iter().filter(|f| f.report.quality.ok) {
                    figure.field {
                        div.frame {
                            img src=(format!("/cases/{id}/files/{}", field_name(f.seq))) alt=(format!("Field {}", f.seq)) loading="lazy";
                            @if let Some((w, h)) = sizes.get(&f.seq) {
                                svg viewBox=(format!("0 0 {w} {h}")) preserveAspectRatio="none" {
                                    @for (i, c) in f.report.cells.iter().enumerate() {
                                        a href=(format!("/cases/{id}?sel={}-{i}#gallery", f.seq)) {
                                            rect x=(c.bbox.x) y=(c.bbox.y) width=(c.bbox.w) height=(c.bbox.h) class="box" data-cell=(format!("{}-{i}", f.seq)) {}
                                        }
                                    }
                                }
                            }
                        }
                        figcaption { "Field " (f.seq) " · " (f.report.cells.len()) " cells" }
                    }
                }
            }
        }
        section.panel.history {
            h2 { "Reviews" }
            @if reviews.is_empty() { p.muted { "None yet." } }
            ul { @for r in &reviews {
                li {
                    (when(r.at)) " · " strong { (r.reviewer) } " · "
                    @match r.kind.as_str() {
                        "relabel_cell" => { "relabelled field " (r.field.unwrap_or(0)) " cell " (r.cell.unwrap_or(0)) " as " (r.label.as_deref().unwrap_or("")) }
                        "confirm" => { "confirmed " (outcome_text(case.machine_outcome.as_deref().unwrap_or(""))) }
                        _ => { "changed the outcome to " (outcome_text(r.outcome.as_deref().unwrap_or(""))) }
                    }
                    @if let Some(n) = &r.note { " — " em { (n) } }
                    " " span.muted { @if r.delivered { "(on the phone)" } @else { "(waiting for the phone)" } }
                }
            } }
        }
        @if let Some(s) = summary {
            section.panel.provenance {
                h2 { "Provenance" }
                p { "Device " code { (case.device_id) } " · app " (s.provenance.app_version) " · core " (s.provenance.core_version) }
                ul { @for m in &s.provenance.models { li { (m.id) " " (m.version) " · sha256 " code.hash { (m.sha256) } } } }
                p.muted { "Received " (when(case.received_at)) ". Decision support, not a diagnosis: interpret with the patient's history and examination." }
            }
        }
    };
    let title = format!("Case {}", case.uid);
    Ok(html_page(layout(&title, Some(who), body)))
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Path(id): Path<i64>,
    Query(q): Query<Selected>,
) -> Result<Response, Error> {
    page_(&state, &who, id, q.sel.as_deref()).await
}

#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    csrf: String,
    action: String,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

pub async fn review(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Path(id): Path<i64>,
    Form(f): Form<ReviewForm>,
) -> Result<Response, Error> {
    who.check_csrf(&f.csrf)?;
    let decision = match f.action.as_str() {
        "confirm" => Decision::Confirm,
        "override" => {
            if f.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
                return Err(Error::BadRequest("say why the outcome changes"));
            }
            Decision::Override { outcome: f.outcome.unwrap_or_default() }
        }
        _ => return Err(Error::BadRequest("unknown action")),
    };
    reviews::add(&state.db, id, &who.user, decision, f.note.as_deref()).await?;
    Ok(Redirect::to(&format!("/cases/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RelabelForm {
    csrf: String,
    cell: String,
    label: String,
}

/// Relabels one cell. A script's request (`Accept: application/json`) gets
/// JSON back; a plain form post goes back to the case with the cell selected.
pub async fn relabel(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
    Form(f): Form<RelabelForm>,
) -> Result<Response, Error> {
    who.check_csrf(&f.csrf)?;
    let (field, cell) = f
        .cell
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
        .ok_or(Error::BadRequest("select a cell first"))?;
    let case = load(&state, id).await?;
    let rec = case.record.as_ref().ok_or(Error::BadRequest("the photos have not arrived"))?;
    let exists =
        rec.fields.iter().any(|x| x.seq == field && (cell as usize) < x.report.cells.len() && cell >= 0);
    if !exists {
        return Err(Error::BadRequest("no such cell"));
    }
    if !labels(rec).contains(&f.label) {
        return Err(Error::BadRequest("not a class of the cell model"));
    }
    reviews::add(&state.db, id, &who.user, Decision::Relabel { field, cell, label: f.label.clone() }, None)
        .await?;
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if json {
        return Ok(axum::Json(
            serde_json::json!({ "cell": f.cell, "label": f.label, "reviewer": who.user.display_name }),
        )
        .into_response());
    }
    Ok(Redirect::to(&format!("/cases/{id}?sel={}#gallery", f.cell)).into_response())
}

pub async fn report(
    State(state): State<Arc<AppState>>,
    _who: Authed,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let (ct, data) = pictures::file(&state.db, id, "report.pdf").await?.ok_or(Error::NotFound)?;
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "private, no-store".into())], data)
        .into_response())
}

pub async fn picture(
    State(state): State<Arc<AppState>>,
    _who: Authed,
    Path((id, name)): Path<(i64, String)>,
) -> Result<Response, Error> {
    if !name.starts_with("view/") {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let (ct, data) = pictures::file(&state.db, id, &name).await?.ok_or(Error::NotFound)?;
    Ok(([(header::CONTENT_TYPE, ct), (header::CACHE_CONTROL, "private, max-age=86400".into())], data)
        .into_response())
}
