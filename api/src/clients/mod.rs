//! `/api/tenant/clients`: a clinic's API clients, managed by its owners and admins on the
//! clinic's host. A secret appears in exactly two responses: the one that creates the client and
//! the one that rotates its secret. Each client has a kill-switch (`…/suspend`, `…/resume`; see
//! `clinicgate_core::suspensions`). `patient_sync`: where a client's partner patient API is.
//! `jwks`: the public keys a client authenticates with (`private_key_jwt`).

mod jwks;
mod patient_sync;
mod patient_sync_activity;

pub use jwks::{ClientJwksIn, ClientJwksOut, delete_client_jwks, get_client_jwks, put_client_jwks};

pub use patient_sync::{
    PartnerAuthIn, PartnerAuthOut, PatientSyncIn, PatientSyncOut, backfill_patient_sync,
    delete_patient_sync, get_patient_sync, put_patient_sync,
};
pub use patient_sync_activity::{
    PatientLinkOut, PatientLinksOut, list_patient_links, list_patient_sync_deliveries,
    retry_patient_sync_delivery,
};

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::suspensions::{Subject, Switch};
use clinicgate_core::tokens::{
    ApiClient, ClientId, ClientPatch, ClientWithSecret, NewClientRequest,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::extract::explicit_null;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// An API client (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientOut {
    /// The public client id, for `POST /api/auth/token`.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// Its name.
    #[schema(example = "Booking partner")]
    pub name: String,
    /// What its tokens may do.
    #[schema(example = json!(["doctors:read", "slots:read"]))]
    pub scopes: Vec<String>,
    /// Requests per minute; `null` = the deployment's default.
    pub rate_limit_per_minute: Option<u32>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Until when the secret replaced by the last rotation still works (`null` when none does).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when the clinic has suspended this client (`null` when it has not). The clinic-wide
    /// switch is `GET /api/tenant/integrations/suspensions`.
    pub suspended_at: Option<DateTime<Utc>>,
    /// The most of the clinic's Cliniko budget this client's calls may use, in percent; `null` =
    /// no cap of its own.
    #[schema(example = 20)]
    pub cliniko_budget_share: Option<u8>,
}

impl From<ApiClient> for ClientOut {
    fn from(client: ApiClient) -> Self {
        let now = Utc::now();
        Self {
            client_id: client.client_id.to_string(),
            name: client.name.as_str().to_owned(),
            scopes: client
                .scopes
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            rate_limit_per_minute: client.rate_limit_per_minute,
            created_at: client.created_at,
            previous_secret_expires_at: client
                .previous_secret_expires_at
                .filter(|until| *until > now),
            suspended_at: client.suspended_at,
            cliniko_budget_share: client.cliniko_budget_share,
        }
    }
}

/// An API client with its secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientWithSecretOut {
    /// The client.
    #[serde(flatten)]
    pub client: ClientOut,
    /// The secret (`cgsk_…`). Store it now: ClinicGate keeps only a keyed hash and cannot show
    /// it again.
    #[schema(example = "cgsk_0aT3xq9Vb2Lm8Rk5Yw1Hc7Jp4Ns6Fd0Ge3Qu9Zi2Ox5")]
    pub client_secret: String,
}

impl From<ClientWithSecret> for ClientWithSecretOut {
    fn from(created: ClientWithSecret) -> Self {
        Self {
            client_secret: created.secret.expose().to_owned(),
            client: created.client.into(),
        }
    }
}

/// A client to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientIn {
    /// A name the clinic recognises (1–100 characters), e.g. the partner application's.
    #[schema(example = "Booking partner")]
    pub name: String,
    /// At least one of `doctors:read`, `slots:read`, `appointments:read`, `appointments:write`,
    /// `patients:read`, `patients:write`, `webhooks:manage`.
    #[schema(example = json!(["doctors:read", "slots:read"]))]
    pub scopes: Vec<String>,
    /// Requests per minute (1 to 10,000,000); omitted = the deployment's default.
    pub rate_limit_per_minute: Option<u32>,
}

/// A change to a client; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientPatchIn {
    /// A new name.
    pub name: Option<String>,
    /// New scopes; they apply at once, also to tokens already issued.
    pub scopes: Option<Vec<String>>,
    /// A new rate limit; `null` returns to the default.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<u32>)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// The most of the clinic's Cliniko budget (e.g. 200 calls a minute) this client's calls may
    /// use, in percent (1–100), on every instance together; beyond it the client gets 429 with
    /// `Retry-After` while the others keep their share. `null` removes the cap.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<u8>, minimum = 1, maximum = 100, example = 20)]
    pub cliniko_budget_share: Option<Option<u8>>,
}

/// The clinic's API clients (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Every client, oldest first", body = [ClientOut]),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/clients")]
pub async fn list_clients(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<ClientOut>>, ApiError> {
    let clients = state.clients.list(auth.ctx()).await?;
    Ok(web::Json(
        clients.into_iter().map(ClientOut::from).collect(),
    ))
}

route_problems!(
    /// What `POST /api/tenant/clients` answers itself.
    CreateClientProblems {
        422 => "Invalid name, unknown scope (`unknown_scope`), no scope, or rate limit out of range; or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Creates an API client. The response holds its secret, which is never shown again.
#[utoipa::path(
    tag = "clinic",
    request_body = ClientIn,
    responses(
        (status = 201, description = "Created; store `client_secret` now", body = ClientWithSecretOut),
        SessionErrors, JsonBodyErrors,
        CreateClientProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/clients")]
pub async fn create_client(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<ClientIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let created = state
        .clients
        .create(
            auth.ctx(),
            NewClientRequest {
                name: body.name,
                scopes: body.scopes,
                rate_limit_per_minute: body.rate_limit_per_minute,
            },
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(ClientWithSecretOut::from(created)))
}

route_problems!(
    /// What `PATCH /api/tenant/clients/{client_id}` answers itself.
    UpdateClientProblems {
        404 => "No such client in this clinic",
        422 => "Invalid field (e.g. `cliniko_budget_share` outside 1–100), or nothing to change; or JSON of the wrong shape (`invalid_body`)",
    }
);

/// The client a path names. An id that cannot be one of ours names no client (404, like another
/// clinic's), but only a manager learns that: anyone else is refused (403) whatever the id.
fn path_client_id(auth: &Authenticated, raw: &str) -> Result<ClientId, Error> {
    match ClientId::parse(raw) {
        Some(client_id) => Ok(client_id),
        None => {
            auth.ctx().require_manager()?;
            Err(Error::NotFound {
                resource: "API client",
            })
        }
    }
}

/// Changes a client's name, scopes, rate limit or cap on the clinic's Cliniko budget.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    request_body = ClientPatchIn,
    responses(
        (status = 200, description = "Changed", body = ClientOut),
        SessionErrors, JsonBodyErrors,
        UpdateClientProblems,
    ),
    security(("session" = []))
)]
#[patch("/api/tenant/clients/{client_id}")]
pub async fn update_client(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
    body: web::Json<ClientPatchIn>,
) -> Result<web::Json<ClientOut>, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let body = body.into_inner();
    let client = state
        .clients
        .change(
            auth.ctx(),
            &client_id,
            ClientPatch {
                name: body.name,
                scopes: body.scopes,
                rate_limit_per_minute: body.rate_limit_per_minute,
                cliniko_budget_share: body.cliniko_budget_share,
            },
        )
        .await?;
    Ok(web::Json(client.into()))
}

route_problems!(
    /// What `POST /api/tenant/clients/{client_id}/rotate-secret` answers itself.
    RotateClientSecretProblems {
        404 => "No such client in this clinic",
    }
);

/// Gives a client a new secret (returned once). The previous secret keeps working until
/// `previous_secret_expires_at` (24 hours by default), so the partner can switch without
/// downtime; tokens already issued stay valid.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "The new secret; store it now", body = ClientWithSecretOut),
        SessionErrors,
        RotateClientSecretProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/clients/{client_id}/rotate-secret")]
pub async fn rotate_client_secret(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let rotated = state.clients.rotate_secret(auth.ctx(), &client_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(ClientWithSecretOut::from(rotated)))
}

route_problems!(
    /// What `DELETE /api/tenant/clients/{client_id}` answers itself.
    DeleteClientProblems {
        404 => "No such client in this clinic",
    }
);

/// Deletes a client: its secrets and every token it holds stop working at once.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 204, description = "Deleted"),
        SessionErrors,
        DeleteClientProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/clients/{client_id}")]
pub async fn delete_client(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    state.clients.delete(auth.ctx(), &client_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A client's kill-switch after a suspend or resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSuspensionOut {
    /// The client.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// Since when it is suspended; `null` once resumed.
    pub suspended_at: Option<DateTime<Utc>>,
}

route_problems!(
    /// What `POST /api/tenant/clients/{client_id}/suspend|resume` answers itself.
    SwitchClientProblems {
        404 => "No such client in this clinic",
    }
);

/// Suspends or resumes a client as `switch` says, and answers its state.
async fn switch_client(
    auth: &Authenticated,
    state: &AppState,
    raw_client_id: &str,
    switch: Switch,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(auth, raw_client_id)?;
    let switched = state
        .suspensions
        .switch(auth.ctx(), Subject::Client(client_id.clone()), switch)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(ClientSuspensionOut {
            client_id: client_id.to_string(),
            suspended_at: switched.suspended_at,
        }))
}

/// Suspends a client (owners and admins): its tokens are refused at once on every instance
/// (403 `client_suspended`), so it spends none of the clinic's Cliniko budget, and its webhook
/// deliveries are held, neither attempted nor failed, until it is resumed. Suspending a suspended
/// client changes nothing. Recorded with who did it.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "Suspended (since `suspended_at`)", body = ClientSuspensionOut),
        SessionErrors,
        SwitchClientProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/clients/{client_id}/suspend")]
pub async fn suspend_client(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    switch_client(&auth, &state, &client_id, Switch::Suspend).await
}

/// Resumes a suspended client (owners and admins): its tokens work again and the deliveries held
/// meanwhile go out in the order they were created. Recorded with who did it.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id")),
    responses(
        (status = 200, description = "Resumed (`suspended_at` is null)", body = ClientSuspensionOut),
        SessionErrors,
        SwitchClientProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/clients/{client_id}/resume")]
pub async fn resume_client(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    switch_client(&auth, &state, &client_id, Switch::Resume).await
}
