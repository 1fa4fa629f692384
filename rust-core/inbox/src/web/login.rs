//! `/`: the login page (the queue when already logged in); `/logout`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{self, Authed, Login};
use super::{html_page, layout};
use crate::{AppState, Error};

fn form(message: Option<&str>, login: &str) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            section.login {
                h1 { "Review inbox" }
                p.muted { "Blood-smear screening results from the clinics. Log in to review." }
                @if let Some(m) = message { p.error role="alert" { (m) } }
                form method="post" action="/login" {
                    label { "Login" input name="login" value=(login) autocomplete="username" required autofocus[login.is_empty()]; }
                    label { "Password" input name="password" type="password" autocomplete="current-password" required autofocus[!login.is_empty()]; }
                    button.primary type="submit" { "Log in" }
                }
            }
        },
    )
}

pub async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Error> {
    if let Some(t) = auth::token(&headers) {
        if auth::session(&state.db, &t, state.config.session_ttl_ms).await?.is_some() {
            return Ok(Redirect::to("/queue").into_response());
        }
    }
    let expired = auth::token(&headers).is_some();
    Ok(html_page(form(expired.then_some("Your session has expired. Please log in again."), "")))
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    login: String,
    password: String,
}

/// The client's address: the TLS terminator's `X-Forwarded-For` when the
/// inbox is told to trust it, else the socket's.
fn address(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> String {
    if state.config.trust_forwarded {
        if let Some(a) = headers
            .get("X-Forwarded-For")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next_back())
        {
            return a.trim().to_string();
        }
    }
    peer.ip().to_string()
}

pub async fn submit(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Result<Response, Error> {
    let addr = address(&state, &headers, peer);
    let ttl = state.config.session_ttl_ms;
    Ok(match auth::login(&state.db, &c.login, &c.password, &addr, ttl).await? {
        Login::Ok(token) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/queue".to_string()),
                (header::SET_COOKIE, auth::cookie(Some(&token), ttl, state.config.secure_cookies)),
            ],
        )
            .into_response(),
        Login::Wrong => {
            let mut r = html_page(form(Some("Wrong login or password."), &c.login));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
        Login::Locked => {
            let mut r = html_page(form(
                Some("Too many failed attempts. Wait 15 minutes, or ask an administrator."),
                &c.login,
            ));
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn logout(
    State(state): State<Arc<AppState>>,
    who: Authed,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, Error> {
    who.check_csrf(&f.csrf)?;
    if let Some(t) = auth::token(&headers) {
        auth::logout(&state.db, &t).await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_string()),
            (header::SET_COOKIE, auth::cookie(None, 0, state.config.secure_cookies)),
        ],
    )
        .into_response())
}
