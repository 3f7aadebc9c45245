//! `/login/sso` and its callback on clinic hosts: single sign-on through the clinic's OpenID
//! provider (see `clinicgate_core::sso`).
//!
//! `GET /login/sso?next=…` sends the browser to the provider with a fresh `state`, `nonce` and
//! PKCE challenge, their sealed copy in a cookie of this browser. The provider sends it back to
//! `GET /login/sso/callback?code=…&state=…`; the login is then finished the way a password login
//! is (MFA, then the session, then `next`: the patient a clinician clicked in Cliniko). Failures
//! show the login page with what went wrong; nothing of the provider's answer is logged.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use clinicgate_core::sso::SsoFailure;
use serde::Deserialize;

use super::login::{LoginView, clinic_of, finish_login, login_page};
use crate::http::html::{PageError, no_clinic_here};
use crate::sessions::{safe_next, sso, start_session};
use crate::state::AppState;

/// Query of `GET /login/sso`.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Query of the callback (RFC 6749 §4.1.2: `code` and `state`, or `error`).
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The status of the login page that shows `failure`.
fn status_of(failure: &SsoFailure) -> StatusCode {
    match failure {
        SsoFailure::NotConfigured => StatusCode::NOT_FOUND,
        SsoFailure::BadState => StatusCode::BAD_REQUEST,
        SsoFailure::Denied(_) | SsoFailure::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        SsoFailure::EmailUnverified | SsoFailure::NoAccount => StatusCode::FORBIDDEN,
        SsoFailure::Provider(_) => StatusCode::BAD_GATEWAY,
        SsoFailure::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The login page with `failure`'s message (a store or database failure is an error page).
async fn failed(
    state: &AppState,
    req: &HttpRequest,
    failure: SsoFailure,
    next: &str,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(req) else {
        return Ok(no_clinic_here(req, state.settings.public_url.as_str()));
    };
    tracing::info!(tenant_id = %clinic.id, code = failure.code(), "single sign-on refused");
    let failure = match failure {
        SsoFailure::Other(err) => return Err(err.into()),
        other => other,
    };
    let message = format!("Single sign-on failed: {failure}.");
    login_page(
        state,
        &clinic,
        &LoginView {
            email: "",
            next,
            notice: None,
            error: Some(&message),
        },
        status_of(&failure),
    )
    .await
}

/// Sends the browser to the clinic's provider.
#[get("/login/sso")]
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<StartQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    let next = safe_next(query.next.as_deref());
    let redirect_uri = sso::redirect_uri(&state, &clinic);
    match state.sso.start(clinic.id, &redirect_uri, &next).await {
        Ok(started) => Ok(HttpResponse::SeeOther()
            .cookie(sso::state_cookie(
                &state.settings.public_url,
                &started.sealed_state,
            ))
            .insert_header((header::LOCATION, started.authorization_url))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()),
        Err(failure) => failed(&state, &req, failure, &next).await,
    }
}

/// Where the provider sends the browser back: finishes the login.
#[get("/login/sso/callback")]
pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, PageError> {
    let Some(clinic) = clinic_of(&req) else {
        return Ok(no_clinic_here(&req, state.settings.public_url.as_str()));
    };
    let public = &state.settings.public_url;
    let finished = match (
        &query.error,
        &query.code,
        &query.state,
        sso::state_from(&req, public),
    ) {
        (Some(error), ..) => Err(SsoFailure::Denied(
            error
                .chars()
                .filter(char::is_ascii_graphic)
                .take(64)
                .collect(),
        )),
        (None, Some(code), Some(returned), Some(sealed)) => {
            state
                .sso
                .finish(
                    clinic.id,
                    &sealed,
                    returned,
                    code,
                    &sso::redirect_uri(&state, &clinic),
                )
                .await
        }
        _ => Err(SsoFailure::BadState),
    };
    let mut response = match finished {
        Ok(identity) => {
            let step =
                start_session(&req, &state, &clinic, identity.user, identity.multi_factor).await?;
            match finish_login(&state, &clinic, step, &identity.next)? {
                Ok(response) => response,
                Err(message) => {
                    login_page(
                        &state,
                        &clinic,
                        &LoginView {
                            email: "",
                            next: &identity.next,
                            notice: None,
                            error: Some(&message),
                        },
                        StatusCode::FORBIDDEN,
                    )
                    .await?
                }
            }
        }
        Err(failure) => failed(&state, &req, failure, "/").await?,
    };
    // The state is used once, whatever the outcome.
    response
        .add_cookie(&sso::expired_state_cookie(public))
        .map_err(|e| {
            clinicgate_core::Error::internal(format!("cannot clear the SSO cookie: {e}"))
        })?;
    Ok(response)
}
