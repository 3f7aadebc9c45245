//! The delivery worker: claims due deliveries, has each sent by its kind's [`Sender`], and
//! records what came of it. Any number of workers, on any number of instances, share the queue.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::outcome::AttemptResult;
use super::queue::{
    AttemptRecord, Claimed, Delivery, DeliveryQueue, EventId, OutboundKind, StoredEvent,
};
use super::schedule::RetrySchedule;
use crate::Result;
use crate::events::EventType;
use crate::secrets::{SecretPurpose, Vault};

/// An event ready to be sent: its data opened.
#[derive(Debug)]
pub struct EventMessage {
    /// Its id: the message id every retry repeats (`webhook-id`).
    pub id: EventId,
    /// What happened.
    pub event_type: EventType,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The JSON data (PHI: never logged).
    pub data: SecretString,
}

/// What one attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The answer, or how the attempt failed.
    pub result: AttemptResult,
    /// How long it took.
    pub latency: Duration,
    /// The first KiB of the answer's body (see [`super::response_excerpt`]).
    pub response_excerpt: Option<String>,
}

/// Sends one delivery of one outbound kind: builds the request for the delivery's target and
/// reports the result. Retries, leases and the attempt log are the worker's.
#[async_trait]
pub trait Sender: Send + Sync + std::fmt::Debug {
    /// One attempt of `delivery`, carrying `event`.
    async fn send(&self, delivery: &Delivery, event: &EventMessage) -> Sent;
}

/// How a worker claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claim holds: longer than the slowest attempt (the senders' request timeout),
    /// or a slow attempt would be taken over while it is still running.
    pub lease: Duration,
    /// Deliveries claimed (and sent concurrently) per round.
    pub batch: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            batch: 64,
        }
    }
}

/// Claims, sends and records deliveries.
#[derive(Debug)]
pub struct DeliveryWorker {
    queue: Arc<dyn DeliveryQueue>,
    vault: Vault,
    senders: Vec<(OutboundKind, Arc<dyn Sender>)>,
    schedule: RetrySchedule,
    settings: WorkerSettings,
}

impl DeliveryWorker {
    /// A worker over `queue`, opening event data with `vault`.
    pub fn new(
        queue: Arc<dyn DeliveryQueue>,
        vault: Vault,
        schedule: RetrySchedule,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            queue,
            vault,
            senders: Vec::new(),
            schedule,
            settings,
        }
    }

    /// Sends deliveries of `kind` with `sender`.
    #[must_use]
    pub fn with_sender(mut self, kind: OutboundKind, sender: Arc<dyn Sender>) -> Self {
        self.senders.retain(|(k, _)| *k != kind);
        self.senders.push((kind, sender));
        self
    }

    /// One round: claims up to a batch of due deliveries, sends them concurrently and records
    /// each. Returns how many were claimed (0: nothing was due).
    ///
    /// # Errors
    /// `Unavailable` when the queue cannot be read. Failures after the claim are logged per
    /// delivery: a delivery whose attempt cannot be recorded is due again when its lease ends.
    pub async fn run_once(&self) -> Result<usize> {
        let claimed = self
            .queue
            .claim(Utc::now(), self.settings.lease, self.settings.batch)
            .await?;
        let count = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|claimed| self.deliver(claimed))).await;
        Ok(count)
    }

    async fn deliver(&self, claimed: Claimed) {
        let delivery = &claimed.delivery;
        let Some(sender) = self.sender(delivery.target.kind) else {
            // A kind this build does not send (an older instance beside a newer one): leave it
            // to an instance that does; the lease makes it due again.
            tracing::warn!(
                kind = delivery.target.kind.as_str(),
                "no sender for a delivery kind"
            );
            return;
        };
        let message = match self.open(&claimed.event).await {
            Ok(message) => message,
            Err(err) => {
                // Not an attempt: nothing was sent. Due again when the lease ends.
                tracing::error!(error = %err, delivery_id = %delivery.id, "an event's data could not be opened");
                return;
            }
        };
        let attempted_at = Utc::now();
        let sent = sender.send(delivery, &message).await;
        let next = self.schedule.next(
            delivery.attempts.saturating_add(1),
            sent.result.verdict(),
            Utc::now(),
            &mut rand::rng(),
        );
        let attempt = AttemptRecord {
            attempted_at,
            result: sent.result,
            latency: sent.latency,
            response_excerpt: sent.response_excerpt,
        };
        match self.queue.record(&claimed, &attempt, next).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery_id = %delivery.id,
                "a delivery's lease ran out during its attempt; the worker that took it over records it"
            ),
            Err(err) => tracing::warn!(
                error = %err,
                delivery_id = %delivery.id,
                "an attempt could not be recorded; the delivery is due again when its lease ends"
            ),
        }
    }

    fn sender(&self, kind: OutboundKind) -> Option<&Arc<dyn Sender>> {
        self.senders
            .iter()
            .find_map(|(k, sender)| (*k == kind).then_some(sender))
    }

    async fn open(&self, event: &StoredEvent) -> Result<EventMessage> {
        Ok(EventMessage {
            id: event.id,
            event_type: event.event_type,
            occurred_at: event.occurred_at,
            data: self
                .vault
                .open(event.tenant_id, SecretPurpose::EventData, &event.data)
                .await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use secrecy::ExposeSecret as _;
    use uuid::Uuid;

    use super::*;
    use crate::crypto::{MasterKey, MasterKeyId, MasterKeyring};
    use crate::delivery::{DeliveryId, DeliveryStatus, LeaseId, Next, Target};
    use crate::ids::TenantId;
    use crate::secrets::{DataKeyRepository, WrappedDataKey};

    /// Data keys in memory.
    #[derive(Debug, Default)]
    struct Keys(Mutex<HashMap<TenantId, WrappedDataKey>>);

    #[async_trait]
    impl DataKeyRepository for Keys {
        async fn find(&self, tenant: TenantId) -> Result<Option<WrappedDataKey>> {
            Ok(self.0.lock().unwrap().get(&tenant).cloned())
        }
        async fn insert_if_absent(
            &self,
            tenant: TenantId,
            wrapped: WrappedDataKey,
        ) -> Result<WrappedDataKey> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .entry(tenant)
                .or_insert(wrapped)
                .clone())
        }
        async fn not_wrapped_by(
            &self,
            _: &MasterKeyId,
            _: Option<TenantId>,
            _: u64,
        ) -> Result<Vec<(TenantId, WrappedDataKey)>> {
            Ok(Vec::new())
        }
        async fn replace(
            &self,
            _: TenantId,
            _: &WrappedDataKey,
            _: &WrappedDataKey,
        ) -> Result<bool> {
            Ok(false)
        }
    }

    /// A queue in memory holding claimed deliveries, recording what the worker records.
    #[derive(Debug, Default)]
    struct Queue {
        due: Mutex<Vec<Claimed>>,
        recorded: Mutex<Vec<(DeliveryId, AttemptRecord, Next)>>,
    }

    #[async_trait]
    impl DeliveryQueue for Queue {
        async fn append(&self, _: &StoredEvent, _: &[Target]) -> Result<Vec<DeliveryId>> {
            Ok(Vec::new())
        }
        async fn claim(&self, _: DateTime<Utc>, _: Duration, limit: u32) -> Result<Vec<Claimed>> {
            let mut due = self.due.lock().unwrap();
            let take = due.len().min(limit as usize);
            Ok(due.drain(..take).collect())
        }
        async fn record(
            &self,
            claimed: &Claimed,
            attempt: &AttemptRecord,
            next: Next,
        ) -> Result<bool> {
            self.recorded
                .lock()
                .unwrap()
                .push((claimed.delivery.id, attempt.clone(), next));
            Ok(true)
        }
        async fn deliveries(&self, _: TenantId, _: Target, _: u64) -> Result<Vec<Delivery>> {
            Ok(Vec::new())
        }
        async fn attempts(&self, _: TenantId, _: DeliveryId) -> Result<Vec<AttemptRecord>> {
            Ok(Vec::new())
        }
    }

    /// Answers each target with a fixed status, and remembers the data it was given.
    #[derive(Debug, Default)]
    struct Receiver {
        statuses: HashMap<Uuid, u16>,
        seen: Mutex<Vec<(EventId, String)>>,
    }

    #[async_trait]
    impl Sender for Receiver {
        async fn send(&self, delivery: &Delivery, event: &EventMessage) -> Sent {
            self.seen
                .lock()
                .unwrap()
                .push((event.id, event.data.expose_secret().to_owned()));
            Sent {
                result: AttemptResult::Answered {
                    status: self.statuses[&delivery.target.id],
                    retry_after: None,
                },
                latency: Duration::from_millis(3),
                response_excerpt: None,
            }
        }
    }

    async fn claimed(vault: &Vault, tenant: TenantId, attempts: u32) -> Claimed {
        let data = vault
            .seal(
                tenant,
                SecretPurpose::EventData,
                &SecretString::from(r#"{"id":"1"}"#.to_owned()),
            )
            .await
            .unwrap();
        let now = Utc::now();
        let event = StoredEvent {
            id: EventId::new(),
            tenant_id: tenant,
            event_type: EventType::PatientCreated,
            occurred_at: now,
            data,
            expires_at: now,
        };
        Claimed {
            delivery: Delivery {
                id: DeliveryId::new(),
                tenant_id: tenant,
                event_id: event.id,
                target: Target {
                    kind: OutboundKind::Webhook,
                    id: Uuid::now_v7(),
                },
                status: DeliveryStatus::Pending,
                attempts,
                next_attempt_at: now,
                created_at: now,
                finished_at: None,
            },
            event,
            lease: LeaseId::new(),
        }
    }

    #[tokio::test]
    async fn each_claimed_delivery_is_sent_with_its_data_and_its_next_step_recorded() {
        let vault = Vault::new(
            Arc::new(MasterKeyring::new(MasterKey::generate())),
            Arc::new(Keys::default()),
        );
        let tenant = TenantId::new();
        let ok = claimed(&vault, tenant, 0).await;
        let flaky = claimed(&vault, tenant, 0).await;
        let gone = claimed(&vault, tenant, 0).await;
        let exhausted = claimed(&vault, tenant, 7).await;
        let statuses = [(&ok, 204), (&flaky, 503), (&gone, 410), (&exhausted, 500)]
            .into_iter()
            .map(|(c, status)| (c.delivery.target.id, status))
            .collect();
        let receiver = Arc::new(Receiver {
            statuses,
            ..Receiver::default()
        });
        let queue = Arc::new(Queue::default());
        queue.due.lock().unwrap().extend([
            ok.clone(),
            flaky.clone(),
            gone.clone(),
            exhausted.clone(),
        ]);
        let worker = DeliveryWorker::new(
            queue.clone(),
            vault,
            RetrySchedule::default(),
            WorkerSettings::default(),
        )
        .with_sender(OutboundKind::Webhook, receiver.clone());

        assert_eq!(worker.run_once().await.unwrap(), 4);
        assert_eq!(worker.run_once().await.unwrap(), 0);

        let seen = receiver.seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        assert!(seen.iter().all(|(_, data)| data == r#"{"id":"1"}"#));
        let recorded = queue.recorded.lock().unwrap();
        let next_of = |c: &Claimed| {
            recorded
                .iter()
                .find(|(id, _, _)| *id == c.delivery.id)
                .map(|(_, _, next)| *next)
                .unwrap()
        };
        assert_eq!(next_of(&ok), Next::Delivered);
        assert!(matches!(next_of(&flaky), Next::RetryAt(at) if at > Utc::now()));
        assert_eq!(next_of(&gone), Next::Failed);
        assert_eq!(
            next_of(&exhausted),
            Next::Failed,
            "the eighth attempt was the last"
        );
    }
}
