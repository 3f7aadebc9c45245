//! The clinic's own pages: home (every staff member) and settings (owners and admins only; a
//! clinician gets 403 and never sees a link to them).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::clinics::Clinic;

use super::login::{clinic_of, login_location, see_other};
use super::{Nav, Page, PageError, escape, not_found, render};
use crate::clinic::ClinicUrls;
use crate::patients::phi_list_headers;
use crate::session::{Authenticated, authenticate};
use crate::state::AppState;

const HOME: &str = include_str!("../../../frontend-static/pages/home.html");
const CLINIKO_SETTINGS: &str = include_str!("../../../frontend-static/pages/settings-cliniko.html");
const USERS_SETTINGS: &str = include_str!("../../../frontend-static/pages/settings-users.html");
const CLIENTS_SETTINGS: &str = include_str!("../../../frontend-static/pages/settings-clients.html");

/// The session of a page request, or the response to send instead: a 404 off clinic hosts, a
/// redirect to the login page (coming back here afterwards) without a valid session.
async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Result<Authenticated, HttpResponse>, PageError> {
    let Some(clinic) = clinic_of(req) else {
        return Ok(Err(not_found(req)));
    };
    match authenticate(req, state, &clinic).await? {
        Some(auth) => Ok(Ok(auth)),
        None => {
            let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
            Ok(Err(see_other(&login_location(here))))
        }
    }
}

/// Like [`signed_in`], and refuses clinicians with a 403 page.
pub(super) async fn manager(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Result<Authenticated, HttpResponse>, PageError> {
    let auth = match signed_in(req, state).await? {
        Ok(auth) => auth,
        Err(response) => return Ok(Err(response)),
    };
    auth.ctx().require_manager()?;
    Ok(Ok(auth))
}

/// The clinic home.
pub async fn home(
    req: &HttpRequest,
    state: &AppState,
    clinic: &Clinic,
) -> Result<HttpResponse, PageError> {
    let Some(auth) = authenticate(req, state, clinic).await? else {
        return Ok(see_other(&login_location("/")));
    };
    home_page(req, state, &auth, None).await
}

/// The clinic home for `auth`, with the results of `search` when one was submitted. It lists
/// patients' names, so it is sent with the patient pages' CSP.
pub(super) async fn home_page(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authenticated,
    search: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let clinic = &auth.clinic;
    let user = &auth.session.user;
    let manages = user.role.manages_clinic();
    let connection = state.cliniko_keys.connection(auth.ctx()).await?;
    let cliniko = match (&connection, manages) {
        (Some(connection), _) => format!(
            "<p class=\"status status-ok\">Connected</p><p>Key ending <code>{}</code> on shard <code>{}</code>, acting as {}.</p>",
            escape(&connection.last4),
            escape(connection.shard.as_str()),
            escape(&connection.owner.name),
        ),
        (None, true) => "<p class=\"status status-off\">Not connected</p><p>Connect your Cliniko account so staff can open patients from Cliniko.</p><p><a class=\"button\" href=\"/settings/cliniko\">Connect Cliniko</a></p>".to_owned(),
        (None, false) => "<p class=\"status status-off\">Not connected</p><p>Ask an owner or admin of your clinic to connect Cliniko.</p>".to_owned(),
    };
    let manage = if manages {
        "<article class=\"card\"><h2>Settings</h2><ul class=\"links\"><li><a href=\"/settings/cliniko\">Cliniko connection and patient button</a></li><li><a href=\"/settings/users\">Staff accounts</a></li><li><a href=\"/settings/clients\">API clients for partners</a></li><li><a href=\"/settings/audit\">Access ledger: who viewed which patient</a></li></ul></article>"
    } else {
        ""
    };
    let patients = super::patients::home_section(req, state, auth, search).await;
    let urls = ClinicUrls::new(&state.settings.public_url, clinic.subdomain.as_str());
    let content = render(
        HOME,
        &[
            ("clinic_name", &clinic.name),
            ("email", user.email.as_str()),
            ("patients", &patients),
            ("cliniko", &cliniko),
            ("button_url", &urls.button_url),
            ("manage", manage),
        ],
    )?;
    let mut response = Page {
        title: &clinic.name,
        content,
        scripts: &[],
        nav: Nav::Clinic {
            clinic,
            user,
            active: "home",
        },
    }
    .respond(StatusCode::OK)?;
    phi_list_headers(&mut response);
    Ok(response)
}

/// The tabs of the settings pages.
pub(super) fn settings_tabs(active: &str) -> String {
    [
        ("cliniko", "/settings/cliniko", "Cliniko"),
        ("users", "/settings/users", "Staff"),
        ("clients", "/settings/clients", "API clients"),
        ("audit", "/settings/audit", "Access ledger"),
    ]
    .iter()
    .map(|(id, href, label)| {
        let current = if *id == active {
            " aria-current=\"page\""
        } else {
            ""
        };
        format!("<a href=\"{href}\"{current}>{label}</a>")
    })
    .collect::<Vec<_>>()
    .join("")
}

/// A settings page: `template` rendered with the tabs, the clinic's URLs and `extra` values.
fn settings_page(
    state: &AppState,
    auth: &Authenticated,
    (title, tab): (&str, &str),
    template: &str,
    script: &'static str,
    extra: &[(&str, &str)],
) -> Result<HttpResponse, PageError> {
    let urls = ClinicUrls::new(&state.settings.public_url, auth.clinic.subdomain.as_str());
    let tabs = settings_tabs(tab);
    let mut values = vec![
        ("tabs", tabs.as_str()),
        ("button_url", urls.button_url.as_str()),
        ("wildcard_button_url", urls.wildcard_button_url.as_str()),
        ("role", auth.session.user.role.as_str()),
    ];
    values.extend_from_slice(extra);
    let content = render(template, &values)?;
    Ok(Page {
        title,
        content,
        scripts: &["common.js", script],
        nav: Nav::Clinic {
            clinic: &auth.clinic,
            user: &auth.session.user,
            active: "settings",
        },
    }
    .respond(StatusCode::OK)?)
}

/// `/settings` → the first settings page.
#[get("/settings")]
pub async fn settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    Ok(match manager(&req, &state).await? {
        Ok(_) => see_other("/settings/cliniko"),
        Err(response) => response,
    })
}

/// Connect Cliniko, and the custom patient button URL with the steps to add it in Cliniko.
#[get("/settings/cliniko")]
pub async fn cliniko_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    match manager(&req, &state).await? {
        Ok(auth) => settings_page(
            &state,
            &auth,
            ("Cliniko settings", "cliniko"),
            CLINIKO_SETTINGS,
            "cliniko-settings.js",
            &[],
        ),
        Err(response) => Ok(response),
    }
}

/// Staff accounts.
#[get("/settings/users")]
pub async fn users_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    match manager(&req, &state).await? {
        Ok(auth) => settings_page(
            &state,
            &auth,
            ("Staff", "users"),
            USERS_SETTINGS,
            "users-settings.js",
            &[],
        ),
        Err(response) => Ok(response),
    }
}

/// API clients for partners: create (secret shown once), rotate, delete.
#[get("/settings/clients")]
pub async fn clients_settings(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let auth = match manager(&req, &state).await? {
        Ok(auth) => auth,
        Err(response) => return Ok(response),
    };
    let tokens = &state.settings.tokens;
    let token_url = format!("{}/api/auth/token", state.settings.public_url.as_str());
    let grace = match tokens.secret_grace_hours {
        1 => "1 hour".to_owned(),
        hours => format!("{hours} hours"),
    };
    let default_rate_limit = tokens.default_rate_limit_per_minute.to_string();
    let token_lifetime = match tokens.ttl_secs {
        secs if secs % 60 == 0 => format!("{} minutes", secs / 60),
        secs => format!("{secs} seconds"),
    };
    settings_page(
        &state,
        &auth,
        ("API clients", "clients"),
        CLIENTS_SETTINGS,
        "clients-settings.js",
        &[
            ("token_url", &token_url),
            ("grace", &grace),
            ("default_rate_limit", &default_rate_limit),
            ("token_lifetime", &token_lifetime),
        ],
    )
}
