//! The hospital's review API on loopback, for the tests of the review sync
//! (docs/wire-format.md, "Reviews back to the device"): every request must be
//! signed by one enrolled device key (checked with [`crate::request::verify`]
//! against this machine's clock, `401`/`403` otherwise); `GET
//! /api/v1/reviews` answers the reviews not yet acknowledged, a page at a
//! time, oldest first; `POST /api/v1/reviews/ack` removes the acknowledged
//! ones of the page last served. The tus endpoint it names ([`ReviewServer::url`])
//! is on the same origin, as the phone derives it.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};

use super::check_signature;
use crate::reviews::{ACK_PATH, REVIEWS_PATH};

/// What the server saw, for the test to check.
#[derive(Debug, Default, Clone)]
pub struct ReviewStats {
    /// Pulls answered (signature verified).
    pub pulls: u64,
    /// Each acknowledgement taken: its ids, in order.
    pub acks: Vec<Vec<String>>,
    /// Acknowledgements lost on the link ([`ReviewServer::lose_next_acks`]).
    pub lost_acks: u64,
    /// Requests refused for a missing, stale or bad signature.
    pub refused: u64,
    /// Every request's method and target, as received.
    pub requests: Vec<String>,
}

struct State {
    key: VerifyingKey,
    pending: Vec<Value>,
    /// How many of `pending` the last pull served.
    served: usize,
    page: usize,
    lose_acks: u32,
    stats: ReviewStats,
}

/// The server; stops when dropped.
pub struct ReviewServer {
    addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ReviewServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ReviewServer {
    /// Starts on a free loopback port, taking requests signed by `key` only
    /// and answering at most `page` reviews per pull.
    pub fn start(key: VerifyingKey, page: usize) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State {
            key,
            pending: Vec::new(),
            served: 0,
            page: page.max(1),
            lose_acks: 0,
            stats: ReviewStats::default(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = super::accept_loop(listener, stop.clone(), state.clone(), serve);
        Ok(Self { addr, state, stop, handle: Some(handle) })
    }

    /// The hospital's tus endpoint on this origin (what `hospital add --url` takes).
    pub fn url(&self) -> String {
        format!("{}/files/", self.addr)
    }

    /// Queues a review (any JSON: the test writes what the hospital would send).
    pub fn push(&self, review: Value) {
        if let Ok(mut s) = self.state.lock() {
            s.pending.push(review);
        }
    }

    /// The next `n` acknowledgements are lost: the connection drops before
    /// the server takes them.
    pub fn lose_next_acks(&self, n: u32) {
        if let Ok(mut s) = self.state.lock() {
            s.lose_acks = n;
        }
    }

    /// The reviews not yet acknowledged.
    pub fn pending(&self) -> Vec<Value> {
        self.state.lock().map(|s| s.pending.clone()).unwrap_or_default()
    }

    pub fn stats(&self) -> ReviewStats {
        self.state.lock().map(|s| s.stats.clone()).unwrap_or_default()
    }
}

impl Drop for ReviewServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let (method, target, headers) = super::read_head(r)?;
    let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if len > 1 << 20 {
        return None;
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { method, target, headers, body })
}

fn respond(s: &mut TcpStream, status: u16, body: &[u8]) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Status",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    if status == 204 {
        out.push_str("\r\n");
    } else {
        out.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()));
    }
    s.write_all(out.as_bytes())?;
    if status != 204 {
        s.write_all(body)?;
    }
    s.flush()
}

/// `None`: drop the connection without an answer.
fn handle(s: &mut State, req: &Request) -> Option<(u16, Vec<u8>)> {
    s.stats.requests.push(format!("{} {}", req.method, req.target));
    let path = req.target.split('?').next().unwrap_or_default();
    let route = match (req.method.as_str(), path) {
        ("GET", REVIEWS_PATH) => "pull",
        ("POST", ACK_PATH) => "ack",
        _ => return Some((404, Vec::new())),
    };
    if let Err(status) = check_signature(&s.key, &req.method, &req.target, &req.headers, &req.body) {
        s.stats.refused += 1;
        return Some((status, Vec::new()));
    }
    if route == "pull" {
        s.stats.pulls += 1;
        s.served = s.pending.len().min(s.page);
        let page = json!({ "reviews": &s.pending[..s.served], "more": s.pending.len() > s.served });
        return Some((200, page.to_string().into_bytes()));
    }
    let ids: Vec<String> = match serde_json::from_slice::<Value>(&req.body) {
        Ok(v) => match v.get("ids").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            None => return Some((400, Vec::new())),
        },
        Err(_) => return Some((400, Vec::new())),
    };
    if s.lose_acks > 0 {
        s.lose_acks -= 1;
        s.stats.lost_acks += 1;
        return None;
    }
    let served = std::mem::take(&mut s.served);
    let mut i = 0;
    s.pending.retain(|r| {
        let acked =
            i < served && r.get("id").and_then(Value::as_str).is_some_and(|id| ids.iter().any(|a| a == id));
        i += 1;
        !acked
    });
    s.stats.acks.push(ids);
    Some((204, Vec::new()))
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut w) = stream.try_clone() else { return };
    let mut r = BufReader::new(stream);
    while let Some(req) = read_request(&mut r) {
        let answer = match state.lock() {
            Ok(mut s) => handle(&mut s, &req),
            Err(_) => return,
        };
        let Some((status, body)) = answer else {
            let _ = w.shutdown(Shutdown::Both);
            return;
        };
        if respond(&mut w, status, &body).is_err() {
            return;
        }
    }
}
