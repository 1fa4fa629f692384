#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Sealed bundles over a loopback link that drops, duplicates, reorders and
//! cuts requests: each is delivered exactly once, byte for byte, resuming
//! where it stopped (never from zero). Every creation is signed by the device
//! key, and the receiver refuses one that is not.
use hemalens_share::bundle::{self, Kind, Part, Receiver};
use hemalens_share::testing::{Faults, TusServer};
use hemalens_share::upload::{self, Attempt, Item, LinkOptions, Progress, Signer};
use hemalens_share::DeviceIdentity;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Hospital {
    keys: HashMap<String, ed25519_dalek::VerifyingKey>,
    seen: Mutex<HashSet<String>>,
}

impl Receiver for Hospital {
    fn enrolled(&self, id: &str) -> Option<ed25519_dalek::VerifyingKey> {
        self.keys.get(id).copied()
    }
    fn seen(&self, b: &str) -> bool {
        self.seen.lock().unwrap().contains(b)
    }
}

/// The outbox in memory: the bundle and the last confirmed offset.
struct Mem {
    data: Vec<u8>,
    url: Option<String>,
    sent: u64,
    max_resent_from: u64,
}

impl Progress for Mem {
    fn chunk(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let o = offset as usize;
        Ok(self.data[o..(o + len).min(self.data.len())].to_vec())
    }
    fn confirmed(&mut self, url: &str, sent: u64) -> Result<(), String> {
        // Never from zero: a confirmed offset only moves forward (a new upload
        // after the hospital lost one is the only way back).
        if sent < self.sent {
            self.max_resent_from = self.max_resent_from.max(self.sent - sent);
        }
        self.url = Some(url.to_string());
        self.sent = sent;
        Ok(())
    }
    fn forget_upload(&mut self) -> Result<(), String> {
        self.url = None;
        self.sent = 0;
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn pseudo_random(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 7) as u8).collect()
}

#[test]
fn every_bundle_arrives_exactly_once_over_a_bad_link() {
    let dev = DeviceIdentity::from_seed(&[1; 32]);
    let hospital_key = age::x25519::Identity::generate();
    let receiver = Arc::new(Hospital {
        keys: HashMap::from([(dev.id(), dev.public_key())]),
        seen: Mutex::new(HashSet::new()),
    });
    let (rx, hk) = (receiver.clone(), hospital_key.clone());
    let faults = Faults {
        drop_request: 0.08,
        lose_answer: 0.10,
        cut_chunk: 0.15,
        replay_stale: 0.10,
        bytes_per_sec: None,
        seed: 7,
    };
    let server = TusServer::start(
        faults,
        Box::new(move |bytes| {
            let o = bundle::open(bytes, &hk, rx.as_ref()).map_err(|e| e.code().to_string())?;
            rx.seen.lock().unwrap().insert(o.header.bundle_id);
            Ok(())
        }),
    )
    .unwrap();
    // The hospital takes creations signed by the enrolled key only.
    server.require_signed_creation(dev.public_key());
    let signer = Signer { identity: &dev, clock: &now_ms };
    let opts = LinkOptions { chunk: 8 * 1024, timeout: Duration::from_secs(5) };
    let agent = upload::agent(&opts);
    let mut payload_total = 0u64;
    let mut ids = Vec::new();
    for k in 0..8u8 {
        let id = bundle::new_bundle_id();
        let parts = vec![Part {
            name: "photo.jpg".into(),
            content_type: "image/jpeg".into(),
            data: pseudo_random(2_000 + 37_000 * k as usize, k),
        }];
        let sealed =
            bundle::seal(&dev, &hospital_key.to_public(), Kind::Photos, "d-1", 0, &id, &parts).unwrap();
        payload_total += sealed.len() as u64;
        let mut mem = Mem { data: sealed.clone(), url: None, sent: 0, max_resent_from: 0 };
        let mut tries = 0;
        loop {
            tries += 1;
            assert!(tries < 500, "bundle {k} never delivered");
            let item = Item {
                bundle_id: id.clone(),
                kind: "photos".into(),
                size: sealed.len() as u64,
                upload_url: mem.url.clone(),
            };
            match upload::send(&agent, &server.url(), &item, &opts, &signer, &mut mem) {
                Attempt::Delivered => break,
                Attempt::Retry(_) => continue,
                Attempt::Refused(code) => panic!("refused: {code}"),
            }
        }
        // Resumed, never restarted: nothing confirmed was ever sent again.
        assert_eq!(mem.max_resent_from, 0, "bundle {k} went back");
        assert_eq!(server.received(&id).unwrap(), sealed, "bundle {k} bytes");
        ids.push(id);
    }
    let st = server.stats();
    for id in &ids {
        assert_eq!(st.taken.get(id), Some(&1), "taken once");
    }
    assert_eq!(st.uploads_created, ids.len() as u64, "a repeated creation made a second upload");
    assert_eq!(st.unsigned_creations, 0, "a creation was not signed right");
    assert!(st.signed_creations >= st.uploads_created, "{st:?}");
    assert!(st.dropped > 0 && st.lost_answers > 0 && st.cut_chunks > 0 && st.stale_replays > 0, "{st:?}");
    // Overhead of the bad link: resent bytes are at most the cut chunks and lost answers.
    let ratio = st.body_bytes as f64 / payload_total as f64;
    eprintln!("payload {payload_total} B, on the link {} B ({ratio:.2}x), {st:?}", st.body_bytes);
    assert!(ratio < 2.0, "ratio {ratio}");
}

#[test]
fn a_tampered_bundle_is_refused_with_a_reason_and_not_retried() {
    let dev = DeviceIdentity::from_seed(&[2; 32]);
    let hospital_key = age::x25519::Identity::generate();
    let receiver = Arc::new(Hospital { keys: HashMap::new(), seen: Mutex::new(HashSet::new()) });
    let (rx, hk) = (receiver.clone(), hospital_key.clone());
    let server = TusServer::start(
        Faults::default(),
        Box::new(move |b| bundle::open(b, &hk, rx.as_ref()).map(|_| ()).map_err(|e| e.code().to_string())),
    )
    .unwrap();
    let opts = LinkOptions::default();
    let agent = upload::agent(&opts);
    let id = bundle::new_bundle_id();
    let mut sealed =
        bundle::seal(&dev, &hospital_key.to_public(), Kind::Results, "d-1", 0, &id, &[]).unwrap();
    let n = sealed.len();
    sealed[n - 20] ^= 1;
    let mut mem = Mem { data: sealed.clone(), url: None, sent: 0, max_resent_from: 0 };
    let item = Item { bundle_id: id, kind: "results".into(), size: n as u64, upload_url: None };
    let signer = Signer { identity: &dev, clock: &now_ms };
    assert_eq!(
        upload::send(&agent, &server.url(), &item, &opts, &signer, &mut mem),
        Attempt::Refused("undecryptable".into())
    );
}

#[test]
fn a_creation_not_signed_by_the_enrolled_key_is_refused() {
    let dev = DeviceIdentity::from_seed(&[5; 32]);
    let other = DeviceIdentity::from_seed(&[6; 32]);
    let hospital_key = age::x25519::Identity::generate();
    let server = TusServer::start(Faults::default(), Box::new(|_| Ok(()))).unwrap();
    server.require_signed_creation(dev.public_key());
    let opts = LinkOptions::default();
    let agent = upload::agent(&opts);
    let id = bundle::new_bundle_id();
    let sealed = bundle::seal(&dev, &hospital_key.to_public(), Kind::Results, "d-1", 0, &id, &[]).unwrap();
    let item =
        Item { bundle_id: id.clone(), kind: "results".into(), size: sealed.len() as u64, upload_url: None };
    let mut mem = Mem { data: sealed.clone(), url: None, sent: 0, max_resent_from: 0 };
    let stale = || now_ms() - 10 * 60 * 1000;
    // Another key: refused for good. A clock 10 minutes off: tried again
    // later (the clock can be fixed).
    for (signer, attempt) in [
        (Signer { identity: &other, clock: &now_ms }, Attempt::Refused("http_403".into())),
        (Signer { identity: &dev, clock: &stale }, Attempt::Retry("http_401".into())),
    ] {
        assert_eq!(upload::send(&agent, &server.url(), &item, &opts, &signer, &mut mem), attempt);
    }
    assert_eq!(server.stats().uploads_created, 0);
    let signer = Signer { identity: &dev, clock: &now_ms };
    assert_eq!(upload::send(&agent, &server.url(), &item, &opts, &signer, &mut mem), Attempt::Delivered);
    assert_eq!(server.stats().signed_creations, 1);
    assert_eq!(server.received(&id).unwrap(), sealed);
}
