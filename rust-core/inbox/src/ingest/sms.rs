//! The one-SMS summary, posted by an SMS gateway's webhook (docs/sms.md).
//! The gateway authenticates with a bearer token the administrator set; the
//! text is decoded (its CRC-32 check code catches a garbled message), must
//! come from an enrolled device, and is kept with its case: a case is made
//! when the SMS comes first, so a referral can be acted on before the
//! bundles arrive, and the bundles fill the same case when they do.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::db::now_ms;
use crate::ingest::take::urgency;
use crate::{AppState, Error};

#[derive(Debug, Deserialize)]
struct Incoming {
    /// The sender's number, as the gateway gives it.
    #[serde(default, alias = "From", alias = "sender", alias = "msisdn")]
    from: String,
    #[serde(alias = "Body", alias = "message", alias = "body")]
    text: String,
}

fn token_ok(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(want) = state.config.sms_token.as_deref() else { return false };
    let got = headers
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare digests, not the strings: no early exit that times the token.
    Sha256::digest(got.trim().as_bytes()) == Sha256::digest(want.as_bytes())
}

/// `POST /api/v1/sms`: JSON `{"from", "text"}` or a form with the same fields.
pub async fn webhook(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !token_ok(&state, &headers) {
        log::warn!("SMS webhook: missing or wrong gateway token");
        return (StatusCode::UNAUTHORIZED, "gateway token required").into_response();
    }
    let form = headers
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let incoming: Option<Incoming> =
        if form { serde_urlencoded_form(&body) } else { serde_json::from_slice(&body).ok() };
    let Some(incoming) = incoming else {
        return (StatusCode::BAD_REQUEST, "expected JSON or a form with `from` and `text`").into_response();
    };
    match take_sms(&state, &incoming).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn serde_urlencoded_form(body: &[u8]) -> Option<Incoming> {
    serde_urlencoded::from_bytes(body).ok()
}

async fn take_sms(state: &AppState, incoming: &Incoming) -> Result<Response, Error> {
    let text = incoming.text.trim();
    let sms = match hemalens_share::sms::decode(text) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("SMS webhook: message refused ({e})");
            return Ok(
                (StatusCode::UNPROCESSABLE_ENTITY, format!("not a Hemalens message: {e}")).into_response()
            );
        }
    };
    if crate::devices::enrolled_key(&state.db, &sms.device).await?.is_none() {
        log::warn!("SMS webhook: message from a device that is not enrolled ({})", sms.device);
        return Ok((StatusCode::FORBIDDEN, "device not enrolled").into_response());
    }
    let uid = sms.uid();
    let now = now_ms();
    let sender: String = incoming.from.chars().filter(|c| c.is_ascii_graphic()).take(32).collect();
    let mut tx = state.db.pool.begin().await?;
    let case_id = crate::ingest::take::case_id(&mut tx, &uid, &sms.device).await?;
    let (results_at,): (Option<i64>,) = sqlx::query_as("SELECT results_at FROM cases WHERE id = $1")
        .bind(case_id)
        .fetch_one(&mut *tx)
        .await?;
    let fresh = sqlx::query(
        "INSERT INTO sms_messages (received_at, sender, body, session_uid, case_id) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (session_uid, body) DO NOTHING",
    )
    .bind(now)
    .bind(&sender)
    .bind(text)
    .bind(&uid)
    .bind(case_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    // Until the results bundle arrives, the SMS's outcome sorts the queue.
    sqlx::query(
        "UPDATE cases SET sms = $2, sms_at = $3, \
         urgency = CASE WHEN status = 'open' AND machine_outcome IS NULL THEN $4 ELSE urgency END, \
         closed_at = COALESCE(closed_at, $3) WHERE id = $1",
    )
    .bind(case_id)
    .bind(text)
    .bind(now)
    .bind(urgency(Some(sms.outcome.as_str())))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    log::info!("SMS for case {uid} taken ({})", if fresh { "new" } else { "repeated" });
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({ "session_uid": uid, "repeated": !fresh, "bundle_received": results_at.is_some() })),
    )
        .into_response())
}
