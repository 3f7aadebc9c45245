//! Rate-limit leases: with a shared limiter (Redis), an instance takes a fast client's units a
//! few at a time and hands them out itself, instead of asking the shared store once per request.
//!
//! A client's limit is a sliding window ([`RateLimiter::take_in_window`]): no more than its
//! quota in any window, however many instances serve it. A lease never lets it exceed that,
//! because a lease is units taken from the shared window up front, *before* any is handed out,
//! and each batch of leased units is handed out only until [`LEASE_TTL`] after it was asked for —
//! the hold the shared window counts them for (a period after the hold ends). So every unit
//! served was counted in the shared window from its grant until a whole window after it was
//! served, exactly as if the request had asked the shared store itself. A top-up adds a new batch
//! with its own deadline; left-over units of the old batch keep theirs (carrying them into the new
//! batch would let them outlive what the window counted them for).
//!
//! What leasing costs: units an instance holds are not available to the others while it holds
//! them, and units still unused when their batch ends stay counted (they are not handed back:
//! that would cost a round trip and could only ever matter for one lease per instance), so a
//! client running at its limit across several instances may see slightly fewer requests than its
//! limit. To keep that small, a lease is [`LEASE_SPAN`] worth of the client's rate, and clients
//! whose lease would be a single unit (every limit up to 600 a minute) are decided by the shared
//! store on every request, exactly as without leases. Refusals always come from the shared store,
//! so `Retry-After` is exact.
//!
//! If the shared store loses its data (a Redis restarted empty, a `FLUSHALL`), the window starts
//! again from empty — a fresh quota, as a new client would get — and only batches already leased
//! at that moment are handed out besides: at most a lease and a half per instance (half a lease
//! left when a top-up lands), used up or dropped within [`LEASE_TTL`]. Nothing is granted without the store: when it does not answer and no
//! leased unit is left, requests are refused (`Unavailable`).
//!
//! A lease is topped up in the background when half of it is left, so requests wait for the
//! shared store only when it is slower than that half takes to use up. (Topping up at a quarter,
//! awaited by the request that noticed, made every request on the instance wait whenever one
//! round trip to Redis was slow: measured on the benchmark, it raised the p99 from 4.7 to 6.9 ms.)
//!
//! [`RateLimiter::take_in_window`]: crate::ports::RateLimiter::take_in_window

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::Result;
use crate::ports::{Quota, RateDecision, RateLimiter};

/// How much of a client's rate one lease holds.
pub const LEASE_SPAN: Duration = Duration::from_millis(100);

/// Leased units are handed out for at most this long after they were asked for; the shared
/// window counts them until a period after that, so a client served through leases at its limit
/// gets its quota per window plus this (60.5 s for a minute). Long enough that a slow round trip
/// to the store does not make a lease lapse before it arrives, and several times [`LEASE_SPAN`],
/// which a client at its limit takes to use a lease up.
pub const LEASE_TTL: Duration = Duration::from_millis(500);

/// The most units one lease holds.
const MAX_LEASE_UNITS: u32 = 500;

/// Clients tracked before idle ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Units of one grant not yet handed out, and until when they may be.
#[derive(Debug, Clone, Copy)]
struct Batch {
    units: u32,
    usable_until: Instant,
}

/// Units taken from the shared window and not yet handed out.
#[derive(Debug, Clone)]
struct Lease {
    limit: u32,
    /// Oldest first: at most the batch being used up and its top-up.
    batches: Vec<Batch>,
    /// When the units left fall to this, the lease is renewed in the background while requests
    /// go on using what is left.
    renew_at: u32,
    /// A renewal is under way.
    renewing: bool,
    /// What the shared window had left just after granting the newest batch.
    shared_remaining: u32,
    /// When the shared window will hold nothing again, as of that grant.
    full_at: Instant,
}

impl Lease {
    /// Drops batches past their deadline or used up; the units left.
    fn live_units(&mut self, now: Instant) -> u32 {
        self.batches
            .retain(|batch| batch.units > 0 && batch.usable_until > now);
        self.batches.iter().map(|batch| batch.units).sum()
    }
}

/// One client's lease, and the lock that lets one request at a time renew it.
#[derive(Debug, Default)]
struct ClientLease {
    lease: Mutex<Option<Lease>>,
    renewing: tokio::sync::Mutex<()>,
    /// Until when the shared window is known to hold less than a lease: meanwhile requests are
    /// decided one at a time without first asking for a lease that would be refused.
    short_until: Mutex<Option<Instant>>,
}

impl ClientLease {
    /// Hands out one unit of the current lease, if it has one for this `limit`, and says whether
    /// the caller should renew the lease now.
    fn take(&self, limit: u32, now: Instant) -> Option<(RateDecision, bool)> {
        let mut slot = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        let lease = slot.as_mut()?;
        let left = lease.live_units(now);
        if lease.limit != limit || left == 0 {
            *slot = None;
            return None;
        }
        // The oldest batch first: it is the first to lapse.
        let batch = lease.batches.first_mut()?;
        batch.units -= 1;
        let left = left - 1;
        let renew = left <= lease.renew_at && !lease.renewing;
        lease.renewing |= renew;
        let decision = RateDecision {
            allowed: true,
            limit,
            remaining: lease.shared_remaining.saturating_add(left).min(limit),
            retry_after: Duration::ZERO,
            reset_after: lease.full_at.saturating_duration_since(now),
        };
        Some((decision, renew))
    }

    /// Adds a grant of `units`, asked for at `asked_at`, to what is left of the lease (or starts
    /// a new one). The batch is usable until [`LEASE_TTL`] after it was *asked for*: the shared
    /// store's clock read the grant later than that, so it counts the units at least that long.
    fn extend(&self, limit: u32, units: u32, granted: &RateDecision, asked_at: Instant) {
        let now = Instant::now();
        let mut slot = self.lease.lock().unwrap_or_else(PoisonError::into_inner);
        let mut batches = match slot.as_mut() {
            Some(lease) if lease.limit == limit => {
                lease.live_units(now);
                std::mem::take(&mut lease.batches)
            }
            _ => Vec::new(),
        };
        batches.push(Batch {
            units,
            usable_until: asked_at + LEASE_TTL,
        });
        *slot = Some(Lease {
            limit,
            batches,
            renew_at: units / 2,
            renewing: false,
            shared_remaining: granted.remaining,
            full_at: now + granted.reset_after,
        });
    }

    /// A renewal ended without new units.
    fn renewal_failed(&self) {
        if let Some(lease) = self
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            lease.renewing = false;
        }
    }

    fn is_short(&self, now: Instant) -> bool {
        let short = self
            .short_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        short.is_some_and(|until| until > now)
    }

    fn short_for(&self, span: Duration) {
        *self
            .short_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + span);
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .is_none_or(|lease| lease.live_units(now) == 0)
    }
}

/// Admits requests against per-key sliding-window quotas of a shared limiter, leasing units when
/// enabled.
#[derive(Debug)]
pub struct LeasedLimiter {
    limiter: Arc<dyn RateLimiter>,
    leasing: bool,
    clients: Mutex<HashMap<String, Arc<ClientLease>>>,
}

impl LeasedLimiter {
    /// Over `limiter`; `leasing` only pays off (and is only used) when the limiter is shared by
    /// several instances over a network.
    pub fn new(limiter: Arc<dyn RateLimiter>, leasing: bool) -> Self {
        Self {
            limiter,
            leasing,
            clients: Mutex::default(),
        }
    }

    /// Takes one unit of `key`'s `quota`: at most `quota.limit` in any `quota.period`.
    ///
    /// # Errors
    /// `Unavailable` when the shared store is down and no leased unit is left: callers refuse
    /// the request (fail closed).
    pub async fn acquire(&self, key: &str, quota: Quota) -> Result<RateDecision> {
        let units = lease_units(quota);
        if !self.leasing || units <= 1 {
            return self.one(key, quota).await;
        }
        let client = self.client(key);
        if let Some((decision, renew)) = client.take(quota.limit, Instant::now()) {
            if renew {
                self.renew_in_background(client, key, quota, units).await;
            }
            return Ok(decision);
        }
        // Nothing left: one request renews, the others wait for it and use the new lease.
        let _renewing = client.renewing.lock().await;
        if let Some((decision, _)) = client.take(quota.limit, Instant::now()) {
            return Ok(decision);
        }
        if client.is_short(Instant::now()) {
            return self.one(key, quota).await;
        }
        let asked_at = Instant::now();
        let granted = self
            .limiter
            .take_in_window(key, quota, units, LEASE_TTL)
            .await?;
        if !granted.allowed {
            // Less than a lease is left: decide requests one at a time, exactly, for a while.
            client.short_for(LEASE_SPAN);
            return self.one(key, quota).await;
        }
        // This request takes one of the new units.
        client.extend(quota.limit, units - 1, &granted, asked_at);
        Ok(RateDecision {
            remaining: granted.remaining.saturating_add(units - 1).min(quota.limit),
            ..granted
        })
    }

    /// One unit straight from the shared window, used at once.
    async fn one(&self, key: &str, quota: Quota) -> Result<RateDecision> {
        self.limiter
            .take_in_window(key, quota, 1, Duration::ZERO)
            .await
    }

    /// Tops up a lease that is running low without holding up the request that noticed (it
    /// already has its unit); outside a Tokio runtime the top-up is awaited instead.
    async fn renew_in_background(
        &self,
        client: Arc<ClientLease>,
        key: &str,
        quota: Quota,
        units: u32,
    ) {
        let limiter = Arc::clone(&self.limiter);
        let key = key.to_owned();
        let renewal = async move { renew(limiter.as_ref(), &client, &key, quota, units).await };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(renewal)),
            Err(_) => renewal.await,
        }
    }

    /// `key`'s lease slot, created on first use; idle slots are forgotten when there are many.
    fn client(&self, key: &str) -> Arc<ClientLease> {
        let mut clients = self.lock();
        if let Some(client) = clients.get(key) {
            return client.clone();
        }
        if clients.len() >= PRUNE_ABOVE {
            let now = Instant::now();
            clients.retain(|_, client| Arc::strong_count(client) > 1 || !client.is_idle(now));
        }
        clients.entry(key.to_owned()).or_default().clone()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<ClientLease>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tops up `client`'s lease with `units` from the shared window: a failure only means the next
/// requests ask the shared store themselves.
async fn renew(
    limiter: &dyn RateLimiter,
    client: &ClientLease,
    key: &str,
    quota: Quota,
    units: u32,
) {
    if client.is_short(Instant::now()) {
        client.renewal_failed();
        return;
    }
    let _renewing = client.renewing.lock().await;
    let asked_at = Instant::now();
    match limiter.take_in_window(key, quota, units, LEASE_TTL).await {
        Ok(granted) if granted.allowed => {
            client.extend(quota.limit, units, &granted, asked_at);
        }
        Ok(_) => {
            client.short_for(LEASE_SPAN);
            client.renewal_failed();
        }
        Err(err) => {
            tracing::debug!(error = %err, "renewing a rate-limit lease failed");
            client.renewal_failed();
        }
    }
}

/// How many units a lease of `quota` holds: [`LEASE_SPAN`] of its rate, at least 1.
fn lease_units(quota: Quota) -> u32 {
    let span = LEASE_SPAN.as_micros();
    let period = quota.period.as_micros().max(1);
    let units = u128::from(quota.limit) * span / period;
    u32::try_from(units)
        .unwrap_or(MAX_LEASE_UNITS)
        .clamp(1, MAX_LEASE_UNITS)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;

    /// A shared window that counts calls and grants up to `capacity` units in all. While a test
    /// holds `hold`, calls wait (a slow shared store).
    #[derive(Debug)]
    struct Bucket {
        capacity: u32,
        taken: AtomicU32,
        calls: AtomicU32,
        hold: tokio::sync::Mutex<()>,
        /// The hold asked with the last grant of several units.
        lease_hold: Mutex<Option<Duration>>,
    }

    impl Bucket {
        fn new(capacity: u32) -> Arc<Self> {
            Arc::new(Self {
                capacity,
                taken: AtomicU32::new(0),
                calls: AtomicU32::new(0),
                hold: tokio::sync::Mutex::new(()),
                lease_hold: Mutex::new(None),
            })
        }
    }

    /// What [`Bucket`] answers to the bucket calls, which client limits never make: they count
    /// in sliding windows.
    fn not_a_bucket<T>() -> Result<T> {
        Err(crate::Error::internal(
            "client limits are sliding windows, not buckets",
        ))
    }

    /// A bucket of `capacity` and a limiter leasing from it.
    fn leasing(capacity: u32) -> (Arc<Bucket>, LeasedLimiter) {
        let bucket = Bucket::new(capacity);
        let limits = LeasedLimiter::new(bucket.clone(), true);
        (bucket, limits)
    }

    #[async_trait]
    impl RateLimiter for Bucket {
        async fn acquire(&self, _: &str, _: Quota, _: u32, _: u32) -> Result<RateDecision> {
            not_a_bucket()
        }

        async fn take_in_window(
            &self,
            _: &str,
            quota: Quota,
            cost: u32,
            hold: Duration,
        ) -> Result<RateDecision> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if cost > 1 {
                *self.lease_hold.lock().unwrap() = Some(hold);
            }
            // Like a network call: other tasks run meanwhile.
            tokio::task::yield_now().await;
            drop(self.hold.lock().await);
            let taken = self.taken.load(Ordering::SeqCst);
            let allowed = taken + cost <= self.capacity;
            if allowed {
                self.taken.fetch_add(cost, Ordering::SeqCst);
            }
            let left = self.capacity - self.taken.load(Ordering::SeqCst);
            Ok(RateDecision {
                allowed,
                limit: quota.limit,
                remaining: left,
                retry_after: if allowed {
                    Duration::ZERO
                } else {
                    Duration::from_millis(7)
                },
                reset_after: Duration::from_secs(1),
            })
        }

        async fn book(
            &self,
            _: &str,
            _: Quota,
            _: u32,
            _: u32,
            _: Duration,
        ) -> Result<Option<Duration>> {
            not_a_bucket()
        }

        async fn refund(&self, _: &str, _: Quota, units: u32) -> Result<()> {
            self.taken.fetch_sub(units, Ordering::SeqCst);
            Ok(())
        }

        async fn increment(&self, _: &str, _: Duration) -> Result<u64> {
            Ok(0)
        }

        async fn count(&self, _: &str) -> Result<u64> {
            Ok(0)
        }

        async fn reset(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_lease_is_a_tenth_of_a_second_of_the_rate() {
        assert_eq!(lease_units(Quota::per_minute(600)), 1);
        assert_eq!(lease_units(Quota::per_minute(60)), 1);
        assert_eq!(lease_units(Quota::per_minute(6_000)), 10);
        assert_eq!(lease_units(Quota::per_minute(10_000_000)), MAX_LEASE_UNITS);
    }

    #[tokio::test]
    async fn slow_clients_ask_the_shared_store_every_time() {
        let (bucket, limits) = leasing(1_000);
        for _ in 0..5 {
            limits.acquire("c", Quota::per_minute(600)).await.unwrap();
        }
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 5);
        assert_eq!(bucket.taken.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn fast_clients_take_a_lease_and_never_exceed_the_shared_bucket() {
        // 60 000 a minute: leases of 100 units; the shared bucket holds 250.
        let (bucket, limits) = leasing(250);
        let quota = Quota::per_minute(60_000);
        let mut allowed = 0;
        let mut refused = None;
        for _ in 0..300 {
            let decision = limits.acquire("c", quota).await.unwrap();
            if decision.allowed {
                allowed += 1;
            } else {
                refused.get_or_insert(decision);
            }
            tokio::task::yield_now().await;
        }
        // A lease of 100 and its top-up, one refused top-up, then one at a time (50 granted, 50 refused with
        // the store's Retry-After) without asking for another lease meanwhile.
        assert_eq!(allowed, 250);
        assert_eq!(bucket.taken.load(Ordering::SeqCst), 250);
        assert_eq!(refused.unwrap().retry_after, Duration::from_millis(7));
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 2 + 1 + 100);
    }

    #[tokio::test]
    async fn a_lease_reports_what_is_left_and_is_dropped_when_the_limit_changes() {
        let (bucket, limits) = leasing(10_000);
        let first = limits
            .acquire("c", Quota::per_minute(60_000))
            .await
            .unwrap();
        assert_eq!(first.remaining, 10_000 - 100 + 99);
        let second = limits
            .acquire("c", Quota::per_minute(60_000))
            .await
            .unwrap();
        assert_eq!(second.remaining, 10_000 - 100 + 98);
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 1);
        // A new limit: the old lease is not used for it.
        limits
            .acquire("c", Quota::per_minute(12_000))
            .await
            .unwrap();
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 2);
        assert_eq!(bucket.taken.load(Ordering::SeqCst), 120);
    }

    #[tokio::test]
    async fn a_lease_is_topped_up_before_it_runs_out() {
        let (bucket, limits) = leasing(1_000_000);
        let quota = Quota::per_minute(60_000);
        for _ in 0..1_000 {
            assert!(limits.acquire("c", quota).await.unwrap().allowed);
            // A server has other work: the background top-up gets to run.
            tokio::task::yield_now().await;
        }
        // 100 units at a time, each lease renewed with half left.
        let calls = bucket.calls.load(Ordering::SeqCst);
        assert!((10..=11).contains(&calls), "{calls} calls");
        assert!(bucket.taken.load(Ordering::SeqCst) <= 1_000 + 150);
    }

    #[tokio::test]
    async fn requests_do_not_wait_for_a_slow_top_up_while_units_are_left() {
        let (bucket, limits) = leasing(1_000_000);
        let quota = Quota::per_minute(60_000); // leases of 100 units
        assert!(limits.acquire("c", quota).await.unwrap().allowed);
        let stalled = bucket.hold.lock().await;
        // The 49th of these starts the top-up, which then waits for the stalled store.
        for _ in 0..98 {
            let decision = tokio::time::timeout(Duration::from_secs(1), limits.acquire("c", quota))
                .await
                .expect("served from the lease while the top-up waits")
                .unwrap();
            assert!(decision.allowed);
            tokio::task::yield_now().await;
        }
        assert_eq!(
            bucket.calls.load(Ordering::SeqCst),
            2,
            "one lease, one top-up"
        );
        drop(stalled);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // The top-up landed: the next 50 requests need nothing from the store.
        for _ in 0..50 {
            assert!(limits.acquire("c", quota).await.unwrap().allowed);
        }
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 2);
        assert_eq!(bucket.taken.load(Ordering::SeqCst), 200);
    }

    #[tokio::test]
    async fn leased_units_are_handed_out_only_for_the_hold_the_window_counts_them_for() {
        let (bucket, limits) = leasing(1_000_000);
        let quota = Quota::per_minute(60_000); // leases of 100 units
        assert!(limits.acquire("c", quota).await.unwrap().allowed);
        assert_eq!(*bucket.lease_hold.lock().unwrap(), Some(LEASE_TTL));
        // A while later, 50 more: the top-up is a second batch with its own, later deadline.
        tokio::time::sleep(LEASE_TTL * 3 / 5).await;
        for _ in 0..50 {
            assert!(limits.acquire("c", quota).await.unwrap().allowed);
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert_eq!(
            bucket.calls.load(Ordering::SeqCst),
            2,
            "one lease, one top-up"
        );
        // Past the first batch's deadline its 49 units are gone: only the top-up's 100 remain.
        tokio::time::sleep(LEASE_TTL / 2).await;
        // (Without yielding, the top-up that the 50th of these starts does not run yet.)
        for _ in 0..100 {
            assert!(limits.acquire("c", quota).await.unwrap().allowed);
        }
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 2);
        assert!(limits.acquire("c", quota).await.unwrap().allowed);
        assert!(
            bucket.calls.load(Ordering::SeqCst) > 2,
            "the 49 left-over units were not handed out late"
        );
    }

    #[tokio::test]
    async fn without_leasing_every_request_asks_the_store() {
        let bucket = Bucket::new(1_000);
        let limits = LeasedLimiter::new(bucket.clone(), false);
        for _ in 0..5 {
            limits
                .acquire("c", Quota::per_minute(60_000))
                .await
                .unwrap();
        }
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_renewal() {
        let bucket = Bucket::new(100_000);
        let limits = Arc::new(LeasedLimiter::new(bucket.clone(), true));
        let quota = Quota::per_minute(300_000);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let limits = limits.clone();
                tokio::spawn(async move { limits.acquire("c", quota).await.unwrap().allowed })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
        assert_eq!(bucket.calls.load(Ordering::SeqCst), 1);
    }
}
