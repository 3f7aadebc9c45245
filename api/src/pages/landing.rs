//! The landing page on the root host: what ClinicGate does, and the sign-up form (which posts to
//! `POST /api/signup` from `signup.js`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::{Nav, Page};
use crate::http::html::{PageError, render};
use crate::state::AppState;

const LANDING: &str = include_str!("../../../frontend-static/pages/landing.html");

/// Renders the landing page; the subdomain preview is built from the configured public URL.
pub fn landing(state: &AppState) -> Result<HttpResponse, PageError> {
    let public = &state.settings.public_url;
    let scheme = if public.is_https() { "https" } else { "http" };
    let host = match public.port() {
        Some(port) => format!("{}:{port}", public.host()),
        None => public.host().to_owned(),
    };
    let content = render(LANDING, &[("scheme", scheme), ("host", &host)])?;
    Ok(Page {
        title: "Cliniko integrations for your clinic",
        content,
        scripts: &["common.js", "signup.js"],
        nav: Nav::Root,
    }
    .respond(StatusCode::OK)?)
}
