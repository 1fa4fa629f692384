//! Reviews: made on the review page by a haematologist, kept here, and
//! pulled by the device that sent the case (docs/wire-format.md, "Reviews
//! back to the device"), which stores them under the reviewer's name beside
//! the untouched machine result.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::db::{now_ms, random_hex, Db};
use crate::devices::authenticate;
use crate::web::auth::User;
use crate::{AppState, Error};

/// Reviews sent in one answer, at most.
const PAGE: i64 = 200;

/// A review as it travels to the device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outgoing {
    pub id: String,
    pub session_uid: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub reviewer: String,
    pub at: i64,
    pub note: Option<String>,
}

type OutRow = (
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<String>,
);

/// `GET /api/v1/reviews` (signed by the device).
pub async fn pull(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/api/v1/reviews");
    let device = match authenticate(&state.db, "GET", path, &headers, b"").await {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let rows: Result<Vec<OutRow>, sqlx::Error> = sqlx::query_as(
        "SELECT r.id, c.session_uid, r.kind, r.field, r.cell, r.label, r.outcome, r.reviewer, r.at, r.note \
         FROM reviews r JOIN cases c ON c.id = r.case_id \
         WHERE c.device_id = $1 AND r.acked_at IS NULL ORDER BY r.at, r.id LIMIT $2",
    )
    .bind(&device)
    .bind(PAGE + 1)
    .fetch_all(&state.db.pool)
    .await;
    let mut rows = match rows {
        Ok(r) => r,
        Err(e) => return Error::from(e).into_response(),
    };
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let reviews: Vec<Outgoing> = rows
        .into_iter()
        .map(|r| Outgoing {
            id: r.0,
            session_uid: r.1,
            kind: r.2,
            field: r.3,
            cell: r.4,
            label: r.5,
            outcome: r.6,
            reviewer: r.7,
            at: r.8,
            note: r.9,
        })
        .collect();
    log::info!("device {device} pulled {} reviews", reviews.len());
    Json(serde_json::json!({ "reviews": reviews, "more": more })).into_response()
}

#[derive(Debug, Deserialize)]
struct Ack {
    ids: Vec<String>,
}

/// `POST /api/v1/reviews/ack` (signed): these reviews reached the device.
pub async fn ack(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/api/v1/reviews/ack");
    let device = match authenticate(&state.db, "POST", path, &headers, &body).await {
        Ok(d) => d,
        Err(r) => return r.into_response(),
    };
    let Ok(ack) = serde_json::from_slice::<Ack>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected {\"ids\": [...]}").into_response();
    };
    if ack.ids.len() as i64 > 10 * PAGE {
        return (StatusCode::PAYLOAD_TOO_LARGE, "too many ids").into_response();
    }
    match mark_acked(&state.db, &device, &ack.ids).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn mark_acked(db: &Db, device: &str, ids: &[String]) -> Result<(), Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    for id in ids {
        sqlx::query(
            "UPDATE reviews SET acked_at = $3 WHERE id = $1 AND acked_at IS NULL \
             AND case_id IN (SELECT id FROM cases WHERE device_id = $2)",
        )
        .bind(id)
        .bind(device)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a reviewer decided about a case.
#[derive(Debug, Clone)]
pub enum Decision {
    Relabel { field: i64, cell: i64, label: String },
    Confirm,
    Override { outcome: String },
}

pub const OUTCOMES: [&str; 3] = ["refer", "inconclusive", "no_abnormality_detected"];

/// Records a review; a confirm or override closes the case in the queue.
pub async fn add(
    db: &Db,
    case_id: i64,
    user: &User,
    decision: Decision,
    note: Option<&str>,
) -> Result<(), Error> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(Error::BadRequest("the note is longer than 2000 characters"));
    }
    let id = random_hex(16)?;
    let mut tx = db.pool.begin().await?;
    // A case's reviews keep the order they were made in, also within one
    // millisecond (a relabel and a confirm in quick succession): each is
    // stamped after the case's last.
    let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(at) FROM reviews WHERE case_id = $1")
        .bind(case_id)
        .fetch_one(&mut *tx)
        .await?;
    let now = now_ms().max(last.map_or(0, |l| l + 1));
    let case: Option<(Option<String>,)> = sqlx::query_as("SELECT machine_outcome FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_optional(&mut *tx)
        .await?;
    let (machine,) = case.ok_or(Error::NotFound)?;
    let (kind, field, cell, label, outcome) = match &decision {
        Decision::Relabel { field, cell, label } => {
            ("relabel_cell", Some(*field), Some(*cell), Some(label.as_str()), None)
        }
        Decision::Confirm => {
            let m =
                machine.as_deref().ok_or(Error::BadRequest("there is no machine result to confirm yet"))?;
            ("confirm", None, None, None, Some(m.to_string()))
        }
        Decision::Override { outcome } => {
            if !OUTCOMES.contains(&outcome.as_str()) {
                return Err(Error::BadRequest("unknown outcome"));
            }
            ("override_outcome", None, None, None, Some(outcome.clone()))
        }
    };
    sqlx::query(
        "INSERT INTO reviews (id, case_id, kind, field, cell, label, outcome, reviewer_id, reviewer, at, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(case_id)
    .bind(kind)
    .bind(field)
    .bind(cell)
    .bind(label)
    .bind(if kind == "override_outcome" { outcome.clone() } else { None })
    .bind(user.id)
    .bind(&user.display_name)
    .bind(now)
    .bind(note)
    .execute(&mut *tx)
    .await?;
    if let Some(o) = &outcome {
        sqlx::query(
            "UPDATE cases SET status = 'reviewed', reviewed_at = $2, reviewed_by = $3, final_outcome = $4 WHERE id = $1",
        )
        .bind(case_id)
        .bind(now)
        .bind(&user.display_name)
        .bind(o)
        .execute(&mut *tx)
        .await?;
    }
    crate::audit::record(&mut tx, &user.login, kind, &format!("case {case_id}")).await?;
    tx.commit().await?;
    Ok(())
}

/// A case's reviews, oldest first, for its page.
#[derive(Debug, Clone)]
pub struct Stored {
    pub kind: String,
    pub field: Option<i64>,
    pub cell: Option<i64>,
    pub label: Option<String>,
    pub outcome: Option<String>,
    pub reviewer: String,
    pub at: i64,
    pub note: Option<String>,
    pub delivered: bool,
}

type StoredRow = (
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

pub async fn of_case(db: &Db, case_id: i64) -> Result<Vec<Stored>, Error> {
    let rows: Vec<StoredRow> = sqlx::query_as(
        "SELECT kind, field, cell, label, outcome, reviewer, at, note, acked_at FROM reviews \
             WHERE case_id = $1 ORDER BY at, id",
    )
    .bind(case_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Stored {
            kind: r.0,
            field: r.1,
            cell: r.2,
            label: r.3,
            outcome: r.4,
            reviewer: r.5,
            at: r.6,
            note: r.7,
            delivered: r.8.is_some(),
        })
        .collect())
}
