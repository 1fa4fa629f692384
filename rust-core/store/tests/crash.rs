#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kill a writer with SIGKILL at random moments, many times, on one store;
//! after every kill the store opens, passes `integrity_check`, and keeps
//! everything the writer acknowledged, byte for byte:
//! - adding fields: every acknowledged field and photo, at most one field
//!   beyond them (the one in flight when it died);
//! - rotating the store key (with and without a new photo key): the store
//!   opens with the last acknowledged key or, where the rotation in flight
//!   had re-keyed the database, the next one, never neither; every report
//!   and photo reads (a photo resealed or not yet);
//! - queueing bundles in the outbox: every acknowledged item with its whole
//!   payload, at most one beyond them, none twice.
//!
//! `HEMALENS_CRASH_KILLS` sets the number of kills of each test (default 40,
//! 30 and 30); `docs/reliability.md` records the 1,000-kill runs.
use hemalens_store::{testing, ErrorKind, Key, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn kills(default: usize) -> usize {
    std::env::var("HEMALENS_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Starts the writer, waits for `READY` when `ready` (not counted in the
/// delay), lets it write for `delay`, kills it with SIGKILL and returns every
/// line it printed.
fn run_and_kill(args: &[&str], ready: bool, delay: Duration) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    if ready {
        let l = rx.recv_timeout(Duration::from_secs(60)).expect("the writer starts");
        assert_eq!(l, "READY");
    }
    let t0 = Instant::now();
    while t0.elapsed() < delay {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(1)) {
            lines.push(l);
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
}

#[test]
fn killed_key_rotation_leaves_a_store_that_opens_with_one_of_the_keys() {
    let kills = kills(30);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Key::from_bytes([0x11; 32]), Key::from_bytes([0x22; 32]));
    let d = dir.path().to_str().unwrap().to_string();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let (mut acked, mut finished_unacked, mut photo_keys) = (0usize, 0usize, 0usize);
    let mut current = a.to_hex();
    for round in 0..kills {
        let other = if current == a.to_hex() { b.to_hex() } else { a.to_hex() };
        let delay = Duration::from_millis(1 + rand(&mut seed) % 120);
        let lines = run_and_kill(&["rotate", &d, &current, &other], true, delay);
        let mut last = current.clone();
        for l in &lines {
            let p: Vec<&str> = l.split(' ').collect();
            assert_eq!(p[0], "R", "unexpected line {l}");
            last = p[2].to_string();
            acked += 1;
            photo_keys += usize::from(p[1].parse::<u64>().unwrap() % 2 == 0);
        }
        let next = if last == a.to_hex() { b.to_hex() } else { a.to_hex() };
        // The acknowledged key, or the next one if the rotation in flight finished.
        let store = match Store::open(dir.path(), &Key::from_hex(&last).unwrap()) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::WrongKey => {
                finished_unacked += 1;
                last = next;
                Store::open(dir.path(), &Key::from_hex(&last).unwrap())
                    .unwrap_or_else(|e| panic!("round {round}: opens with neither key: {e}"))
            }
            Err(e) => panic!("round {round}: {e}"),
        };
        store.integrity_check().unwrap_or_else(|e| panic!("round {round}: {e}"));
        for sid in 1..=3i64 {
            let n = (sid - 1) as u64;
            let reports = store.reports(sid).unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(reports.len(), 3, "round {round}: session {sid}");
            let ex = store.export(sid).unwrap();
            for (seq, f) in ex["fields"].as_array().unwrap().iter().enumerate() {
                assert_eq!(reports[seq], testing::report(n, seq as u64), "round {round}");
                let photo = store
                    .read_photo(f["photo"].as_str().unwrap())
                    .unwrap_or_else(|e| panic!("round {round}: photo {sid}/{seq}: {e}"));
                assert_eq!(photo, testing::photo(n, seq as u64), "round {round}: photo {sid}/{seq}");
            }
        }
        drop(store);
        current = last;
    }
    eprintln!(
        "rotation crash test: {kills} kills, {acked} rotations acknowledged ({photo_keys} with a new photo key), \
         {finished_unacked} kills landed after the database was re-keyed and before the rotation was acknowledged \
         (its photos or audit row still in flight); every store opened with the expected key and read whole"
    );
    assert!(acked >= kills / 2, "the writer made too little progress to test anything");
}

#[test]
fn killed_outbox_queueing_keeps_every_acknowledged_bundle_whole() {
    let kills = kills(30);
    let dir = tempfile::tempdir().unwrap();
    let key = Key::from_bytes([0x33; 32]);
    let d = dir.path().to_str().unwrap().to_string();
    let mut seed = 0xD1B5_4A32_D192_ED03_u64;
    let mut acked: BTreeSet<(i64, String)> = BTreeSet::new();
    let mut numbers: BTreeMap<i64, u64> = BTreeMap::new();
    let mut verified: BTreeSet<i64> = BTreeSet::new();
    let mut extra_total = 0;
    let mut unacked_before: BTreeSet<(i64, String)> = BTreeSet::new();
    for round in 0..kills {
        let delay = Duration::from_millis(5 + rand(&mut seed) % 300);
        for l in run_and_kill(&["outbox", &d, &key.to_hex()], false, delay) {
            let p: Vec<&str> = l.split(' ').collect();
            assert_eq!(p[0], "Q", "unexpected line {l}");
            let sid: i64 = p[1].parse().unwrap();
            numbers.insert(sid, p[2].parse().unwrap());
            acked.insert((sid, p[3].to_string()));
        }
        let store = Store::open(dir.path(), &key).unwrap_or_else(|e| panic!("round {round}: {e}"));
        // The whole check every 25 rounds and at the end (it reads the whole
        // database, which grows by every round); every round the store opens
        // and every acknowledged item is read below.
        if round % 25 == 0 || round + 1 == kills {
            store.integrity_check().unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        let items = store.outbox().unwrap();
        let mut have = BTreeSet::new();
        for it in &items {
            assert!(have.insert((it.session_id, it.kind.clone())), "round {round}: queued twice");
            // Every item's payload, whole: the new ones each round, all of them at the end.
            if round + 1 == kills || !verified.contains(&it.id) {
                let n = match numbers.get(&it.session_id) {
                    Some(&n) => n,
                    // The item in flight: its session number from the patient code.
                    None => store.export(it.session_id).unwrap()["session"]["patient"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("PATIENT-")
                        .parse()
                        .unwrap(),
                };
                let want = testing::payload(n, &it.kind);
                assert_eq!(it.size, want.len() as u64, "round {round}: size of item {}", it.id);
                let got = store.outbox_chunk(it.id, 0, want.len()).unwrap();
                assert!(got == want, "round {round}: payload of item {} changed", it.id);
                verified.insert(it.id);
            }
        }
        for a in &acked {
            assert!(have.contains(a), "round {round}: acknowledged bundle {a:?} lost");
        }
        // Items stored in this round that the writer never acknowledged.
        let unacked: BTreeSet<(i64, String)> = have.difference(&acked).cloned().collect();
        let extra = unacked.difference(&unacked_before).count();
        assert!(extra <= 1, "round {round}: {extra} items beyond the acknowledged ones");
        extra_total += extra;
        unacked_before = unacked;
        drop(store);
    }
    eprintln!(
        "outbox crash test: {kills} kills, {} bundles acknowledged, all whole; {extra_total} kills landed between a commit and its acknowledgement",
        acked.len()
    );
    assert!(acked.len() > kills, "the writer made too little progress to test anything");
}

#[test]
fn killed_writer_loses_at_most_the_field_in_flight() {
    let kills = kills(40);
    let dir = tempfile::tempdir().unwrap();
    let key = Key::from_bytes([0x5a; 32]);
    let mut acked: BTreeSet<(i64, u64)> = BTreeSet::new(); // (session id, seq)
    let mut closed_acked: BTreeSet<i64> = BTreeSet::new();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut mid_field_kills = 0;
    let mut seen: BTreeSet<(i64, u64)> = BTreeSet::new();
    let mut checked_photos: BTreeSet<(i64, usize)> = BTreeSet::new();
    for round in 0..kills {
        // Kill after a random delay of 5 to 400 ms of writing.
        let delay = Duration::from_millis(5 + rand(&mut seed) % 400);
        let d = dir.path().to_str().unwrap();
        let lines = run_and_kill(&["fields", d, &key.to_hex()], false, delay);
        for l in &lines {
            let p: Vec<&str> = l.split(' ').collect();
            match p[0] {
                "F" => {
                    acked.insert((p[1].parse().unwrap(), p[3].parse().unwrap()));
                }
                "C" => {
                    closed_acked.insert(p[1].parse().unwrap());
                }
                _ => panic!("unexpected line {l}"),
            }
        }

        let mut store = Store::open(dir.path(), &key).unwrap_or_else(|e| panic!("round {round}: {e}"));
        store.integrity_check().unwrap_or_else(|e| panic!("round {round}: {e}"));
        let sessions: Vec<(i64, String, bool)> = {
            let conn = store.connection();
            let mut st = conn
                .prepare("SELECT s.id, p.code, s.closed_at IS NOT NULL FROM sessions s JOIN patients p ON p.id = s.patient_id")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
        };
        let mut stored: BTreeMap<i64, usize> = BTreeMap::new();
        for (sid, code, closed) in &sessions {
            let n: u64 = code.trim_start_matches("PATIENT-").parse().unwrap();
            let reports = store.reports(*sid).unwrap();
            for (seq, r) in reports.iter().enumerate() {
                assert_eq!(
                    r,
                    &testing::report(n, seq as u64),
                    "round {round}: session {sid} field {seq} changed"
                );
            }
            // Photos: every one on the last round, else those of the sessions
            // written since the previous check (keeps the test linear).
            if round + 1 == kills || !checked_photos.contains(&(*sid, reports.len())) {
                let ex = store.export(*sid).unwrap();
                for (seq, f) in ex["fields"].as_array().unwrap().iter().enumerate() {
                    let photo = store.read_photo(f["photo"].as_str().unwrap()).unwrap();
                    assert_eq!(photo, testing::photo(n, seq as u64), "round {round}: photo {sid}/{seq}");
                }
                checked_photos.insert((*sid, reports.len()));
            }
            if closed_acked.contains(sid) {
                assert!(closed, "round {round}: acknowledged close of {sid} lost");
            }
            stored.insert(*sid, reports.len());
        }
        for (sid, seq) in &acked {
            let have = stored.get(sid).copied().unwrap_or(0);
            assert!((*seq as usize) < have, "round {round}: acknowledged field {sid}/{seq} lost");
        }
        // Fields stored in this round that the writer never acknowledged.
        let now: BTreeSet<(i64, u64)> =
            stored.iter().flat_map(|(sid, &n)| (0..n as u64).map(move |q| (*sid, q))).collect();
        let unacked = now.iter().filter(|f| !acked.contains(f) && !seen.contains(f)).count();
        assert!(unacked <= 1, "round {round}: {unacked} fields beyond the acknowledged ones");
        mid_field_kills += unacked;
        seen = now;
        drop(store);
    }
    eprintln!(
        "crash test: {kills} kills, {} fields and {} closes acknowledged, all intact; {mid_field_kills} kills landed between a commit and its acknowledgement",
        acked.len(),
        closed_acked.len()
    );
    assert!(acked.len() > kills, "the writer made too little progress to test anything");
}
