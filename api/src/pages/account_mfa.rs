//! The two-step login (TOTP MFA) section of `/account`: set up (a QR code rendered here, inline
//! SVG, and the key for typing), confirm with a first code (the recovery codes are shown this
//! once), and turn it off with the password and a code. Plain form posts over the same service
//! as the JSON routes (`/api/tenant/me/mfa`); every answer holds secrets, so none may be cached.
//!
//! A staff member sent here because their clinic requires two-step login carries `next` (the
//! page they asked for) through the forms' addresses; once it is on, "Continue" goes there.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use clinicgate_core::Error;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::account::{account_page, notice};
use crate::http::client_ip::client_ip;
use crate::http::html::{PageError, escape, render};
use crate::sessions::{Authenticated, BackHome, PageSession, safe_next};
use crate::state::AppState;

const OFF: &str = include_str!("../../../frontend-static/pages/account-mfa-off.html");
const ENROL: &str = include_str!("../../../frontend-static/pages/account-mfa-enrol.html");
const CODES: &str = include_str!("../../../frontend-static/pages/account-mfa-codes.html");
const ON: &str = include_str!("../../../frontend-static/pages/account-mfa-on.html");

/// The form `POST /account/mfa/confirm` receives.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    code: String,
}

/// The form `POST /account/mfa/disable` receives.
#[derive(Debug, Deserialize)]
pub struct DisableForm {
    current_password: SecretString,
    code: String,
}

/// The query of the MFA forms' addresses: where to go once two-step login is on.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

impl NextQuery {
    /// The page to continue to (a same-host path, else `/`).
    fn next(&self) -> String {
        safe_next(self.next.as_deref())
    }
}

/// `?next=…` for a form's address, nothing when going home anyway.
fn next_query(next: &str) -> String {
    if next == "/" {
        return String::new();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("?next={encoded}")
}

fn error_notice(error: Option<&str>) -> String {
    notice("notice-error", "alert", error)
}

/// The "off" section, whose set-up form comes back to `next`.
fn off_section(next: &str) -> Result<String, PageError> {
    Ok(render(OFF, &[("next_query", &next_query(next))])?)
}

/// The section for the caller's current state (on or off), with `error` shown in it; setting it
/// up comes back to `next`.
pub(super) async fn current_section(
    state: &AppState,
    session: &Authenticated,
    error: Option<&str>,
    next: &str,
) -> Result<String, PageError> {
    let enabled = state
        .mfa
        .is_enabled(session.clinic.id, session.session.user.id)
        .await?;
    if enabled {
        Ok(render(ON, &[("error", &error_notice(error))])?)
    } else {
        off_section(next)
    }
}

/// The account page with `section`, not to be cached.
fn respond(
    session: &Authenticated,
    done: Option<&str>,
    section: &str,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let mut response = account_page(session, done, None, section, status)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Starts an enrolment and shows the QR code, the key and the confirmation form.
#[post("/account/mfa/enrolment")]
pub async fn start_enrolment(
    state: web::Data<AppState>,
    session: PageSession<BackHome>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = query.next();
    let enrolment = match state
        .mfa
        .begin_enrolment(
            session.ctx(),
            &crate::sessions::mfa::issuer(&session.clinic),
        )
        .await
    {
        Ok(enrolment) => enrolment,
        Err(Error::Conflict { detail, .. }) => {
            let section = current_section(&state, &session, Some(&detail), &next).await?;
            return respond(&session, None, &section, StatusCode::CONFLICT);
        }
        Err(other) => return Err(other.into()),
    };
    let qr = crate::sessions::mfa::qr_svg(enrolment.otpauth_uri.expose_secret())?;
    let section = render(
        ENROL,
        &[
            ("error", ""),
            ("next_query", &next_query(&next)),
            ("qr_svg", &qr),
            ("secret", enrolment.secret.expose_secret()),
        ],
    )?;
    respond(&session, None, &section, StatusCode::OK)
}

/// Confirms the enrolment with a code; shows the recovery codes once.
#[post("/account/mfa/confirm")]
pub async fn confirm_enrolment(
    state: web::Data<AppState>,
    session: PageSession<BackHome>,
    query: web::Query<NextQuery>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let next = query.next();
    match state.mfa.confirm_enrolment(session.ctx(), &form.code).await {
        Ok(codes) => {
            let items: String = codes
                .iter()
                .map(|code| format!("<li><code>{}</code></li>", escape(code)))
                .collect();
            let section = render(CODES, &[("codes", &items), ("next", &next)])?;
            respond(
                &session,
                Some("Two-step login is on."),
                &section,
                StatusCode::OK,
            )
        }
        // A wrong code: a fresh secret, since the one shown is not kept in the page.
        Err(Error::Validation(_)) => {
            let section = off_section(&next)?;
            respond(
                &session,
                None,
                &format!(
                    "{}{section}",
                    error_notice(Some(
                        "That code was not right. Set up again and enter the code the app shows."
                    ))
                ),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(Error::Conflict { detail, .. }) => {
            let section = current_section(&state, &session, Some(&detail), &next).await?;
            respond(&session, None, &section, StatusCode::CONFLICT)
        }
        Err(other) => Err(other.into()),
    }
}

/// Turns two-step login off with the password and a code.
#[post("/account/mfa/disable")]
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: PageSession<BackHome>,
    form: web::Form<DisableForm>,
) -> Result<HttpResponse, PageError> {
    let DisableForm {
        current_password,
        code,
    } = form.into_inner();
    let ip = client_ip(&req, state.settings.http.trust_forwarded_for);
    match state
        .mfa
        .disable(session.ctx(), current_password, &code, ip)
        .await
    {
        Ok(()) => {
            let section = off_section("/")?;
            respond(
                &session,
                Some("Two-step login is off."),
                &section,
                StatusCode::OK,
            )
        }
        Err(Error::Validation(errors)) => {
            let message = errors
                .first()
                .map_or("Check the form.", |e| e.message.as_str());
            let section = current_section(&state, &session, Some(message), "/").await?;
            respond(&session, None, &section, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}
