//! Webhook endpoints: where a partner's client wants a clinic's events sent. The storage port and
//! the two questions the delivery machinery asks of it (who subscribes to an event type; where
//! and with which secrets a delivery goes, and what came of it).
//!
//! Endpoint management (create, change, rotate, list) is built on top of this port by the
//! webhook endpoint service; the delivery side needs only [`DeliveryEndpoints`].

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::WebhookSecret;
use crate::Result;
use crate::ids::TenantId;

crate::ids::uuid_id!(
    /// One webhook endpoint of one client.
    WebhookEndpointId
);

/// How long an endpoint may fail every delivery before it is disabled.
pub const DISABLE_AFTER_FAILING_FOR: chrono::TimeDelta = chrono::TimeDelta::days(5);

/// Why an endpoint is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisabledReason {
    /// Its owner (the partner) or the clinic turned it off.
    Manual,
    /// Every delivery failed for [`DISABLE_AFTER_FAILING_FOR`].
    Failing,
}

impl DisabledReason {
    /// The stored and public name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Failing => "failing",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Manual, Self::Failing]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// What a delivery needs of its endpoint at the moment it is sent.
pub struct DeliveryEndpoint {
    /// The URL to POST to (checked against the outbound guard at create time and again at each
    /// connection).
    pub url: String,
    /// The secrets to sign with, newest first: the current one, and the previous one during a
    /// rotation's grace period.
    pub secrets: Vec<WebhookSecret>,
    /// Since when every attempt has failed (`None`: the last one succeeded), so the sender
    /// writes the streak only when it changes.
    pub failing_since: Option<DateTime<Utc>>,
}

impl fmt::Debug for DeliveryEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryEndpoint")
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// Whether a delivery can go to its endpoint now.
#[derive(Debug, Clone)]
pub enum Deliverable {
    /// Send it here (shared by the deliveries of a batch that go to one endpoint).
    Send(Arc<DeliveryEndpoint>),
    /// The endpoint is disabled (or its client suspended): keep the delivery pending and look
    /// again later; nothing is dropped while an endpoint is paused.
    Held,
    /// The endpoint was deleted, or its client may no longer read the event's data: the
    /// delivery fails without an attempt.
    Gone,
}

/// The delivery machinery's view of webhook endpoints.
#[async_trait]
pub trait DeliveryEndpoints: Send + Sync + fmt::Debug {
    /// Where and how a delivery of an event of `event_type` to `endpoint` goes now.
    async fn deliverable(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        event_type: crate::events::EventType,
    ) -> Result<Deliverable>;

    /// [`Self::deliverable`] for each of `wanted`, deliveries of clinic `tenant` (a claimed
    /// batch), in order. The default asks one by one; a store that can read the endpoints at
    /// once should.
    async fn deliverables(
        &self,
        tenant: TenantId,
        wanted: &[(WebhookEndpointId, crate::events::EventType)],
    ) -> Result<Vec<Deliverable>> {
        let mut out = Vec::with_capacity(wanted.len());
        for (endpoint, event_type) in wanted {
            out.push(self.deliverable(tenant, *endpoint, *event_type).await?);
        }
        Ok(out)
    }

    /// Notes an attempt's outcome: a delivery clears the endpoint's failing streak; a failure
    /// starts one (at `at`) or, once it has lasted [`DISABLE_AFTER_FAILING_FOR`], disables the
    /// endpoint with [`DisabledReason::Failing`]. Returns whether this call disabled it.
    async fn note_outcome(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        delivered: bool,
        at: DateTime<Utc>,
    ) -> Result<bool>;
}
