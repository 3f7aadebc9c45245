//! `GET /.well-known/jwks.json`: the public keys that verify access tokens, for partners that
//! verify offline.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::http::host::RootHost;
use crate::state::AppState;

/// The JSON Web Key Set (RFC 7517) of the token signing keys (Ed25519, RFC 8037): the key that
/// signs now, keys about to sign, and retired keys until every token they signed has expired.
///
/// Cacheable for a few minutes (`Cache-Control: max-age`); a new key is published longer than
/// that before it signs, so a cached set always knows the key of a fresh token.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The key set", content_type = "application/json", body = Object,
         example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "019367a0-6a3b-7c52-9d1e-8f2b4c6d8e0f", "use": "sig", "alg": "EdDSA"}]})),
    )
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(_root: RootHost, state: web::Data<AppState>) -> HttpResponse {
    let keys = state.tokens.keys().current();
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!(
                "public, max-age={}",
                state.settings.tokens.jwks_max_age_secs
            ),
        ))
        .json(keys.ring().jwks())
}
