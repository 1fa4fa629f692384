#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hospital's reviews back to the device through the façade
//! (docs/wire-format.md, "Reviews back to the device"): a loopback review API
//! that verifies every request's signature (`hemalens_share::request::verify`)
//! serves two pages holding a duplicate, another device's session, a session
//! and a cell this device does not have, an unknown label and an unknown
//! kind. Each review is applied once, everything is acknowledged, a lost
//! acknowledgement changes nothing, and hospitals that cannot be reached or
//! refuse the device do not stop the others.
use hemalens_core::field::AnalyzeOptions;
use hemalens_core::session::{Decision, SessionPolicy};
use hemalens_screener::{ReviewSync, Screener};
use hemalens_share::reviews::Error as ReviewError;
use hemalens_share::testing::reviews::ReviewServer;
use hemalens_share::upload::LinkOptions;
use hemalens_share::DeviceIdentity;
use hemalens_store::{testing, Hospital, Key, Store};
use serde_json::{json, Value};
use std::time::Duration;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn closed_session(store: &mut Store, n: u64, fields: u64) -> i64 {
    let sid = store.start_session(&testing::patient(n), &SessionPolicy::default(), "test", "nurse").unwrap();
    for seq in 0..fields {
        store.add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "nurse").unwrap();
    }
    store.close_session(sid, "nurse").unwrap();
    sid
}

fn hospital(name: &str, url: &str) -> Hospital {
    Hospital {
        name: name.into(),
        url: url.into(),
        recipient: age::x25519::Identity::generate().to_public().to_string(),
        photos_on_wifi_only: true,
    }
}

fn review(id: &str, uid: &str, kind: &str, extra: Value) -> Value {
    let mut r = json!({ "id": id, "session_uid": uid, "kind": kind, "reviewer": "Dr A. Mensah",
        "at": 1_765_000_000_000_i64 + id.len() as i64, "note": null });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn counts(s: &ReviewSync) -> (u32, u32, u32) {
    (s.applied, s.already_had, s.skipped)
}

fn reviews_of(sc: &Screener, session: i64) -> Vec<Value> {
    sc.export(session).unwrap()["reviews"].as_array().unwrap().clone()
}

#[test]
fn reviews_come_back_once_and_everything_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), &Key::from_bytes([9; 32])).unwrap();
    let s1 = closed_session(&mut store, 1, 2);
    let s2 = closed_session(&mut store, 2, 1);
    let screen = hemalens_packs::resolve("all-screen").unwrap();
    let cells = hemalens_packs::resolve("wbc-type").unwrap();
    let sc = Screener::with_store(store, &screen, &cells, 1, AnalyzeOptions::default()).unwrap();
    let dev = sc.device().unwrap();
    let me = dev.id();
    let machine = (sc.summary(s1).unwrap(), sc.summary(s2).unwrap());
    let labels_before: Vec<String> = sc.export(s1).unwrap()["fields"][1]["report"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].to_string())
        .collect();

    // The hospital, enrolling this device's key; one that enrolled another
    // device; one that cannot be reached (a port nobody listens on).
    let server = ReviewServer::start(dev.public_key(), 5).unwrap();
    let stranger = ReviewServer::start(DeviceIdentity::from_seed(&[1; 32]).public_key(), 5).unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    sc.add_hospital(&hospital("a-down", &format!("http://127.0.0.1:{closed_port}/files/")), "t").unwrap();
    sc.add_hospital(&hospital("b-stranger", &stranger.url()), "t").unwrap();
    sc.add_hospital(&hospital("district", &server.url()), "t").unwrap();

    let uid1 = format!("{me}-{s1}");
    let relabel = review("r1", &uid1, "relabel_cell", json!({ "field": 1, "cell": 0, "label": "ig" }));
    // Page 1.
    server.push(relabel.clone());
    server.push(review("r2", &uid1, "confirm", json!({ "note": "agree" })));
    server.push(review("r3", &format!("{me}-999"), "confirm", json!({})));
    server.push(review("r4", &uid1, "relabel_cell", json!({ "field": 0, "cell": 999, "label": "ig" })));
    server.push(review("r5", &uid1, "relabel_cell", json!({ "field": 0, "cell": 0, "label": "martian" })));
    // Page 2: r1 again, another device's session, an override, an unknown kind.
    server.push(relabel);
    server.push(review("r6", "0000000000000000-1", "confirm", json!({})));
    server.push(review("r7", &format!("{me}-{s2}"), "override_outcome", json!({ "outcome": "refer" })));
    server.push(review("r8", &uid1, "second_opinion", json!({ "text": "later" })));

    let link = LinkOptions { timeout: Duration::from_secs(5), ..LinkOptions::default() };
    let got = sc.sync_reviews(&link, now_ms()).unwrap();
    assert_eq!(
        got.iter().map(|s| s.hospital.as_str()).collect::<Vec<_>>(),
        ["a-down", "b-stranger", "district"]
    );
    assert_eq!(got[0].error, Some(ReviewError::Network("no_connection")), "{:?}", got[0]);
    assert_eq!(got[1].error, Some(ReviewError::NotAccepted(403)), "{:?}", got[1]);
    assert_eq!((counts(&got[0]), counts(&got[1])), ((0, 0, 0), (0, 0, 0)));
    let district = &got[2];
    assert_eq!(district.error, None);
    assert_eq!(counts(district), (3, 1, 5), "applied r1 r2 r7; had r1; skipped r3 r4 r5 r6 r8");

    // Every request was signed right; both pages acknowledged whole, once each.
    let st = server.stats();
    assert_eq!(st.refused, 0, "{st:?}");
    assert_eq!(st.pulls, 2);
    let want: [&[&str]; 2] = [&["r1", "r2", "r3", "r4", "r5"], &["r1", "r6", "r7", "r8"]];
    assert_eq!(st.acks, want.map(|a| a.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
    assert!(server.pending().is_empty());
    assert_eq!(stranger.stats().refused, 1, "the stranger verified and refused the signature");
    assert_eq!(st.requests[0], "GET /api/v1/reviews");
    assert_eq!(st.requests[1], "POST /api/v1/reviews/ack");

    // In the records: the relabel once, the confirmation, the override; each
    // under the reviewer's name and hospital at the hospital's time, audited.
    let r1 = reviews_of(&sc, s1);
    assert_eq!(r1.len(), 2, "{r1:?}");
    assert_eq!((r1[0]["kind"].as_str(), r1[0]["to"].as_str()), (Some("relabel_cell"), Some("ig")));
    assert_eq!((r1[0]["field"].as_i64(), r1[0]["cell"].as_i64()), (Some(1), Some(0)));
    assert_eq!(r1[0]["reviewer"], "Dr A. Mensah (district)");
    assert_eq!(r1[0]["at"], 1_765_000_000_002_i64);
    assert_eq!((r1[1]["kind"].as_str(), r1[1]["note"].as_str()), (Some("confirm"), Some("agree")));
    let trail = sc.export(s1).unwrap()["audit"].as_array().unwrap().clone();
    let relabels: Vec<&Value> = trail.iter().filter(|a| a["action"] == "relabel_cell").collect();
    assert_eq!(relabels.len(), 1);
    assert_eq!(relabels[0]["who"], "Dr A. Mensah (district)");
    assert_eq!(relabels[0]["detail"]["review_id"], "r1");
    let r2 = reviews_of(&sc, s2);
    assert_eq!(
        (r2.len(), r2[0]["kind"].as_str(), r2[0]["to"].as_str()),
        (1, Some("override_outcome"), Some("refer"))
    );
    assert_eq!(sc.export(s2).unwrap()["session"]["outcome"], Decision::Refer.as_str());
    // The machine's results and cells are untouched.
    assert_eq!((sc.summary(s1).unwrap(), sc.summary(s2).unwrap()), machine);
    let labels_after: Vec<String> = sc.export(s1).unwrap()["fields"][1]["report"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].to_string())
        .collect();
    assert_eq!(labels_after, labels_before);

    // Nothing new: one pull, no acknowledgement.
    let again = sc.sync_reviews(&link, now_ms()).unwrap();
    assert_eq!((counts(&again[2]), again[2].error.clone()), ((0, 0, 0), None));
    assert_eq!((server.stats().pulls, server.stats().acks.len()), (3, 2));

    // An acknowledgement lost on the link: the review comes again and changes nothing.
    server.push(review("r9", &format!("{me}-{s2}"), "confirm", json!({})));
    server.lose_next_acks(1);
    let lost = sc.sync_reviews(&link, now_ms()).unwrap();
    assert_eq!(counts(&lost[2]), (1, 0, 0));
    assert!(matches!(lost[2].error, Some(ReviewError::Network(_))), "{:?}", lost[2]);
    assert_eq!(server.pending().len(), 1);
    let retried = sc.sync_reviews(&link, now_ms()).unwrap();
    assert_eq!((counts(&retried[2]), retried[2].error.clone()), ((0, 1, 0), None));
    assert!(server.pending().is_empty());
    assert_eq!(reviews_of(&sc, s2).len(), 2, "the confirmation once");
    assert_eq!(server.stats().refused, 0);
}

#[test]
fn a_hospital_that_always_has_more_but_nothing_to_acknowledge_does_not_loop() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &Key::from_bytes([9; 32])).unwrap();
    let screen = hemalens_packs::resolve("all-screen").unwrap();
    let cells = hemalens_packs::resolve("wbc-type").unwrap();
    let sc = Screener::with_store(store, &screen, &cells, 1, AnalyzeOptions::default()).unwrap();
    assert!(sc.sync_reviews(&LinkOptions::default(), now_ms()).unwrap().is_empty(), "no hospitals, no sync");
    let server = ReviewServer::start(sc.device().unwrap().public_key(), 1).unwrap();
    sc.add_hospital(&hospital("district", &server.url()), "t").unwrap();
    // Two entries without a readable id: skipped, nothing to acknowledge.
    server.push(json!({ "session_uid": "x-1", "kind": "confirm" }));
    server.push(json!({ "session_uid": "x-1", "kind": "confirm" }));
    let got = sc.sync_reviews(&LinkOptions::default(), now_ms()).unwrap();
    assert_eq!((counts(&got[0]), got[0].error.clone()), ((0, 0, 1), None));
    assert_eq!(server.stats().pulls, 1);
}
