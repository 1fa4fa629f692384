//! The hospital's inbox over HTTP: the whole router (tus uploads, the
//! device API, the SMS webhook, the review page) on a real database (SQLite
//! in a temporary folder), driven request by request without a socket.
//!
//! Input: a selector byte, then `path-suffix \n header lines \n\n body`.
//! The selector picks the route and method; with its top bit set the
//! request is signed by the enrolled device (so the fuzzer gets past the
//! signature check), with bit 6 it carries a logged-in administrator's
//! cookie, and `CSRF` in the body becomes the session's CSRF token.
//! Never a 500, never a panic: bad requests get 4xx answers.
#![no_main]
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hemalens_inbox::{AppState, Config, Db};
use hemalens_share::request::Signed;
use hemalens_share::DeviceIdentity;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/tus/"),
    ("OPTIONS", "/tus/"),
    ("HEAD", "/tus/"),
    ("PATCH", "/tus/"),
    ("GET", "/api/v1/reviews"),
    ("POST", "/api/v1/reviews/ack"),
    ("POST", "/api/v1/sms"),
    ("POST", "/login"),
    ("GET", "/queue"),
    ("GET", "/cases/"),
    ("POST", "/cases/"),
    ("GET", "/admin"),
    ("POST", "/admin/devices"),
    ("POST", "/admin/users"),
    ("GET", "/"),
];

struct Fixed {
    rt: tokio::runtime::Runtime,
    state: Arc<AppState>,
    device: DeviceIdentity,
    cookie: String,
    csrf: String,
    _dir: tempfile::TempDir,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary folder");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let device = DeviceIdentity::from_seed(&[7; 32]);
        let url = format!("sqlite:{}", dir.path().join("inbox.db").display());
        let config = Config { sms_token: Some("gateway-token".into()), ..Config::default() };
        let (state, cookie, csrf) = rt.block_on(async {
            let db = Db::open(&url).await.expect("database");
            hemalens_inbox::devices::enrol(&db, &device.id(), &device.public_key_hex(), "phone", "fuzz")
                .await
                .expect("enrol");
            use hemalens_inbox::web::auth;
            auth::add_user(&db, "admin", "Admin", auth::Role::Admin, "correct horse battery", "fuzz")
                .await
                .expect("user");
            let auth::Login::Ok(token) =
                auth::login(&db, "admin", "correct horse battery", "127.0.0.1", 1 << 40)
                    .await
                    .expect("login")
            else {
                panic!("login refused")
            };
            let state = AppState::new(db, age::x25519::Identity::generate(), config);
            let cookie = format!("{}={token}", auth::COOKIE);
            let page =
                send(&state, Request::get("/admin").header("Cookie", &cookie).body(Body::empty()).unwrap())
                    .await
                    .1;
            let page = String::from_utf8_lossy(&page);
            let at = page.find("name=\"csrf\" value=\"").expect("a CSRF token on the admin page") + 19;
            let csrf = page[at..].split('"').next().unwrap_or_default().to_string();
            (state, cookie, csrf)
        });
        Fixed { rt, state, device, cookie, csrf, _dir: dir }
    })
}

async fn send(state: &Arc<AppState>, mut req: Request<Body>) -> (StatusCode, Vec<u8>) {
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
    let resp = hemalens_inbox::router(state.clone()).oneshot(req).await.expect("infallible");
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
    (status, body)
}

fn build(f: &Fixed, data: &[u8]) -> Option<Request<Body>> {
    let (&sel, rest) = data.split_first()?;
    let (method, base) = ROUTES[usize::from(sel & 0x3f) % ROUTES.len()];
    let (suffix, rest) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let path = format!("{base}{}", std::str::from_utf8(suffix).ok()?);
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[][..], rest),
    };
    let mut body = body.to_vec();
    if let Some(i) = body.windows(4).position(|w| w == b"CSRF") {
        body.splice(i..i + 4, f.csrf.bytes());
    }
    let mut req = Request::builder().method(method).uri(&path);
    let mut upload_length = None;
    let mut upload_metadata = None;
    for line in std::str::from_utf8(head).ok()?.lines() {
        let (k, v) = line.split_once(':')?;
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("upload-length") {
            upload_length = Some(v.to_string());
        }
        if k.eq_ignore_ascii_case("upload-metadata") {
            upload_metadata = Some(v.to_string());
        }
        req = req.header(k, v);
    }
    if sel & 0x80 != 0 {
        let id = f.device.id();
        let signed = Signed {
            method,
            path: &path,
            device_id: &id,
            date_ms: hemalens_inbox::db::now_ms(),
            body: &body,
            upload_length: upload_length.as_deref(),
            upload_metadata: upload_metadata.as_deref(),
        };
        for (k, v) in signed.headers(&f.device) {
            req = req.header(k, v);
        }
    }
    if sel & 0x40 != 0 {
        req = req.header("Cookie", &f.cookie);
    }
    req.body(Body::from(body)).ok()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let Some(req) = build(f, data) else { return };
    let (status, _) = f.rt.block_on(send(&f.state, req));
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "HTTP {status} for a bad request"
    );
});
