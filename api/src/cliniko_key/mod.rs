//! `/api/tenant/cliniko-key`: connect (verify, then store sealed), describe, disconnect. The key
//! itself is never returned: only its shard, last four characters and whose key it is.

use actix_web::{HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::cliniko_key::ClinikoConnection;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A Cliniko API key to connect.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClinikoKeyIn {
    /// The key as copied from Cliniko (My Info → Manage API keys), including its `-shard`
    /// suffix. Verified with Cliniko before it is stored; never shown again.
    #[schema(value_type = String, format = Password, example = "MS0xMjM0NTY3ODkwYWJjZGVm-au2")]
    pub api_key: SecretString,
}

/// Whose key is connected.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinikoKeyUserOut {
    /// Cliniko's id of the user (a string: Cliniko ids exceed 2^53).
    #[schema(example = "836447129235883061")]
    pub id: String,
    /// Their name in Cliniko.
    #[schema(example = "ClinicGate Integration")]
    pub name: String,
    /// Their Cliniko role, if Cliniko reported one.
    #[schema(example = "receptionist")]
    pub role: Option<String>,
}

/// Something about the connected key the clinic should fix.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinikoKeyWarningOut {
    /// `key_rejected`, `administrator_key` or `personal_key`.
    pub code: &'static str,
    /// What to do about it.
    pub message: &'static str,
}

/// The clinic's Cliniko connection (never the key).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinikoKeyOut {
    /// Whether a verified key is stored; the other fields are absent when not.
    pub connected: bool,
    /// The Cliniko region the key belongs to.
    #[schema(example = "au2")]
    pub shard: Option<String>,
    /// The key's last four characters (before the shard suffix).
    #[schema(example = "ZGVm")]
    pub last4: Option<String>,
    /// The Cliniko user the key acts as.
    pub cliniko_user: Option<ClinikoKeyUserOut>,
    /// When Cliniko last accepted the key.
    pub verified_at: Option<DateTime<Utc>>,
    /// When Cliniko last refused the stored key (revoked, user deactivated, or the account moved
    /// region), if it has not accepted it since: connect a new key. Absent while the key works;
    /// cleared by the next call Cliniko accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_at: Option<DateTime<Utc>>,
    /// Advice when the key does not belong to a dedicated integration user.
    pub warnings: Vec<ClinikoKeyWarningOut>,
}

impl From<Option<ClinikoConnection>> for ClinikoKeyOut {
    fn from(connection: Option<ClinikoConnection>) -> Self {
        let Some(connection) = connection else {
            return Self {
                connected: false,
                shard: None,
                last4: None,
                cliniko_user: None,
                verified_at: None,
                rejected_at: None,
                warnings: Vec::new(),
            };
        };
        let warnings = connection
            .warnings()
            .into_iter()
            .map(|w| ClinikoKeyWarningOut {
                code: w.code(),
                message: w.message(),
            })
            .collect();
        Self {
            connected: true,
            shard: Some(connection.shard.as_str().to_owned()),
            last4: Some(connection.last4),
            cliniko_user: Some(ClinikoKeyUserOut {
                id: connection.owner.id.as_str().to_owned(),
                name: connection.owner.name,
                role: connection.owner.role,
            }),
            verified_at: Some(connection.verified_at),
            rejected_at: connection.rejected_at,
            warnings,
        }
    }
}

/// The clinic's Cliniko connection status (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Connected or not", body = ClinikoKeyOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/cliniko-key")]
pub async fn get_cliniko_key(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<ClinikoKeyOut>, ApiError> {
    Ok(web::Json(
        state.cliniko_keys.status(auth.ctx()).await?.into(),
    ))
}

route_problems!(
    /// What `PUT /api/tenant/cliniko-key` answers itself.
    PutClinikoKeyProblems {
        409 => "The key is already connected to another clinic (`cliniko_key_in_use`): one Cliniko account backs one clinic",
        422 => "Checked before any call to Cliniko: a key that does not look like Cliniko's (`errors[].code` = `malformed`, `too_short`) or ends in no region (`unknown_shard`); or Cliniko rejected it (`rejected`); or JSON of the wrong shape (`invalid_body`)",
        502 => "Cliniko could not be reached or is not answering correctly (`cliniko_unavailable`; `detail` says which)",
        504 => "Cliniko did not answer in time (`cliniko_timeout`)",
    }
);

/// Connects a Cliniko API key, replacing any previous one. The key is first verified with
/// Cliniko (`GET /user`); nothing is stored unless Cliniko accepts it. A key already connected
/// to another clinic is refused.
#[utoipa::path(
    tag = "clinic",
    request_body = ClinikoKeyIn,
    responses(
        (status = 200, description = "Verified and stored", body = ClinikoKeyOut),
        SessionErrors, JsonBodyErrors,
        PutClinikoKeyProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/cliniko-key")]
pub async fn put_cliniko_key(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<ClinikoKeyIn>,
) -> Result<web::Json<ClinikoKeyOut>, ApiError> {
    let connection = state
        .cliniko_keys
        .connect(auth.ctx(), &body.api_key)
        .await?;
    Ok(web::Json(Some(connection).into()))
}

/// Disconnects Cliniko: the stored key is deleted. Idempotent.
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 204, description = "Disconnected"),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/cliniko-key")]
pub async fn delete_cliniko_key(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.cliniko_keys.disconnect(auth.ctx()).await?;
    Ok(HttpResponse::NoContent().finish())
}
