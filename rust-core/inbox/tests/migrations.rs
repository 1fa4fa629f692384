//! Every earlier schema version, with data in it, migrates to this one
//! (SQLite, and PostgreSQL when HEMALENS_TEST_POSTGRES is set), and the data
//! is then served: the case on the queue, its review pulled by its device.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{backends, Browser, Inbox, Phone};
use hemalens_inbox::db::{Db, LATEST};
use hemalens_inbox::web::auth::Role;

/// Rows a database at `version` can hold (each version's own tables).
async fn fill(db: &Db, version: i64, phone: &Phone) {
    let dev = phone.identity.id();
    let uid = format!("{dev}-5");
    if version >= 1 {
        let q = [
            "INSERT INTO devices (id, public_key, label, enrolled_at, enrolled_by) VALUES ($1, $2, 'old phone', 1, 'admin')",
        ];
        sqlx::query(q[0]).bind(&dev).bind(phone.identity.public_key_hex()).execute(&db.pool).await.unwrap();
        sqlx::query(
            "INSERT INTO users (login, display_name, role, password_hash, created_at) VALUES ('old', 'Dr Old', 'reviewer', 'x', 1)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO cases (session_uid, device_id, patient, machine_outcome, urgency, status, closed_at, received_at) \
             VALUES ($1, $2, 'P-OLD', 'refer', 0, 'open', 5, 6)",
        )
        .bind(&uid)
        .bind(&dev)
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO reviews (id, case_id, kind, outcome, reviewer_id, reviewer, at, note) \
             SELECT 'aaaabbbbccccddddeeeeffff00001111', c.id, 'override_outcome', 'inconclusive', u.id, 'Dr Old', 7, 'old note' \
             FROM cases c, users u",
        )
        .execute(&db.pool)
        .await
        .unwrap();
    }
    if version >= 2 {
        sqlx::query(
            "INSERT INTO sms_messages (received_at, sender, body, session_uid, case_id) SELECT 8, '+1', 'HL1 old', $1, id FROM cases",
        )
        .bind(&uid)
        .execute(&db.pool)
        .await
        .unwrap();
    }
}

#[test]
fn every_earlier_version_migrates_with_its_data() {
    for kind in backends() {
        for from in 0..LATEST {
            let dir = tempfile::tempdir().unwrap();
            let url = common::fresh_db(kind, dir.path());
            let phone = Phone::new();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let db = Db::connect(&url).await.unwrap();
                db.migrate_to(from).await.unwrap();
                assert_eq!(db.version().await.unwrap(), from, "{kind}: at version {from}");
                fill(&db, from, &phone).await;
                db.pool.close().await;
            });
            drop(rt);
            // The service starts on it: migrates to the latest.
            let inbox = Inbox::start_on(&url, age::x25519::Identity::generate(), Default::default());
            assert_eq!(inbox.block(inbox.state.db.version()).unwrap(), LATEST, "{kind} from {from}");
            if from == 0 {
                continue;
            }
            assert_eq!(inbox.count("SELECT COUNT(*) FROM cases"), 1, "{kind} from {from}: the case kept");
            // The old case is served, and its old review still travels to its device.
            inbox.add_user("rev", "Dr New", Role::Reviewer, "correct horse battery");
            let mut b = Browser::new(&inbox.url);
            b.login("rev", "correct horse battery");
            let q = b.get("/queue");
            assert!(
                q.body.contains(&format!("{}-5", phone.identity.id())),
                "{kind} from {from}: on the queue"
            );
            let pulled = phone.api(&inbox.url, "GET", "/api/v1/reviews", b"");
            assert!(pulled.body.contains("old note"), "{kind} from {from}: {}", pulled.body);
            // Version 2's columns work on a migrated database.
            inbox
                .block(
                    sqlx::query("UPDATE cases SET sms = 'HL1 x', sms_at = 9").execute(&inbox.state.db.pool),
                )
                .unwrap();
        }
    }
}
