//! The tus 1.0.0 receiver (core protocol and creation; docs/wire-format.md
//! and docs/adr/0005). Its state lives in the database, not in the process:
//! several inbox instances behind one PostgreSQL serve the same uploads. The
//! offset moves only by `UPDATE .. WHERE upload_offset = <the PATCH's>`, so of
//! two instances receiving the same retried chunk one takes it and the other
//! answers 409; the chunk that completes an upload is taken, the bundle opened
//! and filed, and the verdict written, in one transaction.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use hemalens_share::bundle::{Kind, MAX_BUNDLE};
use hemalens_share::upload::{TUS_VERSION, VERDICT_HEADER};

use crate::db::{now_ms, random_hex};
use crate::devices::authenticate;
use crate::{AppState, Error};

/// The most bytes one PATCH may carry (phones send 16 to 32 KiB).
pub const MAX_CHUNK: usize = 8 << 20;
/// A PATCH whose body stalls this long is cut (its bytes so far are kept).
const BODY_IDLE: Duration = Duration::from_secs(30);
/// Unfinished uploads one device may hold at once.
pub const MAX_OPEN_PER_DEVICE: i64 = 64;

fn tus_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("Tus-Resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert("Cache-Control", HeaderValue::from_static("no-store"));
    r
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn check_version(h: &HeaderMap) -> Result<(), Response> {
    if header(h, "Tus-Resumable") != Some(TUS_VERSION) {
        let mut r = (StatusCode::PRECONDITION_FAILED, "Tus-Resumable: 1.0.0 required").into_response();
        r.headers_mut().insert("Tus-Version", HeaderValue::from_static(TUS_VERSION));
        return Err(r);
    }
    Ok(())
}

/// `OPTIONS /tus/`: what this server speaks.
pub async fn options() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert("Tus-Version", HeaderValue::from_static(TUS_VERSION));
    h.insert("Tus-Extension", HeaderValue::from_static("creation"));
    h.insert("Tus-Max-Size", HeaderValue::from(MAX_BUNDLE));
    tus_headers(r)
}

/// Reads `Upload-Metadata` (`key base64,key base64`).
fn metadata(h: &HeaderMap) -> Option<(String, Kind)> {
    let mut bundle_id = None;
    let mut kind = None;
    for pair in header(h, "Upload-Metadata")?.split(',') {
        let mut it = pair.trim().splitn(2, ' ');
        let (k, v) = (it.next()?, it.next().unwrap_or(""));
        let v = base64::engine::general_purpose::STANDARD.decode(v.trim()).ok()?;
        let v = String::from_utf8(v).ok()?;
        match k {
            "bundle_id" => bundle_id = Some(v),
            "kind" => kind = Kind::parse(&v),
            _ => {}
        }
    }
    let id =
        bundle_id.filter(|b| b.len() == 32 && b.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))?;
    Some((id, kind?))
}

#[derive(Debug)]
struct UploadRow {
    id: String,
    device_id: String,
    length: i64,
    offset: i64,
    verdict: Option<String>,
}

async fn upload_by(state: &AppState, column: &str, value: &str) -> Result<Option<UploadRow>, Error> {
    let sql = if column == "id" {
        "SELECT id, device_id, length, upload_offset, verdict FROM uploads WHERE id = $1"
    } else {
        "SELECT id, device_id, length, upload_offset, verdict FROM uploads WHERE bundle_id = $1"
    };
    let row: Option<(String, String, i64, i64, Option<String>)> =
        sqlx::query_as(sql).bind(value).fetch_optional(&state.db.pool).await?;
    Ok(row.map(|(id, device_id, length, offset, verdict)| UploadRow {
        id,
        device_id,
        length,
        offset,
        verdict,
    }))
}

fn state_answer(status: StatusCode, u: &UploadRow) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert("Upload-Offset", HeaderValue::from(u.offset));
    h.insert("Upload-Length", HeaderValue::from(u.length));
    if let Some(v) = u.verdict.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(VERDICT_HEADER, v);
    }
    tus_headers(r)
}

fn location(u: &UploadRow) -> HeaderValue {
    HeaderValue::from_str(&format!("/tus/{}", u.id)).unwrap_or(HeaderValue::from_static("/tus/"))
}

/// `POST /tus/`: a signed creation from an enrolled device.
pub async fn create(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_version(&headers) {
        return r;
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/tus/");
    let device = match authenticate(&state.db, "POST", path, &headers, b"").await {
        Ok(d) => d,
        Err(r) => return tus_headers(r.into_response()),
    };
    let Some(length) = header(&headers, "Upload-Length").and_then(|v| v.trim().parse::<u64>().ok()) else {
        return tus_headers((StatusCode::BAD_REQUEST, "Upload-Length required").into_response());
    };
    if length == 0 {
        // No bundle is empty; an empty upload would never get a verdict.
        return tus_headers((StatusCode::BAD_REQUEST, "Upload-Length must be at least 1").into_response());
    }
    if length > MAX_BUNDLE {
        log::warn!("device {device}: upload of {length} bytes refused (too large)");
        return tus_headers((StatusCode::PAYLOAD_TOO_LARGE, "bundle too large").into_response());
    }
    let Some((bundle_id, kind)) = metadata(&headers) else {
        return tus_headers(
            (StatusCode::BAD_REQUEST, "Upload-Metadata needs bundle_id and kind").into_response(),
        );
    };
    match create_upload(&state, &device, &bundle_id, kind, length as i64).await {
        Ok(r) => tus_headers(r),
        Err(e) => tus_headers(e.into_response()),
    }
}

async fn create_upload(
    state: &AppState,
    device: &str,
    bundle_id: &str,
    kind: Kind,
    length: i64,
) -> Result<Response, Error> {
    let existing = |u: UploadRow| -> Response {
        if u.device_id != device {
            // Another device's bundle id: say nothing about it.
            return (StatusCode::CONFLICT, "bundle id in use").into_response();
        }
        let mut r = state_answer(StatusCode::OK, &u);
        r.headers_mut().insert("Location", location(&u));
        r
    };
    if let Some(u) = upload_by(state, "bundle_id", bundle_id).await? {
        return Ok(existing(u));
    }
    let (open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM uploads WHERE device_id = $1 AND verdict IS NULL")
            .bind(device)
            .fetch_one(&state.db.pool)
            .await?;
    if open >= MAX_OPEN_PER_DEVICE {
        log::warn!("device {device}: too many unfinished uploads");
        return Err(Error::TooMany);
    }
    let id = random_hex(16)?;
    let now = now_ms();
    let n = sqlx::query(
        "INSERT INTO uploads (id, bundle_id, device_id, kind, length, upload_offset, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (bundle_id) DO NOTHING",
    )
    .bind(&id)
    .bind(bundle_id)
    .bind(device)
    .bind(kind.as_str())
    .bind(length)
    .bind(now)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    if n == 0 {
        // Another instance created it a moment ago (a repeated creation).
        let u = upload_by(state, "bundle_id", bundle_id).await?.ok_or(Error::Internal("upload vanished"))?;
        return Ok(existing(u));
    }
    let u = UploadRow { id, device_id: device.into(), length, offset: 0, verdict: None };
    let mut r = state_answer(StatusCode::CREATED, &u);
    r.headers_mut().insert("Location", location(&u));
    Ok(r)
}

/// `HEAD /tus/{id}`: where the upload stands (and its verdict when complete).
pub async fn head(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match upload_by(&state, "id", &id).await {
        Ok(Some(u)) => state_answer(StatusCode::OK, &u),
        Ok(None) => tus_headers(StatusCode::NOT_FOUND.into_response()),
        Err(e) => tus_headers(e.into_response()),
    }
}

/// Reads a PATCH body up to `max` bytes. A body cut off by the link (an
/// error or a stall mid-stream) gives what arrived; one longer than `max`
/// gives `Err(TooLarge)`.
async fn read_body(body: Body, max: usize) -> Result<(Vec<u8>, bool), Error> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout(BODY_IDLE, stream.next()).await {
            Ok(Some(Ok(chunk))) => {
                let chunk: Bytes = chunk;
                if out.len() + chunk.len() > max {
                    return Err(Error::TooLarge);
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok((out, true)),
            Ok(Some(Err(_))) | Err(_) => return Ok((out, false)),
        }
    }
}

/// `PATCH /tus/{id}`: the next bytes at the upload's offset.
pub async fn patch(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(r) = check_version(&headers) {
        return r;
    }
    if header(&headers, "Content-Type") != Some("application/offset+octet-stream") {
        return tus_headers(
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/offset+octet-stream required").into_response(),
        );
    }
    let Some(offset) = header(&headers, "Upload-Offset").and_then(|v| v.trim().parse::<i64>().ok()) else {
        return tus_headers((StatusCode::BAD_REQUEST, "Upload-Offset required").into_response());
    };
    match patch_upload(&state, &id, offset, body).await {
        Ok(r) => tus_headers(r),
        Err(e) => tus_headers(e.into_response()),
    }
}

async fn patch_upload(state: &AppState, id: &str, offset: i64, body: Body) -> Result<Response, Error> {
    let Some(u) = upload_by(state, "id", id).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    if u.offset != offset || u.verdict.is_some() {
        return Ok(state_answer(StatusCode::CONFLICT, &u));
    }
    let room = usize::try_from(u.length - offset).unwrap_or(0).min(MAX_CHUNK);
    let (data, whole) = match read_body(body, room).await {
        Ok(d) => d,
        Err(Error::TooLarge) => {
            log::warn!("upload {}: a PATCH went past the upload's length or the chunk limit", u.id);
            return Ok((
                StatusCode::PAYLOAD_TOO_LARGE,
                "more bytes than the upload's length or the chunk limit",
            )
                .into_response());
        }
        Err(e) => return Err(e),
    };
    if data.is_empty() {
        return Ok(state_answer(if whole { StatusCode::NO_CONTENT } else { StatusCode::BAD_REQUEST }, &u));
    }
    let mut tx = state.db.pool.begin().await?;
    let moved: Option<(i64, i64, String, String)> = sqlx::query_as(
        "UPDATE uploads SET upload_offset = upload_offset + $3, updated_at = $4 \
         WHERE id = $1 AND upload_offset = $2 AND verdict IS NULL RETURNING upload_offset, length, bundle_id, device_id",
    )
    .bind(id)
    .bind(offset)
    .bind(data.len() as i64)
    .bind(now_ms())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((new_offset, length, bundle_id, device_id)) = moved else {
        // Another request (another instance) took these bytes first.
        tx.rollback().await?;
        let u = upload_by(state, "id", id).await?.ok_or(Error::NotFound)?;
        return Ok(state_answer(StatusCode::CONFLICT, &u));
    };
    sqlx::query("INSERT INTO upload_chunks (upload_id, start_at, data) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(offset)
        .bind(&data)
        .execute(&mut *tx)
        .await?;
    let mut verdict = None;
    if new_offset == length {
        let chunks: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT data FROM upload_chunks WHERE upload_id = $1 ORDER BY start_at")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let sealed: Vec<u8> = chunks.into_iter().flat_map(|(c,)| c).collect();
        if sealed.len() as i64 != length {
            return Err(Error::Internal("upload chunks do not add up"));
        }
        let v = match super::take::take(&mut tx, &state.identity, &sealed, &bundle_id, &device_id).await? {
            Ok(uid) => {
                log::info!(
                    "bundle {bundle_id} from device {device_id} delivered ({} bytes, case {uid})",
                    sealed.len()
                );
                "delivered".to_string()
            }
            Err(r) => {
                log::warn!("bundle {bundle_id} from device {device_id} refused: {}", r.code());
                format!("refused {}", r.code())
            }
        };
        sqlx::query("UPDATE uploads SET verdict = $2 WHERE id = $1")
            .bind(id)
            .bind(&v)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM upload_chunks WHERE upload_id = $1").bind(id).execute(&mut *tx).await?;
        verdict = Some(v);
    }
    tx.commit().await?;
    let u = UploadRow { id: id.into(), device_id, length, offset: new_offset, verdict };
    Ok(state_answer(StatusCode::NO_CONTENT, &u))
}

/// Unfinished uploads untouched this long are dropped (with their chunks):
/// a phone that comes back later starts that bundle again (HEAD answers 404).
pub const ABANDONED_AFTER_MS: i64 = 30 * 24 * 3600 * 1000;

/// Drops abandoned unfinished uploads; returns how many.
pub async fn sweep(db: &crate::Db, now: i64) -> Result<u64, Error> {
    let mut tx = db.pool.begin().await?;
    let cutoff = now - ABANDONED_AFTER_MS;
    sqlx::query(
        "DELETE FROM upload_chunks WHERE upload_id IN (SELECT id FROM uploads WHERE verdict IS NULL AND updated_at < $1)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    let n = sqlx::query("DELETE FROM uploads WHERE verdict IS NULL AND updated_at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if n > 0 {
        log::info!("dropped {n} abandoned unfinished uploads");
    }
    Ok(n)
}
