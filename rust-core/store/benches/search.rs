#![allow(clippy::unwrap_used, clippy::expect_used)]
//! List and search over 100,000 sessions (target: median ≤ 20 ms), each query
//! beside the same query forced to scan the table without its indexes.
//! `cargo bench -p hemalens-store --bench search [-- SESSIONS]`
use hemalens_core::session::Decision;
use hemalens_store::{testing, Key, Query, Store};
use std::time::Instant;

fn median_ms(store: &Store, q: &Query, runs: usize) -> (f64, usize) {
    let mut t = Vec::with_capacity(runs);
    let mut n = 0;
    for _ in 0..runs {
        let s = Instant::now();
        n = store.list(q).unwrap().len();
        t.push(s.elapsed().as_secs_f64() * 1000.0);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    (t[t.len() / 2], n)
}

fn main() {
    let sessions: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let key = Key::from_bytes([3; 32]);
    let mut store = Store::open(dir.path(), &key).unwrap();
    let t = Instant::now();
    testing::bulk_sessions(&mut store, sessions, sessions / 5).unwrap();
    println!("loaded {sessions} sessions ({} patients) in {:.1} s", sessions / 5, t.elapsed().as_secs_f64());
    let day = 86_400_000_i64;
    let start = 1_735_689_600_000_i64 + 300 * day;
    let queries: Vec<(&str, Query)> = vec![
        ("latest 50", Query::default()),
        ("by patient", Query { patient: Some(testing::patient(1234)), ..Query::default() }),
        (
            "date range (1 week)",
            Query { from_ms: Some(start), to_ms: Some(start + 7 * day), limit: 10_000, ..Query::default() },
        ),
        ("outcome = refer, latest 50", Query { outcome: Some(Decision::Refer), ..Query::default() }),
        (
            "outcome = refer in 1 month",
            Query {
                outcome: Some(Decision::Refer),
                from_ms: Some(start),
                to_ms: Some(start + 30 * day),
                limit: 10_000,
                ..Query::default()
            },
        ),
        ("pending review, latest 50", Query { pending_review: true, ..Query::default() }),
        ("pending review, all", Query { pending_review: true, limit: 100_000, ..Query::default() }),
    ];
    println!("{:<30} {:>8} {:>14} {:>18}", "query", "rows", "median ms", "no-index median");
    let mut worst: f64 = 0.0;
    for (name, q) in queries {
        let (m, n) = median_ms(&store, &q, 31);
        let (b, nb) = median_ms(&store, &Query { full_scan: true, ..q }, 11);
        assert_eq!(n, nb);
        worst = worst.max(m);
        println!("{name:<30} {n:>8} {m:>14.3} {b:>18.3}");
    }
    println!(
        "worst median {worst:.3} ms (target <= 20 ms): {}",
        if worst <= 20.0 { "met" } else { "MISSED" }
    );
}
