//! The inbox killed with SIGKILL while phones upload: the real server binary
//! on SQLite, killed at random moments mid-upload, restarted on the same
//! database, many times. After every kill the database passes
//! `integrity_check`; nothing the server acknowledged is lost: every upload
//! it created (201) is still there, never behind the offset it confirmed
//! (204), every bundle it delivered is filed once, with its case; the phone
//! resumes where the server says and every bundle ends delivered, none twice.
//!
//! `HEMALENS_CRASH_KILLS` sets the number of kills (default 25);
//! docs/reliability.md records the 1,000-kill run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{now_ms, Phone};
use hemalens_inbox::Db;
use hemalens_share::bundle::Kind;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn inbox(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hemalens-inbox"));
    c.arg("--db")
        .arg(format!("sqlite:{}", dir.join("inbox.db").display()))
        .arg("--key")
        .arg(dir.join("inbox.key"));
    c.args(args);
    c
}

fn start(dir: &Path, port: u16) -> Child {
    let child = inbox(dir, &["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the inbox did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// What the phone was told, by bundle id.
#[derive(Debug, Default, Clone)]
struct Told {
    /// The upload's URL once created (201).
    location: Option<String>,
    /// The offset the server confirmed last (204).
    offset: u64,
    verdict: Option<String>,
}

/// Uploads each bundle in small chunks, resuming where the server says,
/// until all have a verdict (true) or the server stops answering (false).
fn phone_uploads(
    phone: &Phone,
    base: &str,
    bundles: &[(String, Vec<u8>)],
    told: &Mutex<BTreeMap<String, Told>>,
) -> bool {
    for (id, sealed) in bundles {
        let mut t = told.lock().unwrap().get(id).cloned().unwrap_or_default();
        if t.verdict.is_some() {
            continue;
        }
        let loc = match &t.location {
            Some(l) => {
                let Some(h) = phone.try_head(&format!("{base}{l}")) else { return false };
                assert_eq!(h.status, 200, "an upload the server created is gone after a restart");
                let off: u64 = h.header("Upload-Offset").unwrap().parse().unwrap();
                assert!(off >= t.offset, "the server went back from offset {} to {off}", t.offset);
                t.offset = off;
                if let Some(v) = h.header("Hemalens-Verdict") {
                    t.verdict = Some(v.to_string());
                    told.lock().unwrap().insert(id.clone(), t);
                    continue;
                }
                l.clone()
            }
            None => {
                let Some(c) = phone.try_create(base, id, Kind::Results, sealed.len() as u64) else {
                    return false;
                };
                // 200: the server had created it before it was killed, the
                // phone never heard; it answers with the same upload.
                assert!(c.status == 201 || c.status == 200, "create: {} {}", c.status, c.body);
                let l = c.header("Location").unwrap().to_string();
                t.location = Some(l.clone());
                t.offset = c.header("Upload-Offset").unwrap().parse().unwrap();
                told.lock().unwrap().insert(id.clone(), t.clone());
                l
            }
        };
        while t.verdict.is_none() {
            let at = t.offset as usize;
            let end = (at + 2048).min(sealed.len());
            let Some(a) = phone.try_patch(&format!("{base}{loc}"), at as u64, &sealed[at..end]) else {
                return false;
            };
            assert_eq!(a.status, 204, "patch: {}", a.body);
            t.offset = a.header("Upload-Offset").unwrap().parse().unwrap();
            t.verdict = a.header("Hemalens-Verdict").map(str::to_string);
            told.lock().unwrap().insert(id.clone(), t.clone());
        }
    }
    true
}

/// The database, checked while the server is down.
fn check(dir: &Path, told: &BTreeMap<String, Told>, round: usize) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = Db::connect(&format!("sqlite:{}", dir.join("inbox.db").display())).await.unwrap();
        let (ok,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&db.pool).await.unwrap();
        assert_eq!(ok, "ok", "round {round}: the database is damaged");
        let mut delivered = 0;
        for (id, t) in told {
            let row: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT upload_offset, verdict FROM uploads WHERE bundle_id = $1")
                    .bind(id)
                    .fetch_optional(&db.pool)
                    .await
                    .unwrap();
            if t.location.is_some() {
                let (offset, verdict) = row.unwrap_or_else(|| panic!("round {round}: a created upload is lost"));
                assert!(offset as u64 >= t.offset, "round {round}: a confirmed offset is lost");
                if let Some(v) = &t.verdict {
                    assert_eq!(verdict.as_deref(), Some(v.as_str()), "round {round}: a verdict changed");
                }
            }
            if t.verdict.as_deref() == Some("delivered") {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM bundles b JOIN cases c ON c.session_uid = b.session_uid WHERE b.bundle_id = $1",
                )
                .bind(id)
                .fetch_one(&db.pool)
                .await
                .unwrap();
                assert_eq!(n, 1, "round {round}: a delivered bundle is not filed once with its case");
                delivered += 1;
            }
        }
        db.pool.close().await;
        delivered
    })
}

#[test]
fn killed_inbox_loses_nothing_it_acknowledged() {
    let kills: usize = std::env::var("HEMALENS_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(25);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let recipient = String::from_utf8(inbox(dir, &["key"]).output().unwrap().stdout).unwrap();
    let recipient: age::x25519::Recipient = recipient.trim().parse().unwrap();
    let phone = Phone::new();
    let out = inbox(dir, &["device", "enrol", &phone.identity.id(), &phone.identity.public_key_hex()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Enough bundles that the phone is still uploading when the last kill comes.
    let bundles: Vec<(String, Vec<u8>)> = (0..(kills as i64 * 8 + 10))
        .map(|n| phone.results(&recipient, &phone.record(n + 1, None, now_ms())))
        .collect();
    let told = Arc::new(Mutex::new(BTreeMap::<String, Told>::new()));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let mut seed = 0x5851_F42D_4C95_7F2D_u64;
    let mut delivered = 0;
    let mut mid_upload = 0;
    let phone = Arc::new(phone);
    let bundles = Arc::new(bundles);
    for round in 0..kills {
        let mut server = start(dir, port);
        let client = {
            let (phone, bundles, told, base) = (phone.clone(), bundles.clone(), told.clone(), base.clone());
            std::thread::spawn(move || phone_uploads(&phone, &base, &bundles, &told))
        };
        std::thread::sleep(Duration::from_millis(20 + rand(&mut seed) % 400));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        mid_upload += usize::from(!client.join().expect("the phone's checks hold"));
        delivered = check(dir, &told.lock().unwrap(), round);
    }
    // Up again: the phone finishes every bundle; each is delivered once.
    let mut server = start(dir, port);
    assert!(phone_uploads(&phone, &base, &bundles, &told), "the phone finishes once the inbox stays up");
    server.kill().unwrap();
    server.wait().unwrap();
    let told = told.lock().unwrap();
    assert!(told.values().all(|t| t.verdict.as_deref() == Some("delivered")), "every bundle ends delivered");
    let all = check(dir, &told, kills);
    assert_eq!(all, bundles.len());
    eprintln!(
        "inbox crash test: {kills} kills, {mid_upload} of them while the phone was uploading; {delivered} bundles \
         delivered before the last kill, all {all} at the end, each filed once"
    );
    // How many kills meet an upload depends on the machine's speed (a fast
    // one sends every bundle in the first rounds): some must.
    assert!(mid_upload >= kills.min(3), "too few kills landed mid-upload ({mid_upload} of {kills})");
}
