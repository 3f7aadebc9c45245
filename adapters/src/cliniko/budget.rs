//! One Cliniko budget per API key, shared by every instance through the rate-limiter and cache
//! ports, with priority lanes.
//!
//! - The budget is a GCRA bucket (`RateLimiter::acquire`, atomic in Redis) of `burst` units that
//!   refills `limit` units per `period` (see [`BudgetConfig`]); a refused acquisition takes
//!   nothing, so refused and waiting calls never count.
//! - Lanes: `interactive` takes any unit and waits up to `interactive_wait`; `api` leaves
//!   `api_reserve` units for interactive callers and never waits (our 429 + `Retry-After`);
//!   `background` leaves `background_reserve` units and waits up to `background_wait`. A lane
//!   never sleeps when the wait it is told exceeds what it may still wait: it fails at once.
//! - A Cliniko 429 (another app sharing the user's limit) stores a pause in the shared cache until
//!   Cliniko's reset time; every instance checks it before spending budget.
//! - An operation that needs several calls (a patient chart, a slot search over many weeks, a
//!   booking) books them all at once before its first call ([`Budget::reserve`]): it is admitted
//!   only when the budget can cover its whole cost within the lane's wait, and otherwise refused
//!   before spending anything. Admitting call by call let, under overload, every operation spend
//!   part of its calls and then be refused halfway: budget spent on work thrown away. Bookings
//!   queue in arrival order (each moves the bucket's TAT), which is also what makes them fair.
//! - A capped API client (the clinic set its `cliniko_budget_share`) has its own bucket per key,
//!   `percent` % of the key's rate and burst, shared by every instance like the key's. Its API-lane
//!   calls take a unit there first, then from the key's budget as usual; a refusal by the key's
//!   budget gives the slice's unit back. So the capped client is refused (our 429) once it has
//!   used its share, while the others keep theirs, and the key's budget — which keeps Cliniko
//!   from ever answering 429 — is unchanged.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clinicgate_core::cliniko::{ClinikoCaller, Lane};
use clinicgate_core::ports::{Cache, Quota, RateLimiter};
use clinicgate_core::{Error, Result};
use rand::Rng as _;

use super::config::BudgetConfig;
use super::key_id::KeyId;

/// The longest pause a 429 may impose, whatever its headers say: a reset hours away is a broken
/// header, and a shorter pause followed by another 429 costs one call.
const MAX_PAUSE: Duration = Duration::from_secs(300);

/// How long an API-lane operation may wait for its booked calls: the API lane answers single
/// calls at once, but a multi-call operation already waited this long per refusal (`Patience`).
const API_BOOKING_WAIT: Duration = Duration::from_secs(3);

/// At most this much random delay is added to a wake-up, so waiters that were told the same time
/// do not all hit the store in the same millisecond.
const MAX_WAKE_JITTER_MS: u64 = 20;

/// The per-key budgets of one client instance (their state lives in the shared stores).
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    limiter: Arc<dyn RateLimiter>,
    cache: Arc<dyn Cache>,
    config: BudgetConfig,
    quota: Quota,
}

impl Budget {
    /// Budgets over the given shared stores.
    pub(crate) fn new(
        limiter: Arc<dyn RateLimiter>,
        cache: Arc<dyn Cache>,
        config: BudgetConfig,
    ) -> Self {
        let quota = config.quota();
        Self {
            limiter,
            cache,
            config,
            quota,
        }
    }

    /// Waits as long as `lane` may for one unit of `key`'s budget, then takes it; first one unit
    /// of the capped client's slice when `caller` is one (see the module docs).
    ///
    /// # Errors
    /// [`Error::RateLimited`] when the lane may not wait long enough (at once for `api`), or the
    /// client has used its share, with the time after which a retry could succeed;
    /// [`Error::Unavailable`] when the shared store is down (Cliniko is then not called: without
    /// the budget we could exceed Cliniko's limit).
    pub(crate) async fn admit(
        &self,
        key: &KeyId,
        lane: Lane,
        caller: Option<&ClinikoCaller>,
    ) -> Result<()> {
        let Some(slice) = self.slice(key, lane, caller) else {
            return self.admit_shared(key, lane).await;
        };
        let decision = self.limiter.acquire(&slice.key, slice.quota, 1, 0).await?;
        if !decision.allowed {
            return Err(Error::RateLimited {
                retry_after: decision.retry_after.max(Duration::from_millis(1)),
            });
        }
        let admitted = self.admit_shared(key, lane).await;
        if admitted.is_err() {
            self.give_back(&slice, 1).await;
        }
        admitted
    }

    /// [`Self::admit`] on the key's budget alone.
    async fn admit_shared(&self, key: &KeyId, lane: Lane) -> Result<()> {
        let started = Instant::now();
        let may_wait = self.max_wait(lane);
        loop {
            let wait = match self.paused_for(key).await? {
                Some(pause) => pause,
                None => {
                    let decision = self
                        .limiter
                        .acquire(&bucket_key(key), self.quota, 1, self.headroom(lane))
                        .await?;
                    if decision.allowed {
                        return Ok(());
                    }
                    decision.retry_after
                }
            };
            if started.elapsed() + wait > may_wait {
                return Err(Error::RateLimited {
                    retry_after: wait.max(Duration::from_millis(1)),
                });
            }
            tokio::time::sleep(wait + wake_jitter()).await;
        }
    }

    /// Books `calls` units of `key`'s budget for one operation, if the lane's wait can cover them,
    /// and waits until they may be used; first from the capped client's slice when `caller`
    /// is one.
    ///
    /// # Errors
    /// [`Error::RateLimited`] (nothing taken) when the budget or the client's share cannot cover
    /// them in time, or the key is paused after a Cliniko 429; [`Error::Unavailable`] when the
    /// shared store is down.
    pub(crate) async fn reserve(
        &self,
        key: &KeyId,
        lane: Lane,
        calls: u32,
        caller: Option<&ClinikoCaller>,
    ) -> Result<()> {
        self.check_pause(key).await?;
        let slice = self.slice(key, lane, caller);
        let mut slice_wait = Duration::ZERO;
        if let Some(slice) = &slice {
            let beyond = calls.saturating_sub(slice.quota.limit);
            let may_wait = API_BOOKING_WAIT + refill_time(slice.quota, beyond);
            match self
                .limiter
                .book(&slice.key, slice.quota, calls, 0, may_wait)
                .await?
            {
                Some(wait) => slice_wait = wait,
                None => {
                    return Err(Error::RateLimited {
                        retry_after: refill_time(slice.quota, calls)
                            .saturating_sub(may_wait)
                            .max(Duration::from_secs(1)),
                    });
                }
            }
        }
        let booked = self.book_shared(key, lane, calls).await;
        match (booked, &slice) {
            (Ok(wait), _) => {
                let wait = wait.max(slice_wait);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            (Err(err), Some(slice)) => {
                self.give_back(slice, calls).await;
                Err(err)
            }
            (Err(err), None) => Err(err),
        }
    }

    /// Books `calls` units of `key`'s budget as [`Self::reserve`] does; how long to wait before
    /// using them.
    async fn book_shared(&self, key: &KeyId, lane: Lane, calls: u32) -> Result<Duration> {
        // What the lane may queue, plus what the operation would wait anyway on an idle budget
        // when it needs more than a bucket holds (a two-month slot search).
        let beyond_bucket =
            calls.saturating_sub(self.quota.limit.saturating_sub(self.headroom(lane)));
        let may_wait = match lane {
            Lane::Api => API_BOOKING_WAIT,
            other => self.max_wait(other),
        } + self.refill_time(beyond_bucket);
        let booked = self
            .limiter
            .book(
                &bucket_key(key),
                self.quota,
                calls,
                self.headroom(lane),
                may_wait,
            )
            .await?;
        match booked {
            Some(wait) => Ok(wait),
            None => Err(Error::RateLimited {
                // The bucket refills one unit per emission interval: about when `calls` fit.
                retry_after: self
                    .refill_time(calls)
                    .saturating_sub(may_wait)
                    .max(Duration::from_secs(1)),
            }),
        }
    }

    /// Gives back `units` booked for an operation that did not need them.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the shared store is down (the units then return with time).
    pub(crate) async fn refund(&self, key: &KeyId, units: u32) -> Result<()> {
        self.limiter
            .refund(&bucket_key(key), self.quota, units)
            .await
    }

    /// Refuses while `key` is paused after a Cliniko 429 (for calls whose budget was booked).
    ///
    /// # Errors
    /// [`Error::RateLimited`] until the pause ends; [`Error::Unavailable`] when the shared store
    /// is down.
    pub(crate) async fn check_pause(&self, key: &KeyId) -> Result<()> {
        match self.paused_for(key).await? {
            Some(pause) => Err(Error::RateLimited {
                retry_after: pause.max(Duration::from_millis(1)),
            }),
            None => Ok(()),
        }
    }

    /// How long the bucket takes to refill `units` units.
    fn refill_time(&self, units: u32) -> Duration {
        refill_time(self.quota, units)
    }

    /// The capped client's slice of `key`'s budget, when `caller` is a capped client and the
    /// call is on the API lane: only a client's own API calls spend it (interactive and
    /// background calls are the clinic's).
    fn slice(&self, key: &KeyId, lane: Lane, caller: Option<&ClinikoCaller>) -> Option<Slice> {
        let caller = caller.filter(|_| lane == Lane::Api)?;
        let percent = u32::from(caller.budget_share?.clamp(1, 100));
        // `percent` % of the burst (at least one unit), refilled at `percent` % of the rate: the
        // slice's emission interval is the key's × 100 / percent.
        let limit = (self.quota.limit * percent).div_ceil(100).max(1);
        let emission = self.quota.period / self.quota.limit.max(1);
        Some(Slice {
            key: format!("{}:client:{}", bucket_key(key), caller.client_id.as_str()),
            quota: Quota {
                limit,
                period: emission * 100 / percent * limit,
            },
        })
    }

    /// Gives `units` of a slice back after the key's budget refused the call they were for.
    async fn give_back(&self, slice: &Slice, units: u32) {
        if let Err(err) = self.limiter.refund(&slice.key, slice.quota, units).await {
            // Allowed to fail: the units come back with time anyway.
            tracing::debug!(error = %err, units, "could not give a client's budget share back");
        }
    }

    /// Units available right now to an interactive caller (nothing is taken).
    pub(crate) async fn available(&self, key: &KeyId) -> Result<u32> {
        let decision = self
            .limiter
            .acquire(&bucket_key(key), self.quota, 0, 0)
            .await?;
        Ok(decision.remaining)
    }

    /// Stops every instance's calls with `key` until `until` (capped at [`MAX_PAUSE`]); a longer
    /// pause already stored is kept.
    pub(crate) async fn pause_until(&self, key: &KeyId, until: SystemTime) -> Result<()> {
        let now = SystemTime::now();
        let until = until.min(now + MAX_PAUSE);
        let Ok(remaining) = until.duration_since(now) else {
            return Ok(());
        };
        if self
            .paused_for(key)
            .await?
            .is_some_and(|current| current >= remaining)
        {
            return Ok(());
        }
        let until_ms = until
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        self.cache
            .set(&pause_key(key), until_ms.to_string().as_bytes(), remaining)
            .await
    }

    /// How long `key` is still paused after a Cliniko 429, if it is.
    pub(crate) async fn paused_for(&self, key: &KeyId) -> Result<Option<Duration>> {
        let Some(raw) = self.cache.get(&pause_key(key)).await? else {
            return Ok(None);
        };
        let until_ms = std::str::from_utf8(&raw)
            .ok()
            .and_then(|text| text.parse::<u64>().ok());
        let Some(until_ms) = until_ms else {
            // Not written by us: ignoring it is safer than pausing forever.
            return Ok(None);
        };
        let until = UNIX_EPOCH + Duration::from_millis(until_ms);
        Ok(until
            .duration_since(SystemTime::now())
            .ok()
            .filter(|left| !left.is_zero()))
    }

    /// When a 429 says neither when the limit resets nor how long to wait.
    pub(crate) fn default_pause(&self) -> Duration {
        self.config.default_pause
    }

    /// Units `lane` leaves for higher-priority lanes.
    fn headroom(&self, lane: Lane) -> u32 {
        match lane {
            Lane::Interactive => 0,
            Lane::Api => self.config.api_reserve,
            Lane::Background => self.config.background_reserve,
        }
    }

    fn max_wait(&self, lane: Lane) -> Duration {
        match lane {
            Lane::Interactive => self.config.interactive_wait,
            Lane::Api => Duration::ZERO,
            Lane::Background => self.config.background_wait,
        }
    }
}

/// A capped client's own bucket within a key's budget.
#[derive(Debug)]
struct Slice {
    key: String,
    quota: Quota,
}

/// How long a bucket of `quota` takes to refill `units` units.
fn refill_time(quota: Quota, units: u32) -> Duration {
    quota.period / quota.limit.max(1) * units
}

/// The shared-store key of `key`'s bucket.
fn bucket_key(key: &KeyId) -> String {
    format!("cliniko:budget:{}", key.as_str())
}

/// The shared-cache key of `key`'s 429 pause.
fn pause_key(key: &KeyId) -> String {
    format!("cliniko:pause:{}", key.as_str())
}

fn wake_jitter() -> Duration {
    Duration::from_millis(rand::rng().random_range(0..=MAX_WAKE_JITTER_MS))
}
