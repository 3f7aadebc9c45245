//! `/api/tenant/clients/{client_id}/jwks`: the public keys a client authenticates with at the
//! token endpoint (`private_key_jwt`, SMART Backend Services), managed by the clinic's owners
//! and admins on its host, given inline or as the URL the client publishes them at. Public keys
//! are not secrets, so they are shown back as registered.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::tokens::{ClientKeys, KeyRegistration, KeySource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::path_client_id;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A client's keys, as the clinic registers them: exactly one of `jwks` and `jwks_uri`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientJwksIn {
    /// A JWKS (RFC 7517): `{"keys": [...]}` with 1 to 10 public keys, each an EC P-384 key
    /// (for ES384) or an RSA key (for RS384) with a `kid`. Several keys may share a `kid`
    /// during a rotation. A private key is refused.
    #[schema(value_type = Option<Object>, example = json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": "partner-2026", "x": "WV4d0u9yvBNbzadXew7Ui9J0MplhOXO5_4H1lmoTsc_9_ut7V6dZ3VSmPqS73Qwt", "y": "zHlzMvJPtBCm0Z9XPgj86D_wuRaEdvD9oaqa5cEyVvyMtDKsN9-wHFq-vOcH-cwW"}]}))]
    pub jwks: Option<Value>,
    /// Or the https URL the client publishes its JWKS at. It must pass the outbound guard and
    /// serve a usable JWKS when registered. ClinicGate fetches it (5 s, 64 KiB at most), uses
    /// it for 10 minutes, and fetches it again at once (at most once a minute) when an
    /// assertion names a `kid` it does not hold. Keys it cannot use are skipped.
    #[schema(example = "https://partner.example/.well-known/jwks.json")]
    pub jwks_uri: Option<String>,
}

/// A client's registered keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientJwksOut {
    /// The client they belong to.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// The JWKS as registered (when given inline).
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// The URL the keys are fetched from (when registered by URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// When it was registered.
    pub updated_at: DateTime<Utc>,
}

impl From<ClientKeys> for ClientJwksOut {
    fn from(keys: ClientKeys) -> Self {
        let (jwks, jwks_uri) = match keys.source {
            KeySource::Inline(jwks) => (Some(jwks.json().clone()), None),
            KeySource::Remote(url) => (None, Some(url)),
        };
        Self {
            client_id: keys.client_id.to_string(),
            jwks,
            jwks_uri,
            updated_at: keys.updated_at,
        }
    }
}

impl TryFrom<ClientJwksIn> for KeyRegistration {
    type Error = Error;

    fn try_from(body: ClientJwksIn) -> Result<Self, Error> {
        match (body.jwks, body.jwks_uri) {
            (Some(jwks), None) => Ok(Self::Jwks(jwks)),
            (None, Some(url)) => Ok(Self::Uri(url)),
            (Some(_), Some(_)) => Err(Error::invalid(
                "jwks_uri",
                "one_of",
                "give either jwks or jwks_uri, not both",
            )),
            (None, None) => Err(Error::invalid(
                "jwks",
                "required",
                "give the client's public keys as jwks, or the URL they are published at as jwks_uri",
            )),
        }
    }
}

route_problems!(
    /// What `PUT /api/tenant/clients/{client_id}/jwks` answers itself.
    PutJwksProblems {
        404 => "No such client in this clinic",
        422 => "An unusable JWKS (`invalid_jwks` on `jwks`: not a JWKS, a private key, a key without `kid`, or a key that is neither P-384 nor RSA); a `jwks_uri` the outbound guard refuses or that serves no usable JWKS now (`jwks_unavailable`); both or neither given; or JSON of the wrong shape (`invalid_body`)",
    }
);

route_problems!(
    /// What reading or removing a client's keys answers itself.
    JwksProblems {
        404 => "No such client in this clinic, or it has no keys",
    }
);

/// Registers (or replaces) the public keys a client signs its `private_key_jwt` assertions with,
/// or the URL it publishes them at.
/// From then on it may get tokens with a `client_assertion` instead of its secret (see
/// `GET /.well-known/smart-configuration`); the secret keeps working too.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    request_body = ClientJwksIn,
    responses(
        (status = 200, description = "Registered", body = ClientJwksOut),
        SessionErrors, JsonBodyErrors,
        PutJwksProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/clients/{client_id}/jwks")]
pub async fn put_client_jwks(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
    body: web::Json<ClientJwksIn>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let keys = state
        .client_keys
        .put(auth.ctx(), &client_id, body.into_inner().try_into()?)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(ClientJwksOut::from(keys)))
}

/// The public keys a client has registered.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The keys", body = ClientJwksOut),
        SessionErrors,
        JwksProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/clients/{client_id}/jwks")]
pub async fn get_client_jwks(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let keys = state.client_keys.get(auth.ctx(), &client_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(ClientJwksOut::from(keys)))
}

/// Removes a client's public keys: its assertions are refused from then on (its secret still
/// works).
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Removed"),
        SessionErrors,
        JwksProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/clients/{client_id}/jwks")]
pub async fn delete_client_jwks(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    state.client_keys.delete(auth.ctx(), &client_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
