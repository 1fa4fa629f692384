//! The review page: server-rendered HTML (maud, escaped by construction),
//! a little CSS and one small script for keyboard relabelling. Every page
//! works without the script; forms carry the session's CSRF token.

pub mod admin;
pub mod auth;
pub mod case;
pub mod login;
pub mod pictures;
pub mod queue;

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use crate::AppState;
use auth::Authed;

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const FAVICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><circle cx='8' cy='8' r='7' fill='#b3261e'/><circle cx='8' cy='8' r='3' fill='#fff'/></svg>";

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(login::index))
        .route("/login", get(login::index).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/queue", get(queue::page))
        .route("/cases/{id}", get(case::page))
        .route("/cases/{id}/review", post(case::review))
        .route("/cases/{id}/relabel", post(case::relabel))
        .route("/cases/{id}/report.pdf", get(case::report))
        .route("/cases/{id}/files/{*name}", get(case::picture))
        .route("/admin", get(admin::page))
        .route("/admin/card.svg", get(admin::card_svg))
        .route("/admin/devices", post(admin::enrol))
        .route("/admin/devices/{id}/revoke", post(admin::revoke))
        .route("/admin/users", post(admin::add_user))
        .route("/favicon.ico", get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], FAVICON) }))
        .route(
            "/assets/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route(
            "/assets/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }),
        )
}

/// The frame of every page: title, top bar with the user and the logout form.
pub fn layout(title: &str, who: Option<&Authed>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Hemalens inbox" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="icon" href="/favicon.ico" type="image/svg+xml";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/queue" { "Hemalens" span.sub { " inbox" } }
                    @if let Some(a) = who {
                        nav {
                            a href="/queue" { "Queue" }
                            @if a.user.role == auth::Role::Admin { a href="/admin" { "Devices & users" } }
                        }
                        div.who {
                            span { (a.user.display_name) " · " (a.user.role.as_str()) }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(a.csrf);
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
                footer { "Decision support, not a diagnosis. Hemalens inbox " (env!("CARGO_PKG_VERSION")) }
            }
        }
    }
}

/// An HTML answer with the headers every page carries.
pub fn html_page(markup: Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        markup.into_string(),
    )
        .into_response()
}

pub fn outcome_text(o: &str) -> &'static str {
    match o {
        "refer" => "Refer",
        "inconclusive" => "Inconclusive",
        "no_abnormality_detected" => "No abnormality detected",
        _ => "Not known yet",
    }
}

pub fn outcome_badge(o: Option<&str>) -> Markup {
    let class = match o {
        Some("refer") => "badge refer",
        Some("inconclusive") => "badge inconclusive",
        Some("no_abnormality_detected") => "badge clear",
        _ => "badge unknown",
    };
    html! { span class=(class) { (outcome_text(o.unwrap_or(""))) } }
}

/// A UTC time for people: `2026-12-06 07:15 UTC`.
pub fn when(ms: i64) -> String {
    let t = hemalens_share::time::Utc::from_ms(ms);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year, t.month, t.day, t.hour, t.minute)
}
