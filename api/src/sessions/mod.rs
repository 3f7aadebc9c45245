//! Staff sessions on clinic hosts: the cookie, logging in and out, CSRF checks, and the two
//! extractors through which every session-authenticated handler obtains its `TenantContext`:
//! [`Authenticated`] for JSON routes (problems) and [`PageSession`] for pages (redirects to the
//! login page and error pages). Depends on `http` and the app state, never on routes or pages.
//!
//! The cookie is host-only (no `Domain`), `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` with
//! the `__Host-` name prefix when the public URL is https. Its value is an opaque 256-bit token;
//! the server stores only its digest (see `clinicgate_core::sessions`).

mod csrf;
pub mod mfa;
mod page;
mod redirect;
pub mod required_mfa;
pub mod sso;

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use clinicgate_core::Error;
use clinicgate_core::clinics::Clinic;
use clinicgate_core::mfa::PendingLogin;
use clinicgate_core::sessions::{LoginAttempt, NewSession, Session, SessionToken};
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::users::{ResetRequest, User};
use secrecy::SecretString;

pub use csrf::{CrossOrigin, is_unsafe, require_same_origin};
pub use page::{
    BackHere, BackHome, BackToPatient, LoginReturn, NoReturn, PageRefusal, PageSession, PageUser,
    login_location,
};
pub use redirect::safe_next;

use crate::config::PublicUrl;
use crate::http::client_ip::client_ip;
use crate::http::host::TenantHost;
use crate::http::problem::ApiError;
use crate::state::AppState;

/// The cookie's name over plain http (development).
const COOKIE: &str = "cg_session";
/// Over https: the `__Host-` prefix makes browsers refuse the cookie unless it is Secure,
/// host-only and `Path=/`, so not even a sibling subdomain could plant one.
const SECURE_COOKIE: &str = "__Host-cg_session";

/// The session cookie's name under this public URL.
pub fn cookie_name(public: &PublicUrl) -> &'static str {
    if public.is_https() {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

/// The cookie that carries `token`.
pub fn session_cookie(token: &SessionToken, public: &PublicUrl) -> Cookie<'static> {
    Cookie::build(cookie_name(public), token.expose().to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(public.is_https())
        .finish()
}

/// A cookie that makes the browser forget the session cookie.
pub fn expired_cookie(public: &PublicUrl) -> Cookie<'static> {
    Cookie::build(cookie_name(public), "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(public.is_https())
        .max_age(time::Duration::ZERO)
        .finish()
}

/// The session token the request carries, if it has the shape of one.
pub fn token_from(req: &HttpRequest, public: &PublicUrl) -> Option<SessionToken> {
    req.cookie(cookie_name(public))
        .and_then(|cookie| SessionToken::from_cookie(cookie.value()))
}

/// The 401 a failed login answers, whatever was wrong.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the e-mail address or password is incorrect",
    )
}

/// The 401 a failed MFA step answers, whatever was wrong (code, replay, expired pending login).
pub fn invalid_mfa_code() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
        "the code is incorrect or already used, or the login expired; try again",
    )
}

/// Where a correct password (or a verified single sign-on) leads.
#[derive(Debug)]
pub enum LoginStep {
    /// The user has no MFA: the session is started.
    Session(NewSession),
    /// The user has MFA: a code completes the login (see [`complete_mfa`]).
    MfaRequired(PendingLogin),
    /// The clinic is "SSO only" and the user is not an owner: no password login, whatever
    /// the password (see [`sso::password_allowed`]).
    SsoRequired,
}

/// The 403 a password login answers at an "SSO only" clinic.
pub fn sso_required() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "sso_required",
        "this clinic signs its staff in with its identity provider: use single sign-on (GET /login/sso)",
    )
}

/// Logs in on `clinic`'s host with the request's client IP: checks the password, then either
/// starts the session (ending the one the browser already had: sessions rotate at login) or,
/// for a user with MFA, hands out the pending state a code completes.
///
/// # Errors
/// `Unauthenticated` for wrong credentials, `RateLimited` when throttled.
pub async fn log_in(
    req: &HttpRequest,
    state: &AppState,
    clinic: &Clinic,
    email: String,
    password: SecretString,
) -> Result<LoginStep, Error> {
    let attempt = LoginAttempt {
        tenant_id: clinic.id,
        email,
        password,
        client_ip: client_ip(req, state.settings.http.trust_forwarded_for),
        previous: token_from(req, &state.settings.public_url),
    };
    let user = state.sessions.check_password(&attempt).await?;
    if !sso::password_allowed(state, clinic, &user).await? {
        return Ok(LoginStep::SsoRequired);
    }
    start_session(req, state, clinic, user, false).await
}

/// The end of a first factor (a password, or single sign-on): for a user with MFA, unless the
/// identity provider says a second factor was used (`second_factor_done`), the pending state a
/// code completes; else the session, ending the one the browser already had (sessions rotate
/// at login).
///
/// # Errors
/// When the database or the session store fails.
pub async fn start_session(
    req: &HttpRequest,
    state: &AppState,
    clinic: &Clinic,
    user: User,
    second_factor_done: bool,
) -> Result<LoginStep, Error> {
    if !second_factor_done && state.mfa.is_enabled(clinic.id, user.id).await? {
        return Ok(LoginStep::MfaRequired(
            state.mfa.pending_login(clinic.id, user.id).await?,
        ));
    }
    let previous = token_from(req, &state.settings.public_url);
    let started = state
        .sessions
        .rotate(previous.as_ref(), clinic.id, user)
        .await?;
    Ok(LoginStep::Session(started))
}

/// Completes a login pending on MFA with a TOTP or recovery code, starting the session.
///
/// # Errors
/// `Unauthenticated` for an expired pending login or a wrong or used code, `RateLimited` once
/// the user's failures reach the limit.
pub async fn complete_mfa(
    req: &HttpRequest,
    state: &AppState,
    clinic: &Clinic,
    pending: &str,
    code: &str,
) -> Result<NewSession, Error> {
    let ip = client_ip(req, state.settings.http.trust_forwarded_for);
    let user = state
        .mfa
        .complete_login(clinic.id, pending, code, ip)
        .await?;
    let previous = token_from(req, &state.settings.public_url);
    state
        .sessions
        .rotate(previous.as_ref(), clinic.id, user)
        .await
}

/// Takes a "Forgot password?" request for `email` on `clinic`'s host (see
/// `clinicgate_core::users::recovery`): the answer is the same whether or not the address has an
/// account. `Ok(true)` when a link is e-mailed to an existing account, `Ok(false)` when this
/// deployment has no relay (the person asks the clinic's owner instead).
///
/// # Errors
/// `RateLimited` when the address or the client asked too often.
pub async fn forgot_password(
    req: &HttpRequest,
    state: &AppState,
    clinic: &Clinic,
    email: String,
) -> Result<bool, Error> {
    state
        .recovery
        .request(ResetRequest {
            tenant: clinic.id,
            clinic_name: clinic.name.clone(),
            email,
            client_ip: client_ip(req, state.settings.http.trust_forwarded_for),
            clinic_url: state
                .settings
                .public_url
                .tenant_url(clinic.subdomain.as_str()),
        })
        .await?;
    Ok(state.recovery.mail_configured())
}

/// A request authenticated by a session of the clinic whose host it arrived on.
#[derive(Debug)]
pub struct Authenticated {
    /// The clinic (from the host).
    pub clinic: Clinic,
    /// The session: context, user, expiry.
    pub session: Session,
    /// The cookie's token (to end the session).
    pub token: SessionToken,
}

impl Authenticated {
    /// The tenant context every tenant-owned service call takes.
    pub fn ctx(&self) -> &TenantContext {
        &self.session.context
    }
}

/// Resumes the request's session on `clinic`'s host; `Ok(None)` when there is no valid one.
///
/// # Errors
/// Only when the session store or database fails (503).
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    clinic: &Clinic,
) -> Result<Option<Authenticated>, ApiError> {
    let Some(token) = token_from(req, &state.settings.public_url) else {
        return Ok(None);
    };
    match state.sessions.resume(clinic.id, &token).await {
        Ok(session) => Ok(Some(Authenticated {
            clinic: clinic.clone(),
            session,
            token,
        })),
        Err(Error::Unauthenticated) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    /// On a clinic host: refuses cross-origin writes (403), then requires a session of this
    /// clinic (401), then, where the clinic requires MFA, that the user has set it up (403
    /// `mfa_enrolment_required`, see [`required_mfa`]). Elsewhere: 404.
    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let host = TenantHost::from_request(&req, payload);
        Box::pin(async move {
            let TenantHost(clinic) = host.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::from(Error::internal("application state missing")))?;
            require_same_origin(&req, &state.settings.public_url)?;
            let auth = authenticate(&req, state, &clinic)
                .await?
                .ok_or_else(|| ApiError::from(Error::Unauthenticated))?;
            if required_mfa::held_for_enrolment(&req, state, &auth).await? {
                return Err(required_mfa::mfa_enrolment_required());
            }
            Ok(auth)
        })
    }
}
