//! `POST /api/auth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), so partners
//! can use any OAuth library.

use actix_web::{HttpRequest, HttpResponse, post, web};
use clinicgate_core::Error;
use clinicgate_core::tokens::{ClientCredentialsGrant, ClientSecret, GrantError};
use serde::Serialize;
use utoipa::ToSchema;

use super::credentials::{Params, client_credentials};
use super::oauth::{OAuthError, OAuthErrorBody, no_store};
use crate::http::client_ip::client_ip;
use crate::http::host::RootHost;
use crate::http::responses::{StoreErrors, route_problems};
use crate::state::AppState;

/// A token request (RFC 6749 §4.4.2), as `application/x-www-form-urlencoded` (or JSON). The
/// handler reads the body itself (either encoding, repeated parameters refused); this type
/// documents it.
#[derive(Debug, ToSchema)]
pub struct TokenRequest {
    /// Always `client_credentials`.
    #[schema(example = "client_credentials")]
    pub grant_type: String,
    /// Space-separated scopes; all of them must be the client's. Omitted: every scope the
    /// client has.
    #[schema(example = "doctors:read slots:read")]
    pub scope: Option<String>,
    /// The client id, when not sent with HTTP Basic authentication.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
    /// The client secret, when not sent with HTTP Basic authentication.
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<String>,
}

/// An issued access token (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until it expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    #[schema(example = "doctors:read slots:read")]
    pub scope: String,
}

route_problems!(
    /// What `POST /api/auth/token` answers itself.
    IssueTokenProblems {
        429 => "Too many failed client authentications; see `Retry-After`",
    }
);

/// Issues an access token to an API client (OAuth 2.0 client credentials).
///
/// Authenticate the client with HTTP Basic (`client_id:client_secret`, each form-encoded, as
/// RFC 6749 §2.3.1 says) or with `client_id` and `client_secret` in the body — not both.
/// Errors follow RFC 6749 §5.2. Repeated failed authentications are slowed down and then refused
/// with 429 for a while.
#[utoipa::path(
    tag = "auth",
    request_body(
        content(
            (TokenRequest = "application/x-www-form-urlencoded"),
            (TokenRequest = "application/json"),
        ),
    ),
    responses(
        (status = 200, description = "The token (`Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "`invalid_request`, `unsupported_grant_type` or `invalid_scope`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic realm=\"clinicgate\"`", body = OAuthErrorBody),
        (status = 413, description = "The body is larger than the deployment's limit (`invalid_request`)", body = OAuthErrorBody),
        IssueTokenProblems,
        StoreErrors,
    ),
    security((), ("client_basic" = []))
)]
#[post("/api/auth/token")]
pub async fn issue_token(
    req: HttpRequest,
    _root: RootHost,
    state: web::Data<AppState>,
    params: Params,
) -> Result<HttpResponse, OAuthError> {
    match params.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::bad_request(
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ));
        }
    }
    let (client_id, secret) = client_credentials(&req, &params)?;
    let grant = ClientCredentialsGrant {
        client_id,
        client_secret: ClientSecret::from_presented(&secret),
        scope: params.get("scope").map(str::to_owned),
        client_ip: client_ip(&req, state.settings.http.trust_forwarded_for),
    };
    let issued = match state.tokens.grant(grant).await {
        Ok(issued) => issued,
        Err(GrantError::InvalidClient) => return Err(OAuthError::invalid_client()),
        Err(GrantError::InvalidScope(why)) => {
            return Err(OAuthError::bad_request("invalid_scope", why));
        }
        Err(GrantError::Throttled(retry_after)) => {
            return Err(Error::RateLimited { retry_after }.into());
        }
        Err(GrantError::Failed(err)) => return Err(err.into()),
    };
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response.json(TokenResponse {
        expires_in: state.tokens.issuer().ttl().as_secs(),
        scope: issued.claims.scope,
        access_token: issued.token,
        token_type: "Bearer",
    }))
}
