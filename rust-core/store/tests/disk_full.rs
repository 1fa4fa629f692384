#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A real full filesystem: the store on a 1 MiB tmpfs, fields added until the
//! disk is full. Needs `mount` (root, as on CI); skipped with a message where
//! mounting is not allowed. The `max_page_count` variant in `store.rs` runs
//! everywhere.
use hemalens_core::session::SessionPolicy;
use hemalens_store::{testing, Error, Key, Store};
mod common;

use common::Tmpfs;

#[test]
fn full_filesystem_is_a_clear_error_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(dir.path(), "1m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let store_dir = dir.path().join("store");
    let key = Key::from_bytes([9; 32]);
    let mut store = Store::open(&store_dir, &key).unwrap();
    let mut acked: Vec<(i64, u64, u64)> = Vec::new(); // (session, n, seq)
    let mut n = 0;
    let err = 'outer: loop {
        let sid = match store.start_session(&testing::patient(n), &SessionPolicy::default(), "t", "t") {
            Ok(s) => s,
            Err(e) => break e,
        };
        for seq in 0..4 {
            match store.add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "t") {
                Ok(_) => acked.push((sid, n, seq)),
                Err(e) => break 'outer e,
            }
        }
        n += 1;
        assert!(n < 10_000, "the filesystem never filled");
    };
    assert!(matches!(err, Error::DiskFull), "{err:?}");
    assert!(acked.len() > 10);
    // Still full: the store opens and reads.
    drop(store);
    let store = Store::open(&store_dir, &key).unwrap();
    assert_eq!(store.reports(acked[0].0).unwrap()[0], testing::report(acked[0].1, 0));
    drop(store);
    // Space freed: everything acknowledged is there, byte for byte, and writing resumes.
    fs.remount("size=8m");
    let mut store = Store::open(&store_dir, &key).unwrap();
    store.integrity_check().unwrap();
    for &(sid, n, seq) in &acked {
        assert_eq!(store.reports(sid).unwrap()[seq as usize], testing::report(n, seq));
    }
    let last = acked.last().unwrap();
    let name =
        store.export(last.0).unwrap()["fields"][last.2 as usize]["photo"].as_str().unwrap().to_string();
    assert_eq!(store.read_photo(&name).unwrap(), testing::photo(last.1, last.2));
    let sid = store.start_session("AFTER", &SessionPolicy::default(), "t", "t").unwrap();
    store.add_field(sid, &testing::photo(99_999, 0), &testing::report(99_999, 0), "t").unwrap();
    eprintln!("full filesystem after {} acknowledged fields; all intact", acked.len());
}
