//! `/login` on the root host: asks for the clinic's address (its subdomain) and sends the
//! browser to that clinic's own login page. The redirect is the same whether or not the clinic
//! exists, so this page reveals nothing that typing the address would not.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use clinicgate_core::clinics::Subdomain;

use super::{Nav, Page};
use crate::http::html::{PageError, escape, render, see_other};
use crate::state::AppState;

const ROOT_LOGIN: &str = include_str!("../../../frontend-static/pages/root-login.html");

/// The form, or (with `clinic`) the redirect to that clinic's login page.
pub fn root_login(state: &AppState, clinic: Option<&str>) -> Result<HttpResponse, PageError> {
    let public = &state.settings.public_url;
    let typed = clinic.map(str::trim).unwrap_or_default();
    // People paste whole addresses: keep the first label of `harbour.example.com`.
    let label = typed
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split(['.', '/', ':'])
        .next()
        .unwrap_or_default();
    let error = match clinic.map(|_| Subdomain::parse_label(label)) {
        Some(Ok(subdomain)) => {
            return Ok(see_other(&format!(
                "{}/login",
                public.tenant_url(subdomain.as_str())
            )));
        }
        Some(Err(problem)) => format!(
            "<p class=\"notice notice-error\" role=\"alert\">That is not a clinic address: {}.</p>",
            escape(&problem.message)
        ),
        None => String::new(),
    };
    let host = match public.port() {
        Some(port) => format!("{}:{port}", public.host()),
        None => public.host().to_owned(),
    };
    let content = render(
        ROOT_LOGIN,
        &[("error", &error), ("clinic", typed), ("host", &host)],
    )?;
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(Page {
        title: "Log in",
        content,
        scripts: &[],
        nav: Nav::Root,
    }
    .respond(status)?)
}
