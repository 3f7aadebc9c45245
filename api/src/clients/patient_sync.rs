//! `/api/tenant/clients/{client_id}/patient-sync`: where a client's partner patient API is, so
//! new and changed Cliniko patients reach it (owners and admins, on the clinic's host). The
//! credential is write-only: it is sealed when stored and no answer carries it.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::patient_sync::{AuthScheme, PartnerCredential, PatientSync, SyncRequest};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::path_client_id;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// How ClinicGate authenticates to the partner's patient API.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PartnerAuthIn {
    /// `Authorization: Bearer {token}`.
    Bearer {
        /// The token (1–4096 visible ASCII characters, no spaces). Stored encrypted; never shown
        /// again.
        #[schema(example = "partner-stub-token")]
        token: String,
    },
    /// A header of the partner's choosing, e.g. `X-Api-Key`.
    Header {
        /// The header's name (an HTTP token; not one ClinicGate sets itself, such as
        /// `Content-Type` or `Idempotency-Key`).
        #[schema(example = "X-Api-Key")]
        name: String,
        /// Its value (1–4096 visible ASCII characters). Stored encrypted; never shown again.
        value: String,
    },
}

// Hand-written so the secret can never reach a log line through `{:?}`.
impl std::fmt::Debug for PartnerAuthIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer { .. } => f.write_str("Bearer { .. }"),
            Self::Header { name, .. } => write!(f, "Header {{ name: {name:?}, .. }}"),
        }
    }
}

/// A client's patient sync, as the clinic sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientSyncIn {
    /// The base URL of the partner's patient API: ClinicGate calls `POST {base_url}/patients` and
    /// `PATCH {base_url}/patients/{id}`. https (http only where the operator allows it), and a
    /// host the outbound guard permits, as for webhook endpoints.
    #[schema(example = "https://partner.example.com/api")]
    pub base_url: String,
    /// The credential ClinicGate presents. Omit it to keep the one already stored (to switch the
    /// sync on or off without typing the secret again); the first configuration needs it.
    pub auth: Option<PartnerAuthIn>,
    /// The URI naming the partner's patient ids (its identifier system).
    #[schema(example = "https://partner.example.com/patient-ids")]
    pub identifier_system: String,
    /// Whether new and changed patients are sent (off: deliveries already queued wait).
    pub enabled: bool,
}

/// The credential's kind, without the credential.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerAuthOut {
    /// `bearer` or `header`.
    #[serde(rename = "type")]
    #[schema(example = "bearer")]
    pub kind: String,
    /// The header's name (lower case), for `header`.
    pub name: Option<String>,
}

/// A client's patient sync (never its credential).
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientSyncOut {
    /// The client it belongs to.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// The partner's patient API base URL.
    #[schema(example = "https://partner.example.com/api")]
    pub base_url: String,
    /// How ClinicGate authenticates there.
    pub auth: PartnerAuthOut,
    /// The URI naming the partner's patient ids.
    pub identifier_system: String,
    /// Whether patients are sent.
    pub enabled: bool,
    /// When it was last configured.
    pub updated_at: DateTime<Utc>,
}

impl From<PatientSync> for PatientSyncOut {
    fn from(sync: PatientSync) -> Self {
        Self {
            client_id: sync.client_id.to_string(),
            base_url: sync.base_url,
            auth: PartnerAuthOut {
                kind: sync.auth.kind().to_owned(),
                name: match sync.auth {
                    AuthScheme::Bearer => None,
                    AuthScheme::Header { name } => Some(name),
                },
            },
            identifier_system: sync.identifier_system,
            enabled: sync.enabled,
            updated_at: sync.updated_at,
        }
    }
}

impl From<PatientSyncIn> for SyncRequest {
    fn from(body: PatientSyncIn) -> Self {
        Self {
            base_url: body.base_url,
            auth: body.auth.map(|auth| match auth {
                PartnerAuthIn::Bearer { token } => {
                    PartnerCredential::Bearer(SecretString::from(token))
                }
                PartnerAuthIn::Header { name, value } => PartnerCredential::Header {
                    name,
                    value: SecretString::from(value),
                },
            }),
            identifier_system: body.identifier_system,
            enabled: body.enabled,
        }
    }
}

route_problems!(
    /// What `PUT /api/tenant/clients/{client_id}/patient-sync` answers itself.
    PutPatientSyncProblems {
        404 => "No such client in this clinic",
        422 => "Invalid base URL (refused by the outbound guard, e.g. `address_not_allowed`), credential or identifier system, each named in `errors`; or JSON of the wrong shape (`invalid_body`)",
    }
);

route_problems!(
    /// What reading or removing a client's patient sync answers itself.
    PatientSyncProblems {
        404 => "No such client in this clinic, or it has no patient sync",
    }
);

/// Connects (or reconfigures) a client's partner patient API. From then on the clinic's
/// `patient.created` and `patient.updated` events are sent there (see `docs/partner-sync.md`).
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    request_body = PatientSyncIn,
    responses(
        (status = 200, description = "Stored; the credential is never shown again", body = PatientSyncOut),
        SessionErrors, JsonBodyErrors,
        PutPatientSyncProblems,
    ),
    security(("session" = []))
)]
#[put("/api/tenant/clients/{client_id}/patient-sync")]
pub async fn put_patient_sync(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
    body: web::Json<PatientSyncIn>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let sync = state
        .patient_sync
        .put(auth.ctx(), &client_id, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(PatientSyncOut::from(sync)))
}

/// A client's patient sync: where, how (the credential's kind, never the credential), on or off.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The sync", body = PatientSyncOut),
        SessionErrors,
        PatientSyncProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/clients/{client_id}/patient-sync")]
pub async fn get_patient_sync(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let sync = state.patient_sync.get(auth.ctx(), &client_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(PatientSyncOut::from(sync)))
}

/// Disconnects a client's partner patient API: nothing more is sent there, and deliveries still
/// queued fail without an attempt. The partner ids already linked stay.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Removed"),
        SessionErrors,
        PatientSyncProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/clients/{client_id}/patient-sync")]
pub async fn delete_patient_sync(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    state.patient_sync.delete(auth.ctx(), &client_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

route_problems!(
    /// What `POST /api/tenant/clients/{client_id}/patient-sync/backfill` answers itself.
    BackfillProblems {
        404 => "No such client in this clinic, or it has no patient sync",
        409 => "The client's patient sync is switched off (`patient_sync_disabled`)",
    }
);

/// Sends the clinic's existing patients to the client's partner: every current Cliniko patient
/// the client has no link for is queued as a `patient.created` delivery, reading Cliniko in the
/// background within the clinic's budget. Pressing it again while it runs changes nothing, and
/// a patient the partner already has is not sent twice.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 202, description = "Started (or already running); the deliveries appear as they are queued"),
        SessionErrors,
        BackfillProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/clients/{client_id}/patient-sync/backfill")]
pub async fn backfill_patient_sync(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let run = state.patient_backfill.check(auth.ctx(), &client_id).await?;
    let backfill = state.patient_backfill.clone();
    // The request answers at once; the run pages through Cliniko at the background lane's pace.
    actix_web::rt::spawn(async move {
        if let Err(err) = backfill.run(run).await {
            tracing::warn!(error = %err, "a patient backfill stopped; running it again completes it");
        }
    });
    Ok(HttpResponse::Accepted().finish())
}
