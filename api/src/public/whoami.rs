//! `GET /api/public/me`: who the token is. A no-op for partners checking their set-up (and the
//! benchmark of the authenticated path).

use actix_web::http::header;
use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApiCaller;
use crate::http::responses::BearerErrors;

/// The caller, as its token says.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeOut {
    /// The API client.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// The clinic whose data the token reaches.
    pub clinic_id: Uuid,
    /// The scopes this request may use (the token's, narrowed to what the client holds now).
    #[schema(example = json!(["doctors:read", "slots:read"]))]
    pub scopes: Vec<String>,
    /// When the token expires (Unix seconds).
    pub expires_at: i64,
}

/// Who is calling: the client, its clinic and its scopes. Needs no particular scope.
#[utoipa::path(
    tag = "public",
    responses(
        (status = 200, description = "The caller", body = MeOut),
        BearerErrors,
    ),
    security(("bearer" = []))
)]
#[get("/api/public/me")]
pub async fn me(caller: ApiCaller) -> HttpResponse {
    let claims = &caller.access.claims;
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(MeOut {
            client_id: claims.sub.clone(),
            clinic_id: claims.tid.as_uuid(),
            scopes: caller
                .access
                .scopes()
                .iter()
                .map(|scope| scope.as_str().to_owned())
                .collect(),
            expires_at: claims.exp,
        })
}
