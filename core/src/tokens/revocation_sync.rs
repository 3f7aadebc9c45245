//! Keeps the shared [`RevocationSet`] in step with the database of record, and says when it
//! cannot be trusted.
//!
//! The set lives in Redis, which may lose everything at any moment. Its loss is detected through
//! the set's generation (see [`RevocationSet`]): no generation means "not known complete", and
//! checks then read the database while one refill (per instance, and per deployment through the
//! set's refill lease) copies every unexpired revocation into a new generation.
//!
//! A write that reached the database but not the set (Redis down or unreachable at that moment)
//! must not be forgotten when Redis comes back with its old contents. The instance that failed
//! then *distrusts* the set: its checks fail closed (503), and it retries
//! [`RevocationSet::invalidate`] until Redis answers, which sends every instance to the database
//! until a refill has copied the missed write. A check that fails to reach the set distrusts it
//! the same way, so an instance that saw an outage re-checks the whole set after it, and a Redis
//! that does not answer costs each request at most one short wait, not one per request.
//!
//! So: Redis unreachable ⇒ 503 (fail closed); Redis reachable but its set lost or invalidated ⇒
//! answers from the database; never an answer from a set that may have missed a revocation.
//!
//! Residual window (documented in `docs/operations.md`): if the failing instance dies before Redis
//! answers again, and no other instance noticed the outage, the missed write reaches the set only
//! with the next refill.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::revocations::{RevocationRepository, RevokedToken};
use crate::ports::{Generation, RevocationSet};
use crate::{Error, Result};

/// The dependency named when the shared set is distrusted (as the stores name themselves).
const SHARED_STORE: &str = "shared store";

/// Revocations copied to the set per call during a refill.
const REFILL_BATCH: usize = 500;

/// The pause before a refill is tried again after one that did not complete.
const REFILL_RETRY: Duration = Duration::from_millis(250);

/// The longest pause between two attempts to invalidate a distrusted set: checks fail closed
/// meanwhile, so this bounds how long they keep failing after Redis is back.
const MAX_INVALIDATE_BACKOFF: Duration = Duration::from_millis(500);

/// Where a check may read revocations right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum View {
    /// The shared set, in this generation.
    Shared(Generation),
    /// The database (the set is lost and being refilled).
    Database,
}

/// The shared set, the database behind it, and this instance's trust in the set.
#[derive(Debug)]
pub(super) struct RevocationSync {
    set: Arc<dyn RevocationSet>,
    records: Arc<dyn RevocationRepository>,
    /// A refill task of this instance is running.
    refilling: AtomicBool,
    /// A write (or read) failed: fail closed until the set has been invalidated.
    distrusted: AtomicBool,
}

impl RevocationSync {
    pub(super) fn new(set: Arc<dyn RevocationSet>, records: Arc<dyn RevocationRepository>) -> Self {
        Self {
            set,
            records,
            refilling: AtomicBool::new(false),
            distrusted: AtomicBool::new(false),
        }
    }

    /// The database of record.
    pub(super) fn records(&self) -> &Arc<dyn RevocationRepository> {
        &self.records
    }

    /// Where to read revocations now.
    ///
    /// # Errors
    /// `Unavailable` when the set cannot be asked, or is distrusted (see the module docs).
    pub(super) async fn view(self: &Arc<Self>) -> Result<View> {
        if self.distrusted.load(Ordering::Acquire) {
            return Err(Error::Unavailable {
                dependency: SHARED_STORE,
            });
        }
        match self.set.generation().await {
            Ok(Some(generation)) => Ok(View::Shared(generation)),
            Ok(None) => {
                self.start_refill();
                Ok(View::Database)
            }
            Err(err) => {
                self.distrust();
                Err(err)
            }
        }
    }

    /// Whether `view` is still the one to read: answers read from a generation hold only if it
    /// was current both before and after they were read (a flush between the two reads would
    /// otherwise pair an old generation with keys read after the loss).
    ///
    /// # Errors
    /// `Unavailable` as for [`Self::view`].
    pub(super) async fn still(self: &Arc<Self>, view: &View) -> Result<bool> {
        match view {
            View::Shared(_) => Ok(self.view().await? == *view),
            View::Database => Ok(true),
        }
    }

    /// Whether `jti` is revoked, as `view` says to read it.
    ///
    /// # Errors
    /// `Unavailable` when the store to ask is down (a shared-set failure also distrusts it).
    pub(super) async fn is_revoked(self: &Arc<Self>, view: &View, jti: &str) -> Result<bool> {
        match view {
            View::Shared(generation) => self
                .set
                .is_revoked(generation, jti)
                .await
                .inspect_err(|_| self.distrust()),
            View::Database => self.records.is_revoked(jti).await,
        }
    }

    /// Records a revocation in the database, then in the set for `ttl`. Succeeds once the
    /// database has it: a failure to reach the set distrusts it instead, so the token is refused
    /// everywhere from now on either way.
    ///
    /// When the set could not be written (a timeout may also have written it late), one attempt
    /// to invalidate it is made before answering: if it succeeds, the other instances are sent to
    /// the database before the caller hears the token is revoked, not at some point after. If it
    /// fails too, Redis is unreachable from here and the background retries take over (the
    /// residual window of the module docs).
    ///
    /// # Errors
    /// `Unavailable` when the database is down (nothing was revoked).
    pub(super) async fn revoke(
        self: &Arc<Self>,
        revoked: &RevokedToken,
        ttl: Duration,
    ) -> Result<()> {
        self.records.insert(revoked).await?;
        if !ttl.is_zero() && self.set.revoke(&revoked.jti, ttl).await.is_err() {
            tracing::warn!(
                "a revocation could not be copied to the shared store: it is distrusted until invalidated"
            );
            if self.set.invalidate().await.is_ok() {
                tracing::info!(
                    "the shared revocation set was invalidated before the revocation was confirmed"
                );
            } else {
                self.distrust();
            }
        }
        Ok(())
    }

    /// Makes sure the set has a generation, refilling it now if it has none (at start-up).
    /// Returns how many revocations were copied (0 when the set was already filled, or another
    /// instance is filling it).
    ///
    /// # Errors
    /// `Unavailable` when the database or the set is down.
    pub(super) async fn ensure_filled(&self) -> Result<usize> {
        if self.set.generation().await?.is_some() {
            return Ok(0);
        }
        Ok(self.refill().await?.unwrap_or(0))
    }

    /// Trusts the set no more until it has been invalidated: from now on this instance reads the
    /// database, and a task retries the invalidation until the set answers.
    pub(super) fn distrust(self: &Arc<Self>) {
        if self.distrusted.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let since = Instant::now();
            let mut backoff = Duration::from_millis(50);
            while this.set.invalidate().await.is_err() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_INVALIDATE_BACKOFF);
            }
            this.distrusted.store(false, Ordering::Release);
            tracing::info!(
                after_ms = since.elapsed().as_millis(),
                "the shared revocation set was invalidated; it is refilled from the database"
            );
        });
    }

    /// Starts one refill task on this instance unless one is running.
    fn start_refill(self: &Arc<Self>) {
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let started = Instant::now();
            match this.refill().await {
                Ok(Some(copied)) => tracing::info!(
                    copied,
                    took_ms = started.elapsed().as_millis(),
                    "the shared revocation set was lost or invalidated and is refilled from the database"
                ),
                // Another instance is refilling, or ours was lost: checks read the database
                // meanwhile; try again shortly.
                Ok(None) | Err(_) => tokio::time::sleep(REFILL_RETRY).await,
            }
            this.refilling.store(false, Ordering::Release);
        });
    }

    /// Copies every unexpired revocation into a new generation and makes it current. `None`
    /// when another refill is under way or this one was lost.
    async fn refill(&self) -> Result<Option<usize>> {
        let Some(generation) = self.set.begin_refill().await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let entries: Vec<(String, Duration)> = self
            .records
            .unexpired(now)
            .await?
            .into_iter()
            .filter_map(|revoked| {
                let ttl = (revoked.expires_at - now).to_std().ok()?;
                Some((revoked.jti, ttl))
            })
            .collect();
        for batch in entries.chunks(REFILL_BATCH) {
            if !self.set.refill(&generation, batch).await? {
                return Ok(None);
            }
        }
        Ok(self
            .set
            .complete_refill(&generation)
            .await?
            .then_some(entries.len()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use chrono::DateTime;

    use super::*;
    use crate::ids::TenantId;
    use crate::tokens::ClientId;

    /// A set whose writes of revocations fail (as a timed-out Redis call does), and which
    /// records what was asked of it.
    #[derive(Debug, Default)]
    struct FailingWrites {
        invalidations: Mutex<u32>,
        invalidate_fails: bool,
    }

    #[async_trait]
    impl RevocationSet for FailingWrites {
        async fn generation(&self) -> Result<Option<Generation>> {
            Ok(Some(Generation::new("g1")))
        }
        async fn revoke(&self, _: &str, _: Duration) -> Result<()> {
            Err(Error::Unavailable {
                dependency: SHARED_STORE,
            })
        }
        async fn is_revoked(&self, _: &Generation, _: &str) -> Result<bool> {
            Ok(false)
        }
        async fn begin_refill(&self) -> Result<Option<Generation>> {
            Ok(None)
        }
        async fn refill(&self, _: &Generation, _: &[(String, Duration)]) -> Result<bool> {
            Ok(false)
        }
        async fn complete_refill(&self, _: &Generation) -> Result<bool> {
            Ok(false)
        }
        async fn invalidate(&self) -> Result<()> {
            *self.invalidations.lock().unwrap() += 1;
            if self.invalidate_fails {
                return Err(Error::Unavailable {
                    dependency: SHARED_STORE,
                });
            }
            Ok(())
        }
    }

    /// A database that records revocations.
    #[derive(Debug, Default)]
    struct Records(Mutex<Vec<String>>);

    #[async_trait]
    impl RevocationRepository for Records {
        async fn insert(&self, revoked: &RevokedToken) -> Result<()> {
            self.0.lock().unwrap().push(revoked.jti.clone());
            Ok(())
        }
        async fn is_revoked(&self, jti: &str) -> Result<bool> {
            Ok(self.0.lock().unwrap().iter().any(|j| j == jti))
        }
        async fn unexpired(&self, _: DateTime<Utc>) -> Result<Vec<RevokedToken>> {
            Ok(Vec::new())
        }
        async fn prune(&self, _: DateTime<Utc>) -> Result<u64> {
            Ok(0)
        }
    }

    fn revoked() -> RevokedToken {
        RevokedToken {
            jti: "jti-1".into(),
            tenant_id: TenantId::new(),
            client_id: ClientId::generate(),
            expires_at: Utc::now() + chrono::Duration::minutes(5),
            revoked_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_revocation_the_set_missed_invalidates_it_before_it_is_confirmed() {
        let set = Arc::new(FailingWrites::default());
        let records = Arc::new(Records::default());
        let sync = Arc::new(RevocationSync::new(set.clone(), records.clone()));

        sync.revoke(&revoked(), Duration::from_secs(300))
            .await
            .unwrap();

        assert!(records.is_revoked("jti-1").await.unwrap());
        assert_eq!(
            *set.invalidations.lock().unwrap(),
            1,
            "invalidated before the revoke returned"
        );
        // The set is already invalidated: nothing left to distrust.
        assert_eq!(
            sync.view().await.unwrap(),
            View::Shared(Generation::new("g1"))
        );
    }

    #[tokio::test]
    async fn when_the_set_cannot_be_invalidated_either_this_instance_fails_closed() {
        let set = Arc::new(FailingWrites {
            invalidate_fails: true,
            ..FailingWrites::default()
        });
        let sync = Arc::new(RevocationSync::new(set, Arc::new(Records::default())));

        sync.revoke(&revoked(), Duration::from_secs(300))
            .await
            .unwrap();

        assert!(matches!(sync.view().await, Err(Error::Unavailable { .. })));
    }
}
