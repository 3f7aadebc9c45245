//! `/account` on clinic hosts: every staff member changes their own password here (the JSON
//! route is `POST /api/tenant/me/password`). A plain form post: the current password is
//! required, every other session of theirs ends, and this browser gets a fresh session.
//! The page's two-step login section is [`super::account_mfa`].

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use clinicgate_core::Error;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Nav, Page};
use crate::http::html::{PageError, escape, render};
use crate::sessions::required_mfa::enrolment_pending;
use crate::sessions::{BackHere, BackHome, PageSession, safe_next, session_cookie};
use crate::state::AppState;

const ACCOUNT: &str = include_str!("../../../frontend-static/pages/account.html");

/// Query of `GET /account`.
#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    changed: Option<String>,
    /// Where to continue once two-step login is on (set when the clinic requires it).
    next: Option<String>,
}

/// The form `POST /account/password` receives.
#[derive(Debug, Deserialize)]
pub struct PasswordChangeForm {
    current_password: SecretString,
    new_password: SecretString,
}

/// A notice paragraph, or nothing without a text.
pub(super) fn notice(class: &str, role: &str, text: Option<&str>) -> String {
    text.map(|text| {
        format!(
            "<p class=\"notice {class}\" role=\"{role}\">{}</p>",
            escape(text)
        )
    })
    .unwrap_or_default()
}

/// The account page with `mfa` (the two-step login section, already rendered).
pub(super) fn account_page(
    session: &crate::sessions::Authenticated,
    done: Option<&str>,
    error: Option<&str>,
    mfa: &str,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let content = render(
        ACCOUNT,
        &[
            ("clinic_name", &session.clinic.name),
            ("email", session.session.user.email.as_str()),
            ("notice", &notice("notice-success", "status", done)),
            ("error", &notice("notice-error", "alert", error)),
            ("mfa", mfa),
        ],
    )?;
    Ok(Page {
        title: "Your password",
        content,
        scripts: &[],
        nav: Nav::Clinic {
            clinic: &session.clinic,
            user: &session.session.user,
            active: "account",
        },
    }
    .respond(status)?)
}

/// The password form.
#[get("/account")]
pub async fn show(
    state: web::Data<AppState>,
    session: PageSession<BackHere>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, PageError> {
    let done = query
        .changed
        .is_some()
        .then_some("Your password is changed. Other devices and browsers are logged out.");
    let required = enrolment_pending(&state, &session).await?.then(|| {
        format!(
            "{} requires two-step login. Set it up below to continue.",
            session.clinic.name
        )
    });
    let next = safe_next(query.next.as_deref());
    let mfa = super::account_mfa::current_section(&state, &session, None, &next).await?;
    account_page(&session, done, required.as_deref(), &mfa, StatusCode::OK)
}

/// Changes the password; this browser gets a fresh session, every other one ends.
#[post("/account/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    session: PageSession<BackHome>,
    form: web::Form<PasswordChangeForm>,
) -> Result<HttpResponse, PageError> {
    let PasswordChangeForm {
        current_password,
        new_password,
    } = form.into_inner();
    match state
        .staff
        .change_own_password(session.ctx(), current_password, new_password)
        .await
    {
        Ok(user) => {
            let fresh = state.sessions.start(session.clinic.id, user).await?;
            Ok(HttpResponse::SeeOther()
                .cookie(session_cookie(&fresh.token, &state.settings.public_url))
                .insert_header(("location", "/account?changed=1"))
                .insert_header(("cache-control", "no-store"))
                .finish())
        }
        Err(Error::Validation(errors)) => {
            let message = errors
                .first()
                .map_or("Check the form.", |e| e.message.as_str());
            let mfa = super::account_mfa::current_section(&state, &session, None, "/").await?;
            account_page(
                &session,
                None,
                Some(message),
                &mfa,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(other) => Err(other.into()),
    }
}
