//! `/api/tenant/webhooks`: every webhook endpoint of every API client of the clinic, on the
//! clinic's host with a staff session. Every staff member sees them and their deliveries; owners
//! and admins disable and enable them and resend deliveries (clinicians get 403). Endpoints are
//! created and changed by their clients only, through `/api/public/webhooks`.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use clinicgate_core::Error;
use clinicgate_core::delivery::DeliveryId;
use clinicgate_core::webhooks::{EndpointActivity, WebhookEndpoint, WebhookEndpointId};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::problem::ApiError;
use crate::http::responses::{QueryErrors, SessionErrors, route_problems};
use crate::http::webhooks::{
    ResendOut, WebhookDeliveriesOut, WebhookDeliveriesQuery, deliveries_answer, resend_answer,
};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// How an endpoint's deliveries of the last 24 hours went.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecentDeliveriesOut {
    /// Not delivered yet (waiting for a retry, or held while the endpoint is disabled).
    pub pending: u64,
    /// Delivered (a 2xx answer).
    pub delivered: u64,
    /// Given up.
    pub failed: u64,
}

/// A webhook endpoint as the clinic sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicWebhookOut {
    /// Its id.
    pub id: Uuid,
    /// The API client that owns it.
    #[schema(example = "cgcl_Q2xpbmljR2F0ZUNsaWVudA")]
    pub client_id: String,
    /// That client's name.
    #[schema(example = "Booking partner")]
    pub client_name: String,
    /// Where the clinic's events are POSTed.
    #[schema(example = "https://partner.example.com/webhooks/clinicgate")]
    pub url: String,
    /// The event types it is sent.
    #[schema(example = json!(["appointment.created", "appointment.cancelled"]))]
    pub event_types: Vec<String>,
    /// The partner's note about it.
    pub description: Option<String>,
    /// `enabled` or `disabled`.
    #[schema(example = "enabled")]
    pub status: String,
    /// Why it is disabled: `manual` (by the partner or the clinic) or `failing` (every delivery
    /// failed for five days; enable it again once the partner has fixed it).
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` when the last one succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// Its deliveries of the last 24 hours.
    pub recent_deliveries: RecentDeliveriesOut,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl ClinicWebhookOut {
    fn new(endpoint: WebhookEndpoint, recent: RecentDeliveriesOut) -> Self {
        Self {
            id: endpoint.id.as_uuid(),
            client_id: endpoint.client_id.to_string(),
            client_name: endpoint.client_name.as_str().to_owned(),
            url: endpoint.url,
            event_types: endpoint
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            description: endpoint.description,
            status: if endpoint.disabled.is_none() {
                "enabled"
            } else {
                "disabled"
            }
            .to_owned(),
            disabled_reason: endpoint.disabled.map(|r| r.as_str().to_owned()),
            failing_since: endpoint.failing_since,
            recent_deliveries: recent,
            created_at: endpoint.created_at,
        }
    }
}

impl From<EndpointActivity> for ClinicWebhookOut {
    fn from(activity: EndpointActivity) -> Self {
        let recent = activity.recent;
        Self::new(
            activity.endpoint,
            RecentDeliveriesOut {
                pending: recent.pending,
                delivered: recent.delivered,
                failed: recent.failed,
            },
        )
    }
}

/// Every endpoint of the clinic's clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicWebhooksOut {
    /// Oldest first.
    pub data: Vec<ClinicWebhookOut>,
}

/// Every webhook endpoint of every API client of the clinic, with how its deliveries of the last
/// 24 hours went (any staff member).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "Every endpoint, oldest first", body = ClinicWebhooksOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/webhooks")]
pub async fn list_clinic_webhooks(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let endpoints = state.webhooks.list_with_activity(auth.ctx()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ClinicWebhooksOut {
            data: endpoints.into_iter().map(Into::into).collect(),
        }))
}

route_problems!(
    /// What the routes of one of the clinic's endpoints answer themselves.
    ClinicWebhookProblems {
        404 => "No such endpoint in this clinic",
    }
);

/// An endpoint's deliveries, newest first, each with its attempts (response codes, latency),
/// paged like the partner's (any staff member).
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The endpoint's id"), WebhookDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveriesOut),
        SessionErrors, QueryErrors,
        ClinicWebhookProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/webhooks/{id}/deliveries")]
pub async fn list_clinic_webhook_deliveries(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
    query: web::Query<WebhookDeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, limit) = query.filter()?;
    let page = state
        .webhooks
        .deliveries(auth.ctx(), id.into_inner(), filter, limit)
        .await?;
    Ok(deliveries_answer(page))
}

/// Enables or disables an endpoint for the clinic; the answer is the endpoint as listed.
async fn set_enabled(
    auth: &Authenticated,
    state: &AppState,
    id: WebhookEndpointId,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let endpoint = state.webhooks.set_enabled(auth.ctx(), id, enabled).await?;
    let listed = state
        .webhooks
        .with_activity(auth.ctx(), vec![endpoint])
        .await?
        .into_iter()
        .next()
        .map(ClinicWebhookOut::from)
        .ok_or_else(|| Error::internal("an endpoint without its activity"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(listed))
}

/// Disables an endpoint (owners and admins): its deliveries wait, for their events' retention,
/// until it is enabled again.
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The disabled endpoint", body = ClinicWebhookOut),
        SessionErrors,
        ClinicWebhookProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/webhooks/{id}/disable")]
pub async fn disable_clinic_webhook(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&auth, &state, id.into_inner(), false).await
}

/// Enables an endpoint again (owners and admins); one disabled because it kept failing starts
/// with a clean slate.
#[utoipa::path(
    tag = "clinic",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The enabled endpoint", body = ClinicWebhookOut),
        SessionErrors,
        ClinicWebhookProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/webhooks/{id}/enable")]
pub async fn enable_clinic_webhook(
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&auth, &state, id.into_inner(), true).await
}

route_problems!(
    /// What `POST /api/tenant/webhooks/{id}/deliveries/{delivery_id}/resend` answers itself.
    ClinicResendProblems {
        404 => "No such endpoint in this clinic, or no such delivery to it",
        422 => "The event is older than the retention (`beyond_retention`)",
    }
);

/// Sends a delivery's event to the endpoint again, due now (owners and admins).
#[utoipa::path(
    tag = "clinic",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery to send again"),
    ),
    responses(
        (status = 202, description = "Queued", body = ResendOut),
        SessionErrors,
        ClinicResendProblems,
    ),
    security(("session" = []))
)]
#[post("/api/tenant/webhooks/{id}/deliveries/{delivery_id}/resend")]
pub async fn resend_clinic_webhook_delivery(
    auth: Authenticated,
    state: web::Data<AppState>,
    path: web::Path<(WebhookEndpointId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let resent = state.webhooks.resend(auth.ctx(), id, delivery).await?;
    Ok(resend_answer(&state, resent))
}
