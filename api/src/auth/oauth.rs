//! OAuth errors (RFC 6749 §5.2, RFC 6750 §3, RFC 7009): `{"error", "error_description"}` bodies
//! with the `WWW-Authenticate` challenge the RFCs ask for. Failures that are not the caller's
//! (a store down) are problems like everywhere else.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use clinicgate_core::tokens::Scope;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::security::SecurityRequirement;

use crate::http::problem::ApiError;

/// The realm of every challenge.
pub const REALM: &str = "clinicgate";

/// An OAuth 2.0 error response body (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": "invalid_scope", "error_description": "this client may request only: doctors:read slots:read"}))]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope` or (bearer tokens) `invalid_token`.
    pub error: &'static str,
    /// What went wrong, for the developer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// An error of the OAuth endpoints.
#[derive(Debug)]
pub enum OAuthError {
    /// An RFC-shaped error.
    OAuth {
        /// 400 or 401.
        status: StatusCode,
        /// The `error` code.
        error: &'static str,
        /// The `error_description`.
        description: Option<String>,
        /// The `WWW-Authenticate` challenge, for 401.
        challenge: Option<String>,
    },
    /// Anything else, as a problem (429, 503); boxed, it is large and rare.
    Problem(Box<ApiError>),
}

impl OAuthError {
    /// 400 with `error`.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth {
            status: StatusCode::BAD_REQUEST,
            error,
            description: Some(description.into()),
            challenge: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", description)
    }

    /// 401 `invalid_client` with a Basic challenge (RFC 6749 §5.2).
    pub fn invalid_client() -> Self {
        Self::OAuth {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: Some("client authentication failed".to_owned()),
            challenge: Some(format!("Basic realm=\"{REALM}\"")),
        }
    }

    /// 401 `invalid_token` with a Bearer challenge (RFC 6750 §3.1).
    pub fn invalid_token() -> Self {
        Self::OAuth {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_token",
            description: Some(
                "the access token is missing, malformed, expired, revoked or otherwise invalid"
                    .to_owned(),
            ),
            challenge: Some(bearer_challenge(Some("invalid_token"))),
        }
    }
}

/// A Bearer `WWW-Authenticate` challenge, with an RFC 6750 error code when the request carried
/// a token (none when it carried no credentials at all, as §3.1 asks).
pub fn bearer_challenge(error: Option<&str>) -> String {
    match error {
        Some(error) => format!("Bearer realm=\"{REALM}\", error=\"{error}\""),
        None => format!("Bearer realm=\"{REALM}\""),
    }
}

impl<E: Into<ApiError>> From<E> for OAuthError {
    fn from(err: E) -> Self {
        Self::Problem(Box::new(err.into()))
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OAuth { status, error, .. } => write!(f, "{} {error}", status.as_u16()),
            Self::Problem(problem) => problem.fmt(f),
        }
    }
}

/// Token responses and errors must never be cached (RFC 6749 §5.1).
pub fn no_store(
    response: &mut actix_web::HttpResponseBuilder,
) -> &mut actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::OAuth { status, .. } => *status,
            Self::Problem(problem) => problem.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::OAuth {
                status,
                error,
                description,
                challenge,
            } => {
                let mut response = HttpResponse::build(*status);
                no_store(&mut response);
                if let Some(challenge) = challenge {
                    response.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
                }
                response.json(OAuthErrorBody {
                    error,
                    error_description: description.clone(),
                })
            }
            Self::Problem(problem) => problem.error_response(),
        }
    }
}

/// The token endpoint, relative so the document serves any public URL (Swagger UI resolves it
/// against the page).
const TOKEN_URL: &str = "/api/auth/token";

/// Declares the `bearer` (access token, JWT), `oauth2` (the client-credentials flow, so the
/// interactive docs' "Authorize" gets a token itself) and `client_basic` (client credentials at
/// the token endpoint) security schemes of the OpenAPI document.
#[derive(Debug)]
pub struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /api/auth/token` (EdDSA-signed JWT; keys at `/.well-known/jwks.json`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    TOKEN_URL,
                    Scopes::from_iter(
                        Scope::ALL
                            .into_iter()
                            .map(|scope| (scope.as_str(), scope.description())),
                    ),
                ))],
                "The OAuth 2.0 client-credentials grant (RFC 6749 §4.4): the API client's `client_id` and `client_secret` get a 15-minute access token for the scopes chosen (at most the client's own).",
            )),
        );
        components.add_security_scheme(
            "client_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The API client's `client_id` and `client_secret` (RFC 6749 §2.3.1); alternatively both in the request body.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Lets every operation that takes a bearer token take one from the `oauth2` flow instead (an
/// alternative requirement with the same scopes): Swagger UI sends a token only to operations
/// whose requirements name the scheme it was obtained with. Runs on the whole document, after
/// the routes' operations are in it.
pub fn offer_client_credentials(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            let Some(requirements) = operation.security.as_mut() else {
                continue;
            };
            let bearer_scopes: Vec<Vec<String>> = requirements
                .iter()
                .filter_map(|requirement| {
                    // The requirement's scopes are private to utoipa; its JSON form is `{name: scopes}`.
                    let json = serde_json::to_value(requirement).ok()?;
                    serde_json::from_value(json.get("bearer")?.clone()).ok()
                })
                .collect();
            requirements.extend(
                bearer_scopes
                    .into_iter()
                    .map(|scopes| SecurityRequirement::new("oauth2", scopes)),
            );
        }
    }
}
