//! The delivery worker: claims due deliveries, has each sent by its kind's [`Sender`], and
//! records what came of it. Any number of workers, on any number of instances, share the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use super::outcome::{AttemptResult, Verdict};
use super::queue::{
    AttemptRecord, Attempted, Claimed, Delivery, DeliveryQueue, EventId, Next, OutboundKind,
    StoredEvent,
};
use super::schedule::RetrySchedule;
use crate::Result;
use crate::clock::Clock;
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
    /// What the answer means under the kind's contract: the sender judges, since a status
    /// means different things to different receivers (a partner's 409 names a patient it
    /// already has; a webhook receiver's is a conflict to retry).
    pub verdict: Verdict,
    /// How long it took.
    pub latency: Duration,
    /// The first KiB of the answer's body (see [`super::response_excerpt`]).
    pub response_excerpt: Option<String>,
}

/// What a sender did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// It made an attempt.
    Attempted(Sent),
    /// It did not send: the target is paused (disabled, its client suspended). The delivery
    /// stays pending, due again at `until`, and no attempt is counted: nothing is dropped while
    /// a target is paused.
    Held {
        /// When to look again.
        until: DateTime<Utc>,
    },
    /// The target is gone (deleted, or no longer allowed to receive this event): the delivery
    /// fails without an attempt.
    Gone,
}

/// What a [`Sender`] read once for a claimed batch of its deliveries, handed back to it for
/// each of them ([`Sender::send_prepared`]). Only the sender that made it knows its type, so
/// it is kept as `Any` and the sender downcasts it; an empty one (the default) means each send
/// reads for itself.
#[derive(Default)]
pub struct Prepared(Option<Box<dyn std::any::Any + Send + Sync>>);

impl Prepared {
    /// Holds `value`.
    pub fn new<T: std::any::Any + Send + Sync>(value: T) -> Self {
        Self(Some(Box::new(value)))
    }

    /// What was prepared, if it is a `T`.
    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.0.as_ref()?.downcast_ref()
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Prepared").field(&self.0.is_some()).finish()
    }
}

/// Sends one delivery of one outbound kind: builds the request for the delivery's target and
/// reports the result. Retries, leases and the attempt log are the worker's.
#[async_trait]
pub trait Sender: Send + Sync + std::fmt::Debug {
    /// One attempt of `delivery`, carrying `event`, or why none was made.
    async fn send(&self, delivery: &Delivery, event: &EventMessage) -> SendOutcome;

    /// Reads at once what sending each of `batch` (deliveries of this kind claimed together)
    /// would otherwise read on its own, such as their targets: one query for a batch instead of
    /// one per delivery. The default reads nothing.
    async fn prepare(&self, _batch: &[&Claimed]) -> Prepared {
        Prepared::default()
    }

    /// [`Self::send`] with what [`Self::prepare`] read for the delivery's batch; the default
    /// ignores it.
    async fn send_prepared(
        &self,
        delivery: &Delivery,
        event: &EventMessage,
        _prepared: &Prepared,
    ) -> SendOutcome {
        self.send(delivery, event).await
    }
}

/// What each kind's sender prepared for one claimed batch.
#[derive(Debug)]
struct PreparedBatch {
    kinds: Vec<(OutboundKind, Prepared)>,
}

/// Nothing prepared: what a kind without a sender in the batch gets.
static NOTHING_PREPARED: Prepared = Prepared(None);

impl PreparedBatch {
    /// What was prepared for deliveries of `kind`.
    fn of(&self, kind: OutboundKind) -> &Prepared {
        self.kinds
            .iter()
            .find_map(|(k, prepared)| (*k == kind).then_some(prepared))
            .unwrap_or(&NOTHING_PREPARED)
    }
}

/// How a worker claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claim holds: longer than the slowest attempt (the senders' request timeout),
    /// or a slow attempt would be taken over while it is still running.
    pub lease: Duration,
    /// Deliveries claimed per query.
    pub batch: u32,
    /// Deliveries in flight at once (a slow receiver holds one slot, not the worker).
    pub concurrency: u32,
    /// How often the queue is looked at when nothing woke the worker: the longest a delivery
    /// another instance created (or a retry that fell due) waits to be claimed.
    pub poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            batch: 64,
            concurrency: 256,
            poll: Duration::from_millis(100),
        }
    }
}

/// Claims, sends and records deliveries.
#[derive(Debug, Clone)]
pub struct DeliveryWorker {
    queue: Arc<dyn DeliveryQueue>,
    vault: Vault,
    senders: Vec<(OutboundKind, Arc<dyn Sender>)>,
    schedule: RetrySchedule,
    settings: WorkerSettings,
    clock: Clock,
}

/// The pause after the queue could not be read, so a database outage is not hammered.
const AFTER_QUEUE_ERROR: Duration = Duration::from_secs(1);

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
            clock: Clock::system(),
        }
    }

    /// Reads due times from `clock` (tests move it forward to make scheduled deliveries due).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
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
            .claim(self.clock.now(), self.settings.lease, self.settings.batch)
            .await?;
        let count = claimed.len();
        let prepared = self.prepare(&claimed).await;
        let attempted: Vec<Attempted> = futures::future::join_all(claimed.into_iter().map(|c| {
            let prepared = prepared.of(c.delivery.target.kind);
            self.attempt(c, prepared)
        }))
        .await
        .into_iter()
        .flatten()
        .collect();
        self.record(&attempted).await;
        Ok(count)
    }

    /// Works until `stop` completes, then lets the deliveries in flight finish (each is bounded
    /// by its sender's timeout) so their attempts are recorded rather than repeated later.
    ///
    /// Claims a batch whenever there is room for one and the queue may hold due deliveries: at
    /// once after a full batch, when `wake` is notified (this instance published an event), and
    /// every `poll` otherwise (deliveries other instances published, retries falling due).
    pub async fn run(&self, wake: &Notify, stop: impl Future<Output = ()>) {
        // Each delivery is its own task, so deliveries progress while this loop waits for a
        // claim. Polled from here instead, a delivery holding a database connection mid-record
        // would wait for the loop, and the loop's claim for that connection: with every pooled
        // connection held so, nothing moves until the pool gives up.
        let this = Arc::new(self.clone());
        let mut in_flight = JoinSet::new();
        // Attempts are recorded by one task, in batches of whatever finished meanwhile: one
        // transaction for many attempts instead of one commit each (a delivery's largest cost
        // once its request is sent). Bounded, so a slow database slows the senders down.
        let (finished, to_record) = mpsc::channel(self.settings.batch as usize * 4);
        let recorder = tokio::spawn({
            let this = Arc::clone(&this);
            async move { this.record_from(to_record).await }
        });
        let room = |in_flight: usize| {
            let free = (self.settings.concurrency as usize).saturating_sub(in_flight);
            u32::try_from(free).map_or(self.settings.batch, |free| free.min(self.settings.batch))
        };
        let mut look = true;
        let mut pause = self.settings.poll;
        tokio::pin!(stop);
        loop {
            let limit = room(in_flight.len());
            if look && limit > 0 {
                pause = self.settings.poll;
                match self
                    .queue
                    .claim(self.clock.now(), self.settings.lease, limit)
                    .await
                {
                    Ok(claimed) => {
                        let full = claimed.len() == limit as usize;
                        let prepared = Arc::new(self.prepare(&claimed).await);
                        for claimed in claimed {
                            let this = Arc::clone(&this);
                            let prepared = Arc::clone(&prepared);
                            let finished = finished.clone();
                            in_flight.spawn(async move {
                                let prepared = prepared.of(claimed.delivery.target.kind);
                                if let Some(attempted) = this.attempt(claimed, prepared).await {
                                    // Fails only once the recorder is gone (it never ends
                                    // before the senders): then the lease makes it due again.
                                    let _ = finished.send(attempted).await;
                                }
                            });
                        }
                        // A full batch: more may be due; otherwise wait for a reason to look.
                        look = full;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the delivery queue could not be read; trying again shortly");
                        look = false;
                        pause = AFTER_QUEUE_ERROR;
                    }
                }
                if look {
                    continue;
                }
            }
            tokio::select! {
                () = &mut stop => break,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Err(err) = done {
                        tracing::error!(error = %err, "a delivery task ended abnormally; the delivery is due again when its lease ends");
                    }
                    // Claim again only once a whole batch fits, so claims stay batched.
                    look = look || room(in_flight.len()) == self.settings.batch;
                }
                () = wake.notified() => look = true,
                () = tokio::time::sleep(pause) => look = true,
            }
        }
        while in_flight.join_next().await.is_some() {}
        drop(finished);
        if let Err(err) = recorder.await {
            tracing::error!(error = %err, "the attempt recorder ended abnormally; its deliveries are due again when their leases end");
        }
    }

    /// Records attempts as they arrive until every sender is gone.
    async fn record_from(&self, mut to_record: mpsc::Receiver<Attempted>) {
        let mut batch = Vec::with_capacity(self.settings.batch as usize);
        while to_record
            .recv_many(&mut batch, self.settings.batch as usize)
            .await
            > 0
        {
            self.record(&batch).await;
            batch.clear();
        }
    }

    /// Records `attempted`; a delivery whose attempt is not recorded is due again when its
    /// lease ends.
    async fn record(&self, attempted: &[Attempted]) {
        if attempted.is_empty() {
            return;
        }
        match self.queue.record_all(attempted).await {
            Ok(recorded) => {
                for (a, recorded) in attempted.iter().zip(recorded) {
                    if !recorded {
                        tracing::warn!(
                            delivery_id = %a.claimed.delivery.id,
                            "a delivery's lease ran out during its attempt; the worker that took it over records it"
                        );
                    }
                }
            }
            Err(err) => tracing::warn!(
                error = %err,
                attempts = attempted.len(),
                "attempts could not be recorded; their deliveries are due again when their leases end"
            ),
        }
    }

    /// Has each kind's sender prepare its part of `claimed`.
    async fn prepare(&self, claimed: &[Claimed]) -> PreparedBatch {
        let mut kinds = Vec::new();
        for (kind, sender) in &self.senders {
            let batch: Vec<&Claimed> = claimed
                .iter()
                .filter(|c| c.delivery.target.kind == *kind)
                .collect();
            if !batch.is_empty() {
                kinds.push((*kind, sender.prepare(&batch).await));
            }
        }
        PreparedBatch { kinds }
    }

    /// Makes one attempt of `claimed`: what to record, or nothing when no attempt was made (the
    /// delivery is released here, or left to its lease).
    async fn attempt(&self, claimed: Claimed, prepared: &Prepared) -> Option<Attempted> {
        let delivery = &claimed.delivery;
        let Some(sender) = self.sender(delivery.target.kind) else {
            // A kind this build does not send (an older instance beside a newer one): leave it
            // to an instance that does; the lease makes it due again.
            tracing::warn!(
                kind = delivery.target.kind.as_str(),
                "no sender for a delivery kind"
            );
            return None;
        };
        let message = match self.open(&claimed.event).await {
            Ok(message) => message,
            Err(err) => {
                // Not an attempt: nothing was sent. Due again when the lease ends.
                tracing::error!(error = %err, delivery_id = %delivery.id, "an event's data could not be opened");
                return None;
            }
        };
        let attempted_at = Utc::now();
        let sent = match sender.send_prepared(delivery, &message, prepared).await {
            SendOutcome::Attempted(sent) => sent,
            SendOutcome::Held { until } => {
                self.release(&claimed, Next::RetryAt(until)).await;
                return None;
            }
            SendOutcome::Gone => {
                self.release(&claimed, Next::Failed).await;
                return None;
            }
        };
        let next = self.schedule.next(
            delivery.attempts.saturating_add(1),
            sent.verdict,
            self.clock.now(),
            &mut rand::rng(),
        );
        let attempt = AttemptRecord {
            attempted_at,
            result: sent.result,
            latency: sent.latency,
            response_excerpt: sent.response_excerpt,
        };
        Some(Attempted {
            claimed,
            attempt,
            next,
        })
    }

    /// Settles a delivery no attempt was made for.
    async fn release(&self, claimed: &Claimed, next: Next) {
        if let Err(err) = self.queue.release(claimed, next).await {
            tracing::warn!(
                error = %err,
                delivery_id = %claimed.delivery.id,
                "a held or abandoned delivery could not be released; it is due again when its lease ends"
            );
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
    use crate::crypto::{MasterKey, MasterKeyring};
    use crate::delivery::{DeliveryId, DeliveryStatus, LeaseId, Next, Target};
    use crate::ids::TenantId;
    use crate::secrets::memory::MemoryDataKeys;

    /// A queue in memory holding claimed deliveries, recording what the worker records and
    /// releases.
    #[derive(Debug, Default)]
    struct Queue {
        due: Mutex<Vec<Claimed>>,
        recorded: Mutex<Vec<(DeliveryId, AttemptRecord, Next)>>,
        released: Mutex<Vec<(DeliveryId, Next)>>,
        /// A connection pool, when the test needs one: claims and records each hold a
        /// connection, a record across an await (its transaction's round trips), and a claim
        /// that cannot get one in time fails as a pool timeout does.
        pool: Option<tokio::sync::Semaphore>,
    }

    impl Queue {
        async fn connection(&self) -> Result<Option<tokio::sync::SemaphorePermit<'_>>> {
            let Some(pool) = &self.pool else {
                return Ok(None);
            };
            tokio::time::timeout(Duration::from_millis(200), pool.acquire())
                .await
                .map(|permit| permit.ok())
                .map_err(|_| crate::Error::Unavailable {
                    dependency: "database",
                })
        }
    }

    #[async_trait]
    impl DeliveryQueue for Queue {
        async fn append(&self, _: &StoredEvent, _: &[Target]) -> Result<Vec<DeliveryId>> {
            Ok(Vec::new())
        }
        async fn claim(&self, _: DateTime<Utc>, _: Duration, limit: u32) -> Result<Vec<Claimed>> {
            let _connection = self.connection().await?;
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
            let connection = self.connection().await?;
            if connection.is_some() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            self.recorded
                .lock()
                .unwrap()
                .push((claimed.delivery.id, attempt.clone(), next));
            Ok(true)
        }
        async fn release(&self, claimed: &Claimed, next: Next) -> Result<bool> {
            self.released
                .lock()
                .unwrap()
                .push((claimed.delivery.id, next));
            Ok(true)
        }
        async fn prune(&self, _: DateTime<Utc>, _: u64) -> Result<u64> {
            Ok(0)
        }
        async fn stats(&self) -> Result<crate::delivery::QueueStats> {
            Ok(crate::delivery::QueueStats::default())
        }
        async fn deliveries(&self, _: TenantId, _: Target, _: u64) -> Result<Vec<Delivery>> {
            Ok(Vec::new())
        }
        async fn attempts(&self, _: TenantId, _: DeliveryId) -> Result<Vec<AttemptRecord>> {
            Ok(Vec::new())
        }
    }

    /// Answers each target with a fixed status (0: the target is paused, 1: it is gone), and
    /// remembers the data it was given.
    #[derive(Debug, Default)]
    struct Receiver {
        statuses: HashMap<Uuid, u16>,
        seen: Mutex<Vec<(EventId, String)>>,
    }

    const PAUSED: u16 = 0;
    const GONE: u16 = 1;

    #[async_trait]
    impl Sender for Receiver {
        async fn send(&self, delivery: &Delivery, event: &EventMessage) -> SendOutcome {
            self.seen
                .lock()
                .unwrap()
                .push((event.id, event.data.expose_secret().to_owned()));
            match self.statuses[&delivery.target.id] {
                PAUSED => SendOutcome::Held {
                    until: DateTime::<Utc>::MAX_UTC,
                },
                GONE => SendOutcome::Gone,
                status => SendOutcome::Attempted({
                    let result = AttemptResult::Answered {
                        status,
                        retry_after: None,
                    };
                    Sent {
                        result,
                        verdict: result.verdict(),
                        latency: Duration::from_millis(3),
                        response_excerpt: None,
                    }
                }),
            }
        }
    }

    fn vault() -> Vault {
        Vault::new(
            Arc::new(MasterKeyring::new(MasterKey::generate())),
            Arc::new(MemoryDataKeys::default()),
        )
    }

    /// A worker over `queue` with `claimed` due, answered per `statuses`.
    fn worker_for(
        queue: &Arc<Queue>,
        vault: Vault,
        statuses: &[(&Claimed, u16)],
        settings: WorkerSettings,
    ) -> (DeliveryWorker, Arc<Receiver>) {
        queue
            .due
            .lock()
            .unwrap()
            .extend(statuses.iter().map(|(c, _)| (*c).clone()));
        let receiver = Arc::new(Receiver {
            statuses: statuses
                .iter()
                .map(|(c, status)| (c.delivery.target.id, *status))
                .collect(),
            ..Receiver::default()
        });
        let worker = DeliveryWorker::new(queue.clone(), vault, RetrySchedule::default(), settings)
            .with_sender(OutboundKind::Webhook, receiver.clone());
        (worker, receiver)
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
        let vault = vault();
        let tenant = TenantId::new();
        let ok = claimed(&vault, tenant, 0).await;
        let flaky = claimed(&vault, tenant, 0).await;
        let gone = claimed(&vault, tenant, 0).await;
        let exhausted = claimed(&vault, tenant, 7).await;
        let queue = Arc::new(Queue::default());
        let (worker, receiver) = worker_for(
            &queue,
            vault,
            &[(&ok, 204), (&flaky, 503), (&gone, 410), (&exhausted, 500)],
            WorkerSettings::default(),
        );

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

    /// Answers 409 and judges it delivered, as partner sync judges "I have that patient".
    #[derive(Debug)]
    struct AlreadyThere;

    #[async_trait]
    impl Sender for AlreadyThere {
        async fn send(&self, _: &Delivery, _: &EventMessage) -> SendOutcome {
            SendOutcome::Attempted(Sent {
                result: AttemptResult::Answered {
                    status: 409,
                    retry_after: None,
                },
                verdict: Verdict::Delivered,
                latency: Duration::ZERO,
                response_excerpt: None,
            })
        }
    }

    #[tokio::test]
    async fn the_senders_verdict_decides_what_follows_not_the_status_alone() {
        let vault = vault();
        let linked = claimed(&vault, TenantId::new(), 0).await;
        let queue = Arc::new(Queue::default());
        queue.due.lock().unwrap().push(linked.clone());
        let worker = DeliveryWorker::new(
            queue.clone(),
            vault,
            RetrySchedule::default(),
            WorkerSettings::default(),
        )
        .with_sender(OutboundKind::Webhook, Arc::new(AlreadyThere));

        assert_eq!(worker.run_once().await.unwrap(), 1);

        let recorded = queue.recorded.lock().unwrap();
        assert_eq!(recorded.len(), 1);
        let (id, attempt, next) = &recorded[0];
        assert_eq!(*id, linked.delivery.id);
        assert_eq!(
            attempt.result,
            AttemptResult::Answered {
                status: 409,
                retry_after: None
            },
            "the log keeps what the receiver answered"
        );
        assert_eq!(*next, Next::Delivered, "a webhook's 409 would be retried");
    }

    /// Reads its targets once per batch and answers from what it read: 204 for a prepared
    /// delivery, 500 for one sent without it.
    #[derive(Debug, Default)]
    struct Batched {
        prepared: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl Sender for Batched {
        async fn send(&self, _: &Delivery, _: &EventMessage) -> SendOutcome {
            SendOutcome::Gone
        }
        async fn prepare(&self, batch: &[&Claimed]) -> Prepared {
            self.prepared.lock().unwrap().push(batch.len());
            Prepared::new(batch.iter().map(|c| c.delivery.id).collect::<Vec<_>>())
        }
        async fn send_prepared(
            &self,
            delivery: &Delivery,
            _: &EventMessage,
            prepared: &Prepared,
        ) -> SendOutcome {
            let known = prepared
                .get::<Vec<DeliveryId>>()
                .is_some_and(|ids| ids.contains(&delivery.id));
            let status = if known { 204 } else { 500 };
            let result = AttemptResult::Answered {
                status,
                retry_after: None,
            };
            SendOutcome::Attempted(Sent {
                result,
                verdict: result.verdict(),
                latency: Duration::ZERO,
                response_excerpt: None,
            })
        }
    }

    #[tokio::test]
    async fn a_sender_prepares_each_claimed_batch_once_and_sends_each_delivery_with_it() {
        let vault = vault();
        let tenant = TenantId::new();
        let queue = Arc::new(Queue::default());
        for _ in 0..7 {
            let claimed = claimed(&vault, tenant, 0).await;
            queue.due.lock().unwrap().push(claimed);
        }
        let sender = Arc::new(Batched::default());
        let worker = DeliveryWorker::new(
            queue.clone(),
            vault,
            RetrySchedule::default(),
            WorkerSettings {
                batch: 4,
                ..WorkerSettings::default()
            },
        )
        .with_sender(OutboundKind::Webhook, sender.clone());

        assert_eq!(worker.run_once().await.unwrap(), 4);
        assert_eq!(worker.run_once().await.unwrap(), 3);

        assert_eq!(*sender.prepared.lock().unwrap(), vec![4, 3]);
        let recorded = queue.recorded.lock().unwrap();
        assert_eq!(recorded.len(), 7);
        assert!(
            recorded.iter().all(|(_, _, next)| *next == Next::Delivered),
            "every delivery was sent with its batch's preparation"
        );
    }

    #[tokio::test]
    async fn a_paused_target_keeps_its_delivery_pending_and_a_gone_one_fails_it_without_an_attempt()
    {
        let vault = vault();
        let tenant = TenantId::new();
        let paused = claimed(&vault, tenant, 2).await;
        let gone = claimed(&vault, tenant, 0).await;
        let queue = Arc::new(Queue::default());
        let (worker, _) = worker_for(
            &queue,
            vault,
            &[(&paused, PAUSED), (&gone, GONE)],
            WorkerSettings::default(),
        );

        assert_eq!(worker.run_once().await.unwrap(), 2);

        assert!(queue.recorded.lock().unwrap().is_empty(), "no attempt");
        let released = queue.released.lock().unwrap();
        assert!(released.contains(&(paused.delivery.id, Next::RetryAt(DateTime::<Utc>::MAX_UTC))));
        assert!(released.contains(&(gone.delivery.id, Next::Failed)));
    }

    #[tokio::test]
    async fn the_running_worker_claims_in_batches_within_its_concurrency_and_finishes_before_stopping()
     {
        let vault = vault();
        let tenant = TenantId::new();
        let mut due = Vec::new();
        for _ in 0..10 {
            due.push(claimed(&vault, tenant, 0).await);
        }
        let queue = Arc::new(Queue::default());
        let statuses: Vec<_> = due.iter().map(|c| (c, 204)).collect();
        let (worker, receiver) = worker_for(
            &queue,
            vault,
            &statuses,
            WorkerSettings {
                batch: 3,
                concurrency: 4,
                poll: Duration::from_secs(3600),
                ..WorkerSettings::default()
            },
        );
        let wake = Notify::new();
        let all_recorded = async {
            while queue.recorded.lock().unwrap().len() < 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };

        tokio::time::timeout(Duration::from_secs(10), worker.run(&wake, all_recorded))
            .await
            .expect("the worker drained the queue without waiting for its poll interval");

        assert_eq!(receiver.seen.lock().unwrap().len(), 10);
        assert!(queue.due.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn deliveries_holding_a_connection_finish_while_the_loop_waits_for_one_to_claim() {
        let vault = vault();
        let tenant = TenantId::new();
        let mut due = Vec::new();
        for _ in 0..24 {
            due.push(claimed(&vault, tenant, 0).await);
        }
        // One connection for everything, as a pool is when every one is in use.
        let queue = Arc::new(Queue {
            pool: Some(tokio::sync::Semaphore::new(1)),
            ..Queue::default()
        });
        let statuses: Vec<_> = due.iter().map(|c| (c, 204)).collect();
        let (worker, _) = worker_for(
            &queue,
            vault,
            &statuses,
            WorkerSettings {
                batch: 4,
                concurrency: 8,
                poll: Duration::from_millis(5),
                ..WorkerSettings::default()
            },
        );
        let wake = Notify::new();
        let all_recorded = async {
            while queue.recorded.lock().unwrap().len() < 24 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };

        // Were deliveries polled only by the loop, a record holding the connection would wait
        // for the loop while the loop's claim waited for the connection, each round stalling
        // until the claim timed out (and the worker paused a second after the error).
        tokio::time::timeout(Duration::from_secs(3), worker.run(&wake, all_recorded))
            .await
            .expect("no round stalled on the connection");
    }
}
