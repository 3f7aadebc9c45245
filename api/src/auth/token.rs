//! `POST /api/auth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), so partners
//! can use any OAuth library, with a client secret or a `private_key_jwt` assertion (RFC 7523,
//! SMART Backend Services).

use actix_web::{HttpRequest, HttpResponse, post, web};
use clinicgate_core::Error;
use clinicgate_core::tokens::{
    CLIENT_ASSERTION_TYPE, ClientCredentialsGrant, ClientProof, ClientSecret, GrantError,
    claimed_client,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::credentials::{Authorization, Params, authorization, client_credentials};
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
    /// Space-separated scopes: ClinicGate's (`patients:read`) or SMART v2 system scopes
    /// (`system/Patient.rs`, mapped onto ClinicGate's); all of them must be the client's.
    /// Omitted: every scope the client has.
    #[schema(example = "doctors:read slots:read")]
    pub scope: Option<String>,
    /// The client id, when not sent with HTTP Basic authentication.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
    /// The client secret, when not sent with HTTP Basic authentication.
    #[schema(value_type = Option<String>, format = Password)]
    pub client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` to authenticate with
    /// `private_key_jwt` instead of a secret.
    #[schema(example = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")]
    pub client_assertion_type: Option<String>,
    /// The assertion: a JWT signed ES384 or RS384 by a key registered with
    /// `PUT /api/tenant/clients/{client_id}/jwks`, with `iss` = `sub` = the client id, `aud` =
    /// this endpoint's URL, `exp` at most five minutes ahead and a `jti` never used before.
    pub client_assertion: Option<String>,
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
    /// The scopes granted, space-separated, as requested (SMART system scopes included).
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
/// RFC 6749 §2.3.1 says), with `client_id` and `client_secret` in the body, or with a
/// `client_assertion` (`private_key_jwt`, SMART Backend Services) — exactly one of them.
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
        (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `invalid_scope`, or `unauthorized_client` when the clinic has suspended the client (or all of its integrations)", body = OAuthErrorBody),
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
    let (client_id, proof) = client_proof(&req, &params)?;
    let grant = ClientCredentialsGrant {
        client_id,
        proof,
        scope: params.get("scope").map(str::to_owned),
        client_ip: client_ip(&req, state.settings.http.trust_forwarded_for),
    };
    let granted = match state.tokens.grant(grant).await {
        Ok(granted) => granted,
        Err(GrantError::InvalidClient) => return Err(OAuthError::invalid_client()),
        Err(GrantError::InvalidScope(why)) => {
            return Err(OAuthError::bad_request("invalid_scope", why));
        }
        Err(GrantError::Throttled(retry_after)) => {
            return Err(Error::RateLimited { retry_after }.into());
        }
        Err(GrantError::Suspended) => {
            return Err(OAuthError::bad_request(
                "unauthorized_client",
                "the clinic has suspended this client; it gets no token until the clinic resumes it",
            ));
        }
        Err(GrantError::Failed(err)) => return Err(err.into()),
    };
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response.json(TokenResponse {
        expires_in: state.tokens.issuer().ttl().as_secs(),
        scope: granted.scope,
        access_token: granted.issued.token,
        token_type: "Bearer",
    }))
}

/// The client id and how the client proves it: a `client_assertion` (RFC 7523 §2.2), whose
/// `iss` names the client when `client_id` is not sent, or a secret (RFC 6749 §2.3.1).
fn client_proof(req: &HttpRequest, params: &Params) -> Result<(String, ClientProof), OAuthError> {
    match (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    ) {
        (None, None) => {
            let (client_id, secret) = client_credentials(req, params)?;
            Ok((
                client_id,
                ClientProof::Secret(ClientSecret::from_presented(&secret)),
            ))
        }
        (Some(CLIENT_ASSERTION_TYPE), Some(assertion)) => {
            if authorization(req) != Authorization::Missing || params.get("client_secret").is_some()
            {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method: a client_assertion, HTTP Basic or a client_secret, not several",
                ));
            }
            let client_id = params
                .get("client_id")
                .map(str::to_owned)
                .or_else(|| claimed_client(assertion))
                .ok_or_else(OAuthError::invalid_client)?;
            Ok((client_id, ClientProof::Assertion(assertion.to_owned())))
        }
        (Some(CLIENT_ASSERTION_TYPE), None) => Err(OAuthError::invalid_request(
            "client_assertion is required with this client_assertion_type",
        )),
        (Some(_), _) | (None, Some(_)) => Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
        ))),
    }
}
