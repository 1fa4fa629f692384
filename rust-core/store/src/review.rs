//! Human reviews: a reviewer's label for one cell, a confirmation of the
//! machine's outcome, or an outcome of their own. Made on this device
//! ([`Store::relabel_cell`], [`Store::confirm`], [`Store::override_outcome`])
//! or at a hospital and brought back by the device ([`Store::apply_remote_review`];
//! docs/wire-format.md, "Reviews back to the device"). Either way one
//! `reviews` row and one `audit` row, written here and only here; the
//! machine's fields, cells and result are never touched (triggers).
use crate::{audit, check_text, models_json, now_ms, summary_in, Error, Store};
use hemalens_core::field::FieldReport;
use hemalens_core::session::Decision;
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::json;

/// What a reviewer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewAction {
    /// A label for one cell: field `seq`, the cell's index in that field's report.
    RelabelCell { field: i64, cell: i64, label: String },
    /// Agrees with the session's outcome.
    Confirm,
    /// An outcome of the reviewer's own.
    OverrideOutcome(Decision),
}

/// A review made at a hospital, as the device takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReview {
    /// The hospital's name on this device (as added with `add_hospital`).
    pub hospital: String,
    /// The hospital's id for the review: taken once per hospital.
    pub id: String,
    /// The local session it concerns.
    pub session: i64,
    pub action: ReviewAction,
    /// The reviewer's name at the hospital; stored as `<reviewer> (<hospital>)`.
    pub reviewer: String,
    /// When the review was made, at the hospital (ms since the Unix epoch, UTC).
    pub at: i64,
    pub note: Option<String>,
}

/// What applying a remote review did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Stored now.
    Applied,
    /// This hospital's review id was taken before: nothing changed.
    AlreadyApplied,
}

/// Who reviewed, when, and where a hospital's review came from.
pub(crate) struct By<'a> {
    reviewer: String,
    at: i64,
    note: Option<&'a str>,
    /// The hospital and its review id.
    remote: Option<(&'a str, &'a str)>,
}

impl<'a> By<'a> {
    /// A reviewer on this device, now.
    pub(crate) fn local(reviewer: &str, at: i64, note: Option<&'a str>) -> Result<Self, Error> {
        check_text(reviewer, "reviewer must be 1 to 128 printable characters")?;
        Ok(Self { reviewer: reviewer.to_string(), at, note, remote: None })
    }

    /// A reviewer at `r.hospital`, at the hospital's time.
    fn remote(r: &'a RemoteReview) -> Result<Self, Error> {
        check_text(&r.reviewer, "reviewer must be 1 to 128 printable characters")?;
        check_text(&r.hospital, "hospital name must be 1 to 128 printable characters")?;
        check_text(&r.id, "review id must be 1 to 128 printable characters")?;
        Ok(Self {
            reviewer: format!("{} ({})", r.reviewer.trim(), r.hospital),
            at: r.at,
            note: r.note.as_deref(),
            remote: Some((&r.hospital, &r.id)),
        })
    }

    /// The audit detail: what changed, and for a hospital's review where it came from.
    fn detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        if let (Some((hospital, id)), Some(d)) = (self.remote, detail.as_object_mut()) {
            d.insert("hospital".into(), json!(hospital));
            d.insert("review_id".into(), json!(id));
        }
        detail
    }
}

/// Stores a relabel of cell `idx` of field `seq` (inside the caller's
/// transaction); returns the `reviews` row.
pub(crate) fn relabel_cell(
    tx: &Transaction<'_>,
    session: i64,
    seq: i64,
    idx: i64,
    label: &str,
    by: &By<'_>,
) -> Result<i64, Error> {
    check_text(label, "label must be 1 to 128 printable characters")?;
    let (cell_id, machine, report): (i64, String, String) = tx
        .query_row(
            "SELECT c.id, c.label, f.report FROM cells c JOIN fields f ON f.id = c.field_id \
             WHERE f.session_id = ?1 AND f.seq = ?2 AND c.idx = ?3",
            params![session, seq, idx],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or(Error::NotFound("cell"))?;
    let report: FieldReport = serde_json::from_str(&report)?;
    let old: String = tx
        .query_row(
            "SELECT new_value FROM reviews WHERE cell_id = ?1 AND kind = 'relabel_cell' ORDER BY id DESC LIMIT 1",
            [cell_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(machine);
    tx.execute(
        "INSERT INTO reviews(session_id, kind, cell_id, old_value, new_value, reviewer, at, note) \
         VALUES (?1, 'relabel_cell', ?2, ?3, ?4, ?5, ?6, ?7)",
        params![session, cell_id, old, label, by.reviewer, by.at, by.note],
    )?;
    let row = tx.last_insert_rowid();
    let detail = by.detail(json!({ "field": seq, "cell": idx, "from": old, "to": label }));
    audit(tx, by.at, &by.reviewer, "relabel_cell", Some(session), detail, &models_json(&report.models))?;
    Ok(row)
}

/// Stores a confirmation (`decision` none) or an override of a closed
/// session's outcome and updates its search columns (inside the caller's
/// transaction); returns the `reviews` row.
pub(crate) fn outcome(
    tx: &Transaction<'_>,
    session: i64,
    decision: Option<Decision>,
    by: &By<'_>,
) -> Result<i64, Error> {
    let (closed, current): (Option<i64>, Option<String>) = tx
        .query_row("SELECT closed_at, outcome FROM sessions WHERE id = ?1", [session], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or(Error::NotFound("session"))?;
    if closed.is_none() {
        return Err(Error::InvalidState("close the session before reviewing its outcome"));
    }
    let models = models_json(&summary_in(tx, session)?.provenance.models);
    let (kind, new) = match decision {
        Some(d) => ("override_outcome", d.as_str().to_string()),
        None => ("confirm", current.clone().unwrap_or_default()),
    };
    tx.execute(
        "INSERT INTO reviews(session_id, kind, old_value, new_value, reviewer, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![session, kind, current, new, by.reviewer, by.at, by.note],
    )?;
    let row = tx.last_insert_rowid();
    tx.execute(
        "UPDATE sessions SET outcome = ?2, review_state = 'reviewed' WHERE id = ?1",
        params![session, new],
    )?;
    let detail = by.detail(json!({ "from": current, "to": new }));
    audit(tx, by.at, &by.reviewer, kind, Some(session), detail, &models)?;
    Ok(row)
}

impl Store {
    /// Applies a review made at a hospital, in one transaction: the same
    /// `reviews` and `audit` rows a reviewer on this device makes (reviewer
    /// `<reviewer> (<hospital>)`, at the hospital's time, the hospital and
    /// its review id in the audit detail) and the review id as taken. An id
    /// this hospital's review already took is [`Applied::AlreadyApplied`] and
    /// changes nothing. A session or cell this device does not have is
    /// `NotFound`, an open session `InvalidState`: nothing is stored.
    pub fn apply_remote_review(&mut self, r: &RemoteReview) -> Result<Applied, Error> {
        self.writable()?;
        let by = By::remote(r)?;
        let tx = self.conn.transaction()?;
        let taken: bool = tx.query_row(
            "SELECT count(*) FROM remote_reviews WHERE hospital = ?1 AND review_id = ?2",
            params![r.hospital, r.id],
            |row| row.get(0),
        )?;
        if taken {
            return Ok(Applied::AlreadyApplied);
        }
        let known: bool =
            tx.query_row("SELECT count(*) FROM hospitals WHERE name = ?1", [&r.hospital], |row| row.get(0))?;
        if !known {
            return Err(Error::NotFound("hospital"));
        }
        let row = match &r.action {
            ReviewAction::RelabelCell { field, cell, label } => {
                relabel_cell(&tx, r.session, *field, *cell, label, &by)?
            }
            ReviewAction::Confirm => outcome(&tx, r.session, None, &by)?,
            ReviewAction::OverrideOutcome(d) => outcome(&tx, r.session, Some(*d), &by)?,
        };
        tx.execute(
            "INSERT INTO remote_reviews(hospital, review_id, session_id, review, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.hospital, r.id, r.session, row, now_ms()],
        )?;
        tx.commit()?;
        Ok(Applied::Applied)
    }

    /// Whether `hospital`'s review `id` was taken.
    pub fn remote_review_taken(&self, hospital: &str, id: &str) -> Result<bool, Error> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM remote_reviews WHERE hospital = ?1 AND review_id = ?2",
            params![hospital, id],
            |row| row.get(0),
        )?)
    }
}
