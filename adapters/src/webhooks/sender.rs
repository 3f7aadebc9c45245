//! Sends webhook messages the Standard Webhooks way: `POST` the JSON body
//! `{"type", "timestamp", "data"}` with `webhook-id`, `webhook-timestamp` and
//! `webhook-signature`, through the [`OutboundClient`] (so the SSRF guard applies at every
//! connection and redirects are not followed), within [`REQUEST_TIMEOUT`]. The answer's status
//! and the first KiB of its body are kept; the body is never parsed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use clinicgate_core::delivery::{
    AttemptResult, Claimed, Delivery, DeliveryId, EventMessage, Prepared, SendOutcome, Sender,
    Sent, Verdict, response_excerpt,
};
use clinicgate_core::ids::TenantId;
use clinicgate_core::webhooks::{
    Deliverable, DeliveryEndpoint, DeliveryEndpoints, ID_HEADER, SIGNATURE_HEADER,
    TIMESTAMP_HEADER, WebhookEndpointId, signature_header,
};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use secrecy::ExposeSecret as _;

use crate::outbound::{OutboundClient, SendError, UrlRefusal};
use crate::retry_after::retry_after;

/// The longest a receiver may take to answer one message.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a delivery to a paused (disabled) endpoint waits before it is looked at again.
pub const HOLD_PAUSED: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// How long a delivery waits when its endpoint could not be read (the database is away).
pub(crate) const HOLD_UNREADABLE: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Prometheus: webhook attempts by outcome (`delivered`, `retry`, `failed`).
const ATTEMPTS_TOTAL: &str = "webhook_attempts_total";
/// Prometheus: endpoints disabled because they kept failing.
const DISABLED_TOTAL: &str = "webhook_endpoints_disabled_total";

/// The body of a message: `{"type","timestamp","data"}`, with `data` the event's JSON as it was
/// rendered when the event was published (ClinicGate's own JSON, so it is embedded as it is
/// rather than parsed again).
pub fn message_body(event_type: &str, timestamp: DateTime<Utc>, data: &str) -> Vec<u8> {
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    format!(
        r#"{{"type":{},"timestamp":{},"data":{data}}}"#,
        quoted(event_type),
        quoted(&timestamp.to_rfc3339_opts(SecondsFormat::Millis, true)),
    )
    .into_bytes()
}

/// Signs `body` as message `message_id` with every secret of `endpoint` and POSTs it there,
/// waiting at most `timeout` for the answer. Never fails: a failure to send is an
/// [`AttemptResult::Failed`] for the attempt log.
pub async fn send_signed(
    outbound: &OutboundClient,
    endpoint: &DeliveryEndpoint,
    message_id: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Sent {
    let started = Instant::now();
    let timestamp = Utc::now().timestamp();
    let signature = signature_header(&endpoint.secrets, message_id, timestamp, &body);
    let answer = match request(endpoint, message_id, timestamp, signature, body, timeout) {
        Some(request) => outbound.exchange(request).await,
        // A stored URL that no longer parses (it was checked when stored) is not allowed.
        None => Err(SendError::Refused(UrlRefusal::InvalidUrl)),
    };
    let result = match &answer {
        Ok(answer) => AttemptResult::Answered {
            status: answer.status,
            retry_after: retry_after(&answer.headers),
        },
        Err(err) => AttemptResult::Failed(err.failure()),
    };
    Sent {
        result,
        verdict: result.verdict(),
        latency: started.elapsed(),
        response_excerpt: answer
            .ok()
            .filter(|answer| !answer.body_start.is_empty())
            .map(|answer| response_excerpt(&answer.body_start)),
    }
}

/// The signed request; `None` when the stored URL or a header cannot be used.
fn request(
    endpoint: &DeliveryEndpoint,
    message_id: &str,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
    timeout: Duration,
) -> Option<reqwest::Request> {
    let url = reqwest::Url::parse(&endpoint.url).ok()?;
    let mut request = reqwest::Request::new(reqwest::Method::POST, url);
    *request.timeout_mut() = Some(timeout);
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ID_HEADER, HeaderValue::from_str(message_id).ok()?);
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from(timestamp));
    headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(&signature).ok()?);
    *request.body_mut() = Some(body.into());
    Some(request)
}

/// Delivers events to webhook endpoints: asks the endpoints where and with which secrets, sends,
/// and keeps each endpoint's failing streak (an endpoint failing for five days is disabled).
#[derive(Debug, Clone)]
pub struct WebhookSender {
    outbound: OutboundClient,
    endpoints: Arc<dyn DeliveryEndpoints>,
    timeout: Duration,
}

impl WebhookSender {
    /// Sends through `outbound` to `endpoints`, waiting [`REQUEST_TIMEOUT`] for each answer.
    pub fn new(outbound: OutboundClient, endpoints: Arc<dyn DeliveryEndpoints>) -> Self {
        Self {
            outbound,
            endpoints,
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// Waits `timeout` for each answer instead (tests of slow receivers).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Writes the endpoint's failing streak when this attempt changes it.
    async fn note(&self, delivery: &Delivery, endpoint: &DeliveryEndpoint, delivered: bool) {
        if delivered && endpoint.failing_since.is_none() {
            return;
        }
        let id = WebhookEndpointId::from_uuid(delivery.target.id);
        match self
            .endpoints
            .note_outcome(delivery.tenant_id, id, delivered, Utc::now())
            .await
        {
            Ok(true) => {
                metrics::counter!(DISABLED_TOTAL).increment(1);
                tracing::warn!(
                    tenant = %delivery.tenant_id,
                    endpoint_id = %id,
                    "a webhook endpoint was disabled: every delivery failed for five days"
                );
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(
                error = %err,
                endpoint_id = %id,
                "a webhook endpoint's failing streak could not be written"
            ),
        }
    }
}

/// The endpoints of a claimed batch, read at once: what each delivery of it may do.
#[derive(Debug)]
struct BatchEndpoints(HashMap<DeliveryId, Deliverable>);

#[async_trait]
impl Sender for WebhookSender {
    async fn send(&self, delivery: &Delivery, event: &EventMessage) -> SendOutcome {
        let id = WebhookEndpointId::from_uuid(delivery.target.id);
        let deliverable = self
            .endpoints
            .deliverable(delivery.tenant_id, id, event.event_type)
            .await;
        self.send_to(delivery, event, deliverable).await
    }

    async fn prepare(&self, batch: &[&Claimed]) -> Prepared {
        let mut tenants: HashMap<TenantId, Vec<&Claimed>> = HashMap::new();
        for claimed in batch {
            tenants
                .entry(claimed.delivery.tenant_id)
                .or_default()
                .push(claimed);
        }
        let mut prepared = HashMap::with_capacity(batch.len());
        for (tenant, claimed) in tenants {
            let wanted: Vec<_> = claimed
                .iter()
                .map(|c| {
                    let id = WebhookEndpointId::from_uuid(c.delivery.target.id);
                    (id, c.event.event_type)
                })
                .collect();
            match self.endpoints.deliverables(tenant, &wanted).await {
                Ok(deliverables) => {
                    prepared.extend(claimed.iter().map(|c| c.delivery.id).zip(deliverables))
                }
                // Each of these reads its endpoint itself when it is sent.
                Err(err) => {
                    tracing::warn!(error = %err, "a batch's webhook endpoints could not be read");
                }
            }
        }
        Prepared::new(BatchEndpoints(prepared))
    }

    async fn send_prepared(
        &self,
        delivery: &Delivery,
        event: &EventMessage,
        prepared: &Prepared,
    ) -> SendOutcome {
        let found = prepared
            .get::<BatchEndpoints>()
            .and_then(|batch| batch.0.get(&delivery.id));
        match found {
            Some(deliverable) => self.send_to(delivery, event, Ok(deliverable.clone())).await,
            None => self.send(delivery, event).await,
        }
    }
}

impl WebhookSender {
    /// Sends `delivery` as `deliverable` says.
    async fn send_to(
        &self,
        delivery: &Delivery,
        event: &EventMessage,
        deliverable: clinicgate_core::Result<Deliverable>,
    ) -> SendOutcome {
        let id = WebhookEndpointId::from_uuid(delivery.target.id);
        let endpoint = match deliverable {
            Ok(Deliverable::Send(endpoint)) => endpoint,
            Ok(Deliverable::Held) => {
                return SendOutcome::Held {
                    until: Utc::now() + HOLD_PAUSED,
                };
            }
            Ok(Deliverable::Gone) => return SendOutcome::Gone,
            Err(err) => {
                tracing::warn!(error = %err, endpoint_id = %id, "a webhook endpoint could not be read; the delivery waits");
                return SendOutcome::Held {
                    until: Utc::now() + HOLD_UNREADABLE,
                };
            }
        };
        let body = message_body(
            event.event_type.as_str(),
            event.occurred_at,
            event.data.expose_secret(),
        );
        let sent = send_signed(
            &self.outbound,
            &endpoint,
            &event.id.to_string(),
            body,
            self.timeout,
        )
        .await;
        let verdict = sent.verdict;
        let outcome = match verdict {
            Verdict::Delivered => "delivered",
            Verdict::Retry { .. } => "retry",
            Verdict::Fail => "failed",
        };
        metrics::counter!(ATTEMPTS_TOTAL, "outcome" => outcome).increment(1);
        self.note(delivery, &endpoint, verdict == Verdict::Delivered)
            .await;
        SendOutcome::Attempted(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_embeds_the_rendered_data_and_quotes_the_rest() {
        let at = DateTime::parse_from_rfc3339("2030-05-21T23:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = message_body("appointment.created", at, r#"{"id":"1","notes":"a \"b\""}"#);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "type": "appointment.created",
                "timestamp": "2030-05-21T23:00:00.500Z",
                "data": {"id": "1", "notes": "a \"b\""}
            })
        );
    }
}
