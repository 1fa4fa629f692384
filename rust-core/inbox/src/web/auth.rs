//! Who may use the review page: users with argon2id-hashed passwords and a
//! role (reviewer or administrator), browser sessions held by a random token
//! in an HttpOnly, SameSite=Strict cookie (the database keeps its SHA-256),
//! a CSRF token per session on every form, and a brute-force limit on
//! failed logins per login name and per client address.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::db::{now_ms, random_hex, Db};
use crate::{AppState, Error};

pub const COOKIE: &str = "hl_session";
/// Failed logins within this window count towards the limits.
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed logins allowed per login name within the window.
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// Failed logins allowed per client address within the window.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
pub const MIN_PASSWORD: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reviewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reviewer" => Some(Self::Reviewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: Role,
}

/// A logged-in user with the session's CSRF token.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: User,
    pub csrf: String,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| Error::Internal("password hashing failed"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Adds a user (the command line's `user add`, the admin page).
pub async fn add_user(
    db: &Db,
    login: &str,
    display_name: &str,
    role: Role,
    password: &str,
    actor: &str,
) -> Result<(), Error> {
    let login = login.trim();
    if login.is_empty()
        || login.len() > 64
        || !login.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err(Error::BadRequest("the login must be 1 to 64 letters, digits or . _ - @"));
    }
    let display_name = display_name.trim();
    if display_name.is_empty()
        || display_name.chars().count() > 128
        || display_name.chars().any(char::is_control)
    {
        return Err(Error::BadRequest("the name must be 1 to 128 printable characters"));
    }
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::BadRequest("the password must have at least 10 characters"));
    }
    let hash = hash_password(password)?;
    let mut tx = db.pool.begin().await?;
    let n = sqlx::query(
        "INSERT INTO users (login, display_name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (login) DO NOTHING",
    )
    .bind(login)
    .bind(display_name)
    .bind(role.as_str())
    .bind(hash)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::BadRequest("that login is taken"));
    }
    crate::audit::record(&mut tx, actor, "add_user", login).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn user_count(db: &Db) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&db.pool).await?;
    Ok(n)
}

pub async fn users(db: &Db) -> Result<Vec<(User, bool)>, Error> {
    let rows: Vec<(i64, String, String, String, Option<i64>)> =
        sqlx::query_as("SELECT id, login, display_name, role, disabled_at FROM users ORDER BY login")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                User {
                    id: r.0,
                    login: r.1,
                    display_name: r.2,
                    role: Role::parse(&r.3).unwrap_or(Role::Reviewer),
                },
                r.4.is_none(),
            )
        })
        .collect())
}

/// How a login attempt ended.
#[derive(Debug)]
pub enum Login {
    /// The cookie's token.
    Ok(String),
    Wrong,
    /// Too many failures lately (HTTP 429).
    Locked,
}

async fn failures(db: &Db, subject: &str, since: i64) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_failures WHERE subject = $1 AND at > $2")
        .bind(subject)
        .bind(since)
        .fetch_one(&db.pool)
        .await?;
    Ok(n)
}

/// Checks a password and opens a browser session.
pub async fn login(db: &Db, login: &str, password: &str, address: &str, ttl_ms: i64) -> Result<Login, Error> {
    let now = now_ms();
    let by_login = format!("login:{}", login.trim().to_lowercase());
    let by_address = format!("address:{address}");
    if failures(db, &by_login, now - FAILURE_WINDOW_MS).await? >= MAX_FAILURES_PER_LOGIN
        || failures(db, &by_address, now - FAILURE_WINDOW_MS).await? >= MAX_FAILURES_PER_ADDRESS
    {
        log::warn!("login refused: too many failures for this login or address");
        return Ok(Login::Locked);
    }
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE login = $1 AND disabled_at IS NULL")
            .bind(login.trim())
            .fetch_optional(&db.pool)
            .await?;
    // Hash even for an unknown login, so timing does not tell which exist.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("no such user here").unwrap_or_default());
    let (ok, user_id) = {
        let hash = row.as_ref().map(|r| r.1.clone()).unwrap_or_else(|| dummy.to_string());
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .map_err(|_| Error::Internal("password check failed"))?;
        (ok && row.is_some(), row.map(|r| r.0))
    };
    let mut tx = db.pool.begin().await?;
    let Some(user_id) = user_id.filter(|_| ok) else {
        for s in [&by_login, &by_address] {
            sqlx::query("INSERT INTO login_failures (subject, at) VALUES ($1, $2)")
                .bind(s)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        log::warn!("failed login");
        return Ok(Login::Wrong);
    };
    let token = random_hex(32)?;
    sqlx::query("INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(sha256_hex(&token))
        .bind(user_id)
        .bind(random_hex(24)?)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
    crate::audit::record(&mut tx, login.trim(), "login", "").await?;
    tx.commit().await?;
    Ok(Login::Ok(token))
}

pub async fn logout(db: &Db, token: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
        .bind(sha256_hex(token))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The session token from the `Cookie` header.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers.get_all("Cookie").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE && v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_string())
        },
    )
}

/// The `Set-Cookie` value for a new session (or an expired one, to clear it).
pub fn cookie(token: Option<&str>, ttl_ms: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => {
            format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", ttl_ms / 1000)
        }
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The user behind a session token; renews the session's idle timeout.
pub async fn session(db: &Db, token: &str, ttl_ms: i64) -> Result<Option<Authed>, Error> {
    let now = now_ms();
    let hash = sha256_hex(token);
    let row: Option<(i64, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.login, u.display_name, u.role, s.csrf, s.expires_at FROM web_sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    if r.5 - now < ttl_ms - 60_000 {
        sqlx::query("UPDATE web_sessions SET expires_at = $2 WHERE token_hash = $1")
            .bind(&hash)
            .bind(now + ttl_ms)
            .execute(&db.pool)
            .await?;
    }
    let role = Role::parse(&r.3).ok_or(Error::Internal("unknown role"))?;
    Ok(Some(Authed { user: User { id: r.0, login: r.1, display_name: r.2, role }, csrf: r.4 }))
}

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let token = token(&parts.headers).ok_or(Error::LoginNeeded)?;
        session(&state.db, &token, state.config.session_ttl_ms).await?.ok_or(Error::LoginNeeded)
    }
}

impl Authed {
    /// A form's CSRF token must be this session's.
    pub fn check_csrf(&self, got: &str) -> Result<(), Error> {
        if Sha256::digest(got.as_bytes()) == Sha256::digest(self.csrf.as_bytes()) {
            Ok(())
        } else {
            log::warn!("form with a wrong CSRF token refused");
            Err(Error::Forbidden)
        }
    }

    pub fn require_admin(&self) -> Result<(), Error> {
        if self.user.role == Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden)
        }
    }
}
