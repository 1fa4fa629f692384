//! Resumable upload of one sealed bundle with tus 1.0.0 (core protocol and
//! the creation extension; docs/adr/0005-resumable-upload-with-tus.md and
//! docs/wire-format.md). A dropped link resumes at the offset the hospital
//! confirms (`HEAD`), never from zero; the outbox records every confirmed
//! offset before the next chunk leaves, so a killed process resumes too.
//!
//! Exactly once: the bundle id travels in `Upload-Metadata`; a hospital that
//! already has an upload for that id answers the creation with it, and takes
//! each bundle id once. The hospital's verdict on a complete upload comes back
//! in the `Hemalens-Verdict` header (`delivered`, or `refused <code>`).
//!
//! The creation is signed with the device key ([`Signer`], docs/wire-format.md,
//! "Signed requests"): a hospital takes uploads from enrolled devices only.
//! `PATCH` and `HEAD` go to the upload's own unguessable URL, unsigned.

use std::time::Duration;

use base64::Engine;

use crate::identity::DeviceIdentity;
use crate::request::Signed;

pub const TUS_VERSION: &str = "1.0.0";
pub const VERDICT_HEADER: &str = "Hemalens-Verdict";

/// How one upload attempt talks to the link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Bytes per PATCH. Small enough that a 2G link (about 5 KB/s) finishes a
    /// chunk well inside the timeout; a drop loses at most one chunk.
    pub chunk: usize,
    /// Longest wait for one request (connect, send, answer).
    pub timeout: Duration,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self { chunk: 32 * 1024, timeout: Duration::from_secs(30) }
    }
}

/// The device key and clock that sign the requests which must come from an
/// enrolled device: the tus creation here, the review pull and its
/// acknowledgement in [`crate::reviews`].
#[derive(Clone, Copy)]
pub struct Signer<'a> {
    pub identity: &'a DeviceIdentity,
    /// The device's clock, ms since the Unix epoch (UTC), read as each signed
    /// request leaves (an upload run may last longer than the hospital's
    /// 5-minute tolerance).
    pub clock: &'a dyn Fn() -> i64,
}

impl std::fmt::Debug for Signer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("identity", self.identity).finish_non_exhaustive()
    }
}

impl Signer<'_> {
    /// The three signature headers of a request to `target` (its path and
    /// query as sent, [`target_of`]).
    pub fn headers(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        upload_length: Option<&str>,
        upload_metadata: Option<&str>,
    ) -> [(&'static str, String); 3] {
        let device_id = self.identity.id();
        Signed {
            method,
            path: target,
            device_id: &device_id,
            date_ms: (self.clock)(),
            body,
            upload_length,
            upload_metadata,
        }
        .headers(self.identity)
    }
}

/// The request target the agent sends for `url` (its path and query: `/`
/// when it has none), which is what a signature covers. `None`: not a URL.
pub fn target_of(url: &str) -> Option<String> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    uri.scheme()?;
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Some(match pq {
        "" => "/".to_string(),
        q if q.starts_with('?') => format!("/{q}"),
        p => p.to_string(),
    })
}

/// The item being sent, as the outbox knows it.
#[derive(Debug, Clone)]
pub struct Item {
    pub bundle_id: String,
    pub kind: String,
    pub size: u64,
    /// The upload at the hospital, once created.
    pub upload_url: Option<String>,
}

/// The outbox's side of an upload: the bundle's bytes and a durable record
/// of progress.
pub trait Progress {
    /// `len` bytes of the sealed bundle from `offset`.
    fn chunk(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String>;
    /// The hospital confirmed `sent` bytes of the upload at `upload_url`.
    fn confirmed(&mut self, upload_url: &str, sent: u64) -> Result<(), String>;
    /// The upload is gone at the hospital: the next attempt creates a new one.
    fn forget_upload(&mut self) -> Result<(), String>;
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The hospital has the whole bundle and took it.
    Delivered,
    /// The hospital refused the bundle for good (`code`).
    Refused(String),
    /// A passing failure (`reason` is a code): try again later.
    Retry(String),
}

/// An HTTP agent for uploads (one per outbox run; keeps connections alive).
pub fn agent(opts: &LinkOptions) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("hemalens/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn header<'a>(r: &'a ureq::http::Response<ureq::Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn offset_of(r: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    header(r, "Upload-Offset").and_then(|v| v.trim().parse().ok())
}

fn verdict(r: &ureq::http::Response<ureq::Body>) -> Option<Attempt> {
    let v = header(r, VERDICT_HEADER)?.trim();
    if v == "delivered" {
        return Some(Attempt::Delivered);
    }
    v.strip_prefix("refused").map(|code| {
        let code: String =
            code.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        Attempt::Refused(if code.is_empty() { "refused".into() } else { code })
    })
}

/// Resolves a `Location` header against the creation URL.
fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    if let Some(path) = location.strip_prefix('/') {
        let scheme_end = base.find("://")? + 3;
        let host_end = base[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(base.len());
        return Some(format!("{}/{}", &base[..host_end], path));
    }
    None
}

fn status_failure(status: u16) -> Attempt {
    match status {
        // Not authenticated (the phone's clock is off: fixable), gone, conflict,
        // locked, too many requests, timeouts, server trouble: passing.
        401 | 404 | 408 | 409 | 410 | 423 | 425 | 429 | 500..=599 => Attempt::Retry(format!("http_{status}")),
        // Anything else is the hospital saying no to this bundle.
        s => Attempt::Refused(format!("http_{s}")),
    }
}

/// A transport failure as a code: `timeout`, `no_connection`,
/// `link_dropped` or `network`.
pub(crate) fn transport_code(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => "no_connection",
        ureq::Error::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::AddrNotAvailable
            | std::io::ErrorKind::NetworkUnreachable
            | std::io::ErrorKind::HostUnreachable => "no_connection",
            std::io::ErrorKind::TimedOut => "timeout",
            _ => "link_dropped",
        },
        _ => "network",
    }
}

fn transport(e: &ureq::Error) -> Attempt {
    Attempt::Retry(transport_code(e).into())
}

/// One attempt to deliver `item` to the hospital's tus endpoint `create_url`:
/// create the upload if needed, ask where it stands, send the rest chunk by
/// chunk. The creation is signed by `signer`. Returns at the first failure;
/// the outbox decides when to retry.
pub fn send(
    agent: &ureq::Agent,
    create_url: &str,
    item: &Item,
    opts: &LinkOptions,
    signer: &Signer<'_>,
    progress: &mut dyn Progress,
) -> Attempt {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut url = item.upload_url.clone();
    // Create (or find again, by bundle id) the upload.
    let mut offset = None;
    if url.is_none() {
        let meta = format!("bundle_id {},kind {}", b64.encode(&item.bundle_id), b64.encode(&item.kind));
        let length = item.size.to_string();
        // Not a URL: the hospital's address needs mending (`hospital add`); until then, wait.
        let Some(target) = target_of(create_url) else { return Attempt::Retry("bad_url".into()) };
        let mut req = agent
            .post(create_url)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Length", &length)
            .header("Upload-Metadata", &meta);
        for (name, value) in signer.headers("POST", &target, b"", Some(&length), Some(&meta)) {
            req = req.header(name, value);
        }
        let r = req.send_empty();
        let r = match r {
            Ok(r) => r,
            Err(e) => return transport(&e),
        };
        if let Some(v) = verdict(&r) {
            return v;
        }
        if r.status() != 201 && r.status() != 200 {
            return status_failure(r.status().as_u16());
        }
        let Some(loc) = header(&r, "Location").and_then(|l| resolve(create_url, l)) else {
            return Attempt::Retry("bad_location".into());
        };
        offset = Some(offset_of(&r).unwrap_or(0));
        if let Err(e) = progress.confirmed(&loc, offset.unwrap_or(0)) {
            return Attempt::Retry(e);
        }
        url = Some(loc);
    }
    let Some(url) = url else { return Attempt::Retry("no_upload".into()) };
    let mut stalls = 0;
    let mut last_head = None;
    loop {
        // Where does the hospital stand? (After a drop, the only truth.)
        let mut at = match offset.take() {
            Some(o) => o,
            None => {
                let r = match agent.head(&url).header("Tus-Resumable", TUS_VERSION).call() {
                    Ok(r) => r,
                    Err(e) => return transport(&e),
                };
                if let Some(v) = verdict(&r) {
                    return v;
                }
                match r.status().as_u16() {
                    200 | 204 => {}
                    404 | 410 => {
                        return match progress.forget_upload() {
                            Ok(()) => Attempt::Retry("upload_gone".into()),
                            Err(e) => Attempt::Retry(e),
                        }
                    }
                    s => return status_failure(s),
                }
                let o = match offset_of(&r) {
                    Some(o) if o <= item.size => o,
                    _ => return Attempt::Retry("bad_offset".into()),
                };
                // A hospital that keeps answering without taking bytes: stop
                // this attempt rather than spin.
                stalls = if last_head == Some(o) { stalls + 1 } else { 0 };
                last_head = Some(o);
                if stalls >= 2 {
                    return Attempt::Retry("no_progress".into());
                }
                o
            }
        };
        if let Err(e) = progress.confirmed(&url, at) {
            return Attempt::Retry(e);
        }
        if at == item.size {
            // Complete, but the verdict was lost with the last answer: ask again.
            return Attempt::Retry("awaiting_verdict".into());
        }
        // Send the rest, chunk by chunk.
        while at < item.size {
            let data = match progress.chunk(at, opts.chunk) {
                Ok(d) if !d.is_empty() => d,
                Ok(_) => return Attempt::Retry("short_bundle".into()),
                Err(e) => return Attempt::Retry(e),
            };
            let r = agent
                .patch(&url)
                .header("Tus-Resumable", TUS_VERSION)
                .header("Upload-Offset", at.to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .send(&data[..]);
            let r = match r {
                Ok(r) => r,
                Err(e) => return transport(&e),
            };
            match r.status().as_u16() {
                204 | 200 => {}
                // Our offset is stale (a duplicate or reordered request got
                // there first): ask where it stands and go on from there.
                409 => break,
                404 | 410 => {
                    return match progress.forget_upload() {
                        Ok(()) => Attempt::Retry("upload_gone".into()),
                        Err(e) => Attempt::Retry(e),
                    }
                }
                s => {
                    if let Some(v) = verdict(&r) {
                        return v;
                    }
                    return status_failure(s);
                }
            }
            let Some(next) = offset_of(&r).filter(|&o| o > at && o <= item.size) else {
                break;
            };
            at = next;
            if let Err(e) = progress.confirmed(&url, at) {
                return Attempt::Retry(e);
            }
            if at == item.size {
                return verdict(&r).unwrap_or_else(|| Attempt::Retry("awaiting_verdict".into()));
            }
        }
    }
}

/// When to try again after `attempts` failed attempts: exponential backoff
/// from `base`, capped at `cap`, times a jitter in [0.5, 1.5) so that phones
/// that lost the same link do not all come back at once.
pub fn backoff(attempts: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(attempts.min(30) as i32);
    let d = exp.min(cap.as_secs_f64()) * (0.5 + jitter.clamp(0.0, 1.0));
    Duration::from_secs_f64(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_secs(2);
        let c = Duration::from_secs(600);
        assert_eq!(backoff(0, b, c, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(3, b, c, 0.5), Duration::from_secs(16));
        assert_eq!(backoff(40, b, c, 0.5), c);
        assert!(backoff(3, b, c, 0.0) < backoff(3, b, c, 0.99));
    }

    #[test]
    fn the_signed_target_is_what_the_agent_sends() {
        assert_eq!(target_of("http://127.0.0.1:8080/files/").as_deref(), Some("/files/"));
        assert_eq!(target_of("https://h.example/tus/?a=1&b=2").as_deref(), Some("/tus/?a=1&b=2"));
        assert_eq!(target_of("https://h.example").as_deref(), Some("/"));
        assert_eq!(target_of("https://h.example?x=1").as_deref(), Some("/?x=1"));
        assert_eq!(target_of("/files/"), None);
        assert_eq!(target_of("not a url"), None);
    }

    #[test]
    fn locations_resolve_against_the_endpoint() {
        let base = "http://127.0.0.1:8080/files/";
        assert_eq!(resolve(base, "/files/ab").as_deref(), Some("http://127.0.0.1:8080/files/ab"));
        assert_eq!(resolve(base, "https://h/x").as_deref(), Some("https://h/x"));
        assert_eq!(resolve(base, "files/ab"), None);
    }
}
