//! `/api/session`: a staff member logs in, reads and ends their session with JSON (the HTML
//! flow is `pages::login`; the session machinery is [`crate::sessions`]).

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::sessions::{NewSession, Session};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clinics::TenantClinicOut;
use crate::http::host::TenantHost;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, StoreErrors, route_problems};
use crate::sessions::{
    Authenticated, LoginStep, complete_mfa, expired_cookie, forgot_password, invalid_credentials,
    invalid_mfa_code, log_in, require_same_origin, session_cookie, sso_required, token_from,
};
use crate::state::AppState;
use crate::users::UserOut;

/// Credentials for this clinic's host.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionIn {
    /// The staff member's e-mail address.
    #[schema(example = "jane@harbourphysio.com.au")]
    pub email: String,
    /// Their password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// The logged-in staff member and their clinic.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Who is logged in.
    pub user: UserOut,
    /// The clinic of this host.
    pub clinic: TenantClinicOut,
    /// When the session ends at the latest (it ends sooner after 30 idle minutes by default).
    pub expires_at: DateTime<Utc>,
}

async fn session_out(
    state: &AppState,
    auth_clinic: &clinicgate_core::clinics::Clinic,
    session: Session,
) -> Result<SessionOut, ApiError> {
    let connected = state
        .cliniko_keys
        .connection(&session.context)
        .await?
        .is_some();
    Ok(SessionOut {
        clinic: TenantClinicOut::new(auth_clinic, &state.settings.public_url, connected),
        expires_at: session.expires_at,
        user: session.user.into(),
    })
}

route_problems!(
    /// What `POST /api/session` answers itself.
    CreateSessionProblems {
        401 => "Wrong e-mail or password (`invalid_credentials`)",
        403 => "Not sent from this clinic's pages (`csrf_origin_mismatch`), or the clinic signs staff in with single sign-on only and the user is not an owner (`sso_required`)",
        429 => "Too many failed logins; see `Retry-After`",
    }
);

/// Logs in on this clinic's host and sets the session cookie.
///
/// A user with MFA gets no session yet: the answer is 202 with `mfa_required` and a pending
/// token (five minutes) to send with a code to `POST /api/session/mfa`.
///
/// A user belongs to one clinic: the same e-mail on another clinic's host is not found. Wrong
/// credentials always get the same answer, in the same time. Repeated failures for one account or
/// one address are slowed down and then refused with 429.
#[utoipa::path(
    tag = "session",
    request_body = SessionIn,
    responses(
        (status = 200, description = "Logged in; the `Set-Cookie` header carries the session", body = SessionOut),
        (status = 202, description = "Password correct, and the user has MFA: complete the login with a code at `POST /api/session/mfa`", body = MfaRequiredOut),
        JsonBodyErrors, StoreErrors,
        CreateSessionProblems,
    )
)]
#[post("/api/session")]
pub async fn create_session(
    req: HttpRequest,
    TenantHost(clinic): TenantHost,
    state: web::Data<AppState>,
    body: web::Json<SessionIn>,
) -> Result<HttpResponse, ApiError> {
    // Login CSRF: a foreign page must not log the browser into an account of its choosing.
    require_same_origin(&req, &state.settings.public_url)?;
    let body = body.into_inner();
    let created = match log_in(&req, &state, &clinic, body.email, body.password).await {
        Ok(LoginStep::Session(created)) => created,
        Ok(LoginStep::MfaRequired(pending)) => {
            return Ok(HttpResponse::Accepted()
                .insert_header(("cache-control", "no-store"))
                .json(MfaRequiredOut {
                    mfa_required: true,
                    mfa_token: pending.token.expose_secret().to_owned(),
                    expires_at: pending.expires_at,
                }));
        }
        Ok(LoginStep::SsoRequired) => return Err(sso_required()),
        Err(Error::Unauthenticated) => return Err(invalid_credentials()),
        Err(other) => return Err(other.into()),
    };
    session_response(&state, &clinic, created).await
}

/// The answer of a completed login: the session cookie and the session.
async fn session_response(
    state: &AppState,
    clinic: &clinicgate_core::clinics::Clinic,
    created: NewSession,
) -> Result<HttpResponse, ApiError> {
    let cookie = session_cookie(&created.token, &state.settings.public_url);
    let body = session_out(state, clinic, created.session).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header(("cache-control", "no-store"))
        .json(body))
}

/// Who is logged in on this clinic's host.
#[utoipa::path(
    tag = "session",
    responses(
        (status = 200, description = "The session", body = SessionOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/session")]
pub async fn current_session(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Authenticated {
        clinic, session, ..
    } = auth;
    let body = session_out(&state, &clinic, session).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(body))
}

/// The answer to a correct password of a user with MFA: no session yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredOut {
    /// Always true: a code is needed to finish logging in.
    pub mfa_required: bool,
    /// Send it with the code to `POST /api/session/mfa`.
    pub mfa_token: String,
    /// When the pending login ends; log in again after it.
    pub expires_at: DateTime<Utc>,
}

/// The second step of a login with MFA.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionMfaIn {
    /// The `mfa_token` from `POST /api/session`.
    pub mfa_token: String,
    /// A 6-digit code from the authenticator app, or an unused recovery code.
    #[schema(example = "123456")]
    pub code: String,
}

route_problems!(
    /// What `POST /api/session/mfa` answers itself.
    CompleteMfaProblems {
        401 => "Wrong or already used code, or the pending login expired (`invalid_mfa_code`)",
        403 => "Not sent from this clinic's pages (`csrf_origin_mismatch`)",
        429 => "Too many failed codes for this user; see `Retry-After`",
    }
);

/// Completes a login pending on MFA with a code; sets the session cookie.
///
/// Each TOTP code is accepted once (a replay is refused), as is each recovery code. Failures
/// are counted per user: after a few, codes are refused with 429 for some minutes.
#[utoipa::path(
    tag = "session",
    request_body = SessionMfaIn,
    responses(
        (status = 200, description = "Logged in; the `Set-Cookie` header carries the session", body = SessionOut),
        JsonBodyErrors, StoreErrors,
        CompleteMfaProblems,
    )
)]
#[post("/api/session/mfa")]
pub async fn complete_session_mfa(
    req: HttpRequest,
    TenantHost(clinic): TenantHost,
    state: web::Data<AppState>,
    body: web::Json<SessionMfaIn>,
) -> Result<HttpResponse, ApiError> {
    require_same_origin(&req, &state.settings.public_url)?;
    match complete_mfa(&req, &state, &clinic, &body.mfa_token, &body.code).await {
        Ok(created) => session_response(&state, &clinic, created).await,
        Err(Error::Unauthenticated) => Err(invalid_mfa_code()),
        Err(other) => Err(other.into()),
    }
}

/// A "Forgot password?" request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordResetRequestIn {
    /// The staff member's e-mail address on this clinic.
    #[schema(example = "jane@harbourphysio.com.au")]
    pub email: String,
}

/// The answer to every "Forgot password?" request, whether or not the address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetRequestOut {
    /// True when this deployment sends e-mail: if the address belongs to an active staff member
    /// of this clinic, a reset link (one use, 24 hours) is on its way. False when it sends none:
    /// ask an owner or admin of the clinic for a reset link.
    pub emailed_if_account_exists: bool,
}

route_problems!(
    /// What `POST /api/session/password-reset` answers itself.
    PasswordResetRequestProblems {
        403 => "Not sent from this clinic's pages (`csrf_origin_mismatch`)",
        429 => "Too many requests for this address or from this client; see `Retry-After`",
    }
);

/// Asks for a password reset link by e-mail ("Forgot password?").
///
/// The answer is the same, in the same time, whether or not the address belongs to a staff
/// member of this clinic: the link is made and sent in the background. Requests are limited per
/// address (3 per 15 minutes) and per client (10 per 15 minutes).
#[utoipa::path(
    tag = "session",
    request_body = PasswordResetRequestIn,
    responses(
        (status = 202, description = "Taken; see `emailed_if_account_exists`", body = PasswordResetRequestOut),
        JsonBodyErrors, StoreErrors,
        PasswordResetRequestProblems,
    )
)]
#[post("/api/session/password-reset")]
pub async fn request_password_reset(
    req: HttpRequest,
    TenantHost(clinic): TenantHost,
    state: web::Data<AppState>,
    body: web::Json<PasswordResetRequestIn>,
) -> Result<HttpResponse, ApiError> {
    require_same_origin(&req, &state.settings.public_url)?;
    let emailed = forgot_password(&req, &state, &clinic, body.into_inner().email).await?;
    Ok(HttpResponse::Accepted()
        .insert_header(("cache-control", "no-store"))
        .json(PasswordResetRequestOut {
            emailed_if_account_exists: emailed,
        }))
}

route_problems!(
    /// What `DELETE /api/session` answers itself.
    DeleteSessionProblems {
        403 => "Not sent from this clinic's pages (`csrf_origin_mismatch`)",
    }
);

/// Logs out: the session is deleted on the server and the cookie cleared. Idempotent.
#[utoipa::path(
    tag = "session",
    responses(
        (status = 204, description = "Logged out"),
        StoreErrors,
        DeleteSessionProblems,
    )
)]
#[delete("/api/session")]
pub async fn delete_session(
    req: HttpRequest,
    _host: TenantHost,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_same_origin(&req, &state.settings.public_url)?;
    if let Some(token) = token_from(&req, &state.settings.public_url) {
        state.sessions.logout(&token).await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(expired_cookie(&state.settings.public_url))
        .finish())
}
