//! A staff member's own TOTP MFA on the clinic's host: enrol (`POST /api/tenant/me/mfa/enrolment`),
//! confirm with a first code (`…/enrolment/confirm`, which answers the recovery codes once), and
//! turn it off (`DELETE /api/tenant/me/mfa`). The login's code step is `POST /api/session/mfa`
//! (`crate::login`). Every answer here carries secrets, so none may be stored by a cache.
//! Owners and admins reset a staff member's MFA with `DELETE /api/tenant/users/{id}/mfa`.

use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use clinicgate_core::Error;
use clinicgate_core::ids::UserId;
use clinicgate_core::mfa::Enrolment;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::client_ip::client_ip;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::sessions::mfa::{issuer, qr_svg};
use crate::state::AppState;

/// What an authenticator app needs, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaEnrolmentOut {
    /// The `otpauth://totp/…` URI (what the QR code holds).
    pub otpauth_uri: String,
    /// The base32 secret, for apps that cannot scan.
    pub secret: String,
    /// The QR code of `otpauth_uri`, as an SVG document rendered by ClinicGate (no third party
    /// sees the secret).
    pub qr_svg: String,
}

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCodeIn {
    /// The 6-digit code the app shows now.
    #[schema(example = "123456")]
    pub code: String,
}

/// The recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesOut {
    /// Ten single-use codes, each usable instead of an app code once. Keep them somewhere safe.
    #[schema(example = json!(["7KQ4M-XR2PA"]))]
    pub recovery_codes: Vec<String>,
}

/// Turning MFA off: the password and a current code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaDisableIn {
    /// The current password.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// A current app code or an unused recovery code.
    pub code: String,
}

impl TryFrom<Enrolment> for MfaEnrolmentOut {
    type Error = Error;

    fn try_from(enrolment: Enrolment) -> Result<Self, Error> {
        let otpauth_uri = enrolment.otpauth_uri.expose_secret().to_owned();
        Ok(Self {
            qr_svg: qr_svg(&otpauth_uri)?,
            otpauth_uri,
            secret: enrolment.secret.expose_secret().to_owned(),
        })
    }
}

route_problems!(
    /// What `POST /api/tenant/me/mfa/enrolment` answers itself.
    StartEnrolmentProblems {
        409 => "MFA is already on (`mfa_already_enabled`)",
    }
);

/// Starts MFA enrolment for the caller with a fresh secret (an unconfirmed earlier one is
/// replaced). MFA is not required at login until confirmed with a code.
#[utoipa::path(
    tag = "session",
    responses(
        (status = 201, description = "The secret, shown this once", body = MfaEnrolmentOut),
        SessionErrors,
        StartEnrolmentProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/me/mfa/enrolment")]
pub async fn start_enrolment(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let enrolment = state
        .mfa
        .begin_enrolment(auth.ctx(), &issuer(&auth.clinic))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(MfaEnrolmentOut::try_from(enrolment)?))
}

route_problems!(
    /// What `POST /api/tenant/me/mfa/enrolment/confirm` answers itself.
    ConfirmEnrolmentProblems {
        409 => "No enrolment in progress (`no_enrolment`)",
        422 => "The code is wrong (`code`)",
    }
);

/// Confirms the enrolment with a code from the app: MFA is on from now, and this answer holds
/// the ten recovery codes (shown this once; stored only as digests).
#[utoipa::path(
    tag = "session",
    request_body = MfaCodeIn,
    responses(
        (status = 200, description = "MFA is on", body = RecoveryCodesOut),
        SessionErrors, JsonBodyErrors,
        ConfirmEnrolmentProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/me/mfa/enrolment/confirm")]
pub async fn confirm_enrolment(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<MfaCodeIn>,
) -> Result<HttpResponse, ApiError> {
    let recovery_codes = state.mfa.confirm_enrolment(auth.ctx(), &body.code).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(RecoveryCodesOut { recovery_codes }))
}

route_problems!(
    /// What `DELETE /api/tenant/me/mfa` answers itself.
    DisableMfaProblems {
        422 => "A wrong password (`current_password`) or code (`code`); nothing changes",
        429 => "Too many failed codes; see `Retry-After`",
    }
);

/// Turns the caller's MFA off, with their password and a current code; the recovery codes
/// stop working too.
#[utoipa::path(
    tag = "session",
    request_body = MfaDisableIn,
    responses(
        (status = 204, description = "MFA is off"),
        SessionErrors, JsonBodyErrors,
        DisableMfaProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/me/mfa")]
pub async fn disable_mfa(
    req: HttpRequest,
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<MfaDisableIn>,
) -> Result<HttpResponse, ApiError> {
    let MfaDisableIn {
        current_password,
        code,
    } = body.into_inner();
    let ip = client_ip(&req, state.settings.http.trust_forwarded_for);
    state
        .mfa
        .disable(auth.ctx(), current_password, &code, ip)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

route_problems!(
    /// What `DELETE /api/tenant/users/{id}/mfa` answers itself.
    ResetMfaProblems {
        404 => "No such user in this clinic",
    }
);

/// Removes a staff member's MFA for them (a lost phone and no recovery code left): owners and
/// admins, only owners for owners. Recorded with who did it and when; the staff member then
/// logs in with their password and can enrol again.
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Their MFA is off"),
        SessionErrors,
        ResetMfaProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/users/{id}/mfa")]
pub async fn reset_user_mfa(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .mfa
        .reset_for(auth.ctx(), UserId::from_uuid(path.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
