//! `hemalens session ...`: screening sessions in the encrypted records store.
//! Errors name the kind of failure, never a patient, a photo or a key.
use crate::quiet::quietly;
use hemalens_core::field::AnalyzeOptions;
use hemalens_core::session::{Decision, SessionPolicy, Summary, Thresholds};
use hemalens_screener::{Error as ScreenerError, Evidence, Screener};
use hemalens_store::{Key, Query, SessionRow, Store};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Sub,
}

/// Where the records store is and who is acting (shared with `hemalens site`).
#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// Records folder (default: $HEMALENS_HOME, else ~/.hemalens).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    /// File holding the 64-hex-digit store key (default: the HEMALENS_KEY environment variable).
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    /// Who is acting, for the audit log (default: $USER).
    #[arg(long, global = true)]
    user: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl StoreArgs {
    /// Opens the store; on failure the message is printed and the exit code returned.
    pub fn open(&self) -> Result<(Store, String), u8> {
        let key = read_key(self.key_file.as_deref()).map_err(fail)?;
        let dir = self.store.clone().unwrap_or_else(home);
        let store = Store::open(&dir, &key).map_err(store_err)?;
        let user =
            self.user.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
        Ok((store, user))
    }
}

/// How much evidence a session collects, and the packs whose thresholds it uses.
#[derive(clap::Args, Debug)]
struct PolicyArgs {
    /// Confident white cells to collect.
    #[arg(long, default_value_t = 100)]
    target_cells: u32,
    /// Most photos to ask for.
    #[arg(long, default_value_t = 30)]
    max_fields: u32,
    #[command(flatten)]
    models: Models,
}

impl PolicyArgs {
    fn policy(&self) -> SessionPolicy {
        SessionPolicy {
            target_cells: self.target_cells,
            max_fields: self.max_fields,
            thresholds: thresholds(&self.models),
            ..SessionPolicy::default()
        }
    }
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Print a new random store key (keep it safe: without it the records cannot be read).
    Keygen,
    /// Start a session for a pseudonymous patient code; prints the session id.
    Start {
        #[arg(long)]
        patient: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Analyse photos (the field pipeline) and add them to an open session.
    Add {
        session: i64,
        #[arg(required = true)]
        photos: Vec<PathBuf>,
        #[command(flatten)]
        models: Models,
        /// CPU threads for inference.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// The running (or final) summary: counts with 95% intervals, screen, outcome.
    Show { session: i64 },
    /// Close a session and store the machine's result.
    Close {
        session: i64,
        /// Also seal the session's bundles for this hospital and queue them (`hemalens outbox send` delivers).
        #[arg(long)]
        share: Option<String>,
    },
    /// List sessions, newest first, filtered by patient, date, outcome, pending review.
    List {
        #[arg(long)]
        patient: Option<String>,
        /// Started on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// Started on or before this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        to: Option<String>,
        /// refer, no_abnormality_detected or inconclusive (after any override).
        #[arg(long)]
        outcome: Option<String>,
        /// Only closed sessions that refer or are inconclusive and await review.
        #[arg(long)]
        pending_review: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Review a closed session: relabel a cell (--field, --cell, --label) or confirm the outcome (--confirm).
    Review {
        session: i64,
        #[arg(long, requires_all = ["cell", "label"], conflicts_with = "confirm")]
        field: Option<i64>,
        #[arg(long)]
        cell: Option<i64>,
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        note: Option<String>,
    },
    /// Replace the outcome of a closed session (the machine's result is kept).
    Override {
        session: i64,
        #[arg(long)]
        outcome: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// One session as JSON: fields, reports, result, reviews, audit trail.
    Export {
        session: i64,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Evaluation aid (no store): apply the decision rule to simulated sessions,
    /// one JSON line `{"fields": [<field report>...]}` each on standard input;
    /// prints one summary line per session.
    #[command(hide = true)]
    Decide {
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Re-encrypt the store under a new key (from --new-key-file).
    RotateKey {
        #[arg(long)]
        new_key_file: PathBuf,
        /// Also re-encrypt every photo under a fresh photo key.
        #[arg(long)]
        new_photo_key: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct Models {
    /// Whole-field screening pack (id or directory).
    #[arg(long, default_value = "all-screen")]
    pub screen_model: String,
    /// White-cell type pack (id or directory).
    #[arg(long, default_value = "wbc-type")]
    pub cell_model: String,
}

impl Default for Models {
    fn default() -> Self {
        Self { screen_model: "all-screen".into(), cell_model: "wbc-type".into() }
    }
}

fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("HEMALENS_HOME") {
        return PathBuf::from(h);
    }
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".hemalens")
}

fn read_key(file: Option<&Path>) -> Result<Key, String> {
    let hex = match file {
        Some(f) => {
            std::fs::read_to_string(f).map_err(|e| format!("cannot read the key file: {}", e.kind()))?
        }
        None => std::env::var("HEMALENS_KEY")
            .map_err(|_| "no key: set HEMALENS_KEY (64 hex digits) or pass --key-file".to_string())?,
    };
    Key::from_hex(&hex).map_err(|e| e.to_string())
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("hemalens session: {e}");
    crate::EXIT_USAGE
}

pub(crate) fn store_err(e: hemalens_store::Error) -> u8 {
    fail(format_args!("{e} ({})", e.kind()))
}

pub fn run(args: Args) -> u8 {
    if let Sub::Keygen = args.command {
        return match Key::generate() {
            Ok(k) => {
                println!("{}", k.to_hex());
                0
            }
            Err(e) => store_err(e),
        };
    }
    if let Sub::Decide { policy } = &args.command {
        return decide(&policy.policy());
    }
    let (mut store, user) = match args.store.open() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let json = args.store.json;
    match args.command {
        Sub::Keygen | Sub::Decide { .. } => 0,
        Sub::Start { patient, policy } => {
            let evidence = Evidence { target_cells: policy.target_cells, max_fields: policy.max_fields };
            let screener = match screener(store, &policy.models, 1) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let started = screener.start_session(&patient, evidence, env!("CARGO_PKG_VERSION"), &user);
            quietly(|| drop(screener));
            match started {
                Ok(id) => {
                    if json {
                        crate::output::line(&json!({ "session": id }));
                    } else {
                        println!("{id}");
                    }
                    0
                }
                Err(e) => screener_err(e),
            }
        }
        Sub::Add { session, photos, models, threads } => {
            add(store, session, &photos, &models, threads, &user, json)
        }
        Sub::Show { session } => match store.summary(session) {
            Ok(s) => {
                print_summary(session, &s, json);
                0
            }
            Err(e) => store_err(e),
        },
        Sub::Close { session, share } => match store.close_session(session, &user) {
            Ok(s) => {
                print_summary(session, &s, json);
                match share {
                    None => 0,
                    Some(h) => {
                        let screener = match screener(store, &Models::default(), 1) {
                            Ok(s) => s,
                            Err(code) => return code,
                        };
                        let queued = screener.share(session, &h, &user);
                        quietly(|| drop(screener));
                        match queued {
                            Ok(items) => {
                                if !json {
                                    println!("queued {} bundles for {h} (hemalens outbox send)", items.len());
                                }
                                0
                            }
                            Err(e) => screener_err(e),
                        }
                    }
                }
            }
            Err(e) => store_err(e),
        },
        Sub::List { patient, from, to, outcome, pending_review, limit } => {
            let day = |s: &Option<String>, end: bool| -> Result<Option<i64>, String> {
                s.as_deref()
                    .map(|d| parse_day(d).map(|ms| if end { ms + 86_400_000 } else { ms }))
                    .transpose()
            };
            let outcome = match outcome.as_deref().map(|o| Decision::parse(o).ok_or(o)).transpose() {
                Ok(o) => o,
                Err(_) => return fail("--outcome must be refer, no_abnormality_detected or inconclusive"),
            };
            let (from_ms, to_ms) = match (day(&from, false), day(&to, true)) {
                (Ok(f), Ok(t)) => (f, t),
                (Err(e), _) | (_, Err(e)) => return fail(e),
            };
            let q = Query { patient, from_ms, to_ms, outcome, pending_review, limit, ..Query::default() };
            match store.list(&q) {
                Ok(rows) => {
                    print_rows(&rows, json);
                    0
                }
                Err(e) => store_err(e),
            }
        }
        Sub::Review { session, field, cell, label, confirm, note } => {
            let r = match (field, cell, label, confirm) {
                (Some(f), Some(c), Some(l), false) => {
                    store.relabel_cell(session, f, c, &l, &user, note.as_deref())
                }
                (None, None, None, true) => store.confirm(session, &user, note.as_deref()),
                _ => return fail("review takes either --field N --cell I --label L, or --confirm"),
            };
            match r {
                Ok(()) => 0,
                Err(e) => store_err(e),
            }
        }
        Sub::Override { session, outcome, note } => {
            let Some(d) = Decision::parse(&outcome) else {
                return fail("--outcome must be refer, no_abnormality_detected or inconclusive");
            };
            match store.override_outcome(session, d, &user, note.as_deref()) {
                Ok(()) => 0,
                Err(e) => store_err(e),
            }
        }
        Sub::Export { session, output } => match store.export(session) {
            Ok(v) => {
                let text = serde_json::to_string_pretty(&v).unwrap_or_default();
                match output {
                    Some(p) => match std::fs::write(&p, text + "\n") {
                        Ok(()) => 0,
                        Err(e) => fail(format_args!("cannot write the export: {}", e.kind())),
                    },
                    None => {
                        println!("{text}");
                        0
                    }
                }
            }
            Err(e) => store_err(e),
        },
        Sub::RotateKey { new_key_file, new_photo_key } => {
            let new = match read_key(Some(&new_key_file)) {
                Ok(k) => k,
                Err(e) => return fail(e),
            };
            match store.rotate_key(&new, new_photo_key, &user) {
                Ok(()) => 0,
                Err(e) => store_err(e),
            }
        }
    }
}

fn decide(policy: &SessionPolicy) -> u8 {
    #[derive(serde::Deserialize)]
    struct Simulated {
        fields: Vec<hemalens_core::field::FieldReport>,
    }
    for (i, line) in std::io::stdin().lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => return fail(format_args!("cannot read standard input: {}", e.kind())),
        };
        if line.trim().is_empty() {
            continue;
        }
        let sim: Simulated = match serde_json::from_str(&line) {
            Ok(s) => s,
            Err(e) => return fail(format_args!("line {}: {e}", i + 1)),
        };
        let mut s = hemalens_core::session::Session::new(policy.clone(), env!("CARGO_PKG_VERSION"));
        for f in &sim.fields {
            s.add_field(f);
        }
        crate::output::line(&json!(s.summary()));
    }
    0
}

/// The decision thresholds from the packs' manifests; the documented defaults
/// where a pack cannot be loaded (said on stderr).
fn thresholds(models: &Models) -> Thresholds {
    match (hemalens_packs::resolve(&models.screen_model), hemalens_packs::resolve(&models.cell_model)) {
        (Ok(s), Ok(c)) => Thresholds::from_manifests(s.manifest(), c.manifest()),
        _ => {
            eprintln!("hemalens session: warning: model packs not found; using the default thresholds");
            Thresholds::default()
        }
    }
}

/// The façade over this store with the packs named on the command line (and
/// the store's active site profile).
pub(crate) fn screener(store: Store, models: &Models, threads: usize) -> Result<Screener, u8> {
    let s = hemalens_packs::resolve(&models.screen_model)
        .map_err(|e| fail(format_args!("model `{}`: {e}", models.screen_model)))?;
    let c = hemalens_packs::resolve(&models.cell_model)
        .map_err(|e| fail(format_args!("model `{}`: {e}", models.cell_model)))?;
    quietly(|| Screener::with_store(store, &s, &c, threads, AnalyzeOptions::default())).map_err(|e| match e {
        ScreenerError::Core(e) if e.kind() == hemalens_core::ErrorKind::Site => {
            fail(format_args!("{e}: or `hemalens site rollback --none`"))
        }
        e => screener_err(e),
    })
}

pub(crate) fn screener_err(e: ScreenerError) -> u8 {
    match e {
        ScreenerError::Store(e) => store_err(e),
        e => fail(format_args!("{e} ({})", e.kind())),
    }
}

fn add(
    store: Store,
    session: i64,
    photos: &[PathBuf],
    models: &Models,
    threads: usize,
    user: &str,
    json: bool,
) -> u8 {
    // Refuse a closed or unknown session before compiling the models.
    if let Err(e) = store.check_open(session) {
        return store_err(e);
    }
    let screener = match screener(store, models, threads) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut failed = 0;
    let mut last = None;
    for path in photos {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                failed += 1;
                report_photo_error(&shown, "io", &format!("cannot read input: {}", e.kind()), json);
                continue;
            }
        };
        match screener.add_photo(session, &bytes, user) {
            Ok(added) => {
                let (seq, report) = (added.field, &added.report);
                if json {
                    crate::output::line(&json!({ "path": shown, "field": seq, "accepted": report.quality.ok,
                        "cells": report.cells.len(), "issues": report.quality.issues }));
                } else {
                    let issues: Vec<&str> = report.quality.issues.iter().map(|i| i.code.as_str()).collect();
                    let state = if report.quality.ok {
                        "accepted".to_string()
                    } else {
                        format!("rejected ({})", issues.join(", "))
                    };
                    println!("{shown}: field {seq} {state}, {} cells", report.cells.len());
                }
                last = Some(added.summary);
            }
            // A photo the pipeline cannot read: said, and the batch goes on.
            Err(ScreenerError::Core(e)) => {
                failed += 1;
                report_photo_error(&shown, e.kind().as_str(), &e.to_string(), json);
            }
            Err(e) => {
                quietly(|| drop(screener));
                return screener_err(e);
            }
        }
    }
    let summary = last.map(Ok).unwrap_or_else(|| screener.summary(session));
    quietly(|| drop(screener));
    if !json {
        if let Ok(s) = summary {
            let o = &s.outcome;
            println!(
                "{} of {} white cells; {}: {}",
                s.cells.white,
                s.provenance.target_cells,
                o.decision.as_str(),
                if s.enough_evidence {
                    "enough evidence, close the session".to_string()
                } else {
                    o.next_step.clone()
                }
            );
        }
    }
    if failed > 0 {
        crate::EXIT_INPUT_FAILED
    } else {
        0
    }
}

fn report_photo_error(shown: &str, kind: &str, message: &str, json: bool) {
    if json {
        crate::output::line(&json!({ "path": shown, "error": { "kind": kind, "message": message } }));
    } else {
        println!("{shown}: error: {message} ({kind})");
    }
}

fn print_summary(session: i64, s: &Summary, json: bool) {
    if json {
        crate::output::line(&json!({ "session": session, "summary": s }));
        return;
    }
    let f = &s.fields;
    println!("session {session}: {} fields ({} accepted, {} rejected)", f.added, f.accepted, f.rejected);
    let c = &s.cells;
    println!(
        "white cells {} of target {} (uncertain {}, platelets {})",
        c.white, s.provenance.target_cells, c.uncertain, c.platelets
    );
    for d in &s.differential {
        let p = &d.proportion;
        println!(
            "  {:<13} {:>4}  {:>5.1}%  (95% CI {:.1}-{:.1}%)",
            d.label,
            d.count,
            100.0 * p.p,
            100.0 * p.low,
            100.0 * p.high
        );
    }
    match &s.screen {
        Some(scr) => println!(
            "leukaemia screen: {} ({:.2}); P(malignant) {:.1}% over {} fields, {} tiles",
            scr.label,
            scr.confidence,
            100.0 * scr.malignant_prob,
            scr.fields,
            scr.tiles
        ),
        None => println!("leukaemia screen: no accepted field yet"),
    }
    println!("outcome: {}", s.outcome.decision.as_str());
    for r in &s.outcome.reasons {
        println!("  - {}: {}", r.code, r.message);
    }
    println!("next: {}", s.outcome.next_step);
    let models: Vec<String> = s.provenance.models.iter().map(|m| format!("{} {}", m.id, m.version)).collect();
    println!(
        "models: {}; core {}; app {}",
        models.join(", "),
        s.provenance.core_version,
        s.provenance.app_version
    );
}

fn print_rows(rows: &[SessionRow], json: bool) {
    if json {
        for r in rows {
            crate::output::line(&json!(r));
        }
        return;
    }
    println!(
        "{:>8}  {:<20} {:<20} {:<24} {:<9} {:>6}",
        "session", "patient", "started (UTC)", "outcome", "review", "fields"
    );
    for r in rows {
        println!(
            "{:>8}  {:<20} {:<20} {:<24} {:<9} {:>6}",
            r.id,
            r.patient,
            format_ms(r.started_at),
            r.outcome.map_or("-", |d| d.as_str()),
            r.review_state.as_str(),
            r.fields
        );
    }
}

/// `YYYY-MM-DD` (UTC) to Unix milliseconds at midnight.
fn parse_day(s: &str) -> Result<i64, String> {
    let bad = || "dates are YYYY-MM-DD".to_string();
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next().and_then(|v| v.parse().ok()).ok_or_else(bad)?;
    let m: i64 = it.next().and_then(|v| v.parse().ok()).filter(|m| (1..=12).contains(m)).ok_or_else(bad)?;
    let d: i64 = it.next().and_then(|v| v.parse().ok()).filter(|d| (1..=31).contains(d)).ok_or_else(bad)?;
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400_000)
}

fn format_ms(ms: i64) -> String {
    let t = hemalens_share::time::Utc::from_ms(ms);
    format!("{} {:02}:{:02}", t.date(), t.hour, t.minute)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2026-11-22").unwrap(), 1_795_305_600_000);
        assert_eq!(format_ms(1_795_305_600_000 + 3_600_000 + 120_000), "2026-11-22 01:02");
        assert_eq!(format_ms(parse_day("2024-02-29").unwrap()), "2024-02-29 00:00");
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
