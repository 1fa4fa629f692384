#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One screening through the façade with the embedded packs and a real store.
use hemalens_core::field::AnalyzeOptions;
use hemalens_core::session::Decision;
use hemalens_screener::{Error, Evidence, Screener};
use hemalens_store::Key;
use std::path::PathBuf;

fn demo() -> Vec<u8> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/demo/eyepiece_bccd_00339.jpg");
    std::fs::read(p).unwrap()
}

fn screener(dir: &std::path::Path) -> Screener {
    let s = hemalens_packs::resolve("all-screen").unwrap();
    let c = hemalens_packs::resolve("wbc-type").unwrap();
    Screener::open(dir, &Key::from_bytes([7; 32]), &s, &c, 2, AnalyzeOptions::default()).unwrap()
}

#[test]
fn a_screening_through_the_facade() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Screener>();
    let dir = tempfile::tempdir().unwrap();
    let sc = screener(dir.path());
    let sid = sc.start_session("P-9", Evidence::default(), "test", "nurse").unwrap();
    let added = sc.add_photo(sid, &demo(), "nurse").unwrap();
    assert_eq!(added.field, 0);
    assert!(added.report.quality.ok);
    assert_eq!(added.summary.fields.added, 1);
    assert_eq!(added.summary.provenance.models, sc.packs());
    // A corrupt photo is the core's error, and nothing is stored.
    let bad = sc.add_photo(sid, b"\xff\xd8\xff garbage", "nurse").unwrap_err();
    assert!(matches!(bad, Error::Core(_)), "{bad:?}");
    assert_eq!(sc.summary(sid).unwrap().fields.added, 1);
    let closed = sc.close_session(sid, "nurse").unwrap();
    assert_eq!(closed.fields.added, 1);
    // A closed session takes no more photos (the store says so before any analysis).
    assert_eq!(sc.add_photo(sid, &demo(), "nurse").unwrap_err().kind().0, "invalid_state");
    sc.override_outcome(sid, Decision::Refer, "dr", Some("second look")).unwrap();
    assert_eq!(sc.export(sid).unwrap()["session"]["outcome"], "refer");
    assert_eq!(sc.add_photo(999, &demo(), "nurse").unwrap_err().kind().0, "not_found");
}

#[test]
fn a_wrong_key_is_the_stores_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(screener(dir.path()));
    let s = hemalens_packs::resolve("all-screen").unwrap();
    let c = hemalens_packs::resolve("wbc-type").unwrap();
    let e = Screener::open(dir.path(), &Key::from_bytes([8; 32]), &s, &c, 1, AnalyzeOptions::default())
        .unwrap_err();
    assert_eq!(e.kind().0, "wrong_key");
}
