//! A partner's webhook endpoints, managed with its own token (`webhooks:manage`):
//! `/api/public/webhooks…` — create (the secret is in that answer only), list, read, change,
//! delete, rotate the secret, send a signed `ping`, read the deliveries, resend one, and recover
//! every event since a moment — and the catalogue of event types (`GET /api/public/event-types`,
//! no token). Another client's or clinic's endpoint id is 404.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use clinicgate_adapters::webhooks::{REQUEST_TIMEOUT, message_body, send_signed};
use clinicgate_core::delivery::{DeliveryId, Verdict};
use clinicgate_core::events::EventType;
use clinicgate_core::webhooks::{
    EndpointPatch, EndpointWithSecret, NewEndpointRequest, WebhookEndpoint, WebhookEndpointId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ApiCaller, WebhooksManage};
use crate::http::extract::explicit_null;
use crate::http::host::RootHost;
use crate::http::problem::ApiError;
use crate::http::responses::{BearerErrors, JsonBodyErrors, QueryErrors, route_problems};
use crate::http::webhooks::{
    ResendOut, WebhookDeliveriesOut, WebhookDeliveriesQuery, deliveries_answer, resend_answer,
};
use crate::state::AppState;

/// A webhook endpoint (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointOut {
    /// Its id.
    pub id: Uuid,
    /// Where messages are POSTed.
    #[schema(example = "https://partner.example.com/webhooks/clinicgate")]
    pub url: String,
    /// The event types it is sent.
    #[schema(example = json!(["appointment.created", "appointment.cancelled"]))]
    pub event_types: Vec<String>,
    /// The partner's note about it.
    pub description: Option<String>,
    /// Whether messages are sent to it now. Deliveries to a disabled endpoint wait (for their
    /// event's retention) and go when it is enabled again.
    pub enabled: bool,
    /// Why it is disabled: `manual` (by the partner or the clinic) or `failing` (every delivery
    /// failed for five days).
    #[schema(example = json!(null))]
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` when the last one succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still signs messages (`null` when
    /// none does).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookEndpoint> for WebhookEndpointOut {
    fn from(endpoint: WebhookEndpoint) -> Self {
        let now = Utc::now();
        Self {
            id: endpoint.id.as_uuid(),
            url: endpoint.url,
            event_types: endpoint
                .event_types
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            description: endpoint.description,
            enabled: endpoint.disabled.is_none(),
            disabled_reason: endpoint.disabled.map(|r| r.as_str().to_owned()),
            failing_since: endpoint.failing_since,
            previous_secret_expires_at: endpoint.previous_secret_until.filter(|until| *until > now),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// A webhook endpoint with its new signing secret: shown this once, never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointWithSecretOut {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookEndpointOut,
    /// The signing secret (`whsec_` + base64, the Standard Webhooks form): give it to a Standard
    /// Webhooks library to verify messages. Store it now; ClinicGate cannot show it again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4gUSh7Mp3ZE=")]
    pub secret: String,
}

impl From<EndpointWithSecret> for WebhookEndpointWithSecretOut {
    fn from(made: EndpointWithSecret) -> Self {
        Self {
            secret: made.secret.expose(),
            endpoint: made.endpoint.into(),
        }
    }
}

/// The client's endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointsOut {
    /// Oldest first.
    pub data: Vec<WebhookEndpointOut>,
}

/// An endpoint to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://partner.example.com/webhooks/clinicgate", "event_types": ["appointment.created", "appointment.cancelled"], "description": "Bookings"}))]
pub struct WebhookEndpointIn {
    /// An `https` URL on a public address (checked now, and again at every connection).
    #[serde(default)]
    pub url: String,
    /// At least one event type (`GET /api/public/event-types`), each readable with the client's
    /// scopes.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// A note (at most 500 characters, one line).
    pub description: Option<String>,
}

/// A change to an endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_types": ["appointment.created"], "enabled": true}))]
pub struct WebhookEndpointPatchIn {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// A new note; `null` removes it.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `false` pauses deliveries (they wait); `true` resumes them and clears the failing streak
    /// of an endpoint that was disabled.
    pub enabled: Option<bool>,
}

/// What a test message gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookTestOut {
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// Its HTTP status, when it answered.
    #[schema(example = 204)]
    pub status_code: Option<u16>,
    /// How long the attempt took, in milliseconds.
    #[schema(example = 87)]
    pub latency_ms: u64,
    /// How it failed without an answer: `timeout`, `connection`, `tls`, `address_not_allowed`
    /// or `url_not_allowed`.
    pub error_class: Option<String>,
}

/// Where a recovery starts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-12-01T00:00:00Z"}))]
pub struct RecoverIn {
    /// Every event that occurred at or after this moment (RFC 3339) and is still retained.
    pub since: DateTime<Utc>,
}

/// What a recovery queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoverOut {
    /// Events queued for delivery to the endpoint.
    pub count: u64,
    /// Whether more matched than one recovery sends (10 000): the oldest were queued; recover
    /// again from the last one you receive for the rest.
    pub truncated: bool,
}

/// One event type.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeOut {
    /// Its name, as in `event_types` and in each message's `type`.
    #[serde(rename = "type")]
    #[schema(example = "appointment.created")]
    pub event_type: String,
    /// What it means.
    pub description: String,
    /// The scope a client must hold for its endpoints to be sent it (its data is that scope's).
    #[schema(example = "appointments:read")]
    pub scope: String,
}

/// Every event type.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypesOut {
    /// In a stable order.
    pub data: Vec<EventTypeOut>,
}

/// A response a cache must not keep: endpoints change, and some answers hold a secret.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The catalogue of event types a webhook endpoint can be sent, with the scope each needs.
/// Needs no token.
#[utoipa::path(
    tag = "webhooks",
    responses((status = 200, description = "Every event type", body = EventTypesOut))
)]
#[get("/api/public/event-types")]
pub async fn list_event_types(_root: RootHost) -> HttpResponse {
    HttpResponse::Ok().json(EventTypesOut {
        data: EventType::ALL
            .iter()
            .map(|t| EventTypeOut {
                event_type: t.as_str().to_owned(),
                description: t.description().to_owned(),
                scope: t.scope().as_str().to_owned(),
            })
            .collect(),
    })
}

/// The calling client's webhook endpoints.
#[utoipa::path(
    tag = "webhooks",
    responses(
        (status = 200, description = "The client's endpoints, oldest first", body = WebhookEndpointsOut),
        BearerErrors,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[get("/api/public/webhooks")]
pub async fn list_webhooks(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let endpoints = state.webhooks.list(caller.ctx()).await?;
    Ok(no_store(HttpResponse::Ok().json(WebhookEndpointsOut {
        data: endpoints.into_iter().map(Into::into).collect(),
    })))
}

route_problems!(
    /// What `POST /api/public/webhooks` answers itself.
    CreateWebhookProblems {
        422 => "An invalid field, each named in `errors`: `url` (`required`, `too_long`, `invalid_url`, `scheme_not_allowed`, `credentials_not_allowed`, `host_missing`, `port_not_allowed`, `address_not_allowed`, `unresolvable`), `event_types` (`required`, `unknown_event_type`, `scope_missing`), `description` (`too_long`, `invalid_characters`); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Registers a webhook endpoint for the client's clinic. The answer holds its signing secret,
/// which is never shown again. The URL must be `https` and reach a public address (private,
/// loopback, link-local and metadata addresses are refused now and at every connection).
#[utoipa::path(
    tag = "webhooks",
    request_body = WebhookEndpointIn,
    responses(
        (status = 201, description = "Created; store `secret` now", body = WebhookEndpointWithSecretOut,
         headers(("Location" = String, description = "The endpoint's URL"))),
        BearerErrors, JsonBodyErrors,
        CreateWebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[post("/api/public/webhooks")]
pub async fn create_webhook(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    body: web::Json<WebhookEndpointIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let created = state
        .webhooks
        .create(
            caller.ctx(),
            NewEndpointRequest {
                url: body.url,
                event_types: body.event_types,
                description: body.description,
            },
        )
        .await?;
    let location = format!("/api/public/webhooks/{}", created.endpoint.id);
    Ok(no_store(
        HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(WebhookEndpointWithSecretOut::from(created)),
    ))
}

route_problems!(
    /// What the routes of one endpoint answer themselves.
    WebhookProblems {
        404 => "No such endpoint of this client",
    }
);

/// One of the client's webhook endpoints.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointOut),
        BearerErrors,
        WebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[get("/api/public/webhooks/{id}")]
pub async fn get_webhook(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = state.webhooks.get(caller.ctx(), id.into_inner()).await?;
    Ok(no_store(
        HttpResponse::Ok().json(WebhookEndpointOut::from(endpoint)),
    ))
}

route_problems!(
    /// What `PATCH /api/public/webhooks/{id}` answers itself.
    UpdateWebhookProblems {
        404 => "No such endpoint of this client",
        422 => "An invalid field, each named in `errors` (as for creating), or nothing to change (`nothing_to_change`); or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Changes an endpoint's URL, event types, description, or whether it is enabled.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = WebhookEndpointPatchIn,
    responses(
        (status = 200, description = "The changed endpoint", body = WebhookEndpointOut),
        BearerErrors, JsonBodyErrors,
        UpdateWebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[patch("/api/public/webhooks/{id}")]
pub async fn update_webhook(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
    body: web::Json<WebhookEndpointPatchIn>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let endpoint = state
        .webhooks
        .change(
            caller.ctx(),
            id.into_inner(),
            EndpointPatch {
                url: body.url,
                event_types: body.event_types,
                description: body.description,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(no_store(
        HttpResponse::Ok().json(WebhookEndpointOut::from(endpoint)),
    ))
}

/// Deletes an endpoint; deliveries still pending to it are given up.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        BearerErrors,
        WebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[delete("/api/public/webhooks/{id}")]
pub async fn delete_webhook(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    state.webhooks.delete(caller.ctx(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives an endpoint a new signing secret, returned once. For 24 hours every message is signed
/// with both the new and the previous secret (`webhook-signature` carries both), so a receiver
/// verifies with either while the new one is deployed.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The new secret; store it now", body = WebhookEndpointWithSecretOut),
        BearerErrors,
        WebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[post("/api/public/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    let rotated = state
        .webhooks
        .rotate_secret(caller.ctx(), id.into_inner())
        .await?;
    Ok(no_store(
        HttpResponse::Ok().json(WebhookEndpointWithSecretOut::from(rotated)),
    ))
}

/// Sends the endpoint a signed `ping` now (`{"type":"ping","timestamp":…,"data":{"endpoint_id":…}}`,
/// signed like every message) and says what came of it. Works on a disabled endpoint too; the
/// attempt is not a delivery and changes nothing about the endpoint.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The attempt's outcome", body = WebhookTestOut),
        BearerErrors,
        WebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[post("/api/public/webhooks/{id}/test")]
pub async fn test_webhook(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let endpoint = state.webhooks.test_target(caller.ctx(), id).await?;
    let data = serde_json::json!({ "endpoint_id": id }).to_string();
    let sent = send_signed(
        &state.outbound,
        &endpoint,
        &Uuid::now_v7().to_string(),
        message_body("ping", Utc::now(), &data),
        REQUEST_TIMEOUT,
    )
    .await;
    let (status_code, error_class) = sent.result.parts();
    let error_class = error_class.map(str::to_owned);
    Ok(no_store(HttpResponse::Ok().json(WebhookTestOut {
        delivered: sent.result.verdict() == Verdict::Delivered,
        status_code,
        latency_ms: u64::try_from(sent.latency.as_millis()).unwrap_or(u64::MAX),
        error_class,
    })))
}

/// The endpoint's deliveries, newest first, each with its attempts (time, status or error
/// class, latency, the first KiB of the answer). Keep paging with `before` = `next_before`.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id"), WebhookDeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = WebhookDeliveriesOut),
        BearerErrors, QueryErrors,
        WebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[get("/api/public/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
    query: web::Query<WebhookDeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, limit) = query.filter()?;
    let page = state
        .webhooks
        .deliveries(caller.ctx(), id.into_inner(), filter, limit)
        .await?;
    Ok(deliveries_answer(page))
}

route_problems!(
    /// What `POST /api/public/webhooks/{id}/deliveries/{delivery_id}/resend` answers itself.
    ResendWebhookProblems {
        404 => "No such endpoint of this client, or no such delivery to it",
        422 => "The event is older than the retention (`beyond_retention`)",
    }
);

/// Sends a delivery's event to the endpoint again: a new delivery, due now, with the same
/// `webhook-id` (the event's id), so a receiver that de-duplicates sees it as the same message.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint's id"),
        ("delivery_id" = Uuid, Path, description = "The delivery to send again"),
    ),
    responses(
        (status = 202, description = "Queued", body = ResendOut),
        BearerErrors,
        ResendWebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[post("/api/public/webhooks/{id}/deliveries/{delivery_id}/resend")]
pub async fn resend_webhook_delivery(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    path: web::Path<(WebhookEndpointId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let resent = state.webhooks.resend(caller.ctx(), id, delivery).await?;
    Ok(resend_answer(&state, resent))
}

/// Sends the endpoint every event of its types since `since` again (those still retained, 30
/// days by default; oldest first; at most 10 000 — `truncated` says when more matched). Each is
/// a new delivery with the event's own `webhook-id`.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = RecoverIn,
    responses(
        (status = 202, description = "Queued", body = RecoverOut),
        BearerErrors, JsonBodyErrors,
        WebhookProblems,
    ),
    security(("bearer" = ["webhooks:manage"]))
)]
#[post("/api/public/webhooks/{id}/recover")]
pub async fn recover_webhook(
    caller: ApiCaller<WebhooksManage>,
    state: web::Data<AppState>,
    id: web::Path<WebhookEndpointId>,
    body: web::Json<RecoverIn>,
) -> Result<HttpResponse, ApiError> {
    let recovered = state
        .webhooks
        .recover(caller.ctx(), id.into_inner(), body.since)
        .await?;
    if recovered.count > 0 {
        state.delivery_wake.notify_one();
    }
    Ok(HttpResponse::Accepted().json(RecoverOut {
        count: recovered.count,
        truncated: recovered.truncated,
    }))
}
