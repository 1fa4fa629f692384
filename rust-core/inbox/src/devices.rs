//! Enrolled devices and the requests they sign (docs/wire-format.md,
//! "Signed requests"). An administrator enrols a device's id and Ed25519
//! public key; only those devices create uploads or pull reviews.

use axum::http::HeaderMap;
use ed25519_dalek::VerifyingKey;
use hemalens_share::identity::device_id;
use hemalens_share::request::{self, Rejected, Signed};
use serde::Serialize;

use crate::db::{now_ms, Db};
use crate::Error;

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: String,
    pub public_key: String,
    pub label: String,
    pub enrolled_at: i64,
    pub enrolled_by: String,
    pub revoked_at: Option<i64>,
}

/// Parses a 64-hex-digit Ed25519 public key.
pub fn parse_key(hex_key: &str) -> Result<VerifyingKey, Error> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::BadRequest("the device key must be 64 hex digits"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| Error::BadRequest("not an Ed25519 public key"))
}

/// Enrols (or re-enrols, clearing a revocation) a device. The id must be
/// the one its key gives: a typo in either is caught here.
pub async fn enrol(db: &Db, id: &str, key_hex: &str, label: &str, actor: &str) -> Result<Device, Error> {
    let key = parse_key(key_hex)?;
    let id = id.trim().to_ascii_lowercase();
    if device_id(&key) != id {
        return Err(Error::BadRequest("the device id does not match its key (SHA-256 of the key)"));
    }
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 128 {
        return Err(Error::BadRequest("the label must be 1 to 128 characters"));
    }
    let now = now_ms();
    let key_hex = hex::encode(key.as_bytes());
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO devices (id, public_key, label, enrolled_at, enrolled_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET public_key = $2, label = $3, enrolled_at = $4, enrolled_by = $5, revoked_at = NULL",
    )
    .bind(&id)
    .bind(&key_hex)
    .bind(label)
    .bind(now)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    crate::audit::record(&mut tx, actor, "enrol_device", &id).await?;
    tx.commit().await?;
    log::info!("device {id} enrolled");
    Ok(Device {
        id,
        public_key: key_hex,
        label: label.into(),
        enrolled_at: now,
        enrolled_by: actor.into(),
        revoked_at: None,
    })
}

pub async fn revoke(db: &Db, id: &str, actor: &str) -> Result<(), Error> {
    let mut tx = db.pool.begin().await?;
    let n = sqlx::query("UPDATE devices SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    crate::audit::record(&mut tx, actor, "revoke_device", id).await?;
    tx.commit().await?;
    Ok(())
}

type DeviceRow = (String, String, String, i64, String, Option<i64>);

fn device(r: DeviceRow) -> Device {
    Device { id: r.0, public_key: r.1, label: r.2, enrolled_at: r.3, enrolled_by: r.4, revoked_at: r.5 }
}

pub async fn list(db: &Db) -> Result<Vec<Device>, Error> {
    let rows: Vec<DeviceRow> = sqlx::query_as(
        "SELECT id, public_key, label, enrolled_at, enrolled_by, revoked_at FROM devices ORDER BY enrolled_at DESC",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(device).collect())
}

/// The key enrolled for `id`, if the device is enrolled and not revoked.
pub async fn enrolled_key(db: &Db, id: &str) -> Result<Option<VerifyingKey>, Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT public_key FROM devices WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.and_then(|(k,)| parse_key(&k).ok()))
}

/// Why a signed request was refused, as an HTTP answer.
#[derive(Debug)]
pub enum Refusal {
    /// 401: headers missing or the clock too far off.
    Unauthenticated(&'static str),
    /// 403: not enrolled, revoked, or a bad signature.
    Forbidden(&'static str),
    Error(Error),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

impl axum::response::IntoResponse for Refusal {
    fn into_response(self) -> axum::response::Response {
        use axum::http::StatusCode;
        match self {
            Self::Unauthenticated(why) => (StatusCode::UNAUTHORIZED, why).into_response(),
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
            Self::Error(e) => e.into_response(),
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a signed request; answers the device id that signed it.
pub async fn authenticate(
    db: &Db,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Refusal> {
    let id = header(headers, request::DEVICE_HEADER)
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(Refusal::Unauthenticated("missing or unreadable signature headers"))?;
    let (date_ms, sig) =
        request::parse(header(headers, request::DATE_HEADER), header(headers, request::SIGNATURE_HEADER))
            .map_err(|e| Refusal::Unauthenticated(reason(e)))?;
    let Some(key) = enrolled_key(db, &id).await? else {
        log::warn!("signed request from a device that is not enrolled ({id})");
        return Err(Refusal::Forbidden("device not enrolled"));
    };
    let signed = Signed {
        method,
        path: path_and_query,
        device_id: &id,
        date_ms,
        body,
        upload_length: header(headers, "Upload-Length"),
        upload_metadata: header(headers, "Upload-Metadata"),
    };
    match request::verify(&signed, &sig, &key, now_ms()) {
        Ok(()) => Ok(id),
        Err(Rejected::BadSignature) => {
            log::warn!("bad request signature from device {id}");
            Err(Refusal::Forbidden("bad request signature"))
        }
        Err(e) => Err(Refusal::Unauthenticated(reason(e))),
    }
}

fn reason(e: Rejected) -> &'static str {
    match e {
        Rejected::Missing => "missing or unreadable signature headers",
        Rejected::Stale => "the request's date is more than 5 minutes from the hospital's clock",
        Rejected::BadSignature => "bad request signature",
    }
}
