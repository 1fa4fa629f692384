//! `/admin`: enrol and revoke devices, add users (administrators only).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::auth::{self, Authed, Role};
use super::{html_page, layout, when};
use crate::{devices, AppState, Error};

pub async fn page_(state: &AppState, who: &Authed, message: Option<&str>) -> Result<Response, Error> {
    who.require_admin()?;
    let devices = devices::list(&state.db).await?;
    let users = auth::users(&state.db).await?;
    let csrf = who.csrf.as_str();
    let body = html! {
        h1 { "Devices and users" }
        @if let Some(m) = message { p.notice role="status" { (m) } }
        section.panel {
            h2 { "Hospital card" }
            @if let Some(card) = state.config.card(&state.recipient) {
                p { "A phone enrols this hospital by scanning this code (the app's Hospital page) or pasting the line under it. It holds the upload address and the key the phones encrypt to; nothing secret." }
                img.card src="/admin/card.svg" alt=(format!("QR code of the hospital card: {card}")) width="240" height="240";
                p { code.card { (card) } }
            } @else {
                p { "Start the service with " code { "--public-url" } " (the address phones use) to show the card phones scan." }
            }
            p.muted { "On a desktop phone tool: " code { "hemalens hospital add NAME --url " (state.config.public_url.as_deref().unwrap_or("https://<this server>")) "/tus/ --key " (state.recipient) } }
        }
        section.panel {
            h2 { "Devices" }
            table {
                thead { tr { th { "Device id" } th { "Label" } th { "Enrolled" } th { "State" } th {} } }
                tbody { @for d in &devices {
                    tr {
                        td { code { (d.id) } }
                        td { (d.label) }
                        td { (when(d.enrolled_at)) " by " (d.enrolled_by) }
                        td { @if let Some(t) = d.revoked_at { "revoked " (when(t)) } @else { "enrolled" } }
                        td { @if d.revoked_at.is_none() {
                            form method="post" action=(format!("/admin/devices/{}/revoke", d.id)) {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Revoke" }
                            }
                        } }
                    }
                } }
            }
            h3 { "Enrol a device" }
            p.muted { "On the phone: Settings → Device key (or " code { "hemalens device key" } "). Check the id with the health worker by phone." }
            form.inline method="post" action="/admin/devices" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Device id" input name="id" required pattern="[0-9a-fA-F]{16}" size="18"; }
                label { "Public key" input name="key" required pattern="[0-9a-fA-F]{64}" size="66"; }
                label { "Label" input name="label" required placeholder="Clinic, phone"; }
                button.primary type="submit" { "Enrol" }
            }
        }
        section.panel {
            h2 { "Users" }
            table {
                thead { tr { th { "Login" } th { "Name" } th { "Role" } th { "State" } } }
                tbody { @for (u, active) in &users {
                    tr { td { (u.login) } td { (u.display_name) } td { (u.role.as_str()) } td { @if *active { "active" } @else { "disabled" } } }
                } }
            }
            h3 { "Add a user" }
            form.inline method="post" action="/admin/users" {
                input type="hidden" name="csrf" value=(csrf);
                label { "Login" input name="login" required; }
                label { "Name shown on reviews" input name="display_name" required; }
                label { "Role" select name="role" { option value="reviewer" { "reviewer" } option value="admin" { "administrator" } } }
                label { "Password" input name="password" type="password" required minlength="10" autocomplete="new-password"; }
                button.primary type="submit" { "Add" }
            }
        }
    };
    Ok(html_page(layout("Devices and users", Some(who), body)))
}

/// `/admin/card.svg`: the hospital card as a QR code (medium error correction).
pub async fn card_svg(State(state): State<Arc<AppState>>, who: Authed) -> Result<Response, Error> {
    who.require_admin()?;
    let card = state.config.card(&state.recipient).ok_or(Error::NotFound)?;
    let code = qrcode::QrCode::with_error_correction_level(card.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| Error::Internal("the card does not fit a QR code"))?;
    let svg =
        code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(240, 240).quiet_zone(true).build();
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

pub async fn page(State(state): State<Arc<AppState>>, who: Authed) -> Result<Response, Error> {
    page_(&state, &who, None).await
}

#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    csrf: String,
    id: String,
    key: String,
    label: String,
}

pub async fn enrol(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Form(f): Form<EnrolForm>,
) -> Result<Response, Error> {
    who.require_admin()?;
    who.check_csrf(&f.csrf)?;
    match devices::enrol(&state.db, &f.id, &f.key, &f.label, &who.user.login).await {
        Ok(d) => page_(&state, &who, Some(&format!("Device {} enrolled.", d.id))).await,
        Err(Error::BadRequest(m)) => page_(&state, &who, Some(m)).await,
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, Error> {
    who.require_admin()?;
    who.check_csrf(&f.csrf)?;
    devices::revoke(&state.db, &id, &who.user.login).await?;
    Ok(Redirect::to("/admin").into_response())
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    csrf: String,
    login: String,
    display_name: String,
    role: String,
    password: String,
}

pub async fn add_user(
    State(state): State<Arc<AppState>>,
    who: Authed,
    Form(f): Form<UserForm>,
) -> Result<Response, Error> {
    who.require_admin()?;
    who.check_csrf(&f.csrf)?;
    let role = Role::parse(&f.role).ok_or(Error::BadRequest("unknown role"))?;
    match auth::add_user(&state.db, &f.login, &f.display_name, role, &f.password, &who.user.login).await {
        Ok(()) => page_(&state, &who, Some("User added.")).await,
        Err(Error::BadRequest(m)) => page_(&state, &who, Some(m)).await,
        Err(e) => Err(e),
    }
}
