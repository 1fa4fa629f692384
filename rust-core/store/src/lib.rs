//! The records store: pseudonymous patients, sessions, fields, cells, machine
//! results, human reviews and an audit log, on the device, offline.
//!
//! - One SQLCipher database file (`records.db`): the whole file, indexes and WAL
//!   included, is encrypted with the app's key; `rotate_key` re-keys it.
//! - Photos beside it in `photos/`, each XChaCha20-Poly1305-encrypted under a
//!   photo key kept inside the database, named by a keyed hash of its content.
//! - WAL, `synchronous = FULL`, one transaction per change: a crash loses at most
//!   the change being written.
//!
//! Design, schema and the crash and key-rotation arguments: `docs/records.md`.
mod error;
mod key;
mod outbox;
mod review;
pub mod schema;
mod site;
#[doc(hidden)]
pub mod testing;

pub use error::{Error, ErrorKind};
pub use key::Key;
pub use outbox::{Hospital, OutboxItem, OutboxState};
pub use review::{Applied, RemoteReview, ReviewAction};
pub use site::{ReviewedCell, SiteProfileRow};

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("hemalens_store");

use hemalens_core::field::{FieldReport, ModelRef};
use hemalens_core::session::{Decision, Session, SessionPolicy, Summary};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::json;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DB_FILE: &str = "records.db";
pub const PHOTO_DIR: &str = "photos";

/// How to open a store. `Default` is what the app uses.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Caps the database size in pages (4 KiB): a full disk on demand, for tests.
    pub max_page_count: Option<u64>,
    /// A sealed photo that no field names is removed at open once it is this
    /// old ([`ORPHAN_MIN_AGE`] when `None`): a crash between a photo's write
    /// and its field's commit leaves one. The age keeps a photo that another
    /// handle is about to commit.
    pub orphan_min_age: Option<std::time::Duration>,
}

/// How old an unreferenced sealed photo must be before an open removes it.
pub const ORPHAN_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a store can be written. A store whose storage refuses writes (a
/// full disk, read-only media) still opens, read-only: the records can be
/// read and shown, and every write is refused with this reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    Allowed,
    /// The storage is full ([`Error::DiskFull`] for every write).
    DiskFull,
    /// The storage is read-only ([`Error::ReadOnly`] for every write).
    ReadOnly,
}

/// An open store. Not `Sync`: one writer per store; open another for readers.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    /// The key the database is under now (a failed re-key reopens with it).
    key: Key,
    writes: Writes,
    photos: PathBuf,
    name_key: [u8; 32],
    photo_keys: Vec<(u32, [u8; 32])>,
    current_photo_key: u32,
}

/// What `list` filters on; every filter is optional. Newest first.
#[derive(Debug, Clone)]
pub struct Query {
    /// One session by its id (what an app reopens from its history).
    pub session: Option<i64>,
    pub patient: Option<String>,
    /// Started at or after (Unix milliseconds).
    pub from_ms: Option<i64>,
    /// Started before (Unix milliseconds).
    pub to_ms: Option<i64>,
    /// The effective outcome (after any override).
    pub outcome: Option<Decision>,
    /// Closed sessions that refer or are inconclusive and nobody has reviewed.
    pub pending_review: bool,
    pub limit: u32,
    /// Benchmark baseline: the same query without the indexes.
    #[doc(hidden)]
    pub full_scan: bool,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            session: None,
            patient: None,
            from_ms: None,
            to_ms: None,
            outcome: None,
            pending_review: false,
            limit: 50,
            full_scan: false,
        }
    }
}

/// One line of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SessionRow {
    pub id: i64,
    pub patient: String,
    pub started_at: i64,
    pub closed_at: Option<i64>,
    /// Effective outcome: the reviewer's override if any, else the machine's.
    pub outcome: Option<Decision>,
    pub machine_outcome: Option<Decision>,
    pub review_state: ReviewState,
    pub fields: i64,
}

/// Where a session stands with its human review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum ReviewState {
    /// Still collecting photos.
    Open,
    /// Closed as refer or inconclusive: a reviewer should look at it.
    Pending,
    /// A reviewer confirmed or overrode the machine's result.
    Reviewed,
    /// Closed with no abnormality detected: no review needed.
    #[serde(rename = "none")]
    NotNeeded,
}

impl ReviewState {
    pub const ALL: [ReviewState; 4] = [Self::Open, Self::Pending, Self::Reviewed, Self::NotNeeded];

    /// The stored (and JSON) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Reviewed => "reviewed",
            Self::NotNeeded => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for ReviewState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored name read back as its enum; anything else is a damaged record.
fn stored<T>(
    idx: usize,
    s: Option<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<Option<T>> {
    match s {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Text,
                "unknown stored name".into(),
            )
        }),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) fn models_json(models: &[ModelRef]) -> String {
    serde_json::to_string(models).unwrap_or_else(|_| "[]".into())
}

/// The field reports of a session, in the order they were added.
pub(crate) fn reports_in(conn: &Connection, session: i64) -> Result<Vec<FieldReport>, Error> {
    let mut st = conn.prepare_cached("SELECT report FROM fields WHERE session_id = ?1 ORDER BY seq")?;
    let rows = st.query_map([session], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        out.push(serde_json::from_str(&r?)?);
    }
    Ok(out)
}

/// The session replayed from its stored fields.
pub(crate) fn replay_in(conn: &Connection, session: i64) -> Result<Session, Error> {
    let (policy, app): (String, String) = conn
        .query_row("SELECT policy, app_version FROM sessions WHERE id = ?1", [session], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
        .ok_or(Error::NotFound("session"))?;
    let policy: SessionPolicy = serde_json::from_str(&policy)?;
    let mut s = Session::new(policy, app);
    for f in reports_in(conn, session)? {
        s.add_field(&f);
    }
    Ok(s)
}

/// The machine's summary: the stored result once closed, else the running one.
pub(crate) fn summary_in(conn: &Connection, session: i64) -> Result<Summary, Error> {
    if let Some(s) = conn
        .query_row("SELECT summary FROM results WHERE session_id = ?1", [session], |r| r.get::<_, String>(0))
        .optional()?
    {
        return Ok(serde_json::from_str(&s)?);
    }
    Ok(replay_in(conn, session)?.summary())
}

pub(crate) fn check_text(s: &str, what: &'static str) -> Result<(), Error> {
    if s.trim().is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(what));
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store in `dir` with `key`.
    pub fn open(dir: &Path, key: &Key) -> Result<Self, Error> {
        Self::open_with(dir, key, &Options::default())
    }

    pub fn open_with(dir: &Path, key: &Key, opts: &Options) -> Result<Self, Error> {
        let photos = dir.join(PHOTO_DIR);
        if !photos.is_dir() {
            fs::create_dir_all(&photos)?;
        }
        restrict(dir);
        restrict(&photos);
        let (mut conn, writes) = open_conn(&dir.join(DB_FILE), key, dir)?;
        let refused = |e: Error| match (writes, e) {
            (Writes::DiskFull, Error::ReadOnly) => Error::DiskFull,
            (_, e) => e,
        };
        if writes == Writes::Allowed {
            if let Some(n) = opts.max_page_count {
                let _: i64 = conn.query_row(&format!("PRAGMA max_page_count = {n}"), [], |r| r.get(0))?;
            }
            schema::migrate(&mut conn)?;
        } else {
            // Read-only: the schema must already be this version's.
            let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            if found > schema::VERSION {
                return Err(Error::SchemaTooNew { found, supported: schema::VERSION });
            }
            if found < schema::VERSION {
                return Err(refused(Error::ReadOnly));
            }
        }
        Self::finish_open(conn, key.clone(), writes, photos, opts).map_err(refused)
    }

    fn finish_open(
        mut conn: Connection,
        key: Key,
        writes: Writes,
        photos: PathBuf,
        opts: &Options,
    ) -> Result<Self, Error> {
        let tx = conn.transaction()?;
        let name_key = meta_key(&tx, "photo_name_key")?;
        let current: Option<i64> = tx
            .query_row("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'photo_key_current'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let current_photo_key = match current {
            Some(c) => c as u32,
            None => {
                meta_key(&tx, "photo_key:1")?;
                tx.execute("INSERT INTO meta(key, value) VALUES ('photo_key_current', 1)", [])?;
                1
            }
        };
        tx.commit()?;
        let photo_keys = load_photo_keys(&conn)?;
        // Leftovers of a photo write that was interrupted before its rename.
        if let Ok(rd) = fs::read_dir(&photos) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        let store = Self { conn, key, writes, photos, name_key, photo_keys, current_photo_key };
        if writes != Writes::Allowed {
            log::warn!("the records store's storage refuses writes ({writes:?}): opened read-only");
            return Ok(store);
        }
        let removed = store.remove_orphan_photos(opts.orphan_min_age.unwrap_or(ORPHAN_MIN_AGE))?;
        if removed > 0 {
            log::info!("removed {removed} sealed photos that no field names (left by an interrupted write)");
        }
        Ok(store)
    }

    /// Removes sealed photos that no field names and that are at least
    /// `min_age` old; how many. A read-only store removes nothing.
    fn remove_orphan_photos(&self, min_age: std::time::Duration) -> Result<usize, Error> {
        let Ok(rd) = fs::read_dir(&self.photos) else { return Ok(0) };
        let files: Vec<(String, PathBuf, Option<std::time::SystemTime>)> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let sealed = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
                sealed.then(|| (name, e.path(), e.metadata().ok().and_then(|m| m.modified().ok())))
            })
            .collect();
        if files.is_empty() {
            return Ok(0);
        }
        let mut named = std::collections::HashSet::new();
        let mut q = self.conn.prepare("SELECT DISTINCT photo FROM fields")?;
        for n in q.query_map([], |r| r.get::<_, String>(0))? {
            named.insert(n?);
        }
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for (name, path, modified) in files {
            let old = modified.and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= min_age);
            if !named.contains(&name) && old && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Reopens the database connection under whichever of the current key
    /// and `other` opens it (after a failed re-key).
    fn reconnect(&mut self, other: &Key) -> Result<(), Error> {
        let dir = self.photos.parent().ok_or(Error::NotFound("store folder"))?.to_path_buf();
        let path = dir.join(DB_FILE);
        // Read-only where the storage now refuses writes (the failure was a full disk).
        let (conn, writes) = match open_conn(&path, &self.key, &dir) {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::WrongKey => {
                let c = open_conn(&path, other, &dir)?;
                self.key = other.clone();
                c
            }
            Err(e) => return Err(e),
        };
        self.conn = conn;
        self.writes = writes;
        Ok(())
    }

    /// Whether a fresh connection under `key` reads the whole database.
    fn check_key(&self, key: &Key) -> Result<(), Error> {
        let path = self.photos.parent().map(|d| d.join(DB_FILE)).ok_or(Error::NotFound("store folder"))?;
        let c = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        keyed(&c, key)?;
        let r: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if r != "ok" {
            return Err(Error::Corrupt("the re-keyed database does not read back".into()));
        }
        Ok(())
    }

    /// Whether this store can be written (see [`Writes`]).
    pub fn writes(&self) -> Writes {
        self.writes
    }

    /// Every write starts here: a store opened read-only refuses it, typed.
    pub(crate) fn writable(&self) -> Result<(), Error> {
        match self.writes {
            Writes::Allowed => Ok(()),
            Writes::DiskFull => Err(Error::DiskFull),
            Writes::ReadOnly => Err(Error::ReadOnly),
        }
    }

    /// `PRAGMA integrity_check` and `foreign_key_check` both clean.
    pub fn integrity_check(&self) -> Result<(), Error> {
        let r: String = self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if r != "ok" {
            return Err(Error::Corrupt("integrity check failed".into()));
        }
        let bad: i64 =
            self.conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0))?;
        if bad > 0 {
            return Err(Error::Corrupt("dangling references".into()));
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, Error> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Starts a session for a pseudonymous patient code (created on first use),
    /// bound to no packs: any field report is taken. Apps use
    /// [`Store::start_session_for`].
    pub fn start_session(
        &mut self,
        patient: &str,
        policy: &SessionPolicy,
        app_version: &str,
        actor: &str,
    ) -> Result<i64, Error> {
        self.start_session_for(patient, policy, &[], app_version, actor)
    }

    /// Starts a session bound to `packs` (the id, version and sha256 of every
    /// pack whose answers it takes): [`Store::add_field`] then refuses a report
    /// made by any other packs. `policy` carries the thresholds it decides with.
    pub fn start_session_for(
        &mut self,
        patient: &str,
        policy: &SessionPolicy,
        packs: &[ModelRef],
        app_version: &str,
        actor: &str,
    ) -> Result<i64, Error> {
        self.writable()?;
        check_text(patient, "patient code must be 1 to 128 printable characters")?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR IGNORE INTO patients(code, created_at) VALUES (?1, ?2)",
            params![patient, now],
        )?;
        let pid: i64 = tx.query_row("SELECT id FROM patients WHERE code = ?1", [patient], |r| r.get(0))?;
        let bound = (!packs.is_empty()).then(|| models_json(packs));
        tx.execute(
            "INSERT INTO sessions(patient_id, started_at, policy, app_version, packs) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![pid, now, serde_json::to_string(policy)?, app_version, bound],
        )?;
        let id = tx.last_insert_rowid();
        audit(&tx, now, actor, "start_session", Some(id), json!({}), bound.as_deref().unwrap_or("[]"))?;
        tx.commit()?;
        Ok(id)
    }

    /// Stores one field: the photo (encrypted, content-named) first, then the
    /// report and its cells in one transaction. Returns the field's sequence number.
    pub fn add_field(
        &mut self,
        session: i64,
        photo: &[u8],
        report: &FieldReport,
        actor: &str,
    ) -> Result<i64, Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        self.check_open(session)?;
        if let Some(packs) = self.session_packs(session)? {
            let same = report.models.len() == packs.len() && report.models.iter().all(|m| packs.contains(m));
            if !same {
                return Err(Error::InvalidState(
                    "the photo was analysed by other model packs than the session's",
                ));
            }
        }
        let name = self.put_photo(photo)?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let seq: i64 = tx.query_row(
            "SELECT coalesce(max(seq) + 1, 0) FROM fields WHERE session_id = ?1",
            [session],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO fields(session_id, seq, photo, added_at, accepted, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![session, seq, name, now, report.quality.ok, serde_json::to_string(report)?],
        )?;
        let fid = tx.last_insert_rowid();
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO cells(field_id, idx, label, confidence) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (i, c) in report.cells.iter().enumerate() {
                ins.execute(params![fid, i as i64, c.label, c.confidence])?;
            }
        }
        audit(
            &tx,
            now,
            actor,
            "add_field",
            Some(session),
            json!({ "field": seq }),
            &models_json(&report.models),
        )?;
        tx.commit()?;
        Ok(seq)
    }

    /// The packs a session is bound to (`None`: unbound, any report is taken).
    pub fn session_packs(&self, session: i64) -> Result<Option<Vec<ModelRef>>, Error> {
        let packs: Option<Option<String>> = self
            .conn
            .query_row("SELECT packs FROM sessions WHERE id = ?1", [session], |r| r.get(0))
            .optional()?;
        match packs {
            None => Err(Error::NotFound("session")),
            Some(None) => Ok(None),
            Some(Some(j)) => Ok(Some(serde_json::from_str(&j)?)),
        }
    }

    /// `Ok` when the session exists and is still open.
    pub fn check_open(&self, session: i64) -> Result<(), Error> {
        let closed: Option<Option<i64>> = self
            .conn
            .query_row("SELECT closed_at FROM sessions WHERE id = ?1", [session], |r| r.get(0))
            .optional()?;
        match closed {
            None => Err(Error::NotFound("session")),
            Some(Some(_)) => Err(Error::InvalidState("the session is closed")),
            Some(None) => Ok(()),
        }
    }

    /// The field reports of a session, in the order they were added.
    pub fn reports(&self, session: i64) -> Result<Vec<FieldReport>, Error> {
        reports_in(&self.conn, session)
    }

    /// The machine's summary: the stored result once closed, else the running one.
    pub fn summary(&self, session: i64) -> Result<Summary, Error> {
        summary_in(&self.conn, session)
    }

    fn replay(&self, session: i64) -> Result<Session, Error> {
        replay_in(&self.conn, session)
    }

    /// Closes a session and stores the machine's result, which is never changed
    /// afterwards (reviews are stored beside it).
    pub fn close_session(&mut self, session: i64, actor: &str) -> Result<Summary, Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        self.check_open(session)?;
        let summary = self.replay(session)?.summary();
        let decision = summary.outcome.decision.as_str();
        let state =
            if summary.outcome.decision == Decision::NoAbnormalityDetected { "none" } else { "pending" };
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO results(session_id, decided_at, decision, summary) VALUES (?1, ?2, ?3, ?4)",
            params![session, now, decision, serde_json::to_string(&summary)?],
        )?;
        tx.execute(
            "UPDATE sessions SET closed_at = ?2, machine_outcome = ?3, outcome = ?3, review_state = ?4 WHERE id = ?1",
            params![session, now, decision, state],
        )?;
        let models = models_json(&summary.provenance.models);
        audit(&tx, now, actor, "close_session", Some(session), json!({ "decision": decision }), &models)?;
        tx.commit()?;
        Ok(summary)
    }

    /// Sessions matching `q`, newest first.
    pub fn list(&self, q: &Query) -> Result<Vec<SessionRow>, Error> {
        let from = if q.full_scan { "sessions s NOT INDEXED" } else { "sessions s" };
        let mut sql = format!(
            "SELECT s.id, p.code, s.started_at, s.closed_at, s.outcome, s.machine_outcome, s.review_state, \
             (SELECT count(*) FROM fields f WHERE f.session_id = s.id) \
             FROM {from} JOIN patients p ON p.id = s.patient_id WHERE 1"
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(id) = q.session {
            args.push(id.into());
            sql += &format!(" AND s.id = ?{}", args.len());
        }
        if let Some(p) = &q.patient {
            args.push(p.clone().into());
            sql += &format!(" AND s.patient_id = (SELECT id FROM patients WHERE code = ?{})", args.len());
        }
        if let Some(t) = q.from_ms {
            args.push(t.into());
            sql += &format!(" AND s.started_at >= ?{}", args.len());
        }
        if let Some(t) = q.to_ms {
            args.push(t.into());
            sql += &format!(" AND s.started_at < ?{}", args.len());
        }
        if let Some(o) = q.outcome {
            args.push(o.as_str().to_string().into());
            sql += &format!(" AND s.outcome = ?{}", args.len());
        }
        if q.pending_review {
            sql += " AND s.review_state = 'pending'";
        }
        args.push(i64::from(q.limit).into());
        sql += &format!(" ORDER BY s.started_at DESC, s.id DESC LIMIT ?{}", args.len());
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(SessionRow {
                id: r.get(0)?,
                patient: r.get(1)?,
                started_at: r.get(2)?,
                closed_at: r.get(3)?,
                outcome: stored(4, r.get(4)?, Decision::parse)?,
                machine_outcome: stored(5, r.get(5)?, Decision::parse)?,
                review_state: stored(6, Some(r.get(6)?), ReviewState::parse)?.unwrap_or(ReviewState::Open),
                fields: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A reviewer's label for one cell (field `seq`, cell index `idx`); the
    /// machine's label stays as it was.
    pub fn relabel_cell(
        &mut self,
        session: i64,
        seq: i64,
        idx: i64,
        label: &str,
        reviewer: &str,
        note: Option<&str>,
    ) -> Result<(), Error> {
        self.writable()?;
        let by = review::By::local(reviewer, now_ms(), note)?;
        let tx = self.conn.transaction()?;
        review::relabel_cell(&tx, session, seq, idx, label, &by)?;
        tx.commit()?;
        Ok(())
    }

    /// A reviewer's outcome for a closed session; the machine result is kept.
    pub fn override_outcome(
        &mut self,
        session: i64,
        decision: Decision,
        reviewer: &str,
        note: Option<&str>,
    ) -> Result<(), Error> {
        self.review(session, Some(decision), reviewer, note)
    }

    /// A reviewer agrees with the machine's outcome.
    pub fn confirm(&mut self, session: i64, reviewer: &str, note: Option<&str>) -> Result<(), Error> {
        self.review(session, None, reviewer, note)
    }

    fn review(
        &mut self,
        session: i64,
        decision: Option<Decision>,
        reviewer: &str,
        note: Option<&str>,
    ) -> Result<(), Error> {
        self.writable()?;
        let by = review::By::local(reviewer, now_ms(), note)?;
        let tx = self.conn.transaction()?;
        review::outcome(&tx, session, decision, &by)?;
        tx.commit()?;
        Ok(())
    }

    /// One session as JSON: patient code, fields with reports, the machine
    /// result (or running summary), reviews, the effective outcome and the audit trail.
    pub fn export(&self, session: i64) -> Result<serde_json::Value, Error> {
        let s = self
            .conn
            .query_row(
                "SELECT s.id, p.code, s.started_at, s.closed_at, s.app_version, s.policy, s.outcome, s.review_state \
                 FROM sessions s JOIN patients p ON p.id = s.patient_id WHERE s.id = ?1",
                [session],
                |r| {
                    Ok(json!({
                        "id": r.get::<_, i64>(0)?,
                        "patient": r.get::<_, String>(1)?,
                        "started_at": r.get::<_, i64>(2)?,
                        "closed_at": r.get::<_, Option<i64>>(3)?,
                        "app_version": r.get::<_, String>(4)?,
                        "policy": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(5)?).unwrap_or_default(),
                        "outcome": r.get::<_, Option<String>>(6)?,
                        "review_state": r.get::<_, String>(7)?,
                    }))
                },
            )
            .optional()?
            .ok_or(Error::NotFound("session"))?;
        let mut fields = Vec::new();
        {
            let mut st = self.conn.prepare(
                "SELECT seq, photo, added_at, report FROM fields WHERE session_id = ?1 ORDER BY seq",
            )?;
            let mut rows = st.query([session])?;
            while let Some(r) = rows.next()? {
                let report: serde_json::Value = serde_json::from_str(&r.get::<_, String>(3)?)?;
                fields.push(json!({ "seq": r.get::<_, i64>(0)?, "photo": r.get::<_, String>(1)?,
                    "added_at": r.get::<_, i64>(2)?, "report": report }));
            }
        }
        let result = self
            .conn
            .query_row("SELECT decided_at, summary FROM results WHERE session_id = ?1", [session], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        let (result, running) = match result {
            Some((at, sum)) => (
                Some(
                    json!({ "decided_at": at, "summary": serde_json::from_str::<serde_json::Value>(&sum)? }),
                ),
                None,
            ),
            None => (None, Some(serde_json::to_value(self.replay(session)?.summary())?)),
        };
        let mut reviews = Vec::new();
        {
            let mut st = self.conn.prepare(
                "SELECT v.kind, f.seq, c.idx, v.old_value, v.new_value, v.reviewer, v.at, v.note FROM reviews v \
                 LEFT JOIN cells c ON c.id = v.cell_id LEFT JOIN fields f ON f.id = c.field_id \
                 WHERE v.session_id = ?1 ORDER BY v.id",
            )?;
            let mut rows = st.query([session])?;
            while let Some(r) = rows.next()? {
                reviews.push(json!({ "kind": r.get::<_, String>(0)?, "field": r.get::<_, Option<i64>>(1)?,
                    "cell": r.get::<_, Option<i64>>(2)?, "from": r.get::<_, Option<String>>(3)?,
                    "to": r.get::<_, Option<String>>(4)?, "reviewer": r.get::<_, String>(5)?,
                    "at": r.get::<_, i64>(6)?, "note": r.get::<_, Option<String>>(7)? }));
            }
        }
        let mut trail = Vec::new();
        {
            let mut st = self.conn.prepare(
                "SELECT at, actor, action, detail, models FROM audit WHERE session_id = ?1 ORDER BY id",
            )?;
            let mut rows = st.query([session])?;
            while let Some(r) = rows.next()? {
                trail.push(json!({ "at": r.get::<_, i64>(0)?, "who": r.get::<_, String>(1)?,
                    "action": r.get::<_, String>(2)?,
                    "detail": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(3)?)?,
                    "models": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(4)?)? }));
            }
        }
        Ok(json!({ "session": s, "fields": fields, "result": result, "running_summary": running,
            "reviews": reviews, "audit": trail }))
    }

    /// The device's signing seed (32 random bytes, made on first use and kept
    /// only inside the encrypted database). The Ed25519 key pair that signs
    /// what this device shares is derived from it (hemalens-share).
    pub fn device_seed(&mut self) -> Result<[u8; 32], Error> {
        let writable = self.writable();
        let tx = self.conn.transaction()?;
        let existed: bool =
            tx.query_row("SELECT count(*) FROM meta WHERE key = 'device_signing_seed'", [], |r| r.get(0))?;
        if !existed {
            writable?;
        }
        let k = meta_key(&tx, "device_signing_seed")?;
        if !existed {
            audit(&tx, now_ms(), "device", "device_key_created", None, serde_json::json!({}), "[]")?;
        }
        tx.commit()?;
        Ok(k)
    }

    /// The audit log of the whole store (newest last).
    pub fn audit_len(&self) -> Result<i64, Error> {
        Ok(self.conn.query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?)
    }

    /// A stored photo's bytes, decrypted, by its content name.
    pub fn read_photo(&self, name: &str) -> Result<Vec<u8>, Error> {
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidArgument("photo name must be 64 hex digits"));
        }
        let sealed = fs::read(self.photos.join(name)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound("photo"),
            _ => Error::from(e),
        })?;
        let id = key::sealed_key_id(&sealed)?;
        let k = self.photo_keys.iter().find(|(i, _)| *i == id).ok_or(Error::Decrypt)?;
        key::open(&k.1, name, &sealed)
    }

    fn current_key(&self) -> Result<&[u8; 32], Error> {
        self.photo_keys
            .iter()
            .find(|(i, _)| *i == self.current_photo_key)
            .map(|(_, k)| k)
            .ok_or(Error::Corrupt("the current photo key is missing".into()))
    }

    fn put_photo(&self, photo: &[u8]) -> Result<String, Error> {
        let name = key::photo_name(&self.name_key, photo);
        let path = self.photos.join(&name);
        if path.exists() {
            // Taken again (the same photo, or an orphan of a crash): fresh, so
            // another handle's open does not remove it before this commit.
            if let Ok(f) = fs::File::options().append(true).open(&path) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
        } else {
            let sealed = key::seal(self.current_key()?, self.current_photo_key, &name, photo)?;
            write_durably(&self.photos, &name, &sealed)?;
        }
        Ok(name)
    }

    /// Re-keys the database (`PRAGMA rekey`: every page re-encrypted in one
    /// transaction). With `new_photo_key`, also re-encrypts every photo under a
    /// fresh photo key and forgets the old one (for a key that may have leaked).
    pub fn rotate_key(&mut self, new: &Key, new_photo_key: bool, actor: &str) -> Result<(), Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        // WAL content must be in the main file before the re-key rewrites it.
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let rekeyed = self.conn.execute_batch(&format!("PRAGMA rekey = \"{}\";", new.sqlcipher_literal()));
        // SQLCipher's re-key can report success where its writes failed (a
        // full disk): the file is then still under the old key while this
        // connection is keyed with the new one. A fresh connection under the
        // new key tells; on failure, reopen under whichever key opens it.
        if let Err(e) = rekeyed.map_err(Error::from).and_then(|()| self.check_key(new)) {
            self.reconnect(new)?;
            let dir = self.photos.parent().map(Path::to_path_buf).unwrap_or_default();
            return Err(match probe_write(&dir) {
                Err(full @ Error::DiskFull) => full,
                _ => e,
            });
        }
        self.key = new.clone();
        if new_photo_key {
            let id = self.photo_keys.iter().map(|(i, _)| *i).max().unwrap_or(0) + 1;
            let tx = self.conn.transaction()?;
            meta_key(&tx, &format!("photo_key:{id}"))?;
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'photo_key_current'", [i64::from(id)])?;
            tx.commit()?;
            self.photo_keys = load_photo_keys(&self.conn)?;
            self.current_photo_key = id;
            let names: Vec<String> = fs::read_dir(&self.photos)?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect();
            for name in names {
                let sealed = fs::read(self.photos.join(&name))?;
                if key::sealed_key_id(&sealed)? == id {
                    continue;
                }
                let plain = self.read_photo(&name)?;
                let resealed = key::seal(self.current_key()?, id, &name, &plain)?;
                write_durably(&self.photos, &name, &resealed)?;
            }
            // Every photo is under the new key now: forget the old ones.
            let tx = self.conn.transaction()?;
            tx.execute(
                "DELETE FROM meta WHERE key LIKE 'photo_key:%' AND key != ?1",
                [format!("photo_key:{id}")],
            )?;
            tx.commit()?;
            self.photo_keys = load_photo_keys(&self.conn)?;
        }
        let tx = self.conn.transaction()?;
        audit(&tx, now_ms(), actor, "rotate_key", None, json!({ "new_photo_key": new_photo_key }), "[]")?;
        tx.commit()?;
        Ok(())
    }

    #[doc(hidden)]
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Opens the database for writing or, where its storage refuses writes
/// (full, read-only) and it exists, for reading only; which of the two.
fn open_conn(path: &Path, key: &Key, dir: &Path) -> Result<(Connection, Writes), Error> {
    let first = match open_rw(path, key) {
        Ok(c) => return Ok((c, Writes::Allowed)),
        Err(e) => e,
    };
    if matches!(first.kind(), ErrorKind::WrongKey | ErrorKind::Corrupt | ErrorKind::SchemaTooNew)
        || !path.exists()
    {
        return Err(first);
    }
    let writes = match probe_write(dir) {
        Ok(()) => return Err(first),
        Err(Error::DiskFull) => Writes::DiskFull,
        Err(_) => Writes::ReadOnly,
    };
    use rusqlite::OpenFlags as F;
    let ro = F::SQLITE_OPEN_READ_ONLY | F::SQLITE_OPEN_NO_MUTEX;
    let conn = match Connection::open_with_flags(path, ro)
        .map_err(Error::from)
        .and_then(|c| keyed(&c, key).map(|()| c))
    {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::WrongKey => return Err(e),
        Err(e) => {
            // A write-ahead-log database opens read-only only with its shared
            // memory file, which a closed store no longer has and cannot
            // make here. Without a log left over (a clean close), the main
            // file holds everything: read it as immutable. With one (a crash
            // before the storage filled), its last commits would be missed.
            let wal = path.with_file_name(format!("{DB_FILE}-wal"));
            if fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                return Err(e);
            }
            let name = path.to_string_lossy().replace('%', "%25").replace('?', "%3f").replace('#', "%23");
            let uri = format!("file:{name}?immutable=1");
            let c = Connection::open_with_flags(uri, ro | F::SQLITE_OPEN_URI)?;
            keyed(&c, key)?;
            c
        }
    };
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    Ok((conn, writes))
}

/// Whether a page can be written in `dir` (the typed error where not).
fn probe_write(dir: &Path) -> Result<(), Error> {
    let p = dir.join(format!(".probe-{}", std::process::id()));
    let r = (|| -> Result<(), Error> {
        let mut f = fs::File::create(&p)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()?;
        Ok(())
    })();
    let _ = fs::remove_file(&p);
    r
}

fn keyed(conn: &Connection, key: &Key) -> Result<(), Error> {
    conn.execute_batch(&format!("PRAGMA key = \"{}\";", key.sqlcipher_literal()))?;
    // Keying activates SQLCipher's default logging (stderr, warnings); a wrong
    // key would print page-decryption errors there. The typed error says it.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.execute_batch("PRAGMA cache_size = -8192;")?;
    // The first read decrypts page 1: a wrong key fails here, as NOTADB.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

fn open_rw(path: &Path, key: &Key) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!("PRAGMA key = \"{}\";", key.sqlcipher_literal()))?;
    // Keying activates SQLCipher's default logging (stderr, warnings); a wrong
    // key would print page-decryption errors there. The typed error says it.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    conn.execute_batch("PRAGMA cache_size = -8192;")?;
    // The first read decrypts page 1: a wrong key fails here, as NOTADB.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::InvalidState("the database cannot use write-ahead logging"));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

fn meta_key(tx: &Transaction<'_>, name: &str) -> Result<[u8; 32], Error> {
    let v: Option<Vec<u8>> =
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [name], |r| r.get(0)).optional()?;
    match v {
        Some(v) => v.try_into().map_err(|_| Error::Corrupt("a stored key has the wrong length".into())),
        None => {
            let k = key::random32()?;
            tx.execute("INSERT INTO meta(key, value) VALUES (?1, ?2)", params![name, &k[..]])?;
            Ok(k)
        }
    }
}

fn load_photo_keys(conn: &Connection) -> Result<Vec<(u32, [u8; 32])>, Error> {
    let mut st = conn.prepare("SELECT key, value FROM meta WHERE key LIKE 'photo_key:%'")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut out = Vec::new();
    for r in rows {
        let (k, v) = r?;
        let id =
            k["photo_key:".len()..].parse::<u32>().map_err(|_| Error::Corrupt("bad photo key id".into()))?;
        let v: [u8; 32] =
            v.try_into().map_err(|_| Error::Corrupt("a stored key has the wrong length".into()))?;
        out.push((id, v));
    }
    Ok(out)
}

pub(crate) fn audit(
    tx: &Transaction<'_>,
    at: i64,
    actor: &str,
    action: &str,
    session: Option<i64>,
    detail: serde_json::Value,
    models: &str,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO audit(at, actor, action, session_id, detail, models) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![at, actor, action, session, detail.to_string(), models],
    )?;
    Ok(())
}

/// Write to a temporary name, fsync, rename over, fsync the folder: the file is
/// either the old one or the whole new one.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Error> {
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let res = (|| -> Result<(), Error> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(unix)]
fn restrict(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict(_: &Path) {}
