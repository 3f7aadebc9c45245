//! `/api/tenant/sso`: the clinic's single sign-on with OpenID Connect (see
//! `clinicgate_core::sso`). Owners and admins read it; only owners change or remove it. The
//! client secret is write-only: sealed when given, never answered.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::sso::{SsoConfig, SsoInput};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::{Authenticated, sso};
use crate::state::AppState;

/// The clinic's single sign-on (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoOut {
    /// Whether single sign-on is set up; the other fields are absent when it is not.
    pub configured: bool,
    /// The address to register at the identity provider as the redirect (callback) URI.
    #[schema(example = "https://harbour.clinicgate.example.com/login/sso/callback")]
    pub redirect_uri: String,
    /// The login button says "Sign in with {provider_name}".
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Google")]
    pub provider_name: Option<String>,
    /// The identity provider's issuer URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://accounts.google.com")]
    pub issuer: Option<String>,
    /// ClinicGate's client id at the identity provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Whether a client secret is stored (it is never shown).
    pub client_secret_set: bool,
    /// Staff other than owners cannot log in with a password (owners keep it as a break-glass
    /// way in when the identity provider is down).
    pub sso_only: bool,
    /// When it was last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl SsoOut {
    fn new(redirect_uri: String, config: Option<SsoConfig>) -> Self {
        match config {
            Some(config) => Self {
                configured: true,
                redirect_uri,
                provider_name: Some(config.provider_name),
                issuer: Some(config.issuer),
                client_id: Some(config.client_id),
                client_secret_set: true,
                sso_only: config.sso_only,
                updated_at: Some(config.updated_at),
            },
            None => Self {
                configured: false,
                redirect_uri,
                provider_name: None,
                issuer: None,
                client_id: None,
                client_secret_set: false,
                sso_only: false,
                updated_at: None,
            },
        }
    }
}

/// The clinic's single sign-on to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoIn {
    /// The identity provider's issuer URL (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`), e.g. `https://accounts.google.com` or
    /// `https://login.microsoftonline.com/{tenant-id}/v2.0`.
    #[schema(example = "https://accounts.google.com")]
    pub issuer: String,
    /// ClinicGate's client id at the identity provider.
    #[schema(example = "1234567890-abc.apps.googleusercontent.com")]
    pub client_id: String,
    /// The client secret the identity provider issued; may be left out to keep the stored one.
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<SecretString>,
    /// What the login button names ("Sign in with …"); by default the provider's usual name.
    #[schema(example = "Google")]
    pub provider_name: Option<String>,
    /// Refuse password login to staff other than owners. Default false.
    #[serde(default)]
    pub sso_only: bool,
}

fn redirect_uri(state: &AppState, auth: &Authenticated) -> String {
    sso::redirect_uri(state, &auth.clinic)
}

/// The clinic's single sign-on (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The settings, without the secret", body = SsoOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/sso")]
pub async fn get_sso(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = state.sso.get(auth.ctx()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(SsoOut::new(redirect_uri(&state, &auth), config)))
}

route_problems!(
    /// What `PUT /api/tenant/sso` answers itself.
    PutSsoProblems {
        403 => "Not an owner",
        422 => "A missing or malformed field, an issuer the outbound guard refuses or without a usable discovery document (`discovery_failed`), or no client secret the first time",
    }
);

/// Sets the clinic's single sign-on (owners). The issuer's discovery document is fetched now,
/// so a wrong issuer is refused at once.
#[utoipa::path(
    tag = "clinic",
    request_body = SsoIn,
    responses(
        (status = 200, description = "Set", body = SsoOut),
        SessionErrors, JsonBodyErrors,
        PutSsoProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/sso")]
pub async fn put_sso(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<SsoIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let config = state
        .sso
        .configure(
            auth.ctx(),
            SsoInput {
                provider_name: body.provider_name,
                issuer: body.issuer,
                client_id: body.client_id,
                client_secret: body.client_secret,
                sso_only: body.sso_only,
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(SsoOut::new(redirect_uri(&state, &auth), Some(config))))
}

route_problems!(
    /// What `DELETE /api/tenant/sso` answers itself.
    DeleteSsoProblems {
        403 => "Not an owner",
        404 => "No single sign-on is set up",
    }
);

/// Removes the clinic's single sign-on (owners): everyone logs in with a password again.
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 204, description = "Removed"),
        SessionErrors,
        DeleteSsoProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/sso")]
pub async fn delete_sso(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.sso.remove(auth.ctx()).await?;
    Ok(HttpResponse::NoContent().finish())
}
