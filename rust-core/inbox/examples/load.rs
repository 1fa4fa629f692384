//! The inbox under load (docs/inbox-figures.md; `scripts/inbox_load.sh` runs it).
//!
//! **Load** (the default): N simulated devices, each with its own Ed25519
//! identity, enrolled through the inbox's library against the same database,
//! each upload one session: its results bundle, then its photos bundle. The
//! bundles are real: one template session is made from the test fixture
//! (`tests/fixtures`, the real photos from `../shared/data` or
//! `HEMALENS_DATA`), and per device the session uid and device id are
//! substituted in its JSON parts (the SMS text is re-encoded so its check code
//! holds; the PDF is not re-rendered), then sealed with `bundle::seal`, so
//! every signature and encryption is real. The client speaks tus over raw
//! HTTP/1.1 on tokio sockets and injects faults on about `--fault-rate` of
//! the PATCH chunks, seeded: dropped (the connection closed before or while
//! sending the request), duplicated (the same PATCH sent twice at once, on
//! two connections, to two random instances), reordered (a later chunk, or a
//! stale earlier one, sent out of turn) and cut (the headers with the full
//! `Content-Length`, half the body, then close). After any fault it asks
//! `HEAD` for the offset and goes on, as the phone does. At the end it checks
//! the database: one case per device with both bundles, two bundles per
//! device, nothing duplicated, the files byte-identical on a sample; it
//! prints a JSON summary and exits 1 if anything was lost or duplicated.
//!
//! **Queue benchmark** (`--queue-bench N`): inserts N cases straight into the
//! database (multi-row INSERTs in transactions, a realistic mix of urgency,
//! status and closing time), logs in as a new reviewer and times `GET /queue`
//! (the server's own `Server-Timing: db;dur=` and the client's wall time).
//!
//! ```text
//! cargo run --release -p hemalens-inbox --example load -- \
//!     --url http://127.0.0.1:8080 --db sqlite:/tmp/inbox.db --recipient age1... --devices 1000
//! cargo run --release -p hemalens-inbox --example load -- \
//!     --url http://127.0.0.1:8080 --db sqlite:/tmp/inbox.db --queue-bench 100000
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use hemalens_inbox::Db;
use hemalens_share::bundle::{self, Kind, Part};
use hemalens_share::request::Signed;
use hemalens_share::{Device, DeviceIdentity, Record};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

#[derive(Parser, Debug)]
#[command(
    name = "load",
    about = "Load figures of the Hemalens inbox: devices uploading over a faulty link, or the review queue over many cases."
)]
struct Args {
    /// Inbox base URL(s), e.g. http://127.0.0.1:8080 (several: devices are spread over them round-robin, each chunk and HEAD goes to a random one).
    #[arg(long = "url", num_args = 1.., required = true)]
    urls: Vec<String>,
    /// The inbox's database, the URL its servers use (enrolment, the final check, the queue benchmark's cases).
    #[arg(long)]
    db: String,
    /// The hospital's public key (age1...; `hemalens-inbox key` prints it). Needed for the load.
    #[arg(long)]
    recipient: Option<String>,
    /// Devices, one session each.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Devices uploading at once.
    #[arg(long, default_value_t = 48)]
    concurrency: usize,
    /// Share of PATCH chunks with a fault (dropped, duplicated, reordered, cut: a quarter each).
    #[arg(long, default_value_t = 0.3)]
    fault_rate: f64,
    /// Seed of the faults (which chunk, which kind, which instance).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop starting new devices after this many seconds (those under way finish).
    #[arg(long)]
    time_limit: Option<f64>,
    /// Bytes per PATCH (the phone's default is 32 KiB).
    #[arg(long, default_value_t = 32 * 1024)]
    chunk: usize,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// The queue benchmark instead of the load: insert this many cases, then time GET /queue.
    #[arg(long)]
    queue_bench: Option<usize>,
    /// Timed GET /queue requests in the queue benchmark (after one untimed).
    #[arg(long, default_value_t = 50)]
    queue_gets: usize,
    /// A name for this run in the summary.
    #[arg(long)]
    label: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let (mut summary, ok) = match args.queue_bench {
            Some(n) => queue_bench(&args, n).await?,
            None => load(&args).await?,
        };
        summary["label"] = json!(args.label);
        summary["ok"] = json!(ok);
        let text = serde_json::to_string_pretty(&summary)?;
        println!("{text}");
        if let Some(p) = &args.json_out {
            std::fs::write(p, format!("{text}\n"))?;
        }
        Ok::<bool, BoxError>(ok)
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("load: FAILED (see \"check\" in the summary)");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("load: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

// ---------------------------------------------------------------- helpers

/// SplitMix64: small, seeded, good enough to pick faults.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn now_ms() -> i64 {
    hemalens_inbox::db::now_ms()
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn round1(x: Option<f64>) -> Value {
    x.map(|v| json!((v * 10.0).round() / 10.0)).unwrap_or(Value::Null)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn backend_of(db: &str) -> &'static str {
    if db.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    }
}

// ---------------------------------------------------------------- HTTP/1.1

/// An inbox instance.
#[derive(Debug, Clone)]
struct Base {
    host: String,
}

fn parse_base(u: &str) -> Res<Base> {
    let rest = u.strip_prefix("http://").ok_or("only http:// inbox URLs")?.trim_end_matches('/');
    if rest.contains('/') {
        return Err(format!("{u}: give the inbox's root URL (it serves /tus/ there)").into());
    }
    let host = if rest.contains(':') { rest.to_string() } else { format!("{rest}:80") };
    Ok(Base { host })
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn offset(&self) -> Option<usize> {
        self.header("Upload-Offset")?.trim().parse().ok()
    }
    fn verdict(&self) -> Option<String> {
        self.header("Hemalens-Verdict").map(str::to_string)
    }
}

const IO_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_BODY: usize = 16 << 20;

fn io_err(what: &str) -> io::Error {
    io::Error::other(what.to_string())
}

#[derive(Debug)]
struct Conn(BufStream<TcpStream>);

async fn connect(b: &Base) -> io::Result<Conn> {
    let s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(&b.host))
        .await
        .map_err(|_| io_err("connect timed out"))??;
    s.set_nodelay(true)?;
    Ok(Conn(BufStream::new(s)))
}

fn request_head(
    method: &str,
    b: &Base,
    path: &str,
    headers: &[(&str, String)],
    body: Option<usize>,
) -> Vec<u8> {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", b.host);
    for (k, v) in headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    if let Some(n) = body {
        h.push_str(&format!("Content-Length: {n}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

impl Conn {
    async fn exchange(&mut self, head: &[u8], body: &[u8], is_head: bool) -> io::Result<Resp> {
        tokio::time::timeout(IO_TIMEOUT, async {
            self.0.write_all(head).await?;
            self.0.write_all(body).await?;
            self.0.flush().await?;
            read_response(&mut self.0, is_head).await
        })
        .await
        .map_err(|_| io_err("request timed out"))?
    }
}

async fn read_line(s: &mut BufStream<TcpStream>, line: &mut String) -> io::Result<()> {
    line.clear();
    if s.read_line(line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    if line.len() > 64 * 1024 {
        return Err(io_err("header line too long"));
    }
    Ok(())
}

async fn read_response(s: &mut BufStream<TcpStream>, is_head: bool) -> io::Result<Resp> {
    let mut line = String::new();
    read_line(s, &mut line).await?;
    let mut it = line.split_whitespace();
    let version = it.next().unwrap_or("").to_string();
    let status: u16 = it.next().and_then(|x| x.parse().ok()).ok_or_else(|| io_err("bad status line"))?;
    let mut headers = Vec::new();
    loop {
        read_line(s, &mut line).await?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if headers.len() > 200 {
            return Err(io_err("too many headers"));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let mut keep_alive =
        version == "HTTP/1.1" && !get("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let mut body = Vec::new();
    let bodyless = is_head || status == 204 || status == 304 || (100..200).contains(&status);
    if !bodyless {
        if get("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            loop {
                read_line(s, &mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| io_err("bad chunk size"))?;
                if size == 0 {
                    loop {
                        read_line(s, &mut line).await?;
                        if line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                if body.len() + size > MAX_BODY {
                    return Err(io_err("answer too large"));
                }
                let at = body.len();
                body.resize(at + size, 0);
                s.read_exact(&mut body[at..]).await?;
                read_line(s, &mut line).await?;
            }
        } else if let Some(n) = get("Content-Length").and_then(|v| v.trim().parse::<usize>().ok()) {
            if n > MAX_BODY {
                return Err(io_err("answer too large"));
            }
            body.resize(n, 0);
            s.read_exact(&mut body).await?;
        } else {
            s.take(MAX_BODY as u64).read_to_end(&mut body).await?;
            keep_alive = false;
        }
    }
    Ok(Resp { status, headers, body, keep_alive })
}

// ---------------------------------------------------------------- counters

#[derive(Debug, Default)]
struct Stats {
    post: AtomicU64,
    patch: AtomicU64,
    head: AtomicU64,
    /// PATCH turns: each sends the next chunk or injects one fault.
    patch_turns: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    cut: AtomicU64,
    /// Faults after which HEAD showed the upload moved on (a duplicate taken
    /// once, the bytes of a cut chunk kept), by kind as in `Fault::index`.
    advanced: [AtomicU64; 4],
    /// In-turn PATCHes answered 409: the upload had moved on since the last
    /// HEAD (the half of a cut chunk filed after that HEAD answered).
    in_turn_conflicts: AtomicU64,
    /// Failed exchanges the client did not cause on purpose.
    network_errors: AtomicU64,
    /// A kept-alive connection found closed and opened again (not an error).
    reconnects: AtomicU64,
    bytes_sent: AtomicU64,
    completed: AtomicU64,
    status: Mutex<BTreeMap<u16, u64>>,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Stats {
    fn status(&self, s: u16) {
        if let Ok(mut m) = self.status.lock() {
            *m.entry(s).or_default() += 1;
        }
    }
    fn method(&self, m: &str) {
        match m {
            "POST" => add(&self.post, 1),
            "PATCH" => add(&self.patch, 1),
            _ => add(&self.head, 1),
        }
    }
}

// ---------------------------------------------------------------- template

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data_dir() -> PathBuf {
    std::env::var("HEMALENS_DATA").map(PathBuf::from).unwrap_or_else(|_| repo().join("../shared/data"))
}

/// The session number every device's session has.
const SESSION: i64 = 1;

/// One real session, sealed per device after substituting its ids.
#[derive(Debug)]
struct Template {
    /// The template's device id, replaced by each device's in the JSON parts.
    device_id: String,
    record: Record,
    results: Vec<Part>,
    photos: Vec<Part>,
}

impl Template {
    fn build() -> Res<Self> {
        let fixtures = repo().join("rust-core/inbox/tests/fixtures");
        let text = std::fs::read_to_string(fixtures.join("session-export.json"))?;
        let mut export: Value = serde_json::from_str(&text)?;
        export["session"]["id"] = SESSION.into();
        export["session"]["closed_at"] = (now_ms() - 3_600_000).into();
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| e.to_string())?;
        let device_id = DeviceIdentity::from_seed(&seed).id();
        let record =
            Record::from_export(&export, Device { id: device_id.clone(), app_version: "load".into() })?;
        let map: HashMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("photos.json"))?)?;
        let dir = data_dir();
        let photos = move |name: &str| {
            let rel =
                map.get(name).ok_or_else(|| hemalens_share::Error::Photo("not in the fixture".into()))?;
            std::fs::read(dir.join(rel)).map_err(|e| hemalens_share::Error::Photo(format!("{rel}: {e}")))
        };
        let results = hemalens_share::contents::results(&record)?;
        let photo_parts = hemalens_share::contents::photos(&record, &photos)?;
        for p in results.iter().chain(&photo_parts).filter(|p| p.name.ends_with(".json")) {
            if !String::from_utf8_lossy(&p.data).contains(&device_id) {
                return Err(format!("{} does not name the session: no substitution possible", p.name).into());
            }
        }
        Ok(Self { device_id, record, results, photos: photo_parts })
    }

    fn uid(id: &str) -> String {
        format!("{id}-{SESSION}")
    }

    /// The template's parts as device `id`'s.
    fn parts_for(&self, parts: &[Part], id: &str) -> Res<Vec<Part>> {
        parts
            .iter()
            .map(|p| {
                let data = if p.name.ends_with(".json") {
                    std::str::from_utf8(&p.data)?.replace(&self.device_id, id).into_bytes()
                } else if p.name == "sms.txt" {
                    // The SMS carries a CRC of its text: encode it anew.
                    let mut r = self.record.clone();
                    r.uid = Self::uid(id);
                    r.device.id = id.to_string();
                    hemalens_share::sms::encode(&r).into_bytes()
                } else {
                    p.data.clone()
                };
                Ok(Part { name: p.name.clone(), content_type: p.content_type.clone(), data })
            })
            .collect()
    }

    fn size(parts: &[Part]) -> usize {
        parts.iter().map(|p| p.data.len()).sum()
    }
}

// ---------------------------------------------------------------- a device

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Dropped,
    Duplicated,
    Reordered,
    Cut,
}

impl Fault {
    fn index(self) -> usize {
        match self {
            Self::Dropped => 0,
            Self::Duplicated => 1,
            Self::Reordered => 2,
            Self::Cut => 3,
        }
    }
}

#[derive(Debug)]
struct Shared {
    bases: Vec<Base>,
    stats: Stats,
    template: Template,
    recipient: age::x25519::Recipient,
    chunk: usize,
    fault_rate: f64,
    seed: u64,
}

#[derive(Debug, Default)]
struct Outcome {
    ok: bool,
    error: Option<String>,
    results_ms: Option<f64>,
    session_ms: Option<f64>,
    results_bytes: usize,
    photos_bytes: usize,
}

struct Phone {
    sh: Arc<Shared>,
    /// The identity's seed (sealing runs on a blocking thread, which makes its own).
    seed: [u8; 32],
    identity: DeviceIdentity,
    id: String,
    home: usize,
    pool: Vec<Option<Conn>>,
    rng: Rng,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("id", &self.id).finish_non_exhaustive()
    }
}

fn retriable(status: u16) -> bool {
    matches!(status, 404 | 408 | 409 | 410 | 423 | 425 | 429) || status >= 500
}

impl Phone {
    fn new(sh: Arc<Shared>, index: usize, seed: &[u8; 32]) -> Self {
        let identity = DeviceIdentity::from_seed(seed);
        let id = identity.id();
        let n = sh.bases.len();
        let rng = Rng::new(sh.seed, index as u64 + 1);
        Self { pool: (0..n).map(|_| None).collect(), home: index % n, sh, seed: *seed, identity, id, rng }
    }

    fn pick(&mut self) -> usize {
        self.rng.below(self.sh.bases.len())
    }

    /// One request on this device's kept-alive connection to instance `inst`.
    async fn send(
        &mut self,
        inst: usize,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> io::Result<Resp> {
        let st = &self.sh.stats;
        st.method(method);
        let base = &self.sh.bases[inst];
        let is_head = method == "HEAD";
        let head = request_head(method, base, path, headers, (!is_head).then_some(body.len()));
        add(&st.bytes_sent, (head.len() + body.len()) as u64);
        let mut tries = 0;
        loop {
            tries += 1;
            let reused = self.pool[inst].is_some();
            let mut conn = match self.pool[inst].take() {
                Some(c) => c,
                None => match connect(base).await {
                    Ok(c) => c,
                    Err(e) => {
                        add(&st.network_errors, 1);
                        return Err(e);
                    }
                },
            };
            match conn.exchange(&head, body, is_head).await {
                Ok(r) => {
                    st.status(r.status);
                    if r.keep_alive {
                        self.pool[inst] = Some(conn);
                    }
                    return Ok(r);
                }
                // The server closed a kept-alive connection between two
                // requests: open another (every request here is idempotent).
                Err(_) if reused && tries == 1 => add(&st.reconnects, 1),
                Err(e) => {
                    add(&st.network_errors, 1);
                    return Err(e);
                }
            }
        }
    }

    fn tus() -> (&'static str, String) {
        ("Tus-Resumable", "1.0.0".to_string())
    }

    async fn create(&mut self, kind: Kind, bundle_id: &str, length: usize) -> io::Result<Resp> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let meta = format!("bundle_id {},kind {}", b64(bundle_id), b64(kind.as_str()));
        let len = length.to_string();
        let signed = Signed {
            method: "POST",
            path: "/tus/",
            device_id: &self.id,
            date_ms: now_ms(),
            body: b"",
            upload_length: Some(&len),
            upload_metadata: Some(&meta),
        }
        .headers(&self.identity);
        let mut h = vec![Self::tus(), ("Upload-Length", len.clone()), ("Upload-Metadata", meta.clone())];
        h.extend(signed.iter().map(|(k, v)| (*k, v.clone())));
        self.send(self.home, "POST", "/tus/", &h, b"").await
    }

    fn patch_headers(offset: usize) -> [(&'static str, String); 3] {
        [
            Self::tus(),
            ("Upload-Offset", offset.to_string()),
            ("Content-Type", "application/offset+octet-stream".to_string()),
        ]
    }

    async fn patch(&mut self, loc: &str, offset: usize, data: &[u8]) -> io::Result<Resp> {
        let inst = self.pick();
        self.send(inst, "PATCH", loc, &Self::patch_headers(offset), data).await
    }

    async fn head(&mut self, loc: &str) -> io::Result<Resp> {
        let inst = self.pick();
        self.send(inst, "HEAD", loc, &[Self::tus()], b"").await
    }

    /// Which fault (if any) this PATCH turn gets; reordering needs a second chunk.
    fn pick_fault(&mut self, offset: usize, len: usize) -> Option<Fault> {
        if self.rng.unit() >= self.sh.fault_rate {
            return None;
        }
        let can_reorder = offset > 0 || offset + self.sh.chunk < len;
        let kinds: &[Fault] = if can_reorder {
            &[Fault::Dropped, Fault::Duplicated, Fault::Reordered, Fault::Cut]
        } else {
            &[Fault::Dropped, Fault::Duplicated, Fault::Cut]
        };
        Some(kinds[self.rng.below(kinds.len())])
    }

    /// A PATCH sent once more on a connection of its own (a duplicate).
    async fn patch_alone(sh: &Shared, inst: usize, loc: &str, offset: usize, data: &[u8]) {
        let st = &sh.stats;
        st.method("PATCH");
        let base = &sh.bases[inst];
        let head = request_head("PATCH", base, loc, &Self::patch_headers(offset), Some(data.len()));
        add(&st.bytes_sent, (head.len() + data.len()) as u64);
        match connect(base).await {
            Ok(mut c) => match c.exchange(&head, data, false).await {
                Ok(r) => st.status(r.status),
                Err(_) => add(&st.network_errors, 1),
            },
            Err(_) => add(&st.network_errors, 1),
        }
    }

    async fn inject(&mut self, fault: Fault, loc: &str, offset: usize, sealed: &[u8]) {
        let sh = self.sh.clone();
        let st = &sh.stats;
        let (len, c) = (sealed.len(), self.sh.chunk);
        let end = (offset + c).min(len);
        match fault {
            Fault::Dropped => {
                add(&st.dropped, 1);
                st.method("PATCH");
                let inst = self.pick();
                let half_head = self.rng.below(2) == 1;
                let base = self.sh.bases[inst].clone();
                self.pool[inst] = None;
                if let Ok(mut conn) = connect(&base).await {
                    if half_head {
                        // Part of the request line and headers, then the link goes.
                        let head = request_head(
                            "PATCH",
                            &base,
                            loc,
                            &Self::patch_headers(offset),
                            Some(end - offset),
                        );
                        let _ = conn.0.write_all(&head[..head.len() / 2]).await;
                        let _ = conn.0.flush().await;
                    }
                }
            }
            Fault::Duplicated => {
                add(&st.duplicated, 1);
                let (a, b) = (self.pick(), self.pick());
                let data = &sealed[offset..end];
                tokio::join!(
                    Self::patch_alone(&sh, a, loc, offset, data),
                    Self::patch_alone(&sh, b, loc, offset, data)
                );
            }
            Fault::Reordered => {
                add(&st.reordered, 1);
                let later = end < len;
                let (at, to) = if later && (offset == 0 || self.rng.below(2) == 0) {
                    (end, (end + c).min(len))
                } else {
                    (offset.saturating_sub(c), offset)
                };
                let _ = self.patch(loc, at, &sealed[at..to]).await;
            }
            Fault::Cut => {
                add(&st.cut, 1);
                st.method("PATCH");
                let inst = self.pick();
                let base = self.sh.bases[inst].clone();
                let data = &sealed[offset..end];
                let head = request_head("PATCH", &base, loc, &Self::patch_headers(offset), Some(data.len()));
                add(&st.bytes_sent, (head.len() + data.len() / 2) as u64);
                let conn = match self.pool[inst].take() {
                    Some(c) => Ok(c),
                    None => connect(&base).await,
                };
                if let Ok(mut conn) = conn {
                    let _ = conn.0.write_all(&head).await;
                    let _ = conn.0.write_all(&data[..data.len() / 2]).await;
                    let _ = conn.0.flush().await;
                    // Dropped here: the link goes mid-body.
                }
            }
        }
    }

    async fn backoff(fruitless: &mut u32) {
        *fruitless += 1;
        let ms = (20u64 << (*fruitless).min(6)).min(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Delivers one sealed bundle; its verdict.
    async fn upload(&mut self, kind: Kind, bundle_id: &str, sealed: &[u8]) -> Res<String> {
        let deadline = Instant::now() + Duration::from_secs(900);
        let len = sealed.len();
        let mut fruitless = 0u32;
        'create: loop {
            if Instant::now() > deadline {
                return Err("gave up after 15 minutes".into());
            }
            let (loc, mut offset) = match self.create(kind, bundle_id, len).await {
                Ok(r) if r.status == 200 || r.status == 201 => {
                    if let Some(v) = r.verdict() {
                        return Ok(v);
                    }
                    let loc = r.header("Location").ok_or("creation answered no Location")?;
                    // Absolute or a path: the path goes to any instance.
                    let path = match loc.strip_prefix("http://").or_else(|| loc.strip_prefix("https://")) {
                        Some(rest) => rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_default(),
                        None => loc.to_string(),
                    };
                    (path, r.offset().unwrap_or(0))
                }
                Ok(r) if retriable(r.status) => {
                    Self::backoff(&mut fruitless).await;
                    continue;
                }
                Ok(r) => {
                    return Err(format!(
                        "creation refused: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body).chars().take(200).collect::<String>()
                    )
                    .into())
                }
                Err(_) => {
                    Self::backoff(&mut fruitless).await;
                    continue;
                }
            };
            loop {
                if Instant::now() > deadline {
                    return Err("gave up after 15 minutes".into());
                }
                let mut faulted = None;
                if offset < len {
                    add(&self.sh.stats.patch_turns, 1);
                    match self.pick_fault(offset, len) {
                        None => {
                            let end = (offset + self.sh.chunk).min(len);
                            match self.patch(&loc, offset, &sealed[offset..end]).await {
                                Ok(r) if r.status == 204 => {
                                    if let Some(v) = r.verdict() {
                                        return Ok(v);
                                    }
                                    match r.offset() {
                                        Some(o) if o > offset => {
                                            offset = o;
                                            fruitless = 0;
                                            continue;
                                        }
                                        _ => {}
                                    }
                                }
                                Ok(r) if r.status == 404 || r.status == 410 => continue 'create,
                                Ok(r) if r.status == 409 => add(&self.sh.stats.in_turn_conflicts, 1),
                                Ok(r) if retriable(r.status) => {}
                                Ok(r) => {
                                    return Err(format!("PATCH refused: {}", r.status).into());
                                }
                                Err(_) => {}
                            }
                        }
                        Some(f) => {
                            faulted = Some(f);
                            self.inject(f, &loc, offset, sealed).await;
                        }
                    }
                }
                // Where does it stand?
                match self.head(&loc).await {
                    Ok(r) if r.status == 200 => {
                        if let Some(v) = r.verdict() {
                            return Ok(v);
                        }
                        let o = r.offset().ok_or("HEAD answered no Upload-Offset")?;
                        if o > offset {
                            fruitless = 0;
                            if let Some(f) = faulted {
                                add(&self.sh.stats.advanced[f.index()], 1);
                            }
                        } else if faulted.is_none() {
                            Self::backoff(&mut fruitless).await;
                        }
                        offset = o;
                    }
                    Ok(r) if r.status == 404 || r.status == 410 => continue 'create,
                    Ok(r) if retriable(r.status) => Self::backoff(&mut fruitless).await,
                    Ok(r) => return Err(format!("HEAD refused: {}", r.status).into()),
                    Err(_) => Self::backoff(&mut fruitless).await,
                }
            }
        }
    }

    async fn session(&mut self) -> Outcome {
        let mut out = Outcome::default();
        if let Err(e) = self.session_(&mut out).await {
            out.error = Some(format!("device {}: {e}", self.id));
        }
        out
    }

    async fn session_(&mut self, out: &mut Outcome) -> Res<()> {
        let sh = self.sh.clone();
        let seed = self.seed;
        let id = self.id.clone();
        let sealed = tokio::task::spawn_blocking(move || -> Res<_> {
            let identity = DeviceIdentity::from_seed(&seed);
            let uid = Template::uid(&id);
            let t = &sh.template;
            let seal = |kind, parts: &[Part]| -> Res<(String, Vec<u8>)> {
                let bid = bundle::new_bundle_id();
                Ok((bid.clone(), bundle::seal(&identity, &sh.recipient, kind, &uid, now_ms(), &bid, parts)?))
            };
            Ok((
                seal(Kind::Results, &t.parts_for(&t.results, &id)?)?,
                seal(Kind::Photos, &t.parts_for(&t.photos, &id)?)?,
            ))
        })
        .await??;
        let ((rid, results), (pid, photos)) = sealed;
        out.results_bytes = results.len();
        out.photos_bytes = photos.len();
        let t0 = Instant::now();
        let v = self.upload(Kind::Results, &rid, &results).await?;
        out.results_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
        if v != "delivered" {
            return Err(format!("results bundle: {v}").into());
        }
        let v = self.upload(Kind::Photos, &pid, &photos).await?;
        if v != "delivered" {
            return Err(format!("photos bundle: {v}").into());
        }
        out.session_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
        out.ok = true;
        Ok(())
    }
}

// ---------------------------------------------------------------- load

async fn load(args: &Args) -> Res<(Value, bool)> {
    let recipient =
        bundle::parse_recipient(args.recipient.as_deref().ok_or("--recipient age1... is needed")?)?;
    let bases = args.urls.iter().map(|u| parse_base(u)).collect::<Res<Vec<_>>>()?;
    if !(0.0..=1.0).contains(&args.fault_rate) || args.chunk == 0 || args.concurrency == 0 {
        return Err("--fault-rate must be within 0..1, --chunk and --concurrency above 0".into());
    }
    eprintln!("load: making the template session (report, photos) ...");
    let t = Instant::now();
    let template = tokio::task::spawn_blocking(Template::build).await??;
    let template_s = t.elapsed().as_secs_f64();
    let db = Db::open(&args.db).await?;

    eprintln!("load: enrolling {} devices ...", args.devices);
    let t = Instant::now();
    let mut seeds = Vec::with_capacity(args.devices);
    for _ in 0..args.devices {
        let mut s = [0u8; 32];
        getrandom::getrandom(&mut s).map_err(|e| e.to_string())?;
        let d = DeviceIdentity::from_seed(&s);
        hemalens_inbox::devices::enrol(&db, &d.id(), &d.public_key_hex(), "load test", "load").await?;
        seeds.push(s);
    }
    let enrol_s = t.elapsed().as_secs_f64();

    let sh = Arc::new(Shared {
        bases,
        stats: Stats::default(),
        template,
        recipient,
        chunk: args.chunk,
        fault_rate: args.fault_rate,
        seed: args.seed,
    });
    eprintln!(
        "load: {} devices, {} at once, over {} instance(s), faults on {:.0}% of PATCHes (seed {}) ...",
        args.devices,
        args.concurrency,
        sh.bases.len(),
        args.fault_rate * 100.0,
        args.seed
    );
    let started = Instant::now();
    let progress = {
        let sh = sh.clone();
        let n = args.devices;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                eprintln!(
                    "load: {:>5.0} s  {} of {} sessions delivered, {} requests",
                    started.elapsed().as_secs_f64(),
                    get(&sh.stats.completed),
                    n,
                    get(&sh.stats.post) + get(&sh.stats.patch) + get(&sh.stats.head)
                );
            }
        })
    };
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut set = tokio::task::JoinSet::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut started_ids: Vec<String> = Vec::new();
    let mut time_limit_hit = false;
    let over = |l: Option<f64>| l.is_some_and(|l| started.elapsed().as_secs_f64() >= l);
    for (i, seed) in seeds.iter().enumerate() {
        if over(args.time_limit) {
            time_limit_hit = true;
            break;
        }
        let permit = sem.clone().acquire_owned().await?;
        if over(args.time_limit) {
            time_limit_hit = true;
            break;
        }
        let phone = Phone::new(sh.clone(), i, seed);
        started_ids.push(phone.id.clone());
        let sh2 = sh.clone();
        set.spawn(async move {
            let mut phone = phone;
            let o = phone.session().await;
            if o.ok {
                add(&sh2.stats.completed, 1);
            }
            drop(permit);
            o
        });
        while let Some(r) = set.try_join_next() {
            outcomes.push(r?);
        }
    }
    while let Some(r) = set.join_next().await {
        outcomes.push(r?);
    }
    let wall = started.elapsed().as_secs_f64();
    progress.abort();

    eprintln!("load: checking the database ...");
    let check = check(&db, &sh.template, &started_ids).await?;
    let st = &sh.stats;
    let completed = outcomes.iter().filter(|o| o.ok).count();
    let errors: Vec<&String> = outcomes.iter().filter_map(|o| o.error.as_ref()).collect();
    let results_ms = sorted(outcomes.iter().filter_map(|o| o.results_ms).collect());
    let session_ms = sorted(outcomes.iter().filter_map(|o| o.session_ms).collect());
    let mean = |f: fn(&Outcome) -> usize| {
        let v: Vec<usize> = outcomes.iter().map(f).filter(|&n| n > 0).collect();
        if v.is_empty() {
            0
        } else {
            v.iter().sum::<usize>() / v.len()
        }
    };
    let turns = get(&st.patch_turns);
    let faults = get(&st.dropped) + get(&st.duplicated) + get(&st.reordered) + get(&st.cut);
    let ok = errors.is_empty() && completed == started_ids.len() && check["ok"] == json!(true);
    let status: BTreeMap<String, u64> =
        st.status.lock().map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect()).unwrap_or_default();
    let summary = json!({
        "mode": "load",
        "backend": backend_of(&args.db),
        "instances": sh.bases.len(),
        "devices": args.devices,
        "devices_started": started_ids.len(),
        "devices_completed": completed,
        "devices_failed": started_ids.len() - completed,
        "time_limit_s": args.time_limit,
        "time_limit_hit": time_limit_hit,
        "concurrency": args.concurrency,
        "fault_rate": args.fault_rate,
        "seed": args.seed,
        "chunk_bytes": args.chunk,
        "template_s": (template_s * 100.0).round() / 100.0,
        "enrol_s": (enrol_s * 10.0).round() / 10.0,
        "wall_s": (wall * 10.0).round() / 10.0,
        "sessions_per_s": ((completed as f64 / wall) * 100.0).round() / 100.0,
        "results_latency_ms": {
            "p50": round1(pct(&results_ms, 50.0)),
            "p99": round1(pct(&results_ms, 99.0)),
            "max": round1(results_ms.last().copied()),
        },
        "session_ms": { "p50": round1(pct(&session_ms, 50.0)), "p99": round1(pct(&session_ms, 99.0)) },
        "bundle_bytes": {
            "results": mean(|o| o.results_bytes),
            "photos": mean(|o| o.photos_bytes),
            "template_parts_results": Template::size(&sh.template.results),
            "template_parts_photos": Template::size(&sh.template.photos),
        },
        "requests": {
            "total": get(&st.post) + get(&st.patch) + get(&st.head),
            "POST": get(&st.post),
            "PATCH": get(&st.patch),
            "HEAD": get(&st.head),
            "by_status": status,
            "in_turn_409": get(&st.in_turn_conflicts),
            "network_errors": get(&st.network_errors),
            "reconnects": get(&st.reconnects),
            "bytes_sent": get(&st.bytes_sent),
        },
        "faults": {
            "patch_turns": turns,
            "total": faults,
            "share": if turns > 0 { ((faults as f64 / turns as f64) * 1000.0).round() / 1000.0 } else { 0.0 },
            "dropped": get(&st.dropped),
            "duplicated": get(&st.duplicated),
            "reordered": get(&st.reordered),
            "cut": get(&st.cut),
            "head_showed_progress_after": {
                "dropped": get(&st.advanced[0]),
                "duplicated": get(&st.advanced[1]),
                "reordered": get(&st.advanced[2]),
                "cut": get(&st.advanced[3]),
            },
        },
        "errors": errors.iter().take(20).collect::<Vec<_>>(),
        "check": check,
    });
    Ok((summary, ok))
}

/// A case as the check reads it: id, session uid, device, results_at, photos_at.
type CaseState = (i64, String, String, Option<i64>, Option<i64>);

/// What the database holds for the devices started, against what they sent.
async fn check(db: &Db, template: &Template, ids: &[String]) -> Res<Value> {
    let ours: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let cases: Vec<CaseState> =
        sqlx::query_as("SELECT id, session_uid, device_id, results_at, photos_at FROM cases")
            .fetch_all(&db.pool)
            .await?;
    let bundles: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, session_uid, device_id FROM bundles").fetch_all(&db.pool).await?;
    let uploads: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT device_id, kind, verdict FROM uploads").fetch_all(&db.pool).await?;
    let (leftover,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM upload_chunks").fetch_one(&db.pool).await?;
    let files: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT case_id, COUNT(*), CAST(SUM(LENGTH(data)) AS BIGINT) FROM case_files GROUP BY case_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let files: HashMap<i64, (i64, i64)> = files.into_iter().map(|(c, n, b)| (c, (n, b))).collect();

    let photo_files: Vec<&Part> =
        template.photos.iter().filter(|p| p.name == "report.pdf" || p.name.starts_with("photos/")).collect();
    let want_files = photo_files.len() as i64;
    let want_bytes: i64 = photo_files.iter().map(|p| p.data.len() as i64).sum();

    let mut problems: Vec<String> = Vec::new();
    let mut case_of: HashMap<&str, i64> = HashMap::new();
    let (mut complete, mut files_ok, mut foreign) = (0usize, 0usize, 0usize);
    for (id, uid, device, results_at, photos_at) in &cases {
        if !ours.contains(device.as_str()) {
            foreign += 1;
            continue;
        }
        if uid != &Template::uid(device) {
            problems.push(format!("case {id}: unexpected session uid {uid}"));
        }
        if case_of.insert(device.as_str(), *id).is_some() {
            problems.push(format!("device {device}: more than one case"));
        }
        if results_at.is_some() && photos_at.is_some() {
            complete += 1;
        } else {
            problems.push(format!("case {uid}: results {results_at:?}, photos {photos_at:?}"));
        }
        match files.get(id) {
            Some(&(n, b)) if n == want_files && b == want_bytes => files_ok += 1,
            other => problems.push(format!("case {uid}: files {other:?}, want ({want_files}, {want_bytes})")),
        }
    }
    let missing: Vec<&str> = ids.iter().map(String::as_str).filter(|d| !case_of.contains_key(d)).collect();
    for d in missing.iter().take(10) {
        problems.push(format!("device {d}: no case"));
    }
    let mut per: HashMap<(&str, &str), usize> = HashMap::new();
    let mut bundles_ours = 0usize;
    for (kind, uid, device) in &bundles {
        if ours.contains(device.as_str()) {
            bundles_ours += 1;
            *per.entry((uid.as_str(), kind.as_str())).or_default() += 1;
        }
    }
    let duplicates = per.values().filter(|&&n| n > 1).count();
    let mut uploads_ours = 0usize;
    let mut not_delivered = 0usize;
    for (device, _, verdict) in &uploads {
        if ours.contains(device.as_str()) {
            uploads_ours += 1;
            if verdict.as_deref() != Some("delivered") {
                not_delivered += 1;
            }
        }
    }
    // A sample, byte for byte: the record as this device's, the PDF, the photos.
    let mut sample_checked = 0usize;
    for d in ids.iter().step_by((ids.len() / 10).max(1)).take(10) {
        let Some(&case) = case_of.get(d.as_str()) else { continue };
        let (record,): (Option<String>,) =
            sqlx::query_as("SELECT record FROM cases WHERE id = $1").bind(case).fetch_one(&db.pool).await?;
        let want = template.parts_for(&template.photos, d)?;
        let want_record = want.iter().find(|p| p.name == "record.json").map(|p| p.data.as_slice());
        if record.as_deref().map(str::as_bytes) != want_record {
            problems.push(format!("device {d}: the stored record differs from the one sent"));
        }
        let got: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT name, data FROM case_files WHERE case_id = $1 ORDER BY name")
                .bind(case)
                .fetch_all(&db.pool)
                .await?;
        for p in &photo_files {
            if !got.iter().any(|(n, data)| n == &p.name && data == &p.data) {
                problems.push(format!("device {d}: {} differs or is missing", p.name));
            }
        }
        sample_checked += 1;
    }
    let n = ids.len();
    if bundles_ours != 2 * n {
        problems.push(format!("{bundles_ours} bundles for {n} devices (want {})", 2 * n));
    }
    if duplicates > 0 {
        problems.push(format!("{duplicates} (session, kind) pairs taken more than once"));
    }
    if uploads_ours != 2 * n || not_delivered > 0 {
        problems.push(format!(
            "{uploads_ours} uploads, {not_delivered} not delivered (want {} delivered)",
            2 * n
        ));
    }
    if leftover > 0 {
        problems.push(format!("{leftover} chunks left in upload_chunks"));
    }
    let ok = problems.is_empty() && case_of.len() == n && complete == n;
    problems.truncate(30);
    Ok(json!({
        "ok": ok,
        "devices": n,
        "cases": case_of.len(),
        "cases_with_results_and_photos": complete,
        "cases_with_all_files": files_ok,
        "missing_cases": missing.len(),
        "bundles": bundles_ours,
        "duplicate_bundles": duplicates,
        "uploads": uploads_ours,
        "uploads_not_delivered": not_delivered,
        "leftover_chunks": leftover,
        "other_cases_in_db": foreign,
        "sample_checked_byte_for_byte": sample_checked,
        "problems": problems,
    }))
}

// ---------------------------------------------------------------- queue benchmark

const CASE_COLUMNS: &str = "session_uid, device_id, patient, machine_outcome, urgency, status, closed_at, \
                            received_at, summary, results_at, photos_at, reviewed_at, reviewed_by, final_outcome";
const CASE_COLUMN_COUNT: usize = 14;
const ROWS_PER_INSERT: usize = 400;
const ROWS_PER_TRANSACTION: usize = 10_000;

type CaseRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    &'static str,
    Option<i64>,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// One case of a year's worth: 12% refer, 8% inconclusive, 75% no
/// abnormality, 5% known by SMS only; 15% still open; closed over the last
/// 365 days; photos pending for 10% of the bundled cases.
fn fake_case(rng: &mut Rng, devices: &[String], n: usize, now: i64) -> CaseRow {
    let device = &devices[n % devices.len()];
    let uid = format!("{device}-{}", n / devices.len() + 1);
    let roll = rng.unit();
    let (outcome, urgency) = match roll {
        r if r < 0.12 => (Some("refer"), 0),
        r if r < 0.20 => (Some("inconclusive"), 1),
        r if r < 0.95 => (Some("no_abnormality_detected"), 2),
        _ => (None, 3),
    };
    let closed_at = now - (rng.unit() * 365.0 * 86_400_000.0) as i64;
    let received_at = closed_at + (rng.unit() * 6.0 * 3_600_000.0) as i64;
    let open = rng.unit() < 0.15;
    let bundled = outcome.is_some();
    let photos = bundled && rng.unit() < 0.9;
    let patient = (rng.unit() < 0.7).then(|| format!("P-{:06}", rng.below(1_000_000)));
    let summary = outcome.map(|o| {
        format!(
            "{{\"uid\":\"{uid}\",\"device\":{{\"id\":\"{device}\",\"app_version\":\"bench\"}},\"result\":{{\"summary\":{{\"outcome\":{{\"decision\":\"{o}\"}}}}}}}}"
        )
    });
    let reviewed_at = (!open).then(|| received_at + (rng.unit() * 48.0 * 3_600_000.0) as i64);
    let final_outcome = (!open)
        .then(|| if rng.unit() < 0.05 { "refer" } else { outcome.unwrap_or("inconclusive") }.to_string());
    (
        uid,
        device.clone(),
        patient,
        outcome.map(str::to_string),
        urgency,
        if open { "open" } else { "reviewed" },
        Some(closed_at),
        received_at,
        summary,
        bundled.then_some(received_at),
        photos.then_some(received_at + (rng.unit() * 24.0 * 3_600_000.0) as i64),
        reviewed_at,
        (!open).then(|| format!("Dr Reviewer {}", rng.below(12))),
        final_outcome,
    )
}

async fn insert_cases(db: &Db, n: usize, seed: u64) -> Res<f64> {
    let t = Instant::now();
    let mut rng = Rng::new(seed, 0xCA5E);
    let mut device_prefix = [0u8; 4];
    getrandom::getrandom(&mut device_prefix).map_err(|e| e.to_string())?;
    let devices: Vec<String> = (0..300).map(|i| format!("{}{:08x}", hex::encode(device_prefix), i)).collect();
    let now = now_ms();
    let mut done = 0;
    while done < n {
        let mut tx = db.pool.begin().await?;
        let tx_end = (done + ROWS_PER_TRANSACTION).min(n);
        while done < tx_end {
            let rows = (tx_end - done).min(ROWS_PER_INSERT);
            let mut sql = format!("INSERT INTO cases ({CASE_COLUMNS}) VALUES ");
            for r in 0..rows {
                sql.push_str(if r == 0 { "(" } else { ",(" });
                for c in 0..CASE_COLUMN_COUNT {
                    if c > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!("${}", r * CASE_COLUMN_COUNT + c + 1));
                }
                sql.push(')');
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for i in 0..rows {
                let c = fake_case(&mut rng, &devices, done + i, now);
                q = q
                    .bind(c.0)
                    .bind(c.1)
                    .bind(c.2)
                    .bind(c.3)
                    .bind(c.4)
                    .bind(c.5)
                    .bind(c.6)
                    .bind(c.7)
                    .bind(c.8)
                    .bind(c.9)
                    .bind(c.10)
                    .bind(c.11)
                    .bind(c.12)
                    .bind(c.13);
            }
            q.execute(&mut *tx).await?;
            done += rows;
        }
        tx.commit().await?;
        eprintln!("load: {done} of {n} cases inserted");
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Times `n` GETs of a page (after one untimed): the server's `Server-Timing`
/// and the client's wall time, both sorted; the rows and bytes of the last.
async fn get_page(
    base: &Base,
    cookie: &str,
    mut conn: Option<Conn>,
    path: &str,
    n: usize,
) -> Res<(Vec<f64>, Vec<f64>, (usize, usize), Option<Conn>)> {
    let mut server = Vec::new();
    let mut client = Vec::new();
    let mut last = (0usize, 0usize);
    for i in 0..=n {
        let head = request_head("GET", base, path, &[("Cookie", cookie.to_string())], None);
        let mut c = match conn.take() {
            Some(c) => c,
            None => connect(base).await?,
        };
        let t = Instant::now();
        let r = c.exchange(&head, b"", false).await?;
        let wall = t.elapsed().as_secs_f64() * 1000.0;
        if r.status != 200 {
            return Err(format!("GET {path}: {}", r.status).into());
        }
        let dur = r
            .header("Server-Timing")
            .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("dur=")))
            .and_then(|d| d.parse::<f64>().ok())
            .ok_or_else(|| format!("GET {path} sent no Server-Timing"))?;
        if r.keep_alive {
            conn = Some(c);
        }
        last = (String::from_utf8_lossy(&r.body).matches("data-href=\"/cases/").count(), r.body.len());
        // The first is not timed (it warms the connection and the caches).
        if i > 0 {
            server.push(dur);
            client.push(wall);
        }
    }
    Ok((sorted(server), sorted(client), last, conn))
}

async fn queue_bench(args: &Args, n: usize) -> Res<(Value, bool)> {
    let base = parse_base(args.urls.first().ok_or("--url is needed")?)?;
    let db = Db::open(&args.db).await?;
    eprintln!("load: inserting {n} cases ...");
    let insert_s = insert_cases(&db, n, args.seed).await?;
    // What autovacuum does on PostgreSQL within a minute of a bulk load; the
    // inbox never analyses an SQLite file, so neither does the benchmark.
    if db.backend == hemalens_inbox::db::Backend::Postgres {
        sqlx::query("ANALYZE cases").execute(&db.pool).await?;
    }
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM cases GROUP BY status").fetch_all(&db.pool).await?;
    let mut suffix = [0u8; 4];
    getrandom::getrandom(&mut suffix).map_err(|e| e.to_string())?;
    let login = format!("bench-{}", hex::encode(suffix));
    let password = format!("pw-{}-load-bench", hex::encode(suffix));
    hemalens_inbox::web::auth::add_user(
        &db,
        &login,
        "Bench Reviewer",
        hemalens_inbox::web::auth::Role::Reviewer,
        &password,
        "load",
    )
    .await?;

    let mut conn = Some(connect(&base).await?);
    let form = serde_urlencoded::to_string([("login", login.as_str()), ("password", password.as_str())])?;
    let head = request_head(
        "POST",
        &base,
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded".to_string())],
        Some(form.len()),
    );
    let r = match conn.as_mut() {
        Some(c) => c.exchange(&head, form.as_bytes(), false).await?,
        None => return Err("no connection".into()),
    };
    let cookie = r
        .header("Set-Cookie")
        .and_then(|c| c.split(';').next())
        .filter(|c| r.status == 303 && !c.ends_with('='))
        .ok_or_else(|| format!("login failed: {}", r.status))?
        .to_string();
    let (server, client, (rows_shown, bytes), c) =
        get_page(&base, &cookie, conn.take(), "/queue", args.queue_gets).await?;
    conn = c;
    let mut extra = serde_json::Map::new();
    // Two pages the brief does not time, for the record: the reviewed tab and a deep page.
    for path in ["/queue?show=reviewed", "/queue?page=200"] {
        let (s, c, (rows, _), back) = get_page(&base, &cookie, conn.take(), path, 10).await?;
        conn = back;
        extra.insert(
            path.to_string(),
            json!({
                "gets": 10,
                "rows_on_page": rows,
                "server_ms": { "p50": round1(pct(&s, 50.0)), "p90": round1(pct(&s, 90.0)) },
                "client_ms": { "p50": round1(pct(&c, 50.0)), "p90": round1(pct(&c, 90.0)) },
            }),
        );
    }
    drop(conn);
    let open = counts.iter().find(|c| c.0 == "open").map(|c| c.1).unwrap_or(0);
    let ok = rows_shown == 50.min(open as usize);
    Ok((
        json!({
            "mode": "queue_bench",
            "backend": backend_of(&args.db),
            "cases_inserted": n,
            "cases_by_status": counts.into_iter().collect::<BTreeMap<_, _>>(),
            "insert_s": (insert_s * 10.0).round() / 10.0,
            "insert_rows_per_s": (n as f64 / insert_s).round(),
            "gets": args.queue_gets,
            "server_ms": { "p50": round1(pct(&server, 50.0)), "p90": round1(pct(&server, 90.0)), "max": round1(server.last().copied()) },
            "client_ms": { "p50": round1(pct(&client, 50.0)), "p90": round1(pct(&client, 90.0)), "max": round1(client.last().copied()) },
            "rows_on_page": rows_shown,
            "page_bytes": bytes,
            "other_pages": extra,
        }),
        ok,
    ))
}
