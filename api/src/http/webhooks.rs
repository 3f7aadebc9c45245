//! A webhook endpoint's deliveries as HTTP shows them, shared by the partner's routes
//! (`/api/public/webhooks/{id}/deliveries…`) and the clinic's (`/api/tenant/webhooks/{id}/…`):
//! the query, the page and the answer to a resend (which wakes this instance's delivery worker).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError as _};
use chrono::{DateTime, Utc};
use clinicgate_core::delivery::{
    AttemptRecord, DEFAULT_HISTORY_PAGE, DeliveryId, DeliveryRecord, DeliveryStatus, HistoryFilter,
    HistoryPage, Resend,
};
use clinicgate_core::events::EventType;
use clinicgate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::ApiError;
use crate::state::AppState;

/// Which of an endpoint's deliveries to list (all optional, combined with AND).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WebhookDeliveriesQuery {
    /// Only deliveries older than this one: the previous page's `next_before`.
    pub before: Option<String>,
    /// Deliveries per page, 1–100 (default 20).
    pub limit: Option<u32>,
    /// Only deliveries in this state: `pending`, `delivered` or `failed`.
    #[param(example = "failed")]
    pub status: Option<String>,
    /// Only deliveries of events of this type.
    #[param(example = "appointment.created")]
    pub event_type: Option<String>,
}

impl WebhookDeliveriesQuery {
    /// The filter and page size asked for, or every malformed parameter (the page size's range
    /// is the service's to check).
    ///
    /// # Errors
    /// `Validation` naming each malformed parameter.
    pub fn filter(&self) -> Result<(HistoryFilter, u32), Error> {
        let mut errors = Vec::new();
        let before = param(
            &self.before,
            |raw| raw.parse::<DeliveryId>().ok(),
            (
                "before",
                "invalid",
                "use the next_before of a previous page",
            ),
            &mut errors,
        );
        let status = param(
            &self.status,
            DeliveryStatus::parse,
            (
                "status",
                "invalid",
                "a status is pending, delivered or failed",
            ),
            &mut errors,
        );
        let event_type = param(
            &self.event_type,
            EventType::parse,
            (
                "event_type",
                "unknown_event_type",
                "not an event type; see GET /api/public/event-types",
            ),
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok((
            HistoryFilter {
                before,
                status,
                event_type,
            },
            // The service checks the range.
            self.limit.unwrap_or(DEFAULT_HISTORY_PAGE),
        ))
    }
}

/// A parameter as `parse` reads it; left out or blank is no filter. One `parse` cannot read is
/// noted in `errors` (`field`, `code`, `why`), so every malformed parameter is named at once.
fn param<T>(
    raw: &Option<String>,
    parse: impl FnOnce(&str) -> Option<T>,
    (field, code, why): (&'static str, &'static str, &'static str),
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let raw = raw
        .as_deref()
        .map(str::trim)
        .filter(|raw| !raw.is_empty())?;
    let parsed = parse(raw);
    if parsed.is_none() {
        errors.push(FieldError::new(field, code, why));
    }
    parsed
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptOut {
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    #[schema(example = 200)]
    pub status_code: Option<u16>,
    /// How it failed without an answer: `timeout`, `connection`, `tls`, `address_not_allowed`
    /// or `url_not_allowed`.
    pub error_class: Option<String>,
    /// How long it took, in milliseconds.
    #[schema(example = 87)]
    pub latency_ms: u64,
    /// The first KiB of the receiver's answer, as text (never parsed).
    pub response_excerpt: Option<String>,
}

impl From<AttemptRecord> for WebhookAttemptOut {
    fn from(attempt: AttemptRecord) -> Self {
        let (status_code, error_class) = attempt.result.parts();
        let error_class = error_class.map(str::to_owned);
        Self {
            attempted_at: attempt.attempted_at,
            status_code,
            error_class,
            latency_ms: u64::try_from(attempt.latency.as_millis()).unwrap_or(u64::MAX),
            response_excerpt: attempt.response_excerpt,
        }
    }
}

/// One event's delivery to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryOut {
    /// The delivery (the id to resend).
    pub id: Uuid,
    /// The event: the `webhook-id` of every message that carries it.
    pub event_id: Uuid,
    /// The event's type.
    #[schema(example = "appointment.created")]
    pub event_type: String,
    /// `pending` (not delivered yet: due at `next_attempt_at`), `delivered` or `failed`.
    #[schema(example = "delivered")]
    pub status: String,
    /// When the delivery was created.
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<WebhookAttemptOut>,
}

impl From<DeliveryRecord> for WebhookDeliveryOut {
    fn from(record: DeliveryRecord) -> Self {
        let delivery = record.delivery;
        Self {
            id: delivery.id.as_uuid(),
            event_id: delivery.event_id.as_uuid(),
            event_type: record.event_type.as_str().to_owned(),
            status: delivery.status.as_str().to_owned(),
            created_at: delivery.created_at,
            next_attempt_at: (delivery.status == DeliveryStatus::Pending)
                .then_some(delivery.next_attempt_at),
            finished_at: delivery.finished_at,
            attempts: record.attempts.into_iter().map(Into::into).collect(),
        }
    }
}

/// A page of an endpoint's deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveriesOut {
    /// Newest first.
    pub data: Vec<WebhookDeliveryOut>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<Uuid>,
}

impl From<HistoryPage> for WebhookDeliveriesOut {
    fn from(page: HistoryPage) -> Self {
        Self {
            data: page.deliveries.into_iter().map(Into::into).collect(),
            next_before: page.next_before.map(|id| id.as_uuid()),
        }
    }
}

/// A delivery queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResendOut {
    /// The new delivery, due now.
    pub delivery_id: Uuid,
}

/// A page of deliveries as the answer: never cached (a delivery's state changes under it).
pub fn deliveries_answer(page: HistoryPage) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WebhookDeliveriesOut::from(page))
}

/// The answer to a resend: 202 with the new delivery (and this instance's worker woken, so it
/// goes out now rather than at the next poll), or the 422 problem `beyond_retention` when the
/// event is past its retention.
pub fn resend_answer(state: &AppState, resend: Resend) -> HttpResponse {
    match resend {
        Resend::Queued(id) => {
            state.delivery_wake.notify_one();
            HttpResponse::Accepted().json(ResendOut {
                delivery_id: id.as_uuid(),
            })
        }
        Resend::BeyondRetention => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "beyond_retention",
            "the event is older than the retention and can no longer be sent",
        )
        .error_response(),
    }
}
