#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kill a writer with SIGKILL at random moments, many times, on one store;
//! after every kill the store opens, passes `integrity_check`, keeps every
//! field the writer acknowledged (byte for byte, photos included), and holds at
//! most one field beyond them (the one in flight when it died).
//! `HEMALENS_CRASH_KILLS` sets the number of kills (default 40).
use hemalens_store::{testing, Key, Store};
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

#[test]
fn killed_writer_loses_at_most_the_field_in_flight() {
    let kills: usize = std::env::var("HEMALENS_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let dir = tempfile::tempdir().unwrap();
    let key = Key::from_bytes([0x5a; 32]);
    let mut acked: BTreeSet<(i64, u64)> = BTreeSet::new(); // (session id, seq)
    let mut closed_acked: BTreeSet<i64> = BTreeSet::new();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let mut mid_field_kills = 0;
    let mut seen: BTreeSet<(i64, u64)> = BTreeSet::new();
    let mut checked_photos: BTreeSet<(i64, usize)> = BTreeSet::new();
    for round in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-writer"))
            .arg(dir.path())
            .arg(key.to_hex())
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
        // Kill after a random delay of 5 to 400 ms of writing.
        let delay = Duration::from_millis(5 + rand(&mut seed) % 400);
        let t0 = Instant::now();
        let mut lines = Vec::new();
        while t0.elapsed() < delay {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(1)) {
                lines.push(l);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
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
