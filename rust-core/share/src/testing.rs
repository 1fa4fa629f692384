//! A tus 1.0.0 receiver on loopback that misbehaves on purpose, for the
//! outbox's tests and figures: it drops connections, loses answers (so the
//! phone repeats requests), cuts chunks in the middle, replays stale requests
//! and throttles the link to a chosen speed. What it receives is checked by a
//! caller-supplied verdict function (the bundle checks), and it counts how
//! often each bundle id was taken: exactly once is the requirement.
//!
//! On request it also checks that each creation is signed by a given device
//! key (docs/wire-format.md, "Signed requests"), as the hospital's inbox does.
//! [`reviews::ReviewServer`] plays the hospital's review API.
//!
//! Not for production: the hospital's inbox service is its own program.

pub mod reviews;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use ed25519_dalek::VerifyingKey;

use crate::request::{self, Signed};

/// What goes wrong on the link, as probabilities per request (seeded, so a
/// run is repeatable).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The connection closes before the request is read.
    pub drop_request: f64,
    /// The request is processed but the answer is lost (the phone repeats it).
    pub lose_answer: f64,
    /// A PATCH is cut after a random part of its body (that part is kept).
    pub cut_chunk: f64,
    /// A stale copy of an earlier PATCH arrives again (reordered / duplicated).
    pub replay_stale: f64,
    /// Link speed for request bodies, bytes per second (None: unthrottled).
    pub bytes_per_sec: Option<u32>,
    pub seed: u64,
}

/// How the receiver judges a complete upload: `Ok(())` takes it, `Err(code)`
/// refuses it.
pub type Verdict = Box<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

#[derive(Debug, Default)]
struct Upload {
    length: u64,
    data: Vec<u8>,
    bundle_id: String,
    verdict: Option<String>,
}

/// What the receiver saw, for the test to check.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub requests: u64,
    /// Request-body bytes read off the link (what the phone paid for).
    pub body_bytes: u64,
    pub dropped: u64,
    pub lost_answers: u64,
    pub cut_chunks: u64,
    pub stale_replays: u64,
    pub uploads_created: u64,
    /// Creations whose signature was checked and verified
    /// ([`TusServer::require_signed_creation`]).
    pub signed_creations: u64,
    /// Creations refused for a missing, stale or bad signature (401, 403).
    pub unsigned_creations: u64,
    /// The `Upload-Offset` of every PATCH read, in order.
    pub patch_offsets: Vec<u64>,
    /// Bundle id -> how many times it was taken (must be 1 each).
    pub taken: HashMap<String, u32>,
    /// Bundle id -> refusal code.
    pub refused: HashMap<String, String>,
}

struct State {
    uploads: HashMap<String, Upload>,
    by_bundle: HashMap<String, String>,
    stats: Stats,
    rng: u64,
    faults: Faults,
    last_patch: Option<(String, u64, Vec<u8>)>,
    verdict: Verdict,
    next_id: u64,
    /// The device key every creation must be signed with, when checked.
    signer: Option<VerifyingKey>,
}

impl State {
    fn roll(&mut self, p: f64) -> bool {
        // xorshift64*: enough for fault injection.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        r < p
    }
}

/// The receiver; stops when dropped.
pub struct TusServer {
    addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TusServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    cut: bool,
}

impl TusServer {
    /// Starts on a free loopback port.
    pub fn start(faults: Faults, verdict: Verdict) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            uploads: HashMap::new(),
            by_bundle: HashMap::new(),
            stats: Stats::default(),
            rng: faults.seed.max(1),
            faults,
            last_patch: None,
            verdict,
            next_id: 1,
            signer: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = accept_loop(listener, stop.clone(), state.clone(), serve);
        Ok(Self { addr, state, stop, handle: Some(handle) })
    }

    /// The creation endpoint (`http://127.0.0.1:PORT/files/`).
    pub fn url(&self) -> String {
        format!("{}/files/", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().map(|s| s.stats.clone()).unwrap_or_default()
    }

    /// The bytes received for a bundle id (complete or not).
    pub fn received(&self, bundle_id: &str) -> Option<Vec<u8>> {
        let s = self.state.lock().ok()?;
        let id = s.by_bundle.get(bundle_id)?;
        s.uploads.get(id).map(|u| u.data.clone())
    }

    /// Changes the faults from now on (e.g. the link comes back).
    pub fn set_faults(&self, faults: Faults) {
        if let Ok(mut s) = self.state.lock() {
            s.faults = faults;
        }
    }

    /// From now on, a creation must carry a valid signature by `key` (the
    /// enrolled device's public key), checked against this machine's clock:
    /// `401` when the headers are missing or the date is stale, `403` when it
    /// does not verify (the phone then marks the item `refused: http_40x`).
    pub fn require_signed_creation(&self, key: VerifyingKey) {
        if let Ok(mut s) = self.state.lock() {
            s.signer = Some(key);
        }
    }

    /// Forgets every upload in progress (a receiver restarted without its disk).
    pub fn forget_incomplete(&self) {
        if let Ok(mut s) = self.state.lock() {
            let gone: Vec<String> =
                s.uploads.iter().filter(|(_, u)| u.verdict.is_none()).map(|(k, _)| k.clone()).collect();
            for k in gone {
                if let Some(u) = s.uploads.remove(&k) {
                    s.by_bundle.remove(&u.bundle_id);
                }
            }
        }
    }
}

impl Drop for TusServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Accepts connections until `stop`, serving each on its own thread.
pub(crate) fn accept_loop<S: Send + Sync + 'static>(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    state: Arc<S>,
    serve: fn(TcpStream, Arc<S>),
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    let st = state.clone();
                    thread::spawn(move || serve(s, st));
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    })
}

/// The request line and headers (names in lower case) of one HTTP/1.1 request.
pub(crate) fn read_head(r: &mut BufReader<TcpStream>) -> Option<(String, String, HashMap<String, String>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some((method, target, headers))
}

fn read_request(r: &mut BufReader<TcpStream>, state: &Arc<Mutex<State>>) -> Option<Request> {
    let (method, path, headers) = read_head(r)?;
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let (rate, cut_at) = {
        let mut s = state.lock().ok()?;
        let cut = method == "PATCH" && len > 1 && {
            let p = s.faults.cut_chunk;
            s.roll(p)
        };
        let at = if cut { 1 + (s.rng as usize % (len - 1)) } else { len };
        (s.faults.bytes_per_sec, at)
    };
    let mut body = vec![0u8; cut_at];
    let start = Instant::now();
    let mut got = 0;
    while got < cut_at {
        let n = (cut_at - got).min(4096);
        r.read_exact(&mut body[got..got + n]).ok()?;
        got += n;
        if let Some(bps) = rate {
            let due = Duration::from_secs_f64(got as f64 / bps.max(1) as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                thread::sleep(wait);
            }
        }
    }
    if let Ok(mut s) = state.lock() {
        s.stats.body_bytes += got as u64;
    }
    Some(Request { method, path, headers, body, cut: cut_at < len })
}

fn respond(s: &mut TcpStream, status: u16, headers: &[(&str, String)]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nTus-Resumable: 1.0.0\r\nContent-Length: 0\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    s.write_all(out.as_bytes())?;
    s.flush()
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut w) = stream.try_clone() else { return };
    let mut r = BufReader::new(stream);
    loop {
        let drop_now = match state.lock() {
            Ok(mut s) => {
                let p = s.faults.drop_request;
                s.roll(p)
            }
            Err(_) => return,
        };
        let Some(req) = read_request(&mut r, &state) else { return };
        if drop_now {
            if let Ok(mut s) = state.lock() {
                s.stats.dropped += 1;
            }
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
        let (status, headers, lose) = {
            let Ok(mut s) = state.lock() else { return };
            s.stats.requests += 1;
            let replay = s.faults.replay_stale;
            if req.method == "PATCH" && s.roll(replay) {
                if let Some((id, off, data)) = s.last_patch.clone() {
                    s.stats.stale_replays += 1;
                    // The stale copy must be refused by the offset rule.
                    let _ = handle_patch(&mut s, &id, off, &data);
                }
            }
            let (status, headers) = handle(&mut s, &req);
            let lose_p = s.faults.lose_answer;
            let lose = req.cut || s.roll(lose_p);
            if lose {
                if req.cut {
                    s.stats.cut_chunks += 1;
                } else {
                    s.stats.lost_answers += 1;
                }
            }
            (status, headers, lose)
        };
        if lose {
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
        if respond(&mut w, status, &headers).is_err() {
            return;
        }
    }
}

fn upload_headers(u: &Upload) -> Vec<(&'static str, String)> {
    let mut h = vec![("Upload-Offset", u.data.len().to_string()), ("Upload-Length", u.length.to_string())];
    if let Some(v) = &u.verdict {
        h.push((crate::upload::VERDICT_HEADER, v.clone()));
    }
    h
}

fn handle_patch(s: &mut State, id: &str, offset: u64, body: &[u8]) -> (u16, Vec<(&'static str, String)>) {
    let Some(u) = s.uploads.get_mut(id) else { return (404, vec![]) };
    if u.verdict.is_some() || offset != u.data.len() as u64 {
        let h = upload_headers(u);
        return (409, h);
    }
    if offset + body.len() as u64 > u.length {
        return (413, vec![]);
    }
    u.data.extend_from_slice(body);
    if u.data.len() as u64 == u.length {
        let v = (s.verdict)(&u.data);
        let bundle = u.bundle_id.clone();
        u.verdict = Some(match &v {
            Ok(()) => "delivered".into(),
            Err(code) => format!("refused {code}"),
        });
        match v {
            Ok(()) => *s.stats.taken.entry(bundle).or_default() += 1,
            Err(code) => {
                s.stats.refused.insert(bundle, code);
            }
        }
    }
    let u = &s.uploads[id];
    (204, upload_headers(u))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Checks a request's signature headers against `key` as the inbox does:
/// `Err(401)` for missing headers or a stale date, `Err(403)` for another
/// device or a signature that does not verify.
pub(crate) fn check_signature(
    key: &VerifyingKey,
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Result<(), u16> {
    let h = |name: &str| headers.get(&name.to_ascii_lowercase()).map(String::as_str);
    let (date_ms, sig) =
        request::parse(h(request::DATE_HEADER), h(request::SIGNATURE_HEADER)).map_err(|_| 401u16)?;
    let device_id = h(request::DEVICE_HEADER).ok_or(401u16)?;
    if device_id != crate::identity::device_id(key) {
        return Err(403);
    }
    let signed = Signed {
        method,
        path,
        device_id,
        date_ms,
        body,
        upload_length: h("Upload-Length"),
        upload_metadata: h("Upload-Metadata"),
    };
    request::verify(&signed, &sig, key, now_ms()).map_err(|e| match e {
        request::Rejected::BadSignature => 403,
        _ => 401,
    })
}

fn handle(s: &mut State, req: &Request) -> (u16, Vec<(&'static str, String)>) {
    let b64 = base64::engine::general_purpose::STANDARD;
    match req.method.as_str() {
        "POST" if req.path == "/files/" => {
            if let Some(key) = s.signer {
                if let Err(status) = check_signature(&key, &req.method, &req.path, &req.headers, &req.body) {
                    s.stats.unsigned_creations += 1;
                    return (status, vec![]);
                }
                s.stats.signed_creations += 1;
            }
            let Some(length) = req.headers.get("upload-length").and_then(|v| v.parse::<u64>().ok()) else {
                return (400, vec![]);
            };
            let meta = req.headers.get("upload-metadata").cloned().unwrap_or_default();
            let bundle = meta
                .split(',')
                .filter_map(|kv| kv.trim().split_once(' '))
                .find(|(k, _)| *k == "bundle_id")
                .and_then(|(_, v)| b64.decode(v).ok())
                .and_then(|v| String::from_utf8(v).ok());
            let Some(bundle) = bundle else { return (400, vec![]) };
            if let Some(id) = s.by_bundle.get(&bundle).cloned() {
                // Known bundle: the same upload, never a second one.
                let mut h = upload_headers(&s.uploads[&id]);
                h.push(("Location", format!("/files/{id}")));
                return (200, h);
            }
            let id = format!("u{}", s.next_id);
            s.next_id += 1;
            s.stats.uploads_created += 1;
            s.by_bundle.insert(bundle.clone(), id.clone());
            s.uploads
                .insert(id.clone(), Upload { length, data: Vec::new(), bundle_id: bundle, verdict: None });
            (201, vec![("Location", format!("/files/{id}")), ("Upload-Offset", "0".into())])
        }
        "HEAD" => {
            let id = req.path.trim_start_matches("/files/");
            match s.uploads.get(id) {
                Some(u) => (200, upload_headers(u)),
                None => (404, vec![]),
            }
        }
        "PATCH" => {
            let id = req.path.trim_start_matches("/files/").to_string();
            let Some(offset) = req.headers.get("upload-offset").and_then(|v| v.parse::<u64>().ok()) else {
                return (400, vec![]);
            };
            if req.headers.get("content-type").map(String::as_str) != Some("application/offset+octet-stream")
            {
                return (415, vec![]);
            }
            s.stats.patch_offsets.push(offset);
            s.last_patch = Some((id.clone(), offset, req.body.clone()));
            handle_patch(s, &id, offset, &req.body)
        }
        _ => (404, vec![]),
    }
}
