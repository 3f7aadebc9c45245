//! Publishing an event: seal its data, find who subscribes to its type, and put the event and one
//! delivery per subscriber in the durable queue.
//!
//! Every source of events (ClinicGate's own writes, the Cliniko poller) publishes through
//! [`EventPublisher`]; every outbound kind (webhooks, later FHIR push, partner sync,
//! notifications) is one [`Subscribers`] it asks. A source that must write its own rows in the
//! same transaction as the event (the poller's snapshots) calls [`EventPublisher::prepare`] and
//! appends what it returns itself.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::Notify;

use super::EventType;
use super::data::{EventData, RenderEvent};
use crate::Result;
use crate::delivery::{DeliveryQueue, EventId, StoredEvent, Target};
use crate::error::Error;
use crate::ids::TenantId;
use crate::secrets::{SecretPurpose, Vault};

/// The default time an event is kept for resends and recovery.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// An event about to be published.
#[derive(Clone)]
pub struct NewEvent {
    /// What happened.
    pub event_type: EventType,
    /// When it happened (or was noticed, for changes detected in Cliniko).
    pub occurred_at: DateTime<Utc>,
    /// The data (PHI: never logged).
    pub data: EventData,
}

impl fmt::Debug for NewEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEvent")
            .field("event_type", &self.event_type)
            .field("occurred_at", &self.occurred_at)
            .finish_non_exhaustive()
    }
}

/// An event ready to append: sealed, with the targets subscribed to it when it was prepared.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    /// The event as stored.
    pub event: StoredEvent,
    /// One delivery is created per target.
    pub targets: Vec<Target>,
}

/// One outbound kind's subscriptions: which of its targets hear an event type now.
#[async_trait]
pub trait Subscribers: Send + Sync + fmt::Debug {
    /// The clinic's targets that receive `event_type` (enabled, subscribed, and allowed to read
    /// the data it carries).
    async fn targets(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Target>>;

    /// When `event` may be forgotten at the earliest, if its targets of this kind need it longer
    /// than the retention (a reminder waits in the queue until shortly before its appointment).
    /// Asked only when this kind has targets for the event.
    async fn keep_until(
        &self,
        _tenant: TenantId,
        _event: &NewEvent,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(None)
    }
}

/// Publishes events: the one way an event enters the queue.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    vault: Vault,
    queue: Arc<dyn DeliveryQueue>,
    render: Arc<dyn RenderEvent>,
    subscribers: Vec<Arc<dyn Subscribers>>,
    retention: Duration,
    wake: Option<Arc<Notify>>,
}

impl EventPublisher {
    /// A publisher rendering data with `render`, sealing it with `vault` into `queue`, keeping
    /// events for `retention`.
    pub fn new(
        vault: Vault,
        queue: Arc<dyn DeliveryQueue>,
        render: Arc<dyn RenderEvent>,
        retention: Duration,
    ) -> Self {
        Self {
            vault,
            queue,
            render,
            subscribers: Vec::new(),
            retention,
            wake: None,
        }
    }

    /// Wakes this instance's delivery worker through `wake` whenever an event is appended, so
    /// a delivery starts at once rather than at the worker's next look.
    #[must_use]
    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Tells the delivery worker that deliveries were appended: for sources that append
    /// [`PreparedEvent`]s in their own transaction.
    pub fn appended(&self) {
        if let Some(wake) = &self.wake {
            wake.notify_one();
        }
    }

    /// Also delivers to `subscribers`' targets.
    #[must_use]
    pub fn with_subscribers(mut self, subscribers: Arc<dyn Subscribers>) -> Self {
        self.subscribers.push(subscribers);
        self
    }

    /// How long events are kept.
    pub const fn retention(&self) -> Duration {
        self.retention
    }

    /// Seals `event` and finds its targets, without storing anything.
    ///
    /// # Errors
    /// `Internal` when the data cannot be serialised or sealed; `Unavailable` when the
    /// subscriptions cannot be read.
    pub async fn prepare(&self, tenant: TenantId, event: NewEvent) -> Result<PreparedEvent> {
        let mut targets = Vec::new();
        let mut keep_until = None;
        for subscribers in &self.subscribers {
            let theirs = subscribers.targets(tenant, event.event_type).await?;
            if !theirs.is_empty() {
                keep_until = keep_until.max(subscribers.keep_until(tenant, &event).await?);
            }
            targets.extend(theirs);
        }
        let mut sealed = self.seal(tenant, event).await?;
        if let Some(keep_until) = keep_until {
            sealed.expires_at = sealed.expires_at.max(keep_until);
        }
        Ok(PreparedEvent {
            event: sealed,
            targets,
        })
    }

    /// `event` as stored: rendered, sealed, with a new id and its retention.
    async fn seal(&self, tenant: TenantId, event: NewEvent) -> Result<StoredEvent> {
        let json = serde_json::to_string(&self.render.render(&event.data)?)
            .map_err(|err| Error::internal(format!("event data is not serialisable: {err}")))?;
        let data = self
            .vault
            .seal(tenant, SecretPurpose::EventData, &SecretString::from(json))
            .await?;
        let retention = chrono::Duration::from_std(self.retention)
            .map_err(|_| Error::internal("event retention out of range"))?;
        Ok(StoredEvent {
            id: EventId::new(),
            tenant_id: tenant,
            event_type: event.event_type,
            occurred_at: event.occurred_at,
            data,
            expires_at: Utc::now() + retention,
        })
    }

    /// Publishes `event` to `targets` alone instead of every subscriber: work one target asked
    /// for (a partner's backfill), which nobody else should hear about again.
    ///
    /// # Errors
    /// As [`Self::publish`].
    pub async fn publish_to(
        &self,
        tenant: TenantId,
        event: NewEvent,
        targets: &[Target],
    ) -> Result<EventId> {
        let stored = self.seal(tenant, event).await?;
        self.queue.append(&stored, targets).await?;
        if !targets.is_empty() {
            self.appended();
        }
        Ok(stored.id)
    }

    /// Prepares `event` and appends it with its deliveries in one transaction.
    ///
    /// # Errors
    /// As [`Self::prepare`], and `Unavailable` when the queue cannot be written.
    pub async fn publish(&self, tenant: TenantId, event: NewEvent) -> Result<EventId> {
        let prepared = self.prepare(tenant, event).await?;
        self.queue
            .append(&prepared.event, &prepared.targets)
            .await?;
        if !prepared.targets.is_empty() {
            self.appended();
        }
        Ok(prepared.event.id)
    }
}
