//! The inbox on loopback for the tests: a real server (its own tokio runtime
//! on a thread) over a fresh SQLite file, or over a fresh PostgreSQL database
//! when `HEMALENS_TEST_POSTGRES` names a server (CI starts one); a phone
//! that seals real bundles of a real session (three BCCD fields analysed by
//! the pipeline, tests/fixtures) and speaks tus and the signed API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hemalens_inbox::{AppState, Config, Db};
use hemalens_share::bundle::{self, Kind, Part};
use hemalens_share::request::Signed;
use hemalens_share::{Device, DeviceIdentity, Record};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn data_dir() -> PathBuf {
    std::env::var("HEMALENS_DATA").map(PathBuf::from).unwrap_or_else(|_| repo().join("../shared/data"))
}

pub fn now_ms() -> i64 {
    hemalens_inbox::db::now_ms()
}

/// Which databases to run a test on: SQLite always, PostgreSQL when set.
pub fn backends() -> Vec<&'static str> {
    let mut b = vec!["sqlite"];
    if std::env::var("HEMALENS_TEST_POSTGRES").is_ok() {
        b.push("postgres");
    }
    b
}

/// A fresh database URL of the kind asked for (a new PostgreSQL database, or
/// a new SQLite file in `dir`).
pub fn fresh_db(kind: &str, dir: &std::path::Path) -> String {
    if kind == "sqlite" {
        return format!("sqlite:{}", dir.join("inbox.db").display());
    }
    let admin = std::env::var("HEMALENS_TEST_POSTGRES").expect("HEMALENS_TEST_POSTGRES");
    let name = format!("inbox_test_{}", hemalens_inbox::db::random_hex(6).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = Db::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&db.pool).await.unwrap();
        db.pool.close().await;
    });
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// A running inbox.
pub struct Inbox {
    pub url: String,
    pub state: Arc<AppState>,
    pub rt: Arc<tokio::runtime::Runtime>,
    pub db_url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Inbox {
    pub fn start(kind: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_db(kind, dir.path());
        let mut i = Self::start_on(&url, age::x25519::Identity::generate(), Config::default());
        i._dir = Some(dir);
        i
    }

    /// Another instance on the same database and key (scale-out tests).
    pub fn start_on(db_url: &str, identity: age::x25519::Identity, config: Config) -> Self {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap(),
        );
        let (state, listener) = rt.block_on(async {
            let db = Db::open(db_url).await.unwrap();
            let state = AppState::new(db, identity, config);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (state, listener)
        });
        let addr = listener.local_addr().unwrap();
        // The server loop `hemalens-inbox serve` runs (its header timeout included).
        rt.spawn(hemalens_inbox::serve_on(state.clone(), listener, std::future::pending()));
        Self { url: format!("http://{addr}"), state, rt, db_url: db_url.to_string(), _dir: None }
    }

    pub fn identity(&self) -> age::x25519::Identity {
        // The same secret, re-read (Identity is not Clone).
        use age::secrecy::ExposeSecret;
        self.state.identity.to_string().expose_secret().parse().unwrap()
    }

    pub fn recipient(&self) -> age::x25519::Recipient {
        self.state.recipient.parse().unwrap()
    }

    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn enrol(&self, phone: &Phone) {
        let id = phone.identity.id();
        let key = phone.identity.public_key_hex();
        self.block(hemalens_inbox::devices::enrol(&self.state.db, &id, &key, "test phone", "test")).unwrap();
    }

    pub fn add_user(&self, login: &str, name: &str, role: hemalens_inbox::web::auth::Role, password: &str) {
        self.block(hemalens_inbox::web::auth::add_user(&self.state.db, login, name, role, password, "test"))
            .unwrap();
    }

    /// One integer from SQL.
    pub fn count(&self, sql: &'static str) -> i64 {
        let (n,): (i64,) = self.block(sqlx::query_as(sql).fetch_one(&self.state.db.pool)).unwrap();
        n
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    read_answer(r.expect("request"))
}

/// The answer, or `None` when the server is gone (the request did not
/// complete: the crash tests kill it).
pub fn try_answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Option<Answer> {
    r.ok().map(read_answer)
}

fn read_answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut bytes = Vec::new();
    let _ = r.body_mut().as_reader().read_to_end(&mut bytes);
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Answer { status, headers, body, bytes }
}

/// A phone: a device identity and the session fixture.
pub struct Phone {
    pub identity: DeviceIdentity,
    pub agent: ureq::Agent,
}

fn metadata(bundle_id: &str, kind: Kind) -> String {
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!("bundle_id {},kind {}", b(bundle_id), b(kind.as_str()))
}

impl Phone {
    pub fn new() -> Self {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).unwrap();
        Self { identity: DeviceIdentity::from_seed(&seed), agent: agent() }
    }

    /// The fixture session as this phone's session `number`.
    pub fn record(&self, number: i64, outcome: Option<&str>, closed_at: i64) -> Record {
        let text = std::fs::read_to_string(repo().join("rust-core/inbox/tests/fixtures/session-export.json"))
            .unwrap();
        let mut export: serde_json::Value = serde_json::from_str(&text).unwrap();
        export["session"]["id"] = number.into();
        export["session"]["closed_at"] = closed_at.into();
        if let Some(o) = outcome {
            export["result"]["summary"]["outcome"]["decision"] = o.into();
            export["session"]["outcome"] = o.into();
        }
        let device = Device { id: self.identity.id(), app_version: "test".into() };
        Record::from_export(&export, device).unwrap()
    }

    pub fn photos() -> impl hemalens_share::report::Photos {
        let map: std::collections::HashMap<String, String> = serde_json::from_str(
            &std::fs::read_to_string(repo().join("rust-core/inbox/tests/fixtures/photos.json")).unwrap(),
        )
        .unwrap();
        move |name: &str| {
            let rel =
                map.get(name).ok_or_else(|| hemalens_share::Error::Photo("not in the fixture".into()))?;
            std::fs::read(data_dir().join(rel)).map_err(|e| hemalens_share::Error::Photo(e.to_string()))
        }
    }

    pub fn seal_parts(
        &self,
        to: &age::x25519::Recipient,
        kind: Kind,
        uid: &str,
        parts: &[Part],
    ) -> (String, Vec<u8>) {
        let id = bundle::new_bundle_id();
        let sealed = bundle::seal(&self.identity, to, kind, uid, now_ms(), &id, parts).unwrap();
        (id, sealed)
    }

    pub fn results(&self, to: &age::x25519::Recipient, record: &Record) -> (String, Vec<u8>) {
        self.seal_parts(to, Kind::Results, &record.uid, &hemalens_share::contents::results(record).unwrap())
    }

    pub fn photos_bundle(&self, to: &age::x25519::Recipient, record: &Record) -> (String, Vec<u8>) {
        let photos = Self::photos();
        self.seal_parts(
            to,
            Kind::Photos,
            &record.uid,
            &hemalens_share::contents::photos(record, &photos).unwrap(),
        )
    }

    /// The signature headers for a request, signed by `signer`.
    #[allow(clippy::too_many_arguments)]
    pub fn signed(
        &self,
        signer: &DeviceIdentity,
        method: &str,
        path: &str,
        body: &[u8],
        length: Option<&str>,
        meta: Option<&str>,
        date: i64,
    ) -> [(&'static str, String); 3] {
        let id = self.identity.id();
        Signed {
            method,
            path,
            device_id: &id,
            date_ms: date,
            body,
            upload_length: length,
            upload_metadata: meta,
        }
        .headers(signer)
    }

    /// `POST /tus/`, signed by this phone.
    pub fn create(&self, base: &str, bundle_id: &str, kind: Kind, length: u64) -> Answer {
        self.create_signed_by(base, bundle_id, kind, length, &self.identity, now_ms())
    }

    pub fn create_signed_by(
        &self,
        base: &str,
        bundle_id: &str,
        kind: Kind,
        length: u64,
        signer: &DeviceIdentity,
        date: i64,
    ) -> Answer {
        answer(self.create_request(base, bundle_id, kind, length, signer, date))
    }

    /// `POST /tus/`, signed by this phone; `None` if the server is gone.
    pub fn try_create(&self, base: &str, bundle_id: &str, kind: Kind, length: u64) -> Option<Answer> {
        try_answer(self.create_request(base, bundle_id, kind, length, &self.identity, now_ms()))
    }

    fn create_request(
        &self,
        base: &str,
        bundle_id: &str,
        kind: Kind,
        length: u64,
        signer: &DeviceIdentity,
        date: i64,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let meta = metadata(bundle_id, kind);
        let len = length.to_string();
        let mut req = self
            .agent
            .post(format!("{base}/tus/"))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", &len)
            .header("Upload-Metadata", &meta);
        for (k, v) in self.signed(signer, "POST", "/tus/", b"", Some(&len), Some(&meta), date) {
            req = req.header(k, v);
        }
        req.send_empty()
    }

    pub fn patch(&self, location_url: &str, offset: u64, data: &[u8]) -> Answer {
        answer(self.patch_request(location_url, offset, data))
    }

    /// `PATCH`; `None` if the server is gone.
    pub fn try_patch(&self, location_url: &str, offset: u64, data: &[u8]) -> Option<Answer> {
        try_answer(self.patch_request(location_url, offset, data))
    }

    fn patch_request(
        &self,
        location_url: &str,
        offset: u64,
        data: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.agent
            .patch(location_url)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .send(data)
    }

    pub fn head(&self, location_url: &str) -> Answer {
        answer(self.head_request(location_url))
    }

    /// `HEAD`; `None` if the server is gone.
    pub fn try_head(&self, location_url: &str) -> Option<Answer> {
        try_answer(self.head_request(location_url))
    }

    fn head_request(&self, location_url: &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.agent.head(location_url).header("Tus-Resumable", "1.0.0").call()
    }

    /// Creates and sends a whole bundle in `chunk`-byte PATCHes; the verdict.
    pub fn upload(&self, base: &str, bundle_id: &str, kind: Kind, sealed: &[u8], chunk: usize) -> String {
        let c = self.create(base, bundle_id, kind, sealed.len() as u64);
        assert!(c.status == 201 || c.status == 200, "create: {} {}", c.status, c.body);
        if let Some(v) = c.header("Hemalens-Verdict") {
            return v.to_string();
        }
        let loc = format!("{base}{}", c.header("Location").unwrap());
        let mut offset: usize = c.header("Upload-Offset").unwrap().parse().unwrap();
        loop {
            let end = (offset + chunk).min(sealed.len());
            let a = self.patch(&loc, offset as u64, &sealed[offset..end]);
            assert_eq!(a.status, 204, "patch: {}", a.body);
            offset = a.header("Upload-Offset").unwrap().parse().unwrap();
            if let Some(v) = a.header("Hemalens-Verdict") {
                return v.to_string();
            }
            assert!(offset < sealed.len(), "complete without a verdict");
        }
    }

    /// A signed request to the device API.
    pub fn api(&self, base: &str, method: &str, path: &str, body: &[u8]) -> Answer {
        let url = format!("{base}{path}");
        let h = self.signed(&self.identity, method, path, body, None, None, now_ms());
        if method == "GET" {
            let mut r = self.agent.get(url);
            for (k, v) in h {
                r = r.header(k, v);
            }
            answer(r.call())
        } else {
            let mut r = self.agent.post(url).header("Content-Type", "application/json");
            for (k, v) in h {
                r = r.header(k, v);
            }
            answer(r.send(body))
        }
    }
}

/// A browser-like client for the review page: keeps the session cookie.
pub struct Browser {
    pub agent: ureq::Agent,
    pub base: String,
    pub cookie: Option<String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self { agent: agent(), base: base.to_string(), cookie: None }
    }

    fn keep(&mut self, a: &Answer) {
        if let Some(c) = a.header("Set-Cookie") {
            let v = c.split(';').next().unwrap_or("").to_string();
            self.cookie = if v.ends_with('=') { None } else { Some(v) };
        }
    }

    pub fn get(&mut self, path: &str) -> Answer {
        let mut r = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", c);
        }
        let a = answer(r.call());
        self.keep(&a);
        a
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut r = self.agent.post(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", c);
        }
        let a = answer(r.send_form(form.iter().copied()));
        self.keep(&a);
        a
    }

    pub fn login(&mut self, login: &str, password: &str) -> Answer {
        self.post("/login", &[("login", login), ("password", password)])
    }

    /// The CSRF token on a page.
    pub fn csrf(page: &str) -> String {
        let i = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        page[i..i + 48].to_string()
    }
}
