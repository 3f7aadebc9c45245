use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// A rate: at most `limit` units per `period`, with bursts of up to `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Units allowed per period (≥ 1).
    pub limit: u32,
    /// The period over which `limit` applies (> 0).
    pub period: Duration,
}

impl Quota {
    /// `limit` per minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    /// `limit` per second.
    pub const fn per_second(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(1),
        }
    }
}

/// The outcome of [`RateLimiter::acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the units were granted (and counted).
    pub allowed: bool,
    /// The quota's limit, for `RateLimit-Policy` headers.
    pub limit: u32,
    /// Units still available right now after this decision.
    pub remaining: u32,
    /// When not allowed: how long until this request could be granted. Zero when allowed.
    pub retry_after: Duration,
    /// How long until the whole quota is available again (for `RateLimit` reset): the bucket full,
    /// or every unit counted in the window out of it.
    pub reset_after: Duration,
}

/// Atomic rate-limit state shared by every instance.
///
/// `acquire` is a GCRA token bucket (equivalent to a sliding window with no boundary bursts): a key
/// holds one timestamp, updates are atomic (one Lua script in Redis), and refused requests change
/// nothing, so they never count against the budget.
#[async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Takes `cost` units from `key`'s bucket if, after taking them, at least `reserve` more units
    /// would still be available. `reserve` keeps headroom for higher-priority callers sharing the
    /// bucket (0 for none). Not granted → nothing is taken.
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        reserve: u32,
    ) -> Result<RateDecision>;

    /// Books `cost` units of `key`'s bucket (keeping `reserve` for higher-priority callers) if they
    /// will be available within `max_wait`: they are taken now, so later callers queue behind
    /// them, and `Ok(Some(wait))` says how long the caller must wait before using them. `None`:
    /// not within `max_wait`, nothing taken. An operation that needs several units books them
    /// all before it starts, so it is refused before it spends anything rather than halfway.
    async fn book(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        reserve: u32,
        max_wait: Duration,
    ) -> Result<Option<Duration>>;

    /// Gives back `units` units taken from `key`'s bucket (by [`acquire`](Self::acquire) or
    /// [`book`](Self::book)) and not used, so the next callers get them. The bucket never holds
    /// more than a full bucket.
    async fn refund(&self, key: &str, quota: Quota, units: u32) -> Result<()>;

    /// Takes `cost` units from `key`'s sliding window if no more than `quota.limit` units would
    /// then have been taken within the last `quota.period`. Unlike [`acquire`](Self::acquire)'s
    /// bucket, which refills while it is being spent (so a `period` can see up to twice `limit`),
    /// any `period`-long span sees at most `limit` units, however they are spread over instances.
    ///
    /// `hold` is how long after the grant the caller may still hand the units out (a lease of
    /// several units; zero when they are used at once): the units count as taken until `period`
    /// after the end of the hold. The store may count a unit up to `period / 60` longer than
    /// that (it keeps 60 sub-windows), never shorter. Not granted → nothing is taken.
    async fn take_in_window(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        hold: Duration,
    ) -> Result<RateDecision>;

    /// Increments a counter that lives for `window` from its first increment and returns the new
    /// value (a fixed window, for counting failures such as bad logins).
    async fn increment(&self, key: &str, window: Duration) -> Result<u64>;

    /// The counter's current value (0 when absent or expired).
    async fn count(&self, key: &str) -> Result<u64>;

    /// Clears the bucket, the window and the counter stored under `key`.
    async fn reset(&self, key: &str) -> Result<()>;
}
