//! Deterministic data for the store's tests, the crash writer and the benchmark.
//! Not part of the API.
use crate::{Error, Store};
use hemalens_core::field::{Cell, FieldReport, ModelRef, Quality, Screen};
use hemalens_core::session::SessionPolicy;
use rusqlite::params;

const LABELS: [&str; 6] = ["neutrophil", "lymphocyte", "monocyte", "eosinophil", "basophil", "platelet"];

fn mix(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// The report of field `seq` of session number `n` (the same every time).
pub fn report(n: u64, seq: u64) -> FieldReport {
    let h = mix(n, seq);
    let cells = (0..(5 + h % 20))
        .map(|i| {
            let label = LABELS[(mix(h, i) % LABELS.len() as u64) as usize];
            let confidence = 0.5 + (mix(h, i + 100) % 500) as f64 / 1000.0;
            Cell {
                bbox: [i as u32 * 10, 0, 10, 10].into(),
                label: label.into(),
                confidence,
                probs: [(label.into(), confidence)].into_iter().collect(),
                distance: None,
            }
        })
        .collect();
    let m = (h % 100) as f64 / 1000.0;
    FieldReport {
        quality: Quality { ok: h % 7 != 0, issues: vec![], focus: 1.0, exposure: 0.5, fov: None },
        scale: None,
        cells,
        screen: Some(Screen {
            label: "benign".into(),
            confidence: 1.0 - m,
            probs: [("benign".into(), 1.0 - m), ("malignant_pre_b".into(), m)].into_iter().collect(),
            tiles: 4,
            distance: None,
        }),
        models: vec![ModelRef { id: "all-screen".into(), version: "test".into(), sha256: "00".into() }],
        site: None,
    }
}

/// The photo bytes of field `seq` of session number `n` (a few KiB, distinct).
pub fn photo(n: u64, seq: u64) -> Vec<u8> {
    let len = 2048 + (mix(n, seq) % 4096) as usize;
    (0..len as u64).map(|i| (mix(mix(n, seq), i) & 0xff) as u8).collect()
}

/// A deterministic outbox payload for session number `n` and a bundle kind
/// (8 to 72 KiB for results, 64 to 320 KiB for photos).
pub fn payload(n: u64, kind: &str) -> Vec<u8> {
    let (base, spread, salt) =
        if kind == "photos" { (64 << 10, 256 << 10, 2) } else { (8 << 10, 64 << 10, 1) };
    let seed = mix(n, salt);
    let len = base + (seed % spread) as usize;
    let mut out = Vec::with_capacity(len);
    let mut x = seed;
    while out.len() < len {
        x = mix(x, out.len() as u64);
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The pseudonymous code of session number `n`'s patient.
pub fn patient(n: u64) -> String {
    format!("PATIENT-{n:07}")
}

/// Loads `sessions` closed sessions over `patients` patients, spread over two
/// years, in one transaction (for the search benchmark; no fields).
pub fn bulk_sessions(store: &mut Store, sessions: u64, patients: u64) -> Result<(), Error> {
    let policy = serde_json::to_string(&SessionPolicy::default())?;
    let conn = store.connection();
    let tx = conn.transaction()?;
    {
        let mut ip = tx.prepare("INSERT OR IGNORE INTO patients(code, created_at) VALUES (?1, 0)")?;
        for p in 0..patients {
            ip.execute([patient(p)])?;
        }
        let mut is = tx.prepare(
            "INSERT INTO sessions(patient_id, started_at, closed_at, policy, app_version, machine_outcome, outcome, review_state) \
             VALUES ((SELECT id FROM patients WHERE code = ?1), ?2, ?2 + 600000, ?3, 'bench', ?4, ?4, ?5)",
        )?;
        let start = 1_735_689_600_000_i64; // 2025-01-01
        let span = 2 * 365 * 86_400_000_i64;
        for i in 0..sessions {
            let h = mix(i, 77);
            let outcome = match h % 10 {
                0 => "refer",
                1 | 2 => "inconclusive",
                _ => "no_abnormality_detected",
            };
            let state = if outcome == "no_abnormality_detected" {
                "none"
            } else if mix(i, 5) % 4 == 0 {
                "pending"
            } else {
                "reviewed"
            };
            let at = start + (mix(i, 9) % span as u64) as i64;
            is.execute(params![patient(mix(i, 3) % patients), at, policy, outcome, state])?;
        }
    }
    tx.commit()?;
    Ok(())
}
