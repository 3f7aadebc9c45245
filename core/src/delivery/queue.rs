//! The durable queue of events and their deliveries: the port the database implements.
//!
//! An event and one pending delivery per target are written in one transaction. Workers on any
//! instance *claim* due deliveries with a lease (PostgreSQL skips rows another worker has
//! locked); a claim whose lease ran out, because its instance died mid-delivery, is due again
//! and taken over. Recording an attempt succeeds only while the claim is still held, so a late
//! worker cannot overwrite the attempt of the worker that took its delivery over.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::outcome::AttemptResult;
use crate::Result;
use crate::events::EventType;
use crate::ids::TenantId;
use crate::secrets::SealedSecret;

crate::ids::uuid_id!(
    /// One event of one clinic.
    EventId
);
crate::ids::uuid_id!(
    /// One event's delivery to one target.
    DeliveryId
);
crate::ids::uuid_id!(
    /// One claim of a delivery by a worker: what proves the worker still holds it.
    LeaseId
);

/// What a delivery goes to. Each kind says how to build and send its request; the queue, the
/// retries and the attempt log are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboundKind {
    /// A partner's webhook endpoint.
    Webhook,
    /// A partner's patient API, kept in sync with the clinic's Cliniko patients.
    PatientSync,
    /// A clinic's FHIR server, sent patients and appointments as FHIR resources.
    FhirPush,
    /// A clinic's notification rule: an e-mail to the patient or to the clinic's staff.
    Notification,
}

impl OutboundKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::Webhook,
        Self::PatientSync,
        Self::FhirPush,
        Self::Notification,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::PatientSync => "patient_sync",
            Self::FhirPush => "fhir_push",
            Self::Notification => "notification",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not delivered yet: due at its next attempt time.
    Pending,
    /// A 2xx was received.
    Delivered,
    /// Given up: a final failure, or the schedule ran out.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// An event as stored: its data sealed with the clinic's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its id (the `webhook-id` of every message that carries it).
    pub id: EventId,
    /// Its clinic.
    pub tenant_id: TenantId,
    /// What happened.
    pub event_type: EventType,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The JSON data, sealed.
    pub data: SealedSecret,
    /// When it is forgotten (the retention).
    pub expires_at: DateTime<Utc>,
}

/// One target an event is delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// What kind of target.
    pub kind: OutboundKind,
    /// Its id (e.g. the webhook endpoint's).
    pub id: Uuid,
}

/// A delivery's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: DeliveryId,
    /// Its clinic.
    pub tenant_id: TenantId,
    /// The event it carries.
    pub event_id: EventId,
    /// Where it goes.
    pub target: Target,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is next due (meaningful while pending).
    pub next_attempt_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A delivery a worker holds, with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The delivery, as claimed.
    pub delivery: Delivery,
    /// Its event.
    pub event: StoredEvent,
    /// The claim.
    pub lease: LeaseId,
}

/// One attempt, as the attempt log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// What came of it.
    pub result: AttemptResult,
    /// How long it took.
    pub latency: Duration,
    /// The first KiB of the answer's body, never parsed.
    pub response_excerpt: Option<String>,
}

/// The longest response excerpt kept, in bytes.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// `body` cut to at most [`RESPONSE_EXCERPT_BYTES`] on a character boundary, invalid UTF-8
/// replaced: what the attempt log keeps of an answer.
pub fn response_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(RESPONSE_EXCERPT_BYTES)]);
    let mut end = text.len().min(RESPONSE_EXCERPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done: delivered.
    Delivered,
    /// Due again at this time.
    RetryAt(DateTime<Utc>),
    /// Given up.
    Failed,
}

/// An attempt to record: the claimed delivery, what came of the attempt and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The delivery, as claimed.
    pub claimed: Claimed,
    /// The attempt.
    pub attempt: AttemptRecord,
    /// What follows it.
    pub next: Next,
}

/// The queue's state across clinics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Deliveries not yet delivered or given up.
    pub pending: u64,
    /// When the oldest of them was created.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The durable queue.
#[async_trait]
pub trait DeliveryQueue: Send + Sync + std::fmt::Debug {
    /// Stores `event` and one pending delivery per target, due at once, in one transaction.
    async fn append(&self, event: &StoredEvent, targets: &[Target]) -> Result<Vec<DeliveryId>>;

    /// Claims up to `limit` pending deliveries due by `now` and not held by a live lease, of any
    /// clinic, oldest due first, for `lease_for`.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>>;

    /// Records an attempt of `claimed` and what follows it, and releases the claim. `false`
    /// (and nothing recorded) when the claim was lost: its lease ran out and another worker
    /// claimed the delivery.
    async fn record(&self, claimed: &Claimed, attempt: &AttemptRecord, next: Next) -> Result<bool>;

    /// Records every attempt of `attempted` as [`Self::record`] does, returning for each whether
    /// it was recorded. A queue that can should write them together (one transaction): a busy
    /// worker finishes attempts faster than it can commit them one by one.
    async fn record_all(&self, attempted: &[Attempted]) -> Result<Vec<bool>> {
        let mut recorded = Vec::with_capacity(attempted.len());
        for a in attempted {
            recorded.push(self.record(&a.claimed, &a.attempt, a.next).await?);
        }
        Ok(recorded)
    }

    /// Settles `claimed` without an attempt (its target is paused, or gone): `RetryAt` keeps it
    /// pending until then with its attempt count unchanged, `Failed` gives it up. `false` when
    /// the claim was lost, as for [`Self::record`].
    async fn release(&self, claimed: &Claimed, next: Next) -> Result<bool>;

    /// Forgets up to `limit` events of every clinic whose retention ended by `now`, with their
    /// deliveries and attempts. Returns how many events went.
    async fn prune(&self, now: DateTime<Utc>, limit: u64) -> Result<u64>;

    /// The queue's state across clinics, for the operator's metrics.
    async fn stats(&self) -> Result<QueueStats>;

    /// A clinic's deliveries to `target`, newest first, at most `limit`.
    async fn deliveries(
        &self,
        tenant: TenantId,
        target: Target,
        limit: u64,
    ) -> Result<Vec<Delivery>>;

    /// The attempts of a clinic's delivery, oldest first (none for another clinic's).
    async fn attempts(&self, tenant: TenantId, delivery: DeliveryId) -> Result<Vec<AttemptRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::TransportFailure;

    #[test]
    fn an_excerpt_keeps_a_kib_on_a_character_boundary() {
        assert_eq!(response_excerpt(b"ok"), "ok");
        let long = "é".repeat(600); // 1200 bytes
        let excerpt = response_excerpt(long.as_bytes());
        assert!(excerpt.len() <= RESPONSE_EXCERPT_BYTES);
        assert!(excerpt.chars().all(|c| c == 'é'));
        assert_eq!(response_excerpt(&[0xff, b'a']), "\u{fffd}a");
    }

    #[test]
    fn stored_names_round_trip() {
        for kind in OutboundKind::ALL {
            assert_eq!(OutboundKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(OutboundKind::parse("carrier_pigeon"), None);
        for status in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        for failure in [
            TransportFailure::Timeout,
            TransportFailure::Connection,
            TransportFailure::Tls,
            TransportFailure::AddressNotAllowed,
            TransportFailure::UrlNotAllowed,
            TransportFailure::NotConfigured,
        ] {
            assert_eq!(TransportFailure::parse(failure.as_str()), Some(failure));
        }
    }
}
