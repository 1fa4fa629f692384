//! Versioned schema (`PRAGMA user_version`). Each migration runs in the same
//! transaction as its version bump, so a crash leaves the old version or the new
//! one, never half. Never edit a shipped migration: add the next one.
use crate::Error;
use rusqlite::Connection;

/// Migration `i` (0-based) takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: patients, sessions, fields, cells, machine results.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
    CREATE TABLE patients (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        patient_id INTEGER NOT NULL REFERENCES patients(id),
        started_at INTEGER NOT NULL,
        closed_at INTEGER,
        policy TEXT NOT NULL,
        app_version TEXT NOT NULL
    ) STRICT;
    CREATE TABLE fields (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        photo TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        accepted INTEGER NOT NULL,
        report TEXT NOT NULL,
        UNIQUE (session_id, seq)
    ) STRICT;
    CREATE TABLE cells (
        id INTEGER PRIMARY KEY,
        field_id INTEGER NOT NULL REFERENCES fields(id),
        idx INTEGER NOT NULL,
        label TEXT NOT NULL,
        confidence REAL NOT NULL,
        UNIQUE (field_id, idx)
    ) STRICT;
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL UNIQUE REFERENCES sessions(id),
        decided_at INTEGER NOT NULL,
        decision TEXT NOT NULL,
        summary TEXT NOT NULL
    ) STRICT;
    "#,
    // 2: human reviews and the audit log; machine output is append-only.
    r#"
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        kind TEXT NOT NULL CHECK (kind IN ('relabel_cell', 'override_outcome', 'confirm')),
        cell_id INTEGER REFERENCES cells(id),
        old_value TEXT,
        new_value TEXT,
        reviewer TEXT NOT NULL,
        at INTEGER NOT NULL,
        note TEXT
    ) STRICT;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        session_id INTEGER,
        detail TEXT NOT NULL,
        models TEXT NOT NULL
    ) STRICT;
    CREATE INDEX reviews_session ON reviews(session_id);
    CREATE INDEX audit_session ON audit(session_id);
    CREATE TRIGGER results_no_update BEFORE UPDATE ON results BEGIN SELECT RAISE(ABORT, 'machine results are never changed'); END;
    CREATE TRIGGER results_no_delete BEFORE DELETE ON results BEGIN SELECT RAISE(ABORT, 'machine results are never deleted'); END;
    CREATE TRIGGER cells_no_update BEFORE UPDATE ON cells BEGIN SELECT RAISE(ABORT, 'machine cells are never changed'); END;
    CREATE TRIGGER fields_no_update BEFORE UPDATE ON fields BEGIN SELECT RAISE(ABORT, 'fields are never changed'); END;
    CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
    CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 3: search columns (effective outcome, review state) and their indexes,
    // backfilled from the results and reviews already stored.
    r#"
    ALTER TABLE sessions ADD COLUMN machine_outcome TEXT;
    ALTER TABLE sessions ADD COLUMN outcome TEXT;
    ALTER TABLE sessions ADD COLUMN review_state TEXT NOT NULL DEFAULT 'open';
    UPDATE sessions SET machine_outcome = (SELECT decision FROM results r WHERE r.session_id = sessions.id);
    UPDATE sessions SET outcome = coalesce(
        (SELECT new_value FROM reviews v WHERE v.session_id = sessions.id AND v.kind = 'override_outcome' ORDER BY v.id DESC LIMIT 1),
        machine_outcome);
    UPDATE sessions SET review_state = CASE
        WHEN closed_at IS NULL THEN 'open'
        WHEN EXISTS (SELECT 1 FROM reviews v WHERE v.session_id = sessions.id AND v.kind IN ('override_outcome', 'confirm')) THEN 'reviewed'
        WHEN machine_outcome IN ('refer', 'inconclusive') THEN 'pending'
        ELSE 'none' END;
    -- Covering indexes: a listing reads the index alone, never the wide rows.
    CREATE INDEX sessions_started ON sessions(started_at, patient_id, closed_at, outcome, machine_outcome, review_state);
    CREATE INDEX sessions_patient ON sessions(patient_id, started_at, closed_at, outcome, machine_outcome, review_state);
    CREATE INDEX sessions_outcome ON sessions(outcome, started_at, patient_id, closed_at, machine_outcome, review_state);
    CREATE INDEX sessions_pending ON sessions(started_at, patient_id, closed_at, outcome, machine_outcome, review_state)
        WHERE review_state = 'pending';
    CREATE INDEX fields_photo ON fields(photo);
    "#,
    // 4: site profiles (hemalens_core::site), append-only and versioned; the
    // active one is a single row that a rollback points back at an older one.
    r#"
    CREATE TABLE site_profiles (
        version INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        profile TEXT NOT NULL
    ) STRICT;
    CREATE TABLE site_active (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER REFERENCES site_profiles(version),
        at INTEGER NOT NULL,
        actor TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER site_profiles_no_update BEFORE UPDATE ON site_profiles BEGIN SELECT RAISE(ABORT, 'site profiles are never changed'); END;
    CREATE TRIGGER site_profiles_no_delete BEFORE DELETE ON site_profiles BEGIN SELECT RAISE(ABORT, 'site profiles are never deleted'); END;
    "#,
    // 5: the packs (id, version, sha256) a session was started with; a field
    // analysed by other packs is refused. Null for older sessions (unbound).
    r#"
    ALTER TABLE sessions ADD COLUMN packs TEXT;
    "#,
    // 6: the hospitals this device shares with and the outbox of sealed
    // bundles (hemalens-share); delivered items keep their row (the record of
    // what left the phone).
    r#"
    CREATE TABLE hospitals (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        recipient TEXT NOT NULL,
        photos_on_wifi_only INTEGER NOT NULL,
        added_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        hospital TEXT NOT NULL REFERENCES hospitals(name),
        kind TEXT NOT NULL CHECK (kind IN ('results', 'photos')),
        bundle_id TEXT NOT NULL UNIQUE,
        payload BLOB NOT NULL,
        size INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'refused')),
        upload_url TEXT,
        sent INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        reason TEXT,
        queued_at INTEGER NOT NULL,
        delivered_at INTEGER,
        UNIQUE (session_id, hospital, kind)
    ) STRICT;
    CREATE TRIGGER outbox_delivered_final BEFORE UPDATE ON outbox WHEN OLD.state = 'delivered'
        BEGIN SELECT RAISE(ABORT, 'a delivered bundle is never changed'); END;
    "#,
    // 7: the ids of the reviews taken from each hospital (docs/wire-format.md,
    // "Reviews back to the device"): each is applied once, as the `reviews`
    // row it names; a review sent again changes nothing.
    r#"
    CREATE TABLE remote_reviews (
        hospital TEXT NOT NULL REFERENCES hospitals(name),
        review_id TEXT NOT NULL,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        review INTEGER NOT NULL UNIQUE REFERENCES reviews(id),
        at INTEGER NOT NULL,
        PRIMARY KEY (hospital, review_id)
    ) STRICT;
    CREATE TRIGGER remote_reviews_no_update BEFORE UPDATE ON remote_reviews BEGIN SELECT RAISE(ABORT, 'remote review ids are append-only'); END;
    CREATE TRIGGER remote_reviews_no_delete BEFORE DELETE ON remote_reviews BEGIN SELECT RAISE(ABORT, 'remote review ids are append-only'); END;
    "#,
    // 8: each outbox item's sealed bundle in a table of its own. In the item's
    // row the bundle (megabytes of overflow pages) came before `size`,
    // `state` and the rest, so reading those walked every bundle's pages:
    // listing the outbox read and decrypted every queued byte (found when the
    // outbox crash test slowed with its store's size).
    r#"
    CREATE TABLE outbox_payloads (
        item INTEGER PRIMARY KEY REFERENCES outbox(id),
        payload BLOB NOT NULL
    ) STRICT;
    INSERT INTO outbox_payloads(item, payload) SELECT id, payload FROM outbox;
    ALTER TABLE outbox DROP COLUMN payload;
    CREATE TRIGGER outbox_payload_delivered_final BEFORE UPDATE ON outbox_payloads
        WHEN (SELECT state FROM outbox WHERE id = OLD.item) = 'delivered'
        BEGIN SELECT RAISE(ABORT, 'a delivered bundle is never changed'); END;
    "#,
];

pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema to [`VERSION`], one migration per transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), Error> {
    migrate_to(conn, VERSION)
}

/// Brings the schema to `target` (tests build every earlier version with it).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), Error> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(Error::SchemaTooNew { found, supported: VERSION });
    }
    for v in found..target.min(VERSION) {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[v as usize])?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
    }
    Ok(())
}
