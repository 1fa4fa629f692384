//! Several inbox instances on one PostgreSQL database keep every guarantee:
//! the same retried chunk sent to two instances at once is taken once, an
//! upload begun on one instance finishes on another, and a chunk cut off by
//! the link keeps the bytes that arrived. (PostgreSQL only: skipped unless
//! HEMALENS_TEST_POSTGRES is set; the cut chunk runs on SQLite too.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};

use common::{backends, now_ms, Inbox, Phone};
use hemalens_share::bundle::Kind;

#[test]
fn two_instances_take_the_same_chunk_once() {
    if !backends().contains(&"postgres") {
        eprintln!("skipped: set HEMALENS_TEST_POSTGRES to run the scale-out test");
        return;
    }
    let a = Inbox::start("postgres");
    let b = Inbox::start_on(&a.db_url, a.identity(), Default::default());
    let c = Inbox::start_on(&a.db_url, a.identity(), Default::default());
    let phone = Phone::new();
    a.enrol(&phone);
    for round in 0..10 {
        let rec = phone.record(100 + round, None, now_ms());
        let (id, sealed) = phone.results(&a.recipient(), &rec);
        // Created on one instance, the repeated creation on another: one upload.
        let made = phone.create(&a.url, &id, Kind::Results, sealed.len() as u64);
        assert_eq!(made.status, 201);
        let again = phone.create(&b.url, &id, Kind::Results, sealed.len() as u64);
        assert_eq!((again.status, again.header("Location")), (200, made.header("Location")));
        let path = made.header("Location").unwrap().to_string();
        let half = sealed.len() / 2;
        // The first half to all three instances at once.
        let answers: Vec<u16> = std::thread::scope(|s| {
            let hs: Vec<_> = [&a, &b, &c]
                .iter()
                .map(|i| {
                    let url = format!("{}{path}", i.url);
                    let (p, data) = (&phone, &sealed[..half]);
                    s.spawn(move || p.patch(&url, 0, data).status)
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(answers.iter().filter(|&&s| s == 204).count(), 1, "round {round}: {answers:?}");
        assert_eq!(answers.iter().filter(|&&s| s == 409).count(), 2, "round {round}: {answers:?}");
        // The last half, to two instances at once: one delivers, the other is told 409.
        let answers: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
            let hs: Vec<_> = [&b, &c]
                .iter()
                .map(|i| {
                    let url = format!("{}{path}", i.url);
                    let (p, data) = (&phone, &sealed[half..]);
                    s.spawn(move || {
                        let r = p.patch(&url, half as u64, data);
                        (r.status, r.header("Hemalens-Verdict").map(String::from))
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(answers.contains(&(204, Some("delivered".into()))), "round {round}: {answers:?}");
        assert!(answers.iter().any(|a| a.0 == 409), "round {round}: {answers:?}");
        // Every instance now says delivered.
        for i in [&a, &b, &c] {
            assert_eq!(phone.head(&format!("{}{path}", i.url)).header("Hemalens-Verdict"), Some("delivered"));
        }
    }
    assert_eq!(a.count("SELECT COUNT(*) FROM cases"), 10);
    assert_eq!(a.count("SELECT COUNT(*) FROM bundles"), 10);
}

/// Sends a PATCH that announces `data.len()` bytes but only `sent` arrive
/// before the link drops.
fn cut_patch(base: &str, path: &str, offset: u64, data: &[u8], sent: usize) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&data[..sent]).unwrap();
    s.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    s.shutdown(std::net::Shutdown::Both).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

#[test]
fn a_cut_chunk_keeps_what_arrived() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        let phone = Phone::new();
        inbox.enrol(&phone);
        let rec = phone.record(1, None, now_ms());
        let (id, sealed) = phone.results(&inbox.recipient(), &rec);
        let made = phone.create(&inbox.url, &id, Kind::Results, sealed.len() as u64);
        let path = made.header("Location").unwrap().to_string();
        let url = format!("{}{path}", inbox.url);
        cut_patch(&inbox.url, &path, 0, &sealed[..8000], 3000);
        // The server notices the cut; give it a moment.
        let mut offset = 0;
        for _ in 0..50 {
            offset = phone.head(&url).header("Upload-Offset").unwrap().parse::<usize>().unwrap();
            if offset > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(offset, 3000, "{kind}: the bytes that arrived are kept");
        let fin = phone.patch(&url, offset as u64, &sealed[offset..]);
        assert_eq!(fin.header("Hemalens-Verdict"), Some("delivered"), "{kind}");
        assert_eq!(inbox.count("SELECT COUNT(*) FROM cases"), 1);
    }
}

#[test]
fn abandoned_uploads_are_swept_and_finished_ones_kept() {
    for kind in backends() {
        let inbox = Inbox::start(kind);
        let phone = Phone::new();
        inbox.enrol(&phone);
        let (id, sealed) = phone.results(&inbox.recipient(), &phone.record(1, None, now_ms()));
        let made = phone.create(&inbox.url, &id, Kind::Results, sealed.len() as u64);
        let url = format!("{}{}", inbox.url, made.header("Location").unwrap());
        assert_eq!(phone.patch(&url, 0, &sealed[..100]).status, 204);
        let (id2, sealed2) = phone.results(&inbox.recipient(), &phone.record(2, None, now_ms()));
        assert_eq!(phone.upload(&inbox.url, &id2, Kind::Results, &sealed2, 1 << 20), "delivered");
        let later = now_ms() + hemalens_inbox::ingest::tus::ABANDONED_AFTER_MS + 1000;
        assert_eq!(inbox.block(hemalens_inbox::ingest::tus::sweep(&inbox.state.db, later)).unwrap(), 1);
        assert_eq!(phone.head(&url).status, 404, "{kind}: the phone starts that bundle again");
        assert_eq!(inbox.count("SELECT COUNT(*) FROM upload_chunks"), 0);
        assert_eq!(
            inbox.count("SELECT COUNT(*) FROM uploads"),
            1,
            "the delivered upload stays (it answers repeats)"
        );
    }
}
