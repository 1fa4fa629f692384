//! `/queue`: the cases waiting for review, most urgent first (refer, then
//! inconclusive, then the rest), oldest first within each; 50 a page.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::auth::Authed;
use super::{html_page, layout, outcome_badge, when};
use crate::{AppState, Error};

pub const PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct Params {
    #[serde(default)]
    page: i64,
    #[serde(default)]
    show: Option<String>,
}

type Row = (
    i64,
    String,
    Option<String>,
    Option<String>,
    i64,
    String,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub async fn page_(state: &AppState, who: &Authed, p: &Params) -> Result<Response, Error> {
    let started = Instant::now();
    let reviewed = p.show.as_deref() == Some("reviewed");
    let pageno = p.page.clamp(0, 100_000);
    let sql = if reviewed {
        "SELECT id, session_uid, patient, machine_outcome, urgency, status, closed_at, received_at, results_at, photos_at, final_outcome, reviewed_by \
         FROM cases WHERE status = 'reviewed' ORDER BY reviewed_at DESC, id DESC LIMIT $1 OFFSET $2"
    } else {
        "SELECT id, session_uid, patient, machine_outcome, urgency, status, closed_at, received_at, results_at, photos_at, final_outcome, reviewed_by \
         FROM cases WHERE status = 'open' ORDER BY urgency, closed_at, id LIMIT $1 OFFSET $2"
    };
    let rows: Vec<Row> = sqlx::query_as(sql).bind(PAGE).bind(pageno * PAGE).fetch_all(&state.db.pool).await?;
    let counts: Vec<(i64, i64)> =
        sqlx::query_as("SELECT urgency, COUNT(*) FROM cases WHERE status = 'open' GROUP BY urgency")
            .fetch_all(&state.db.pool)
            .await?;
    let count = |u: i64| counts.iter().find(|c| c.0 == u).map(|c| c.1).unwrap_or(0);
    let open: i64 = counts.iter().map(|c| c.1).sum();
    let body = html! {
        section.queue {
            div.queue-head {
                h1 { @if reviewed { "Reviewed cases" } @else { "Waiting for review" } }
                div.tally {
                    span.badge.refer { (count(0)) " refer" }
                    span.badge.inconclusive { (count(1)) " inconclusive" }
                    span.badge.clear { (count(2)) " no abnormality" }
                    @if count(3) > 0 { span.badge.unknown { (count(3)) " SMS only" } }
                }
                nav.tabs {
                    a href="/queue" class=[(!reviewed).then_some("on")] { "Waiting (" (open) ")" }
                    a href="/queue?show=reviewed" class=[reviewed.then_some("on")] { "Reviewed" }
                }
            }
            @if rows.is_empty() {
                p.empty { @if reviewed { "No reviewed cases yet." } @else { "Nothing waiting. New cases appear here as the clinics send them." } }
            } @else {
                table.cases {
                    thead { tr { th { "Outcome" } th { "Case" } th { "Patient" } th { "Closed" } th { "Received" } th { "Status" } } }
                    tbody {
                        @for r in &rows {
                            tr.case data-href=(format!("/cases/{}", r.0)) {
                                td { (outcome_badge(if reviewed { r.10.as_deref() } else { r.3.as_deref().or(sms_outcome(r.4)) })) }
                                td { a href=(format!("/cases/{}", r.0)) { code { (r.1) } } }
                                td { (r.2.as_deref().unwrap_or("–")) }
                                td { (r.6.map(when).unwrap_or_default()) }
                                td { (when(r.7)) }
                                td.status {
                                    @if reviewed { "Reviewed by " (r.11.as_deref().unwrap_or("")) }
                                    @else if r.9.is_some() { "Photos received" }
                                    @else if r.8.is_some() { "Results received; photos pending" }
                                    @else { "SMS only; bundles pending" }
                                }
                            }
                        }
                    }
                }
                nav.pages {
                    @if pageno > 0 { a href=(format!("/queue?page={}{}", pageno - 1, if reviewed { "&show=reviewed" } else { "" })) { "← Newer" } }
                    @if rows.len() as i64 == PAGE { a href=(format!("/queue?page={}{}", pageno + 1, if reviewed { "&show=reviewed" } else { "" })) { "More →" } }
                }
            }
        }
    };
    let mut r = html_page(layout("Queue", Some(who), body));
    // The server's own time for the page (the 100,000-case figure reads it).
    if let Ok(v) = HeaderValue::from_str(&format!("db;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0)) {
        r.headers_mut().insert("Server-Timing", v);
    }
    Ok(r)
}

/// A case made by an SMS has no machine outcome yet; its urgency says which.
fn sms_outcome(urgency: i64) -> Option<&'static str> {
    match urgency {
        0 => Some("refer"),
        1 => Some("inconclusive"),
        2 => Some("no_abnormality_detected"),
        _ => None,
    }
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Query(p): Query<Params>,
) -> Result<Response, Error> {
    page_(&state, &who, &p).await
}
