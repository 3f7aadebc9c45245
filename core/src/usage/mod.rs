//! Durable usage counters for the clinic's dashboard: per clinic, per API client, per minute —
//! requests, client errors (4xx), server errors (5xx), 429s, and Cliniko calls by lane.
//!
//! Counting must not cost a database write per request, so each instance aggregates in memory
//! ([`UsageRecorder`]) and flushes every few seconds: one upsert per (clinic, client, minute)
//! that *adds* its counts to the row, so the rows are the sum over every instance. A flush that
//! fails keeps its counts for the next one. Rows are kept [`RETENTION`] and then pruned.
//! `/metrics` remains the operator's view; these are the clinic's.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};

use crate::cliniko::Lane;
use crate::ids::TenantId;
use crate::tenancy::TenantContext;
use crate::tokens::ClientId;
use crate::{Error, Result};

/// How long counters are kept.
pub const RETENTION: TimeDelta = TimeDelta::days(30);

/// The longest span one read may cover (a day of minute buckets per client).
pub const MAX_READ_SPAN: TimeDelta = TimeDelta::days(1);

/// What happened in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// API requests answered.
    pub requests: u64,
    /// Of which answered 4xx (429s included).
    pub client_errors: u64,
    /// Of which answered 5xx.
    pub server_errors: u64,
    /// Of which answered 429 (the client's rate limit or the Cliniko budget).
    pub rate_limited: u64,
    /// Calls sent to Cliniko on the interactive lane.
    pub cliniko_interactive: u64,
    /// Calls sent to Cliniko on the API lane.
    pub cliniko_api: u64,
    /// Calls sent to Cliniko on the background lane.
    pub cliniko_background: u64,
}

impl UsageCounts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.rate_limited += other.rate_limited;
        self.cliniko_interactive += other.cliniko_interactive;
        self.cliniko_api += other.cliniko_api;
        self.cliniko_background += other.cliniko_background;
    }

    /// One request answered with `status`.
    fn request(status: u16) -> Self {
        Self {
            requests: 1,
            client_errors: u64::from((400..500).contains(&status)),
            server_errors: u64::from(status >= 500),
            rate_limited: u64::from(status == 429),
            ..Self::default()
        }
    }

    /// One call sent to Cliniko on `lane`.
    fn cliniko(lane: Lane) -> Self {
        match lane {
            Lane::Interactive => Self {
                cliniko_interactive: 1,
                ..Self::default()
            },
            Lane::Api => Self {
                cliniko_api: 1,
                ..Self::default()
            },
            Lane::Background => Self {
                cliniko_background: 1,
                ..Self::default()
            },
        }
    }
}

/// The counts of one clinic's client (or of the clinic itself: `client_id` is `None` for Cliniko
/// calls no API client caused) in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBucket {
    /// The clinic.
    pub tenant_id: TenantId,
    /// The API client, if one caused them.
    pub client_id: Option<ClientId>,
    /// The minute's start (UTC).
    pub minute: DateTime<Utc>,
    /// What happened.
    pub counts: UsageCounts,
}

/// Storage of the counters.
#[async_trait]
pub trait UsageStore: Send + Sync + fmt::Debug {
    /// Adds each bucket's counts to its stored row (creating it), in one transaction.
    async fn add(&self, buckets: &[UsageBucket]) -> Result<()>;
    /// The clinic's buckets with `from <= minute < to`, of one client when `client` is given,
    /// by minute then client.
    async fn read(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        client: Option<&ClientId>,
    ) -> Result<Vec<UsageBucket>>;
    /// Forgets buckets of minutes before `before`; how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;
}

type Pending = HashMap<(TenantId, Option<ClientId>, DateTime<Utc>), UsageCounts>;

/// This instance's counts not yet flushed; cheap to clone (one shared aggregate).
#[derive(Clone)]
pub struct UsageRecorder {
    store: Arc<dyn UsageStore>,
    pending: Arc<Mutex<Pending>>,
}

impl fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageRecorder").finish_non_exhaustive()
    }
}

/// The start of the minute `at` falls in.
fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

impl UsageRecorder {
    /// A recorder flushing to `store`.
    pub fn new(store: Arc<dyn UsageStore>) -> Self {
        Self {
            store,
            pending: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn count(&self, tenant: TenantId, client: Option<ClientId>, counts: &UsageCounts) {
        // A poisoned lock only means another thread panicked mid-add: the map is still usable.
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending
            .entry((tenant, client, minute_of(Utc::now())))
            .or_default()
            .add(counts);
    }

    /// Counts one API request of `client` answered with `status`.
    pub fn request(&self, tenant: TenantId, client: ClientId, status: u16) {
        self.count(tenant, Some(client), &UsageCounts::request(status));
    }

    /// Counts one call sent to Cliniko on `lane`, for `client` when one caused it.
    pub fn cliniko_call(&self, tenant: TenantId, client: Option<ClientId>, lane: Lane) {
        self.count(tenant, client, &UsageCounts::cliniko(lane));
    }

    /// Writes what was counted since the last flush; how many buckets. When the store fails the
    /// counts are kept for the next flush.
    ///
    /// # Errors
    /// What the store answers.
    pub async fn flush(&self) -> Result<usize> {
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.is_empty() {
            return Ok(0);
        }
        let buckets: Vec<UsageBucket> = taken
            .iter()
            .map(|((tenant_id, client_id, minute), counts)| UsageBucket {
                tenant_id: *tenant_id,
                client_id: client_id.clone(),
                minute: *minute,
                counts: *counts,
            })
            .collect();
        if let Err(err) = self.store.add(&buckets).await {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, counts) in taken {
                pending.entry(key).or_default().add(&counts);
            }
            return Err(err);
        }
        Ok(buckets.len())
    }

    /// Flushes every `every` and prunes old buckets every hour until `stop` completes, then
    /// flushes once more so a clean shutdown loses nothing.
    pub async fn run(&self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(Duration::from_secs(3600));
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {
                    if let Err(err) = self.flush().await {
                        tracing::warn!(error = %err, "usage counters could not be written; kept for the next try");
                    }
                }
                _ = prune.tick() => match self.store.prune(Utc::now() - RETENTION).await {
                    Ok(pruned) if pruned > 0 => tracing::debug!(pruned, "forgot usage counters older than 30 days"),
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "old usage counters could not be pruned; trying again in an hour"),
                },
            }
        }
        if let Err(err) = self.flush().await {
            tracing::warn!(error = %err, "usage counters of the last seconds could not be written at shutdown");
        }
    }
}

/// Reading a clinic's counters.
#[derive(Debug, Clone)]
pub struct UsageService {
    store: Arc<dyn UsageStore>,
}

impl UsageService {
    /// A service over `store`.
    pub fn new(store: Arc<dyn UsageStore>) -> Self {
        Self { store }
    }

    /// The clinic's minute buckets from `from` to `to` (at most [`MAX_READ_SPAN`], within the
    /// last [`RETENTION`]), of one client when `client` is given. Any staff member may read them.
    ///
    /// # Errors
    /// `Forbidden` for API clients; `Validation` for a range that is reversed or too long.
    pub async fn read(
        &self,
        ctx: &TenantContext,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        client: Option<&ClientId>,
    ) -> Result<Vec<UsageBucket>> {
        if ctx.user_id().is_none() {
            return Err(Error::Forbidden(
                "only the clinic's staff can read its usage".to_owned(),
            ));
        }
        if to <= from {
            return Err(Error::invalid(
                "to",
                "before_from",
                "`to` must be after `from`",
            ));
        }
        if to - from > MAX_READ_SPAN {
            return Err(Error::invalid(
                "to",
                "too_long",
                "ask for at most one day at a time",
            ));
        }
        self.store
            .read(ctx.tenant_id(), minute_of(from), to, client)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that remembers what was added, or fails.
    #[derive(Debug, Default)]
    struct Memory {
        added: Mutex<Vec<UsageBucket>>,
        failing: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl UsageStore for Memory {
        async fn add(&self, buckets: &[UsageBucket]) -> Result<()> {
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::Unavailable {
                    dependency: "database",
                });
            }
            self.added.lock().unwrap().extend_from_slice(buckets);
            Ok(())
        }
        async fn read(
            &self,
            _: TenantId,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
            _: Option<&ClientId>,
        ) -> Result<Vec<UsageBucket>> {
            Ok(Vec::new())
        }
        async fn prune(&self, _: DateTime<Utc>) -> Result<u64> {
            Ok(0)
        }
    }

    #[test]
    fn a_request_counts_by_its_status() {
        assert_eq!(UsageCounts::request(200).client_errors, 0);
        let refused = UsageCounts::request(429);
        assert_eq!(
            (
                refused.requests,
                refused.client_errors,
                refused.rate_limited
            ),
            (1, 1, 1)
        );
        let failed = UsageCounts::request(503);
        assert_eq!((failed.server_errors, failed.client_errors), (1, 0));
    }

    #[tokio::test]
    async fn counts_are_aggregated_per_client_and_minute_and_kept_when_a_flush_fails() {
        let store = Arc::new(Memory::default());
        let recorder = UsageRecorder::new(store.clone());
        let tenant = TenantId::new();
        let client = ClientId::generate();
        recorder.request(tenant, client.clone(), 200);
        recorder.request(tenant, client.clone(), 429);
        recorder.cliniko_call(tenant, Some(client.clone()), Lane::Api);
        recorder.cliniko_call(tenant, None, Lane::Background);

        store
            .failing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(recorder.flush().await.is_err());
        store
            .failing
            .store(false, std::sync::atomic::Ordering::SeqCst);
        recorder.request(tenant, client.clone(), 500);
        // Both buckets, unless the minute turned between the counts (then three).
        let flushed = recorder.flush().await.unwrap();
        assert!((2..=4).contains(&flushed), "{flushed}");

        assert_eq!(recorder.flush().await.unwrap(), 0, "nothing counted twice");
        let added = store.added.lock().unwrap();
        let mut total = UsageCounts::default();
        for bucket in added
            .iter()
            .filter(|b| b.client_id.as_ref() == Some(&client))
        {
            total.add(&bucket.counts);
        }
        assert_eq!(
            total,
            UsageCounts {
                requests: 3,
                client_errors: 1,
                server_errors: 1,
                rate_limited: 1,
                cliniko_api: 1,
                ..UsageCounts::default()
            }
        );
    }
}
