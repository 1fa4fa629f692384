//! The outbox: sealed bundles waiting for a hospital, kept in the encrypted
//! database so a queue survives restarts, kill -9 and full disks. The upload
//! itself (tus, hemalens-share) reports its progress here after every chunk,
//! so the state shown is always the state on disk.
use crate::{audit, check_text, now_ms, Error, Store};
use rusqlite::{params, OptionalExtension, MAIN_DB};
use serde::Serialize;
use serde_json::json;

/// A hospital this device shares with: where to upload and whom to encrypt for.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hospital {
    pub name: String,
    /// The tus endpoint that creates uploads (`https://.../files/`).
    pub url: String,
    /// The hospital's age X25519 public key (`age1...`).
    pub recipient: String,
    /// Photos wait for Wi-Fi (results never wait).
    pub photos_on_wifi_only: bool,
}

/// Where an outbox item stands.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Queued,
    Sending,
    Delivered,
    Refused,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "sending" => Some(Self::Sending),
            "delivered" => Some(Self::Delivered),
            "refused" => Some(Self::Refused),
            _ => None,
        }
    }
}

/// One queued bundle (without its bytes).
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub session_id: i64,
    pub hospital: String,
    /// `results` or `photos`.
    pub kind: String,
    pub bundle_id: String,
    pub size: u64,
    pub state: OutboxState,
    /// The upload's URL at the hospital once created (tus `Location`).
    pub upload_url: Option<String>,
    /// Bytes the hospital has confirmed.
    pub sent: u64,
    pub attempts: u32,
    pub next_attempt_at: i64,
    /// Why the last attempt failed (a code), or why the hospital refused.
    pub reason: Option<String>,
    pub queued_at: i64,
    pub delivered_at: Option<i64>,
}

impl OutboxItem {
    /// `queued`, `sending 42%`, `delivered`, `refused: <reason>`.
    pub fn status(&self) -> String {
        match self.state {
            OutboxState::Sending => {
                let pct = (self.sent * 100).checked_div(self.size).unwrap_or(100);
                format!("sending {pct}%")
            }
            OutboxState::Refused => format!("refused: {}", self.reason.as_deref().unwrap_or("unknown")),
            s => s.as_str().to_string(),
        }
    }
}

const ITEM_COLS: &str =
    "id, session_id, hospital, kind, bundle_id, size, state, upload_url, sent, attempts, \
                         next_attempt_at, reason, queued_at, delivered_at";

fn item(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    let state: String = r.get(6)?;
    Ok(OutboxItem {
        id: r.get(0)?,
        session_id: r.get(1)?,
        hospital: r.get(2)?,
        kind: r.get(3)?,
        bundle_id: r.get(4)?,
        size: r.get::<_, i64>(5)? as u64,
        state: OutboxState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, "unknown state".into())
        })?,
        upload_url: r.get(7)?,
        sent: r.get::<_, i64>(8)? as u64,
        attempts: r.get::<_, i64>(9)? as u32,
        next_attempt_at: r.get(10)?,
        reason: r.get(11)?,
        queued_at: r.get(12)?,
        delivered_at: r.get(13)?,
    })
}

fn check_url(url: &str) -> Result<(), Error> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument("the hospital URL must be an http(s) URL"))
    }
}

impl Store {
    /// Adds a hospital, or replaces its URL and key (audited either way).
    pub fn add_hospital(&mut self, h: &Hospital, actor: &str) -> Result<(), Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        check_text(&h.name, "hospital name must be 1 to 128 printable characters")?;
        check_url(&h.url)?;
        if !h.recipient.starts_with("age1") || h.recipient.len() > 256 {
            return Err(Error::InvalidArgument("the hospital key must be an age public key (age1...)"));
        }
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO hospitals(name, url, recipient, photos_on_wifi_only, added_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(name) DO UPDATE SET url = excluded.url, recipient = excluded.recipient, \
             photos_on_wifi_only = excluded.photos_on_wifi_only",
            params![h.name, h.url, h.recipient, h.photos_on_wifi_only, now],
        )?;
        audit(&tx, now, actor, "hospital_set", None, json!({ "hospital": h.name }), "[]")?;
        tx.commit()?;
        Ok(())
    }

    pub fn hospitals(&self) -> Result<Vec<Hospital>, Error> {
        let mut st = self
            .conn
            .prepare("SELECT name, url, recipient, photos_on_wifi_only FROM hospitals ORDER BY name")?;
        let rows = st.query_map([], |r| {
            Ok(Hospital {
                name: r.get(0)?,
                url: r.get(1)?,
                recipient: r.get(2)?,
                photos_on_wifi_only: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One hospital by name (`NotFound("hospital")`).
    pub fn hospital(&self, name: &str) -> Result<Hospital, Error> {
        self.conn
            .query_row(
                "SELECT name, url, recipient, photos_on_wifi_only FROM hospitals WHERE name = ?1",
                [name],
                |r| {
                    Ok(Hospital {
                        name: r.get(0)?,
                        url: r.get(1)?,
                        recipient: r.get(2)?,
                        photos_on_wifi_only: r.get(3)?,
                    })
                },
            )
            .optional()?
            .ok_or(Error::NotFound("hospital"))
    }

    /// Queues a sealed bundle of a closed session for a hospital. One bundle
    /// per session, hospital and kind: queueing again is refused (the first
    /// stays; nothing is sent twice).
    pub fn enqueue(
        &mut self,
        session: i64,
        hospital: &str,
        kind: &str,
        bundle_id: &str,
        payload: &[u8],
        actor: &str,
    ) -> Result<i64, Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        if kind != "results" && kind != "photos" {
            return Err(Error::InvalidArgument("bundle kind must be results or photos"));
        }
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let closed: Option<Option<i64>> = tx
            .query_row("SELECT closed_at FROM sessions WHERE id = ?1", [session], |r| r.get(0))
            .optional()?;
        match closed {
            None => return Err(Error::NotFound("session")),
            Some(None) => {
                return Err(Error::InvalidState("the session is still open: close it before sharing"))
            }
            Some(Some(_)) => {}
        }
        let known: bool =
            tx.query_row("SELECT count(*) FROM hospitals WHERE name = ?1", [hospital], |r| r.get(0))?;
        if !known {
            return Err(Error::NotFound("hospital"));
        }
        let dup: bool = tx.query_row(
            "SELECT count(*) FROM outbox WHERE session_id = ?1 AND hospital = ?2 AND kind = ?3",
            params![session, hospital, kind],
            |r| r.get(0),
        )?;
        if dup {
            return Err(Error::InvalidState("this session is already queued for this hospital"));
        }
        tx.execute(
            "INSERT INTO outbox(session_id, hospital, kind, bundle_id, size, state, sent, attempts, \
             next_attempt_at, queued_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, 0, ?6, ?6)",
            params![session, hospital, kind, bundle_id, payload.len() as i64, now],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute("INSERT INTO outbox_payloads(item, payload) VALUES (?1, ?2)", params![id, payload])?;
        audit(&tx, now, actor, "outbox_queue", Some(session), json!({ "item": id, "kind": kind }), "[]")?;
        tx.commit()?;
        Ok(id)
    }

    /// Every outbox item, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        let mut st = self.conn.prepare(&format!("SELECT {ITEM_COLS} FROM outbox ORDER BY id"))?;
        let rows = st.query_map([], item)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn outbox_item(&self, id: i64) -> Result<OutboxItem, Error> {
        self.conn
            .query_row(&format!("SELECT {ITEM_COLS} FROM outbox WHERE id = ?1"), [id], item)
            .optional()?
            .ok_or(Error::NotFound("outbox item"))
    }

    /// `len` bytes of an item's sealed bundle from `offset` (fewer at the end),
    /// read in place (a photos bundle is not loaded whole for each chunk).
    pub fn outbox_chunk(&self, id: i64, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
        let blob = self.conn.blob_open(MAIN_DB, c"outbox_payloads", c"payload", id, true)?;
        let size = blob.len() as u64;
        if offset > size {
            return Err(Error::InvalidArgument("offset beyond the bundle"));
        }
        let n = len.min((size - offset) as usize);
        let mut buf = vec![0u8; n];
        blob.read_at_exact(&mut buf, offset as usize)?;
        Ok(buf)
    }

    /// Records progress: the upload's URL and the bytes the hospital confirmed.
    /// Progress resets the count of failed attempts (the backoff starts over).
    pub fn outbox_progress(&mut self, id: i64, upload_url: Option<&str>, sent: u64) -> Result<(), Error> {
        self.writable()?;
        let n = self.conn.execute(
            "UPDATE outbox SET state = 'sending', upload_url = coalesce(?2, upload_url), \
             attempts = CASE WHEN ?3 > sent THEN 0 ELSE attempts END, sent = ?3, reason = NULL \
             WHERE id = ?1 AND state IN ('queued', 'sending')",
            params![id, upload_url, sent as i64],
        )?;
        if n == 0 {
            return Err(Error::NotFound("outbox item"));
        }
        Ok(())
    }

    /// The upload URL is gone at the hospital (expired, restarted): start over.
    pub fn outbox_forget_upload(&mut self, id: i64) -> Result<(), Error> {
        self.writable()?;
        self.conn.execute(
            "UPDATE outbox SET upload_url = NULL, sent = 0 WHERE id = ?1 AND state IN ('queued', 'sending')",
            [id],
        )?;
        Ok(())
    }

    /// An attempt failed for a passing reason (no network, a timeout): try
    /// again at `next_at`.
    pub fn outbox_retry_later(&mut self, id: i64, next_at: i64, reason: &str) -> Result<(), Error> {
        self.writable()?;
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, reason = ?3 \
             WHERE id = ?1 AND state IN ('queued', 'sending')",
            params![id, next_at, reason],
        )?;
        Ok(())
    }

    /// The hospital confirmed the whole bundle.
    pub fn outbox_delivered(&mut self, id: i64) -> Result<(), Error> {
        self.writable()?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let (session, size): (i64, i64) =
            tx.query_row("SELECT session_id, size FROM outbox WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        tx.execute(
            "UPDATE outbox SET state = 'delivered', sent = ?2, delivered_at = ?3, reason = NULL WHERE id = ?1",
            params![id, size, now],
        )?;
        audit(&tx, now, "outbox", "outbox_delivered", Some(session), json!({ "item": id }), "[]")?;
        tx.commit()?;
        Ok(())
    }

    /// The hospital refused the bundle for good (`reason` is its code).
    pub fn outbox_refused(&mut self, id: i64, reason: &str) -> Result<(), Error> {
        self.writable()?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let session: i64 = tx.query_row("SELECT session_id FROM outbox WHERE id = ?1", [id], |r| r.get(0))?;
        tx.execute("UPDATE outbox SET state = 'refused', reason = ?2 WHERE id = ?1", params![id, reason])?;
        audit(
            &tx,
            now,
            "outbox",
            "outbox_refused",
            Some(session),
            json!({ "item": id, "reason": reason }),
            "[]",
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Puts a refused item back in the queue as a freshly sealed bundle (a
    /// new id: the hospital took the old id's refusal as final).
    pub fn outbox_requeue(
        &mut self,
        id: i64,
        bundle_id: &str,
        payload: &[u8],
        actor: &str,
    ) -> Result<(), Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let session: i64 = tx
            .query_row("SELECT session_id FROM outbox WHERE id = ?1 AND state = 'refused'", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(Error::InvalidState("only a refused item can be queued again"))?;
        tx.execute(
            "UPDATE outbox SET state = 'queued', bundle_id = ?2, size = ?3, upload_url = NULL, \
             sent = 0, attempts = 0, next_attempt_at = ?4, reason = NULL WHERE id = ?1",
            params![id, bundle_id, payload.len() as i64, now],
        )?;
        tx.execute("UPDATE outbox_payloads SET payload = ?2 WHERE item = ?1", params![id, payload])?;
        audit(&tx, now, actor, "outbox_requeue", Some(session), json!({ "item": id }), "[]")?;
        tx.commit()?;
        Ok(())
    }
}
