//! `hemalens device ...`, `hemalens hospital ...` and `hemalens outbox ...`:
//! this device's signing key, the hospitals it shares with, the queue of
//! sealed bundles with its resumable uploads, and the hospitals' reviews
//! coming back (`outbox sync`).
use crate::quiet::quietly;
use crate::session::{screener, screener_err, Models, StoreArgs};
use hemalens_screener::{Network, ReviewSync, Screener, SendOptions};
use hemalens_store::{Hospital, OutboxItem};
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct DeviceArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: DeviceSub,
}

#[derive(clap::Subcommand, Debug)]
enum DeviceSub {
    /// Print this device's id and Ed25519 public key (give both to the hospital to enrol the device).
    Key,
}

#[derive(clap::Args, Debug)]
pub struct HospitalArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: HospitalSub,
}

#[derive(clap::Subcommand, Debug)]
enum HospitalSub {
    /// Add a hospital (or change its address or key).
    Add {
        name: String,
        /// The hospital inbox's tus upload endpoint (https://.../files/).
        #[arg(long)]
        url: String,
        /// The hospital's age public key (age1...): bundles are encrypted to it.
        #[arg(long)]
        key: String,
        /// Send photos over any link (default: photos wait for Wi-Fi; results never wait).
        #[arg(long)]
        photos_on_cellular: bool,
    },
    /// Add a hospital from its card (the line its inbox prints: hemalens:hospital?name=...&url=...&key=...).
    AddCard { card: String },
    /// List the hospitals.
    List,
}

#[derive(clap::Args, Debug)]
pub struct OutboxArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: OutboxSub,
}

#[derive(clap::Subcommand, Debug)]
enum OutboxSub {
    /// Seal a closed session's bundles (results, then photos) for a hospital and queue them.
    Queue {
        session: i64,
        #[arg(long = "to")]
        hospital: String,
    },
    /// List the queue: queued, sending n%, delivered, refused: <reason>.
    List,
    /// Deliver what is due (results first; photos on Wi-Fi unless the hospital allows cellular).
    Send {
        /// The link is Wi-Fi (photos may go).
        #[arg(long)]
        wifi: bool,
        /// Keep trying (with backoff) for up to this many seconds until everything is delivered or refused.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// Bytes per upload request.
        #[arg(long, default_value_t = 32 * 1024)]
        chunk: usize,
    },
    /// Put a refused item back in the queue.
    Retry { item: i64 },
    /// Take each hospital's reviews of this device's sessions: stored once each (as "<reviewer> (<hospital>)"), then acknowledged; any link.
    Sync,
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("hemalens: {e}");
    crate::EXIT_USAGE
}

fn open(store: &StoreArgs) -> Result<(Screener, String), u8> {
    let (st, user) = store.open()?;
    Ok((screener(st, &Models::default(), 1)?, user))
}

fn finish<T>(s: Screener, v: T) -> T {
    quietly(|| drop(s));
    v
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn run_device(args: DeviceArgs) -> u8 {
    let (s, _) = match open(&args.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let code = match args.command {
        DeviceSub::Key => match s.device() {
            Ok(d) => {
                if args.store.json {
                    crate::output::line(&json!({ "device_id": d.id(), "public_key": d.public_key_hex() }));
                } else {
                    println!("device id   {}\npublic key  {}", d.id(), d.public_key_hex());
                }
                0
            }
            Err(e) => screener_err(e),
        },
    };
    finish(s, code)
}

pub fn run_hospital(args: HospitalArgs) -> u8 {
    let (s, user) = match open(&args.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let code = match args.command {
        HospitalSub::Add { name, url, key, photos_on_cellular } => {
            let h = Hospital { name, url, recipient: key, photos_on_wifi_only: !photos_on_cellular };
            match s.add_hospital(&h, &user) {
                Ok(()) => 0,
                Err(e) => screener_err(e),
            }
        }
        HospitalSub::AddCard { card } => match hemalens_screener::hospital_card::read(&card) {
            Ok(h) => match s.add_hospital(&h, &user) {
                Ok(()) => {
                    println!("added {}", h.name);
                    0
                }
                Err(e) => screener_err(e),
            },
            Err(e) => {
                eprintln!("hemalens hospital add-card: {e}");
                crate::EXIT_USAGE
            }
        },
        HospitalSub::List => match s.hospitals() {
            Ok(hs) => {
                for h in hs {
                    if args.store.json {
                        crate::output::line(&json!(h));
                    } else {
                        let photos =
                            if h.photos_on_wifi_only { "photos on Wi-Fi" } else { "photos on any link" };
                        println!("{}  {}  {}  {}", h.name, h.url, h.recipient, photos);
                    }
                }
                0
            }
            Err(e) => screener_err(e),
        },
    };
    finish(s, code)
}

fn print_items(items: &[OutboxItem], json: bool) {
    for i in items {
        if json {
            crate::output::line(&json!({
                "item": i.id, "session": i.session_id, "hospital": i.hospital, "kind": i.kind,
                "bytes": i.size, "sent": i.sent, "state": i.state, "status": i.status(),
                "attempts": i.attempts, "reason": i.reason,
            }));
        } else {
            let why = match (&i.reason, i.state) {
                (Some(r), hemalens_store::OutboxState::Queued | hemalens_store::OutboxState::Sending) => {
                    format!("  (last try: {r})")
                }
                _ => String::new(),
            };
            println!(
                "{:>4}  session {:<5} {:<8} to {:<16} {:>9} B  {}{why}",
                i.id,
                i.session_id,
                i.kind,
                i.hospital,
                i.size,
                i.status()
            );
        }
    }
}

/// One line per hospital: `<hospital>  applied N  already had N  skipped N[  failed: <code>]`.
fn print_syncs(syncs: &[ReviewSync], json: bool) {
    for r in syncs {
        if json {
            crate::output::line(&json!({
                "hospital": r.hospital, "applied": r.applied, "already_had": r.already_had, "skipped": r.skipped,
                "error": r.error.as_ref().map(|e| json!({ "kind": e.code(), "message": e.to_string() })),
            }));
        } else {
            let failed = r.error.as_ref().map(|e| format!("  failed: {}", e.code())).unwrap_or_default();
            println!(
                "{:<16} applied {}  already had {}  skipped {}{failed}",
                r.hospital, r.applied, r.already_had, r.skipped
            );
        }
    }
}

pub fn run_outbox(args: OutboxArgs) -> u8 {
    let (s, user) = match open(&args.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let json = args.store.json;
    let code = match args.command {
        OutboxSub::Queue { session, hospital } => match s.share(session, &hospital, &user) {
            Ok(items) => {
                print_items(&items, json);
                0
            }
            Err(e) => screener_err(e),
        },
        OutboxSub::List => match s.outbox() {
            Ok(items) => {
                print_items(&items, json);
                0
            }
            Err(e) => screener_err(e),
        },
        OutboxSub::Retry { item } => match s.outbox_retry(item, &user) {
            Ok(()) => 0,
            Err(e) => screener_err(e),
        },
        OutboxSub::Sync => match s.sync_reviews(&SendOptions::default().link, now_ms()) {
            Ok(syncs) => {
                print_syncs(&syncs, json);
                for r in &syncs {
                    if let Some(e) = &r.error {
                        eprintln!("hemalens: {}: {e}", r.hospital);
                    }
                }
                // 1 when a hospital could not be synced (the others were).
                if syncs.iter().any(|r| r.error.is_some()) {
                    crate::EXIT_INPUT_FAILED
                } else {
                    0
                }
            }
            Err(e) => screener_err(e),
        },
        OutboxSub::Send { wifi, wait, chunk } => {
            if chunk == 0 {
                return finish(s, fail("--chunk must be at least 1 byte"));
            }
            let mut opts = SendOptions::default();
            opts.link.chunk = chunk;
            let network = if wifi { Network::Wifi } else { Network::Cellular };
            let deadline = Instant::now() + Duration::from_secs(wait);
            let mut result = s.outbox_send(network, &opts, now_ms());
            // With --wait, keep going until nothing that may go now is pending.
            let on_cellular: Vec<String> = match s.hospitals() {
                Ok(hs) => hs.into_iter().filter(|h| !h.photos_on_wifi_only).map(|h| h.name).collect(),
                Err(e) => return finish(s, screener_err(e)),
            };
            let may_go = |i: &OutboxItem| {
                matches!(i.state, hemalens_store::OutboxState::Queued | hemalens_store::OutboxState::Sending)
                    && (i.kind == "results" || wifi || on_cellular.contains(&i.hospital))
            };
            while let Ok(items) = &result {
                let pending = items.iter().any(may_go);
                if !pending || Instant::now() >= deadline {
                    break;
                }
                let next = items.iter().map(|i| i.next_attempt_at).min().unwrap_or(0);
                let sleep = (next - now_ms()).clamp(50, 5_000) as u64;
                std::thread::sleep(
                    Duration::from_millis(sleep).min(deadline.saturating_duration_since(Instant::now())),
                );
                result = s.outbox_send(network, &opts, now_ms());
            }
            match result {
                Ok(items) => {
                    print_items(&items, json);
                    // With --wait: 1 when something that could go now is still pending.
                    u8::from(wait > 0 && items.iter().any(may_go))
                }
                Err(e) => screener_err(e),
            }
        }
    };
    finish(s, code)
}
