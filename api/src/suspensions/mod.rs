//! `/api/tenant/integrations/…`: the clinic-wide kill-switch (owners and admins) and the history
//! of every suspend and resume, with who did it (any staff member may read it). A single client's
//! switch is under `/api/tenant/clients/{client_id}/…`.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::suspensions::{Subject, SuspensionRecord, Switch};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::problem::ApiError;
use crate::http::responses::SessionErrors;
use crate::sessions::Authenticated;
use crate::state::AppState;

/// The clinic-wide kill-switch.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationsStateOut {
    /// Since when every integration of the clinic is suspended; `null` when they run.
    pub suspended_at: Option<DateTime<Utc>>,
}

/// One suspend or resume.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionEventOut {
    /// The client switched; `null` when the whole clinic was.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: Option<String>,
    /// `suspend` or `resume`.
    #[schema(example = "suspend")]
    pub action: String,
    /// The staff member who did it.
    pub actor_user_id: Uuid,
    /// Their email; `null` if they have since been removed from the clinic.
    #[schema(example = "owner@harbour-physio.example")]
    pub actor_email: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<SuspensionRecord> for SuspensionEventOut {
    fn from(record: SuspensionRecord) -> Self {
        Self {
            client_id: record.client_id.map(|id| id.to_string()),
            action: record.switch.as_str().to_owned(),
            actor_user_id: record.actor.as_uuid(),
            actor_email: record.actor_email,
            at: record.at,
        }
    }
}

/// The clinic-wide switch and the recent history.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspensionsOut {
    /// Since when every integration of the clinic is suspended; `null` when they run.
    pub suspended_at: Option<DateTime<Utc>>,
    /// The latest 200 suspends and resumes, of clients and of the whole clinic, newest first.
    pub history: Vec<SuspensionEventOut>,
}

/// Whether the clinic's integrations are suspended, and who suspended or resumed what, when
/// (any staff member).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The clinic-wide switch and the history, newest first", body = SuspensionsOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/integrations/suspensions")]
pub async fn list_suspensions(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (suspended_at, history) = state.suspensions.overview(auth.ctx()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(SuspensionsOut {
            suspended_at,
            history: history.into_iter().map(SuspensionEventOut::from).collect(),
        }))
}

/// Suspends or resumes every integration of the clinic.
async fn switch_clinic(
    auth: &Authenticated,
    state: &AppState,
    switch: Switch,
) -> Result<HttpResponse, ApiError> {
    let switched = state
        .suspensions
        .switch(auth.ctx(), Subject::Clinic, switch)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(IntegrationsStateOut {
            suspended_at: switched.suspended_at,
        }))
}

/// Suspends every integration of the clinic at once (owners and admins): every client's tokens
/// are refused (403 `client_suspended`) on every instance, and every delivery is held until the
/// clinic resumes. Staff sign-in and the clinic's own pages keep working. Recorded with who did it.
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Suspended (since `suspended_at`)", body = IntegrationsStateOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/integrations/suspend")]
pub async fn suspend_integrations(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    switch_clinic(&auth, &state, Switch::Suspend).await
}

/// Resumes the clinic's integrations (owners and admins): clients not suspended one by one work
/// again, and the deliveries held meanwhile go out in the order they were created.
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Resumed (`suspended_at` is null)", body = IntegrationsStateOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/integrations/resume")]
pub async fn resume_integrations(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    switch_clinic(&auth, &state, Switch::Resume).await
}
