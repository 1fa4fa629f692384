#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store's behaviour through its public API: records, reviews, audit,
//! encryption at rest, wrong key, key rotation, full disk, migrations.
use hemalens_core::session::{Decision, SessionPolicy};
use hemalens_store::{
    schema, testing, Applied, Error, Hospital, Key, Options, OutboxState, Query, RemoteReview, ReviewAction,
    ReviewState, Store, DB_FILE, PHOTO_DIR,
};
use std::path::Path;

fn key() -> Key {
    Key::from_bytes([0x42; 32])
}

fn session_with_fields(store: &mut Store, n: u64, fields: u64) -> i64 {
    let sid = store.start_session(&testing::patient(n), &SessionPolicy::default(), "test", "tester").unwrap();
    for seq in 0..fields {
        store.add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "tester").unwrap();
    }
    sid
}

fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn session_lifecycle_reviews_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &key()).unwrap();
    let sid = session_with_fields(&mut store, 1, 3);
    assert_eq!(store.reports(sid).unwrap().len(), 3);
    let running = store.summary(sid).unwrap();
    assert_eq!(running.fields.added, 3);
    let closed = store.close_session(sid, "tester").unwrap();
    assert_eq!(closed, running);
    assert!(matches!(
        store.add_field(sid, b"x", &testing::report(1, 9), "tester"),
        Err(Error::InvalidState(_))
    ));
    let machine = closed.outcome.decision;

    // A reviewer relabels a cell and overrides the outcome.
    store.relabel_cell(sid, 0, 0, "ig", "dr-a", Some("looks immature")).unwrap();
    store.override_outcome(sid, Decision::Refer, "dr-a", None).unwrap();
    // The machine's result is untouched.
    assert_eq!(store.summary(sid).unwrap(), closed);
    assert_eq!(store.reports(sid).unwrap()[0], testing::report(1, 0));
    let row = &store.list(&Query { patient: Some(testing::patient(1)), ..Query::default() }).unwrap()[0];
    assert_eq!(row.outcome, Some(Decision::Refer));
    assert_eq!(row.machine_outcome, Some(machine));
    assert_eq!(row.review_state, ReviewState::Reviewed);
    assert_eq!(row.fields, 3);

    let ex = store.export(sid).unwrap();
    assert_eq!(ex["session"]["outcome"], "refer");
    assert_eq!(ex["result"]["summary"]["outcome"]["decision"], machine.as_str());
    assert_eq!(ex["reviews"].as_array().unwrap().len(), 2);
    assert_eq!(ex["reviews"][0]["to"], "ig");
    let trail = ex["audit"].as_array().unwrap();
    let actions: Vec<&str> = trail.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "start_session",
            "add_field",
            "add_field",
            "add_field",
            "close_session",
            "relabel_cell",
            "override_outcome"
        ]
    );
    assert_eq!(trail[6]["who"], "dr-a");
    assert_eq!(trail[6]["models"][0]["id"], "all-screen", "the audit names the model");
    assert!(trail[6]["at"].as_i64().unwrap() > 0);

    // Machine output and the audit log refuse changes even through raw SQL.
    let conn = store.connection();
    for sql in [
        "UPDATE results SET decision = 'refer'",
        "DELETE FROM results",
        "UPDATE cells SET label = 'x'",
        "DELETE FROM audit",
        "UPDATE reviews SET reviewer = 'x'",
    ] {
        assert!(conn.execute(sql, []).is_err(), "{sql}");
    }
    store.integrity_check().unwrap();
}

#[test]
fn photos_round_trip_and_deduplicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &key()).unwrap();
    let sid = session_with_fields(&mut store, 2, 2);
    store.add_field(sid, &testing::photo(2, 0), &testing::report(2, 0), "t").unwrap();
    let ex = store.export(sid).unwrap();
    let names: Vec<String> =
        ex["fields"].as_array().unwrap().iter().map(|f| f["photo"].as_str().unwrap().to_string()).collect();
    assert_eq!(names[0], names[2], "same content, same name");
    assert_eq!(std::fs::read_dir(dir.path().join(PHOTO_DIR)).unwrap().count(), 2);
    assert_eq!(store.read_photo(&names[1]).unwrap(), testing::photo(2, 1));
}

#[test]
fn copied_files_reveal_no_patient_data() {
    let dir = tempfile::tempdir().unwrap();
    let code = "ZEBRA-PATIENT-8841";
    {
        let mut store = Store::open(dir.path(), &key()).unwrap();
        let sid = store.start_session(code, &SessionPolicy::default(), "test", "nurse-x").unwrap();
        let photo = format!("photo of {code} with text inside").into_bytes();
        store.add_field(sid, &photo, &testing::report(3, 0), "nurse-x").unwrap();
        store.close_session(sid, "nurse-x").unwrap();
        // Look at the files while the store is open (WAL not yet checkpointed) ...
        for (name, bytes) in all_bytes(dir.path()) {
            for needle in [code.as_bytes(), b"nurse-x", b"neutrophil", b"SQLite format 3", b"photo of"] {
                assert!(!contains(&bytes, needle), "{name} contains plaintext");
            }
        }
    }
    // ... and after closing it.
    for (name, bytes) in all_bytes(dir.path()) {
        assert!(!contains(&bytes, code.as_bytes()), "{name} contains the patient code");
        assert!(!contains(&bytes, b"neutrophil"), "{name} contains a label");
    }
}

#[test]
fn wrong_key_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    session_with_fields(&mut Store::open(dir.path(), &key()).unwrap(), 4, 1);
    let e = Store::open(dir.path(), &Key::from_bytes([1; 32])).unwrap_err();
    assert!(matches!(e, Error::WrongKey), "{e:?}");
    assert_eq!(e.kind().as_str(), "wrong_key");
    assert!(!e.to_string().contains("PATIENT"));
    // A file that is no store at all reads the same way.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join(DB_FILE), vec![7u8; 8192]).unwrap();
    assert!(matches!(Store::open(other.path(), &key()), Err(Error::WrongKey)));
}

#[test]
fn key_rotation_keeps_everything_readable() {
    let dir = tempfile::tempdir().unwrap();
    let new = Key::from_bytes([0x77; 32]);
    let newer = Key::from_bytes([0x99; 32]);
    let (sid, photo_name) = {
        let mut store = Store::open(dir.path(), &key()).unwrap();
        let sid = session_with_fields(&mut store, 5, 2);
        let name = store.export(sid).unwrap()["fields"][1]["photo"].as_str().unwrap().to_string();
        store.rotate_key(&new, false, "admin").unwrap();
        store.add_field(sid, &testing::photo(5, 2), &testing::report(5, 2), "t").unwrap();
        (sid, name)
    };
    assert!(matches!(Store::open(dir.path(), &key()), Err(Error::WrongKey)));
    let before = std::fs::read(dir.path().join(PHOTO_DIR).join(&photo_name)).unwrap();
    {
        let mut store = Store::open(dir.path(), &new).unwrap();
        assert_eq!(store.reports(sid).unwrap().len(), 3);
        assert_eq!(store.read_photo(&photo_name).unwrap(), testing::photo(5, 1));
        // Rotation with a fresh photo key re-encrypts every photo.
        store.rotate_key(&newer, true, "admin").unwrap();
        assert_eq!(store.read_photo(&photo_name).unwrap(), testing::photo(5, 1));
    }
    let after = std::fs::read(dir.path().join(PHOTO_DIR).join(&photo_name)).unwrap();
    assert_ne!(before, after, "photo re-encrypted");
    assert!(matches!(Store::open(dir.path(), &new), Err(Error::WrongKey)));
    let store = Store::open(dir.path(), &newer).unwrap();
    store.integrity_check().unwrap();
    assert_eq!(store.reports(sid).unwrap()[2], testing::report(5, 2));
    let names: Vec<String> = store.export(sid).unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["photo"].as_str().unwrap().to_string())
        .collect();
    for (i, n) in names.iter().enumerate() {
        assert_eq!(store.read_photo(n).unwrap(), testing::photo(5, i as u64));
    }
}

#[test]
fn full_disk_is_a_clear_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut kept = Vec::new();
    {
        let mut store = Store::open(dir.path(), &key()).unwrap();
        let sid = session_with_fields(&mut store, 6, 1);
        store.close_session(sid, "t").unwrap();
        kept.push(sid);
    }
    let pages: i64 = {
        let mut s = Store::open(dir.path(), &key()).unwrap();
        s.connection().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap()
    };
    let mut store = Store::open_with(
        dir.path(),
        &key(),
        &Options { max_page_count: Some(pages as u64 + 2), ..Options::default() },
    )
    .unwrap();
    let sid = store.start_session(&testing::patient(7), &SessionPolicy::default(), "test", "t").unwrap();
    let mut added = 0;
    let err = loop {
        match store.add_field(sid, &testing::photo(7, added), &testing::report(7, added), "t") {
            Ok(_) => added += 1,
            Err(e) => break e,
        }
        assert!(added < 1000, "the size limit never bit");
    };
    assert!(matches!(err, Error::DiskFull), "{err:?}");
    assert_eq!(err.kind().as_str(), "disk_full");
    assert!(err.to_string().contains("storage is full"));
    drop(store);
    let store = Store::open(dir.path(), &key()).unwrap();
    store.integrity_check().unwrap();
    assert_eq!(store.reports(kept[0]).unwrap(), vec![testing::report(6, 0)]);
    let got = store.reports(sid).unwrap();
    assert_eq!(got.len() as u64, added, "every field acknowledged before the full disk is kept");
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r, &testing::report(7, i as u64));
    }
}

/// Builds a store at schema `version` with data that version can hold, then
/// opens it with the current code.
#[test]
fn migrations_from_every_earlier_version() {
    for version in 0..schema::VERSION {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key().to_hex())).unwrap();
            schema::migrate_to(&mut conn, version).unwrap();
            if version >= 1 {
                let report = serde_json::to_string(&testing::report(8, 0)).unwrap();
                let policy = serde_json::to_string(&SessionPolicy::default()).unwrap();
                conn.execute_batch(&format!(
                    "INSERT INTO patients(id, code, created_at) VALUES (1, 'OLD-1', 1);
                     INSERT INTO sessions(id, patient_id, started_at, closed_at, policy, app_version) VALUES (1, 1, 1000, 2000, '{policy}', 'old');
                     INSERT INTO sessions(id, patient_id, started_at, policy, app_version) VALUES (2, 1, 3000, '{policy}', 'old');
                     INSERT INTO fields(id, session_id, seq, photo, added_at, accepted, report) VALUES (1, 1, 0, '{}', 1500, 1, '{report}');
                     INSERT INTO cells(field_id, idx, label, confidence) VALUES (1, 0, 'neutrophil', 0.9);
                     INSERT INTO results(session_id, decided_at, decision, summary) VALUES (1, 2000, 'inconclusive', '{{}}');",
                    "0".repeat(64)
                ))
                .unwrap();
            }
            if version >= 2 {
                conn.execute_batch(
                    "INSERT INTO reviews(session_id, kind, old_value, new_value, reviewer, at) VALUES (1, 'override_outcome', 'inconclusive', 'refer', 'dr-b', 2500);",
                )
                .unwrap();
            }
            if version >= 3 {
                // What the version-3 code writes beside each result and review.
                conn.execute_batch(
                    "UPDATE sessions SET machine_outcome = 'inconclusive', outcome = 'refer', review_state = 'reviewed' WHERE id = 1;",
                )
                .unwrap();
            }
            if version >= 6 {
                conn.execute_batch(
                    "INSERT INTO hospitals(name, url, recipient, photos_on_wifi_only, added_at) \
                     VALUES ('district', 'https://inbox.example/files/', 'age1xyz', 1, 1);",
                )
                .unwrap();
                // A delivered results bundle and a queued photos bundle, as versions 6 and 7 kept them.
                for (id, kind, state) in [(1, "results", "delivered"), (2, "photos", "queued")] {
                    let payload = testing::payload(id as u64, kind);
                    conn.execute(
                        "INSERT INTO outbox(id, session_id, hospital, kind, bundle_id, payload, size, state, sent, \
                         attempts, next_attempt_at, queued_at) VALUES (?1, 1, 'district', ?2, ?3, ?4, ?5, ?6, 0, 0, 0, 1)",
                        rusqlite::params![id, kind, format!("{id:032x}"), payload, payload.len() as i64, state],
                    )
                    .unwrap();
                }
            }
        }
        let mut store = Store::open(dir.path(), &key()).unwrap();
        assert_eq!(store.schema_version().unwrap(), schema::VERSION, "from version {version}");
        store.integrity_check().unwrap();
        if version >= 6 {
            let items = store.outbox().unwrap();
            assert_eq!(items.len(), 2, "from version {version}");
            for it in &items {
                let want = testing::payload(it.id as u64, &it.kind);
                assert_eq!(it.size, want.len() as u64);
                assert!(store.outbox_chunk(it.id, 0, want.len()).unwrap() == want, "from version {version}");
            }
            assert_eq!(
                items.iter().map(|i| i.state).collect::<Vec<_>>(),
                vec![OutboxState::Delivered, OutboxState::Queued]
            );
        }
        if version >= 1 {
            assert_eq!(store.reports(1).unwrap(), vec![testing::report(8, 0)]);
            let rows = store.list(&Query { patient: Some("OLD-1".into()), ..Query::default() }).unwrap();
            assert_eq!(rows.len(), 2, "from version {version}");
            let closed = rows.iter().find(|r| r.id == 1).unwrap();
            let open = rows.iter().find(|r| r.id == 2).unwrap();
            assert_eq!(open.review_state, ReviewState::Open);
            assert_eq!(closed.machine_outcome, Some(Decision::Inconclusive));
            if version >= 2 {
                assert_eq!(
                    (closed.outcome, closed.review_state),
                    (Some(Decision::Refer), ReviewState::Reviewed)
                );
            } else {
                assert_eq!(
                    (closed.outcome, closed.review_state),
                    (Some(Decision::Inconclusive), ReviewState::Pending)
                );
            }
            // The migrated store takes new data, and a hospital's review once.
            store.add_field(2, &testing::photo(8, 1), &testing::report(8, 1), "t").unwrap();
            if version < 6 {
                store.add_hospital(&hospital("district"), "t").unwrap();
            }
            let r = remote(1, "r-1", ReviewAction::RelabelCell { field: 0, cell: 0, label: "ig".into() });
            assert_eq!(store.apply_remote_review(&r).unwrap(), Applied::Applied, "from version {version}");
            assert_eq!(store.apply_remote_review(&r).unwrap(), Applied::AlreadyApplied);
            store.integrity_check().unwrap();
        }
        session_with_fields(&mut store, 9, 1);
    }
}

fn hospital(name: &str) -> Hospital {
    Hospital {
        name: name.into(),
        url: "https://inbox.example/files/".into(),
        recipient: "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5sadz0".into(),
        photos_on_wifi_only: true,
    }
}

/// A review made at the hospital `district`, by Dr A. Mensah.
fn remote(session: i64, id: &str, action: ReviewAction) -> RemoteReview {
    RemoteReview {
        hospital: "district".into(),
        id: id.into(),
        session,
        action,
        reviewer: "Dr A. Mensah".into(),
        at: 1_765_000_000_000,
        note: Some("seen at the hospital".into()),
    }
}

#[test]
fn a_hospitals_review_is_applied_once_beside_the_machine_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &key()).unwrap();
    store.add_hospital(&hospital("district"), "t").unwrap();
    store.add_hospital(&hospital("regional"), "t").unwrap();
    let sid = session_with_fields(&mut store, 11, 2);
    let open = session_with_fields(&mut store, 12, 1);
    let machine = store.close_session(sid, "nurse").unwrap();
    let reports = store.reports(sid).unwrap();
    let machine_label = reports[1].cells[2].label.clone();

    // A relabel, applied twice (an acknowledgement was lost): one review row.
    let relabel = remote(sid, "9f0c01", ReviewAction::RelabelCell { field: 1, cell: 2, label: "ig".into() });
    assert_eq!(store.apply_remote_review(&relabel).unwrap(), Applied::Applied);
    let audit_after_one = store.audit_len().unwrap();
    assert_eq!(store.apply_remote_review(&relabel).unwrap(), Applied::AlreadyApplied);
    assert_eq!(store.audit_len().unwrap(), audit_after_one, "a repeat writes nothing");
    assert!(store.remote_review_taken("district", "9f0c01").unwrap());
    assert!(!store.remote_review_taken("regional", "9f0c01").unwrap(), "ids are the hospital's own");
    let ex = store.export(sid).unwrap();
    let reviews = ex["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["kind"], "relabel_cell");
    assert_eq!((reviews[0]["field"].as_i64(), reviews[0]["cell"].as_i64()), (Some(1), Some(2)));
    assert_eq!(reviews[0]["from"], machine_label.as_str());
    assert_eq!(reviews[0]["to"], "ig");
    assert_eq!(reviews[0]["reviewer"], "Dr A. Mensah (district)");
    assert_eq!(reviews[0]["at"], 1_765_000_000_000_i64, "the hospital's time");
    assert_eq!(reviews[0]["note"], "seen at the hospital");
    let last = ex["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "relabel_cell");
    assert_eq!(last["who"], "Dr A. Mensah (district)");
    assert_eq!(last["at"], 1_765_000_000_000_i64);
    assert_eq!(last["detail"]["hospital"], "district");
    assert_eq!(last["detail"]["review_id"], "9f0c01");
    assert_eq!(last["detail"]["to"], "ig");
    assert_eq!(last["models"][0]["id"], "all-screen", "the audit names the model");

    // A confirmation, then an override (from another hospital, reusing the id).
    assert_eq!(
        store.apply_remote_review(&remote(sid, "9f0c02", ReviewAction::Confirm)).unwrap(),
        Applied::Applied
    );
    let over = RemoteReview {
        hospital: "regional".into(),
        ..remote(sid, "9f0c01", ReviewAction::OverrideOutcome(Decision::Refer))
    };
    assert_eq!(store.apply_remote_review(&over).unwrap(), Applied::Applied);
    assert_eq!(store.apply_remote_review(&over).unwrap(), Applied::AlreadyApplied);
    let ex = store.export(sid).unwrap();
    let kinds: Vec<&str> =
        ex["reviews"].as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["relabel_cell", "confirm", "override_outcome"]);
    assert_eq!(ex["reviews"][1]["to"], machine.outcome.decision.as_str());
    assert_eq!(ex["reviews"][2]["reviewer"], "Dr A. Mensah (regional)");
    assert_eq!(ex["session"]["outcome"], "refer");
    assert_eq!(ex["session"]["review_state"], "reviewed");
    // The machine's result and cells are untouched.
    assert_eq!(store.summary(sid).unwrap(), machine);
    assert_eq!(store.reports(sid).unwrap(), reports);
    assert_eq!(ex["result"]["summary"]["outcome"]["decision"], machine.outcome.decision.as_str());

    // What the device does not have is refused and leaves nothing behind.
    let before = store.audit_len().unwrap();
    for (r, kind) in [
        (remote(999, "x1", ReviewAction::Confirm), "not_found"),
        (
            remote(sid, "x2", ReviewAction::RelabelCell { field: 1, cell: 999, label: "ig".into() }),
            "not_found",
        ),
        (remote(sid, "x3", ReviewAction::RelabelCell { field: 7, cell: 0, label: "ig".into() }), "not_found"),
        (remote(open, "x4", ReviewAction::Confirm), "invalid_state"),
        (
            RemoteReview { hospital: "nowhere".into(), ..remote(sid, "x5", ReviewAction::Confirm) },
            "not_found",
        ),
        (
            RemoteReview { reviewer: " ".into(), ..remote(sid, "x6", ReviewAction::Confirm) },
            "invalid_argument",
        ),
        (remote(sid, "", ReviewAction::Confirm), "invalid_argument"),
    ] {
        let e = store.apply_remote_review(&r).unwrap_err();
        assert_eq!(e.kind().as_str(), kind, "{r:?}: {e:?}");
        assert!(!e.to_string().contains("Mensah"), "{e}");
        assert!(!store.remote_review_taken(&r.hospital, &r.id).unwrap());
    }
    assert_eq!(store.audit_len().unwrap(), before);
    assert_eq!(store.export(sid).unwrap()["reviews"].as_array().unwrap().len(), 3);

    // The record of taken ids refuses changes, as the reviews do.
    let conn = store.connection();
    for sql in ["UPDATE remote_reviews SET review_id = 'x'", "DELETE FROM remote_reviews"] {
        assert!(conn.execute(sql, []).is_err(), "{sql}");
    }
    store.integrity_check().unwrap();
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), &key()).unwrap());
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\"; PRAGMA user_version = 99;", key().to_hex()))
            .unwrap();
    }
    let e = Store::open(dir.path(), &key()).unwrap_err();
    assert!(matches!(e, Error::SchemaTooNew { found: 99, .. }), "{e:?}");
}

#[test]
fn list_filters_by_session_patient_date_outcome_and_pending_review() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &key()).unwrap();
    testing::bulk_sessions(&mut store, 2000, 100).unwrap();
    let all = store.list(&Query { limit: 5000, ..Query::default() }).unwrap();
    assert_eq!(all.len(), 2000);
    assert!(all.windows(2).all(|w| w[0].started_at >= w[1].started_at), "newest first");
    let q = Query {
        patient: Some(testing::patient(3)),
        from_ms: Some(all[1500].started_at),
        to_ms: Some(all[200].started_at),
        outcome: Some(Decision::Inconclusive),
        limit: 5000,
        ..Query::default()
    };
    let want: Vec<i64> = all
        .iter()
        .filter(|r| {
            r.patient == testing::patient(3)
                && r.started_at >= all[1500].started_at
                && r.started_at < all[200].started_at
                && r.outcome == Some(Decision::Inconclusive)
        })
        .map(|r| r.id)
        .collect();
    assert_eq!(store.list(&q).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), want);
    assert_eq!(
        store.list(&Query { full_scan: true, ..q }).unwrap().iter().map(|r| r.id).collect::<Vec<_>>(),
        want
    );
    let pending = store.list(&Query { pending_review: true, limit: 5000, ..Query::default() }).unwrap();
    assert_eq!(pending.len(), all.iter().filter(|r| r.review_state == ReviewState::Pending).count());
    assert!(!pending.is_empty());
    // One session by its id, whatever the other filters' defaults.
    let one = &all[1234];
    let got = store.list(&Query { session: Some(one.id), limit: 1, ..Query::default() }).unwrap();
    assert_eq!(got, vec![one.clone()]);
    assert!(store.list(&Query { session: Some(-1), ..Query::default() }).unwrap().is_empty());
}

mod site_profiles {
    use super::*;
    use hemalens_core::field::ModelRef;
    use hemalens_core::site::{Adjustment, Evidence, SiteProfile, SCHEMA};
    use std::collections::BTreeMap;

    fn profile(site: &str, photos: u32) -> SiteProfile {
        SiteProfile {
            schema: SCHEMA,
            site: site.into(),
            version: 0,
            packs: vec![ModelRef { id: "all-screen".into(), version: "2.0.0".into(), sha256: "ab".into() }],
            evidence: Evidence {
                photos,
                accepted: photos,
                tiles: photos,
                cells: 0,
                reviewed: BTreeMap::new(),
            },
            scale: None,
            colour: None,
            screen: Adjustment::default(),
            cells: Adjustment { logit_offset: vec![0.5, -0.5], ..Adjustment::default() },
        }
    }

    #[test]
    fn profiles_are_versioned_kept_and_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path(), &key()).unwrap();
        assert_eq!(s.active_site_profile().unwrap(), None);
        assert_eq!(s.save_site_profile(&profile("lab-1", 10), "tech").unwrap(), 1);
        assert_eq!(s.save_site_profile(&profile("lab-1", 25), "tech").unwrap(), 2);
        let active = s.active_site_profile().unwrap().unwrap();
        assert_eq!((active.version, active.evidence.photos), (2, 25), "the newest is active");
        s.activate_site_profile(Some(1), "tech").unwrap();
        assert_eq!(s.active_site_profile().unwrap().unwrap().version, 1);
        let rows = s.site_profiles().unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.version, r.active)).collect::<Vec<_>>(),
            vec![(2, false), (1, true)]
        );
        s.activate_site_profile(None, "tech").unwrap();
        assert_eq!(s.active_site_profile().unwrap(), None, "rolled back to the packs as shipped");
        assert_eq!(s.site_profile(2).unwrap().evidence.photos, 25, "nothing is deleted");
        assert!(matches!(s.activate_site_profile(Some(9), "tech"), Err(Error::NotFound(_))));
        // Stored profiles are append-only.
        let c = s.connection();
        assert!(c.execute("UPDATE site_profiles SET site = 'x'", []).is_err());
        assert!(c.execute("DELETE FROM site_profiles", []).is_err());
        let actions: Vec<String> = c
            .prepare("SELECT action FROM audit WHERE action LIKE 'site_%' ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(actions, ["site_calibrate", "site_calibrate", "site_activate", "site_activate"]);
    }
}

#[test]
fn reviewed_cells_give_each_cells_latest_label_and_where_to_find_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &key()).unwrap();
    let sid = session_with_fields(&mut store, 3, 2);
    store.close_session(sid, "tester").unwrap();
    store.relabel_cell(sid, 0, 0, "ig", "dr-a", None).unwrap();
    store.relabel_cell(sid, 1, 1, "monocyte", "dr-a", None).unwrap();
    store.relabel_cell(sid, 0, 0, "neutrophil", "dr-b", Some("second look")).unwrap();
    let cells = store.reviewed_cells().unwrap();
    assert_eq!(cells.len(), 2, "one entry per cell");
    let labels: Vec<&str> = cells.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["monocyte", "neutrophil"], "latest label, in review order");
    let reports = store.reports(sid).unwrap();
    assert_eq!(cells[1].bbox, reports[0].cells[0].bbox);
    assert_eq!(cells[0].bbox, reports[1].cells[1].bbox);
    assert!(!store.read_photo(&cells[0].photo).unwrap().is_empty());
}

#[test]
fn a_session_bound_to_packs_refuses_a_field_analysed_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &key()).unwrap();
    let report = testing::report(4, 0);
    let packs = report.models.clone();
    assert!(!packs.is_empty());
    let sid = store.start_session_for("P-4", &SessionPolicy::default(), &packs, "test", "t").unwrap();
    assert_eq!(store.session_packs(sid).unwrap(), Some(packs.clone()));
    store.add_field(sid, b"photo-1", &report, "t").unwrap();
    let mut other = testing::report(4, 1);
    other.models[0].sha256 = "retrained".into();
    assert!(matches!(store.add_field(sid, b"photo-2", &other, "t"), Err(Error::InvalidState(_))));
    assert_eq!(store.reports(sid).unwrap().len(), 1, "nothing of the refused field kept");
    // Unbound (older) sessions take any report.
    let old = store.start_session("P-5", &SessionPolicy::default(), "test", "t").unwrap();
    assert_eq!(store.session_packs(old).unwrap(), None);
    store.add_field(old, b"photo-3", &other, "t").unwrap();
}
