#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store under storage faults other than a killed process
//! (`crash.rs`):
//! - a full disk during every write path, on a real tmpfs filled to the
//!   last byte: each write is done whole or refused as `DiskFull` and leaves
//!   nothing half-written; everything stored before is intact; the store
//!   opens and reads while full and writes again once there is room;
//! - a read-only store (the tmpfs remounted read-only): it opens and reads,
//!   and every write is a typed `ReadOnly` error;
//! - orphaned sealed photos (a crash between a photo's write and its
//!   field's commit) are removed on the next open once old enough, never a
//!   photo a field names;
//! - a store copied from another device: its key stays on that device, so
//!   another key is `WrongKey` and opening changes no byte; with the right
//!   key (a restore) it is whole.
//!
//! The tmpfs tests need `mount` (root, as on CI) and say "skipped" elsewhere.
use hemalens_core::field::ModelRef;
use hemalens_core::session::{Decision, SessionPolicy};
use hemalens_core::site::{Adjustment, Evidence, SiteProfile, SCHEMA};
use hemalens_store::{
    testing, ErrorKind, Hospital, Key, Options, RemoteReview, ReviewAction, Store, Writes, DB_FILE, PHOTO_DIR,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

mod common;

use common::Tmpfs;

fn key() -> Key {
    Key::from_bytes([0x61; 32])
}

/// Fills the filesystem of `dir` to the last byte; the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let block = vec![0xA5u8; 64 << 10];
    let mut n = block.len();
    loop {
        match f.write(&block[..n]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) if n > 1 => n /= 2,
            Err(_) => break,
        }
    }
    let _ = f.sync_all();
    p
}

fn profile() -> SiteProfile {
    SiteProfile {
        schema: SCHEMA,
        site: "lab-1".into(),
        version: 0,
        packs: vec![ModelRef { id: "all-screen".into(), version: "2.0.0".into(), sha256: "ab".into() }],
        evidence: Evidence { photos: 10, accepted: 10, tiles: 10, cells: 0, reviewed: BTreeMap::new() },
        scale: None,
        colour: None,
        screen: Adjustment::default(),
        cells: Adjustment { logit_offset: vec![0.5, -0.5], ..Adjustment::default() },
    }
}

fn hospital(name: &str) -> Hospital {
    Hospital {
        name: name.into(),
        url: "https://inbox.example/tus/".into(),
        recipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into(),
        photos_on_wifi_only: true,
    }
}

/// A store with one open session (2 fields), one closed session (2 fields),
/// a hospital and one queued bundle: what every write path below needs.
fn seed(store: &mut Store) -> (i64, i64, i64) {
    let open = store.start_session(&testing::patient(1), &SessionPolicy::default(), "t", "t").unwrap();
    let closed = store.start_session(&testing::patient(2), &SessionPolicy::default(), "t", "t").unwrap();
    for seq in 0..2 {
        store.add_field(open, &testing::photo(1, seq), &testing::report(1, seq), "t").unwrap();
        store.add_field(closed, &testing::photo(2, seq), &testing::report(2, seq), "t").unwrap();
    }
    store.close_session(closed, "t").unwrap();
    store.add_hospital(&hospital("district"), "t").unwrap();
    let item = store
        .enqueue(closed, "district", "results", &"0".repeat(32), &testing::payload(2, "results"), "t")
        .unwrap();
    (open, closed, item)
}

type Write_ = fn(&mut Store, (i64, i64, i64)) -> Result<(), hemalens_store::Error>;

/// Every way the app writes to its store.
fn write_paths() -> Vec<(&'static str, Write_)> {
    vec![
        ("start_session", |s, _| {
            s.start_session(&testing::patient(9), &SessionPolicy::default(), "t", "t").map(drop)
        }),
        ("add_field", |s, (open, _, _)| {
            s.add_field(open, &testing::photo(9, 0), &testing::report(9, 0), "t").map(drop)
        }),
        ("close_session", |s, (open, _, _)| s.close_session(open, "t").map(drop)),
        ("confirm", |s, (_, closed, _)| s.confirm(closed, "Dr R", Some("agree"))),
        ("override_outcome", |s, (_, closed, _)| {
            s.override_outcome(closed, Decision::Refer, "Dr R", Some("blasts"))
        }),
        ("relabel_cell", |s, (_, closed, _)| {
            let label = testing::report(2, 0).cells[0].label.clone();
            s.relabel_cell(closed, 0, 0, &label, "Dr R", None)
        }),
        ("apply_remote_review", |s, (_, closed, _)| {
            s.apply_remote_review(&RemoteReview {
                hospital: "district".into(),
                id: "r-1".into(),
                session: closed,
                action: ReviewAction::Confirm,
                reviewer: "Dr H".into(),
                at: 1_765_000_000_000,
                note: None,
            })
            .map(drop)
        }),
        ("add_hospital", |s, _| s.add_hospital(&hospital("regional"), "t")),
        ("enqueue", |s, (_, closed, _)| {
            s.enqueue(closed, "district", "photos", &"1".repeat(32), &testing::payload(2, "photos"), "t")
                .map(drop)
        }),
        ("outbox_progress", |s, (_, _, item)| {
            s.outbox_progress(item, Some("https://inbox.example/tus/abc"), 4096)
        }),
        ("outbox_delivered", |s, (_, _, item)| s.outbox_delivered(item)),
        ("save_site_profile", |s, _| s.save_site_profile(&profile(), "t").map(drop)),
        ("device_seed", |s, _| s.device_seed().map(drop)),
        ("rotate_key", |s, _| s.rotate_key(&Key::from_bytes([0x62; 32]), false, "t")),
        ("rotate_key_new_photo_key", |s, _| s.rotate_key(&Key::from_bytes([0x62; 32]), true, "t")),
    ]
}

/// Everything a store holds, as one comparable value (reports, exports with
/// reviews and audit, outbox, hospitals, site profiles, photos).
fn snapshot(s: &Store) -> serde_json::Value {
    let mut sessions = Vec::new();
    for sid in 1..=3 {
        if let Ok(ex) = s.export(sid) {
            let photos: Vec<Vec<u8>> = ex["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| s.read_photo(f["photo"].as_str().unwrap()).unwrap())
                .collect();
            sessions.push(serde_json::json!({"export": ex, "photos": photos}));
        }
    }
    let outbox: Vec<_> = s.outbox().unwrap().iter().map(|i| format!("{i:?}")).collect();
    let hospitals: Vec<_> = s.hospitals().unwrap().iter().map(|h| h.name.clone()).collect();
    let profiles: Vec<_> = s.site_profiles().unwrap().iter().map(|p| format!("{p:?}")).collect();
    serde_json::json!({"sessions": sessions, "outbox": outbox, "hospitals": hospitals, "profiles": profiles})
}

/// Opens with whichever of the two keys the store is under (a rotation may have finished).
fn open_either(dir: &Path) -> Store {
    Store::open(dir, &key()).or_else(|_| Store::open(dir, &Key::from_bytes([0x62; 32]))).unwrap()
}

#[test]
fn every_write_path_on_a_full_disk_is_done_whole_or_refused() {
    let root = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(root.path(), "4m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let mut refused = Vec::new();
    // The disk fills while the store is open (the write itself meets it), or
    // before the store is opened (it opens read-only and refuses, typed).
    for opened_before in [true, false] {
        for (name, write) in write_paths() {
            let dir = root.path().join(name);
            let ids = {
                let mut s = Store::open(&dir, &key()).unwrap();
                seed(&mut s)
            };
            let before = snapshot(&open_either(&dir));
            let (filler, result) = if opened_before {
                let mut s = Store::open(&dir, &key()).unwrap();
                let filler = fill(root.path());
                let r = write(&mut s, ids);
                let reads = s.reports(ids.1).map(|r| r.len());
                assert!(matches!(reads, Ok(2)), "{name}: reads after a full disk ({r:?}): {reads:?}");
                (filler, r)
            } else {
                let filler = fill(root.path());
                let mut s =
                    Store::open(&dir, &key()).unwrap_or_else(|e| panic!("{name}: opens while full: {e}"));
                assert_eq!(s.writes(), Writes::DiskFull, "{name}");
                let r = write(&mut s, ids);
                assert_eq!(s.reports(ids.1).unwrap().len(), 2, "{name}: reads while full");
                (filler, r)
            };
            if let Err(e) = &result {
                assert_eq!(e.kind(), ErrorKind::DiskFull, "{name}: {e}");
                assert!(e.to_string().contains("storage is full"), "{name}: {e}");
                if opened_before {
                    refused.push(name);
                }
            } else {
                assert!(opened_before, "{name}: written on a store opened read-only");
            }
            std::fs::remove_file(&filler).unwrap();
            let s = open_either(&dir);
            s.integrity_check().unwrap_or_else(|e| panic!("{name}: {e}"));
            let after = snapshot(&s);
            if result.is_err() {
                // Refused: nothing of it stored, nothing else lost.
                assert_eq!(after, before, "{name}: a refused write changed the store");
            } else {
                // Done whole: everything from before is still there.
                for (i, sess) in before["sessions"].as_array().unwrap().iter().enumerate() {
                    assert_eq!(sess["photos"], after["sessions"][i]["photos"], "{name}: photos");
                    assert_eq!(
                        sess["export"]["fields"], after["sessions"][i]["export"]["fields"],
                        "{name}: fields"
                    );
                }
            }
            drop(s);
            // Room again: the same write goes through.
            if result.is_err() {
                let mut s = open_either(&dir);
                let w = s.writes();
                write(&mut s, ids).unwrap_or_else(|e| panic!("{name}: after room was made ({w:?}): {e}"));
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    drop(fs);
    eprintln!(
        "full disk met while open: {} of {} write paths refused as DiskFull: {refused:?}",
        refused.len(),
        write_paths().len()
    );
    // Most writes need new pages or a photo file: on a disk full to the last
    // byte they must be the ones refused (a write that fits in pages SQLite
    // already holds may go through, whole).
    assert!(refused.len() * 2 >= write_paths().len(), "too few writes met the full disk: {refused:?}");
}

#[test]
fn a_read_only_store_reads_and_refuses_every_write() {
    let root = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(root.path(), "8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (not root?)");
        return;
    };
    let dir = root.path().join("store");
    let ids = {
        let mut s = Store::open(&dir, &key()).unwrap();
        seed(&mut s)
    };
    let before = snapshot(&Store::open(&dir, &key()).unwrap());
    fs.remount("ro");
    let mut s =
        Store::open(&dir, &key()).unwrap_or_else(|e| panic!("a read-only store opens for reading: {e}"));
    assert_eq!(snapshot(&s), before, "it reads whole");
    for (name, write) in write_paths() {
        let e = write(&mut s, ids).err().unwrap_or_else(|| panic!("{name}: written on a read-only store"));
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "{name}: {e}");
        assert!(e.to_string().contains("read-only"), "{name}: {e}");
    }
    drop(s);
    fs.remount("rw");
    let s = Store::open(&dir, &key()).unwrap();
    s.integrity_check().unwrap();
    assert_eq!(snapshot(&s), before);
}

#[test]
fn orphaned_photos_are_removed_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (open, _, _) = {
        let mut s = Store::open(dir.path(), &key()).unwrap();
        seed(&mut s)
    };
    let photos = dir.path().join(PHOTO_DIR);
    let named: Vec<PathBuf> = std::fs::read_dir(&photos).unwrap().flatten().map(|e| e.path()).collect();
    // What a crash between a photo's write and its field's commit leaves:
    // a sealed photo no field names (made by the store itself, then its
    // field row removed as the lost transaction would have left it).
    {
        let mut s = Store::open(dir.path(), &key()).unwrap();
        s.add_field(open, &testing::photo(5, 0), &testing::report(5, 0), "t").unwrap();
        let c = s.connection();
        c.execute("DELETE FROM cells WHERE field_id = (SELECT max(id) FROM fields)", []).unwrap();
        c.execute("DELETE FROM fields WHERE id = (SELECT max(id) FROM fields)", []).unwrap();
    }
    let count = || std::fs::read_dir(&photos).unwrap().flatten().count();
    assert_eq!(count(), named.len() + 1, "the orphan is there");
    // A fresh orphan is kept (another handle may be about to commit it)...
    drop(Store::open(dir.path(), &key()).unwrap());
    assert_eq!(count(), named.len() + 1, "a fresh orphan is kept");
    // ...an old one is removed; every photo a field names stays.
    let opts = Options { orphan_min_age: Some(std::time::Duration::ZERO), ..Options::default() };
    let s = Store::open_with(dir.path(), &key(), &opts).unwrap();
    assert_eq!(count(), named.len(), "the orphan is removed");
    for p in &named {
        assert!(p.exists(), "a named photo was removed");
    }
    assert_eq!(s.reports(open).unwrap().len(), 2);
    let ex = s.export(open).unwrap();
    for (seq, f) in ex["fields"].as_array().unwrap().iter().enumerate() {
        assert_eq!(s.read_photo(f["photo"].as_str().unwrap()).unwrap(), testing::photo(1, seq as u64));
    }
}

fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_bytes(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_store_copied_from_another_device_needs_that_devices_key() {
    let here = tempfile::tempdir().unwrap();
    let (_, closed, _) = {
        let mut s = Store::open(here.path(), &key()).unwrap();
        seed(&mut s)
    };
    let before = snapshot(&Store::open(here.path(), &key()).unwrap());
    // Copied, file by file, as a backup tool or a stolen card would.
    let there = tempfile::tempdir().unwrap();
    for (p, bytes) in all_bytes(here.path()) {
        let to = there.path().join(p.strip_prefix(here.path()).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(&to, bytes).unwrap();
    }
    let copied = all_bytes(there.path());
    // The other device's key: refused, typed, nothing changed.
    let e = Store::open(there.path(), &Key::from_bytes([0x07; 32])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongKey, "{e}");
    assert_eq!(all_bytes(there.path()), copied, "a refused open changed the copy");
    assert!(!std::fs::read(there.path().join(DB_FILE)).unwrap().starts_with(b"SQLite format 3"));
    // The right key (a restore onto a new phone): whole.
    let s = Store::open(there.path(), &key()).unwrap();
    s.integrity_check().unwrap();
    assert_eq!(snapshot(&s), before);
    assert_eq!(s.reports(closed).unwrap().len(), 2);
}
