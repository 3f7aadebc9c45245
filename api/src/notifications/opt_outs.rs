//! Patients who unsubscribed, as the clinic sees them (owners and admins): by Cliniko id and
//! channel, never by name or address.
//!
//! - `GET /api/tenant/notifications/opt-outs`: in force and cleared, newest first;
//! - `DELETE /api/tenant/notifications/opt-outs/{channel}/{patient_id}`: clears one (the
//!   patient hears again), recorded with who cleared it and when.

use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::notifications::{Channel, OptOut};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::responses::{SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A patient's unsubscribe from one channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationOptOutOut {
    /// Cliniko's id of the patient (a string: Cliniko ids exceed 2^53).
    #[schema(example = "1000000000000000001")]
    pub patient_id: String,
    /// The channel they unsubscribed from.
    #[schema(example = "email")]
    pub channel: String,
    /// When they (last) unsubscribed.
    pub opted_out_at: DateTime<Utc>,
    /// Whether messages on the channel are withheld from them (false once cleared).
    pub in_force: bool,
    /// When the clinic cleared it.
    pub cleared_at: Option<DateTime<Utc>>,
    /// Who cleared it (a staff member's id).
    pub cleared_by: Option<String>,
}

impl From<OptOut> for NotificationOptOutOut {
    fn from(opt_out: OptOut) -> Self {
        Self {
            in_force: opt_out.in_force(),
            patient_id: opt_out.patient_id.as_str().to_owned(),
            channel: opt_out.channel.as_str().to_owned(),
            opted_out_at: opt_out.opted_out_at,
            cleared_at: opt_out.cleared_at,
            cleared_by: opt_out.cleared_by.map(|id| id.to_string()),
        }
    }
}

/// The clinic's patients who unsubscribed, newest first (owners and admins).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Newest first", body = [NotificationOptOutOut]),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/notifications/opt-outs")]
pub async fn list_notification_opt_outs(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let out: Vec<NotificationOptOutOut> = state
        .notifications
        .opt_outs(auth.ctx())
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    // Which patients opted out is still about patients.
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(out))
}

route_problems!(
    /// What `DELETE /api/tenant/notifications/opt-outs/{channel}/{patient_id}` answers itself.
    ClearOptOutProblems {
        404 => "No opt-out of this patient and channel is in force (`not_found`)",
    }
);

/// Clears a patient's opt-out (owners and admins): messages on the channel go to them again.
/// Who cleared it and when are kept.
#[utoipa::path(
    tag = "clinic",
    params(
        ("channel" = String, Path, description = "The channel, e.g. `email`"),
        ("patient_id" = String, Path, description = "Cliniko's id of the patient"),
    ),
    responses(
        (status = 204, description = "Cleared"),
        SessionErrors,
        ClearOptOutProblems,
    ),
    security(("session" = []))
)]
#[delete("/api/tenant/notifications/opt-outs/{channel}/{patient_id}")]
pub async fn clear_notification_opt_out(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (Some(channel), Some(patient)) = (Channel::parse(&path.0), ClinikoId::parse(&path.1))
    else {
        return Err(Error::NotFound {
            resource: "opt-out",
        }
        .into());
    };
    state
        .notifications
        .clear_opt_out(auth.ctx(), &patient, channel)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
