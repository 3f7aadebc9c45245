//! `GET /api/auth/validate` (token introspection in the RFC 7662 shape, for the presented bearer
//! token) and `DELETE /api/auth/revoke` (RFC 7009-style revocation).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use clinicgate_core::Error;
use clinicgate_core::tokens::{ClientRevokeError, ClientSecret, Rejection, RevokeError};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::credentials::{Authorization, Params, authorization, client_credentials};
use super::oauth::{OAuthError, OAuthErrorBody, bearer_challenge, no_store};
use crate::http::client_ip::client_ip;
use crate::http::host::RootHost;
use crate::http::problem::ApiError;
use crate::http::responses::{StoreErrors, route_problems};
use crate::state::AppState;

/// An active token's introspection (RFC 7662 §2.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectionOut {
    /// Always `true` here; an invalid token gets 401 `{"active": false}`.
    pub active: bool,
    /// The client the token was issued to.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// The scopes the token may use now, space-separated (its granted scopes, narrowed to those
    /// its client still holds).
    #[schema(example = "doctors:read slots:read")]
    pub scope: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issue time (Unix seconds).
    pub iat: i64,
    /// Not valid before (Unix seconds).
    pub nbf: i64,
    /// Subject: the client id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Issuer: ClinicGate's public URL.
    pub iss: String,
    /// The token's unique id.
    pub jti: String,
    /// The clinic whose data the token reaches.
    pub clinic_id: Uuid,
}

/// The answer to every invalid token (RFC 7662 §2.2: nothing else is disclosed).
#[derive(Debug, Serialize, ToSchema)]
pub struct InactiveOut {
    /// Always `false`.
    pub active: bool,
}

/// The bearer token of a request that needs one, or the response for a request without.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    match authorization(req) {
        Authorization::Bearer(token) => Some(token),
        _ => None,
    }
}

fn inactive() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::WWW_AUTHENTICATE,
            bearer_challenge(Some("invalid_token")),
        ))
        .json(InactiveOut { active: false })
}

/// Introspects the presented bearer token: signature, expiry, issuer and audience, revocation,
/// and whether its client and clinic are still active.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The token is active", body = IntrospectionOut),
        (status = 401, description = "Missing, malformed, expired, not yet valid, wrongly signed or revoked, or its client or clinic is gone or suspended", body = InactiveOut),
        StoreErrors,
    ),
    security(("bearer" = []))
)]
#[get("/api/auth/validate")]
pub async fn validate(
    req: HttpRequest,
    _root: RootHost,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = bearer_token(&req) else {
        return Ok(inactive());
    };
    let access = match state.tokens.authenticate(token).await {
        Ok(access) => access,
        Err(Rejection::Failed(err)) => return Err(err.into()),
        Err(rejection) => {
            tracing::info!(reason = %rejection, "token refused at introspection");
            return Ok(inactive());
        }
    };
    let scope = access.scopes().to_string();
    let claims = access.claims;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IntrospectionOut {
            active: true,
            client_id: claims.sub.clone(),
            scope,
            token_type: "Bearer",
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            sub: claims.sub,
            aud: claims.aud,
            iss: claims.iss,
            jti: claims.jti,
            clinic_id: claims.tid.as_uuid(),
        }))
}

/// A revocation request body (optional; form or JSON, read by the handler, documented here).
#[derive(Debug, ToSchema)]
pub struct RevokeRequest {
    /// The token to revoke (RFC 7009 §2.1). With a bearer token it may be omitted (the bearer
    /// token itself is revoked); with client credentials it is required.
    pub token: Option<String>,
    /// The client id, when the client authenticates with its credentials in the body.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
    /// The client secret, when the client authenticates with its credentials in the body.
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<String>,
    /// Accepted and ignored (only access tokens exist).
    pub token_type_hint: Option<String>,
}

route_problems!(
    /// What `DELETE /api/auth/revoke` answers itself.
    RevokeProblems {
        429 => "Too many failed client authentications",
    }
);

/// Revokes an access token (RFC 7009-style). Two ways to ask:
///
/// - with `Authorization: Bearer …`: revokes that token itself or, with a `token` parameter,
///   another token of the same client;
/// - with the client's own credentials (HTTP Basic, or `client_id` and `client_secret` in the
///   body, as for `POST /api/auth/token`) and a `token` parameter: revokes that token if it was
///   issued to this client (RFC 7009 §2.1), even after it has expired or been lost.
///
/// Takes effect at once on every instance; revoking twice is fine, and a `token` that is not a
/// current token is ignored (RFC 7009 §2.2).
#[utoipa::path(
    tag = "auth",
    request_body(
        content(
            (RevokeRequest = "application/x-www-form-urlencoded"),
            (RevokeRequest = "application/json"),
        ),
        description = "The token to revoke: optional with a bearer token (default: the bearer token itself), required with client credentials",
    ),
    responses(
        (status = 204, description = "Revoked (or nothing to revoke)"),
        (status = 400, description = "`invalid_request`, or `unauthorized_client` for another client's token", body = OAuthErrorBody),
        (status = 401, description = "`invalid_token`: the bearer token is not genuine; `invalid_client`: the client credentials are wrong", body = OAuthErrorBody),
        (status = 413, description = "The body is larger than the deployment's limit (`invalid_request`)", body = OAuthErrorBody),
        RevokeProblems,
        StoreErrors,
    ),
    security(("bearer" = []), ("client_basic" = []), ())
)]
#[delete("/api/auth/revoke")]
pub async fn revoke(
    req: HttpRequest,
    _root: RootHost,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, OAuthError> {
    match authorization(&req) {
        Authorization::Bearer(bearer) => {
            revoke_with_bearer(&state, bearer, params.get("token")).await?;
        }
        Authorization::Basic(_) => revoke_with_client_credentials(&req, &state, &params).await?,
        Authorization::Missing if params.get("client_id").is_some() => {
            revoke_with_client_credentials(&req, &state, &params).await?;
        }
        Authorization::Missing | Authorization::Other => return Err(OAuthError::invalid_token()),
    }
    let mut response = HttpResponse::NoContent();
    no_store(&mut response);
    Ok(response.finish())
}

async fn revoke_with_bearer(
    state: &AppState,
    bearer: &str,
    target: Option<&str>,
) -> Result<(), OAuthError> {
    match state.tokens.revoke(bearer, target).await {
        Ok(()) => Ok(()),
        Err(RevokeError::InvalidToken) => Err(OAuthError::invalid_token()),
        Err(RevokeError::NotYours) => Err(not_yours()),
        Err(RevokeError::Failed(err)) => Err(err.into()),
    }
}

async fn revoke_with_client_credentials(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
) -> Result<(), OAuthError> {
    let (client_id, secret) = client_credentials(req, params)?;
    let target = params.get("token").ok_or_else(|| {
        OAuthError::invalid_request("token is required when the client authenticates itself")
    })?;
    let outcome = state
        .tokens
        .revoke_as_client(
            &client_id,
            &ClientSecret::from_presented(&secret),
            client_ip(req, state.settings.http.trust_forwarded_for),
            target,
        )
        .await;
    match outcome {
        Ok(()) => Ok(()),
        Err(ClientRevokeError::InvalidClient) => Err(OAuthError::invalid_client()),
        Err(ClientRevokeError::NotYours) => Err(not_yours()),
        Err(ClientRevokeError::Throttled(retry_after)) => {
            Err(Error::RateLimited { retry_after }.into())
        }
        Err(ClientRevokeError::Failed(err)) => Err(err.into()),
    }
}

fn not_yours() -> OAuthError {
    OAuthError::bad_request(
        "unauthorized_client",
        "this token was not issued to the client asking to revoke it",
    )
}
