#![doc = include_str!("../README.md")]

pub mod audit;
pub mod db;
pub mod devices;
mod error;
pub mod ingest;
pub mod reviews;
pub mod web;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use db::Db;
pub use error::Error;

/// How the inbox runs (the command line's flags).
#[derive(Debug, Clone)]
pub struct Config {
    /// Idle time after which a browser session ends.
    pub session_ttl_ms: i64,
    /// Set the cookie's `Secure` flag (behind a TLS terminator: always).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded: bool,
    /// The SMS gateway's bearer token; no token, no webhook.
    pub sms_token: Option<String>,
    /// The address phones and browsers use (shown to administrators).
    pub public_url: Option<String>,
    /// How phones list this hospital (the name on its card).
    pub hospital_name: String,
    /// Whether the card asks phones to send photo bundles on Wi-Fi only
    /// (results go on any link either way).
    pub photos_on_wifi_only: bool,
    /// A client that has not sent a whole request head within this time is
    /// disconnected (slowloris); counted from the connection's start or the
    /// previous response.
    pub header_timeout: std::time::Duration,
}

impl Config {
    /// The card phones scan or paste to share with this inbox (`hemalens_share::card`);
    /// None until the public address is known (`--public-url`).
    pub fn card(&self, recipient: &str) -> Option<String> {
        let base = self.public_url.as_deref()?.trim_end_matches('/');
        Some(
            hemalens_share::card::HospitalCard {
                name: self.hospital_name.clone(),
                url: format!("{base}/tus/"),
                recipient: recipient.to_string(),
                photos_on_wifi_only: self.photos_on_wifi_only,
            }
            .format(),
        )
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            session_ttl_ms: 30 * 60 * 1000,
            secure_cookies: false,
            trust_forwarded: false,
            sms_token: None,
            public_url: None,
            hospital_name: "Hospital".into(),
            photos_on_wifi_only: true,
            header_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// What every request handler shares.
pub struct AppState {
    pub db: Db,
    /// The hospital's age X25519 identity: it opens the bundles.
    pub identity: age::x25519::Identity,
    /// Its public half (`age1...`), given to the phones.
    pub recipient: String,
    pub config: Config,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("recipient", &self.recipient).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(db: Db, identity: age::x25519::Identity, config: Config) -> Arc<Self> {
        let recipient = identity.to_public().to_string();
        Arc::new(Self { db, identity, recipient, config })
    }
}

/// Reads the hospital identity file, or makes one (mode 0600) if there is none.
pub fn load_or_create_identity(path: &Path) -> Result<age::x25519::Identity, Error> {
    let read = |path: &Path| -> Result<age::x25519::Identity, Error> {
        let text = std::fs::read_to_string(path)?;
        let line = text.lines().map(str::trim).find(|l| l.starts_with("AGE-SECRET-KEY-"));
        line.and_then(|l| l.parse::<age::x25519::Identity>().ok())
            .ok_or_else(|| Error::Config(format!("{} holds no age identity", path.display())))
    };
    if path.exists() {
        return read(path);
    }
    let id = age::x25519::Identity::generate();
    let text = format!(
        "# hemalens-inbox hospital key\n# public key: {}\n{}\n",
        id.to_public(),
        id.to_string().expose_secret()
    );
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match write_private(path, text.as_bytes()) {
        Ok(()) => {
            log::info!("made a new hospital key in {}", path.display());
            Ok(id)
        }
        // Another instance starting at the same moment made it first.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(200));
            read(path)
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, data: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, data: &[u8]) -> Result<(), Error> {
    Ok(std::fs::write(path, data)?)
}

/// Every route: tus under `/tus/`, the device API under `/api/v1/`, the
/// review page everywhere else.
pub fn router(state: Arc<AppState>) -> Router {
    let tus = Router::new()
        .route("/tus/", post(ingest::tus::create).options(ingest::tus::options))
        .route("/tus/{id}", axum::routing::head(ingest::tus::head).patch(ingest::tus::patch))
        // The PATCH handler streams and limits its body itself.
        .layer(DefaultBodyLimit::disable());
    let api = Router::new()
        .route("/api/v1/reviews", get(reviews::pull))
        .route("/api/v1/reviews/ack", post(reviews::ack))
        .route("/api/v1/sms", post(ingest::sms::webhook))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(256 * 1024));
    Router::new()
        .merge(tus)
        .merge(api)
        .merge(web::routes().layer(DefaultBodyLimit::max(64 * 1024)))
        .with_state(state)
}

/// Serves on `listen` until Ctrl-C / SIGTERM.
pub async fn serve(state: Arc<AppState>, listen: SocketAddr) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    log::info!("hemalens-inbox listening on http://{}", listener.local_addr()?);
    serve_on(state, listener, shutdown()).await
}

/// Serves on a bound listener until `stop` completes, then lets open requests
/// finish (up to 30 s).
///
/// hyper's HTTP/1 connection with a timer, rather than `axum::serve`, which
/// sets no header-read timeout: a client dripping its request head is cut off
/// after `Config::header_timeout` instead of holding its socket for ever.
pub async fn serve_on(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower_service::Service;

    let db = state.db.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            if let Err(e) = ingest::tus::sweep(&db, db::now_ms()).await {
                log::warn!("sweeping abandoned uploads failed: {e}");
            }
        }
    });
    // One HTTP/1 setup for every connection: a timer, and a client whose
    // request head is not whole within the header timeout is cut off.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(state.config.header_timeout);
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A client gone before it was accepted: nothing to do.
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait (as axum::serve does), do not spin.
                    log::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().call(request)
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {
            log::warn!("requests still open 30 s after the stop signal were cut off");
        }
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
