//! What a client's patient sync has done, for the clinic's Partners page (owners and admins):
//! its deliveries with the partner's answers, "retry now", and the patients linked so far.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::delivery::DeliveryId;
use clinicgate_core::partner_links::{PartnerId, PartnerLink};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::path_client_id;
use crate::http::problem::ApiError;
use crate::http::responses::{QueryErrors, SessionErrors, route_problems};
use crate::http::webhooks::{
    ResendOut, WebhookDeliveriesOut, WebhookDeliveriesQuery, deliveries_answer, resend_answer,
};
use crate::sessions::Authenticated;
use crate::state::AppState;

route_problems!(
    /// What the routes of a client's patient-sync activity answer themselves.
    SyncActivityProblems {
        404 => "No such client in this clinic, it has no patient sync, or no such delivery to it",
        422 => "The event is older than the retention (`beyond_retention`)",
    }
);

/// The deliveries to a client's partner patient API, newest first, each with its attempts (the
/// partner's status code and the first KiB of its answer), paged and filtered like a webhook
/// endpoint's.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id"), WebhookDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveriesOut),
        SessionErrors, QueryErrors,
        SyncActivityProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/clients/{client_id}/patient-sync/deliveries")]
pub async fn list_patient_sync_deliveries(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
    query: web::Query<WebhookDeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let (filter, limit) = query.filter()?;
    let page = state
        .patient_sync
        .deliveries(auth.ctx(), &client_id, filter, limit)
        .await?;
    Ok(deliveries_answer(page))
}

/// "Retry now": sends a delivery's patient to the partner again, due now (a new delivery).
#[utoipa::path(
    tag = "clinic",
    params(
        ("client_id" = String, Path, description = "The client id"),
        ("delivery_id" = Uuid, Path, description = "The delivery to send again"),
    ),
    responses(
        (status = 202, description = "Queued", body = ResendOut),
        SessionErrors,
        SyncActivityProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/clients/{client_id}/patient-sync/deliveries/{delivery_id}/retry")]
pub async fn retry_patient_sync_delivery(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(String, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    let (client_id, delivery) = path.into_inner();
    let client_id = path_client_id(&auth, &client_id)?;
    let resent = state
        .patient_sync
        .retry(auth.ctx(), &client_id, delivery)
        .await?;
    Ok(resend_answer(&state, resent))
}

/// Which links to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientLinksQuery {
    /// Only links after this partner id: the previous page's `next_after`.
    pub after: Option<String>,
    /// Links per page, 1–100 (default 50).
    pub limit: Option<u64>,
}

/// A Cliniko patient linked to one of the partner's ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientLinkOut {
    /// The partner's id of the patient.
    #[schema(example = "crm-000123")]
    pub partner_id: String,
    /// The Cliniko patient's id.
    #[schema(example = "1083716")]
    pub cliniko_id: String,
    /// When the link was made.
    pub linked_at: DateTime<Utc>,
}

impl From<PartnerLink> for PatientLinkOut {
    fn from(link: PartnerLink) -> Self {
        Self {
            partner_id: link.partner_id.as_str().to_owned(),
            cliniko_id: link.patient.as_str().to_owned(),
            linked_at: link.linked_at,
        }
    }
}

/// A page of links.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientLinksOut {
    /// In partner-id order.
    pub data: Vec<PatientLinkOut>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// The patients linked to the client's partner ids (by its sync or its own creates), in
/// partner-id order.
#[utoipa::path(
    tag = "clinic",
    params(("client_id" = String, Path, description = "The client id"), PatientLinksQuery),
    responses(
        (status = 200, description = "A page of links", body = PatientLinksOut),
        SessionErrors, QueryErrors,
        SyncActivityProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/clients/{client_id}/patient-sync/links")]
pub async fn list_patient_links(
    auth: Authenticated,
    state: web::Data<AppState>,
    client_id: web::Path<String>,
    query: web::Query<PatientLinksQuery>,
) -> Result<HttpResponse, ApiError> {
    let client_id = path_client_id(&auth, &client_id)?;
    let after = query
        .after
        .as_deref()
        .map(|raw| PartnerId::parse("after", raw))
        .transpose()
        .map_err(|err| clinicgate_core::Error::Validation(vec![err]))?;
    let limit = query.limit.unwrap_or(50);
    let links = state
        .patient_sync
        .links(auth.ctx(), &client_id, after.as_ref(), limit)
        .await?;
    // A full page may have more after it (the last page can then be empty).
    let next_after = (links.len() as u64 == limit)
        .then(|| links.last().map(|l| l.partner_id.as_str().to_owned()))
        .flatten();
    let data = links.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(PatientLinksOut { data, next_after }))
}
