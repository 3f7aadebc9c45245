//! `GET /.well-known/smart-configuration` (SMART App Launch 2.x §2.1, Backend Services): how a
//! FHIR client finds the token endpoint, the client authentication it accepts and the scopes it
//! may ask for. Served at the root and under the FHIR base, where SMART clients look.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use clinicgate_core::tokens::{SMART_SYSTEM_SCOPES, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::PublicUrl;
use crate::http::host::RootHost;
use crate::state::AppState;

/// How long clients may cache the document: it changes only with a new release.
const MAX_AGE_SECS: u32 = 3600;

/// The token endpoint's public URL: what `private_key_jwt` assertions name as their `aud`.
pub fn token_url(public: &PublicUrl) -> String {
    format!("{}/api/auth/token", public.as_str())
}

/// The SMART configuration document.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmartConfiguration {
    /// `POST` here for a token.
    #[schema(example = "https://clinicgate.example.com/api/auth/token")]
    pub token_endpoint: String,
    /// Only the client-credentials grant (backend services).
    pub grant_types_supported: Vec<&'static str>,
    /// A secret (HTTP Basic) or a JWT signed by a registered key.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The algorithms a `private_key_jwt` assertion may be signed with.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// ClinicGate's scopes and the SMART v2 system scopes mapped onto them.
    pub scopes_supported: Vec<&'static str>,
    /// SMART capabilities.
    pub capabilities: Vec<&'static str>,
    /// The keys that verify the access tokens issued here.
    #[schema(example = "https://clinicgate.example.com/.well-known/jwks.json")]
    pub jwks_uri: String,
}

fn document(public: &PublicUrl) -> SmartConfiguration {
    SmartConfiguration {
        token_endpoint: token_url(public),
        grant_types_supported: vec!["client_credentials"],
        token_endpoint_auth_methods_supported: vec!["client_secret_basic", "private_key_jwt"],
        token_endpoint_auth_signing_alg_values_supported: vec!["ES384", "RS384"],
        scopes_supported: Scope::ALL
            .iter()
            .map(|scope| scope.as_str())
            .chain(SMART_SYSTEM_SCOPES)
            .collect(),
        capabilities: vec!["client-confidential-asymmetric", "permission-v2"],
        jwks_uri: format!("{}/.well-known/jwks.json", public.as_str()),
    }
}

fn respond(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={MAX_AGE_SECS}"),
        ))
        .json(document(&state.settings.public_url))
}

/// The SMART on FHIR configuration: token endpoint, `client_credentials`, `client_secret_basic`
/// and `private_key_jwt` (ES384, RS384), and the scopes, SMART v2 system scopes included.
/// Register the client's public keys with `PUT /api/tenant/clients/{client_id}/jwks` to use
/// `private_key_jwt`. Also served at `/fhir/r4/.well-known/smart-configuration`.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The document (cacheable)", body = SmartConfiguration),
    )
)]
#[get("/.well-known/smart-configuration")]
pub async fn smart_configuration(_root: RootHost, state: web::Data<AppState>) -> HttpResponse {
    respond(&state)
}

/// The same document under the FHIR base URL, where SMART clients look first.
#[get("/fhir/r4/.well-known/smart-configuration")]
pub async fn fhir_smart_configuration(_root: RootHost, state: web::Data<AppState>) -> HttpResponse {
    respond(&state)
}
