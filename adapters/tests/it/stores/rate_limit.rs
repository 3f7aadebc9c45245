//! The rate-limit contract: GCRA buckets (bursts of `limit`, steady refill, reserve headroom,
//! refusals that cost nothing), sliding windows (never more than `limit` in any `period`, held
//! units counted until a period after their hold) and fixed-window counters.

mod loss;

use std::sync::Arc;
use std::time::Duration;

use clinicgate_core::Error;
use clinicgate_core::ports::{Quota, RateDecision};

use super::{TestStores, stores};

async fn acquire(
    stores: &TestStores,
    key: &str,
    quota: Quota,
    cost: u32,
    reserve: u32,
) -> RateDecision {
    stores
        .rate_limiter
        .acquire(key, quota, cost, reserve)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_fresh_key_allows_exactly_the_limit_then_denies_with_a_sane_retry_after() {
    let stores = stores().await;
    // One unit drips back every 12 s, so the test's own latency cannot refill anything.
    let quota = Quota::per_minute(5);
    for expected_remaining in (0..5).rev() {
        let decision = acquire(&stores, "clinic-a", quota, 1, 0).await;
        assert!(decision.allowed);
        assert_eq!(decision.limit, 5);
        assert_eq!(decision.remaining, expected_remaining);
        assert_eq!(decision.retry_after, Duration::ZERO);
    }

    let denied = acquire(&stores, "clinic-a", quota, 1, 0).await;
    assert!(!denied.allowed);
    assert_eq!(denied.remaining, 0);
    assert!(
        denied.retry_after > Duration::from_secs(10)
            && denied.retry_after <= Duration::from_secs(12),
        "retry_after {:?} should be just under one emission interval (12 s)",
        denied.retry_after
    );
    assert!(
        denied.reset_after > Duration::from_secs(58)
            && denied.reset_after <= Duration::from_secs(60),
        "reset_after {:?} should be just under the period",
        denied.reset_after
    );
}

#[tokio::test]
async fn keys_have_independent_buckets() {
    let stores = stores().await;
    let quota = Quota::per_minute(1);
    assert!(acquire(&stores, "a", quota, 1, 0).await.allowed);
    assert!(!acquire(&stores, "a", quota, 1, 0).await.allowed);
    assert!(acquire(&stores, "b", quota, 1, 0).await.allowed);
}

#[tokio::test]
async fn the_bucket_refills_one_unit_per_emission_interval() {
    let stores = stores().await;
    let quota = Quota {
        limit: 2,
        period: Duration::from_millis(1000),
    };
    assert!(acquire(&stores, "k", quota, 1, 0).await.allowed);
    assert!(acquire(&stores, "k", quota, 1, 0).await.allowed);
    let denied = acquire(&stores, "k", quota, 1, 0).await;
    assert!(!denied.allowed);
    assert!(
        denied.retry_after <= Duration::from_millis(500),
        "retry_after {:?}",
        denied.retry_after
    );

    tokio::time::sleep(denied.retry_after + Duration::from_millis(100)).await;
    let refilled = acquire(&stores, "k", quota, 1, 0).await;
    assert!(refilled.allowed, "a unit should be back after retry_after");
    // Only one unit came back: the next one is another emission interval (500 ms) away.
    assert!(!acquire(&stores, "k", quota, 1, 0).await.allowed);
}

#[tokio::test]
async fn reserve_holds_back_headroom_that_only_callers_without_reserve_may_take() {
    let stores = stores().await;
    let quota = Quota::per_minute(10);
    let mut granted = 0;
    while acquire(&stores, "upstream", quota, 1, 3).await.allowed {
        granted += 1;
        assert!(granted <= 10, "reserve was ignored");
    }
    assert_eq!(granted, 7);

    // Interactive callers (no reserve) still get the three held back, and no more.
    let decision = acquire(&stores, "upstream", quota, 1, 0).await;
    assert!(decision.allowed);
    assert_eq!(decision.remaining, 2);
    assert!(acquire(&stores, "upstream", quota, 2, 0).await.allowed);
    assert!(!acquire(&stores, "upstream", quota, 1, 0).await.allowed);
}

#[tokio::test]
async fn denied_requests_do_not_consume_budget() {
    let stores = stores().await;
    let quota = Quota::per_minute(4);
    let first = acquire(&stores, "k", quota, 3, 0).await;
    assert!(first.allowed);
    assert_eq!(first.remaining, 1);

    let mut retry_afters = Vec::new();
    for _ in 0..10 {
        let denied = acquire(&stores, "k", quota, 2, 0).await;
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 1);
        retry_afters.push(denied.retry_after);
    }
    // Refusals did not push the wait out: it only shrinks as time passes.
    assert!(
        retry_afters.windows(2).all(|pair| pair[1] <= pair[0]),
        "{retry_afters:?}"
    );

    let last = acquire(&stores, "k", quota, 1, 0).await;
    assert!(
        last.allowed,
        "the unit left before the refusals is still there"
    );
    assert_eq!(last.remaining, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acquires_grant_exactly_the_limit() {
    let stores = Arc::new(stores().await);
    let quota = Quota::per_minute(10);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let stores = Arc::clone(&stores);
            tokio::spawn(async move {
                stores
                    .rate_limiter
                    .acquire("shared", quota, 1, 0)
                    .await
                    .unwrap()
                    .allowed
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn an_invalid_quota_is_an_internal_error() {
    let stores = stores().await;
    let zero_limit = Quota {
        limit: 0,
        period: Duration::from_secs(1),
    };
    let zero_period = Quota {
        limit: 1,
        period: Duration::ZERO,
    };
    for quota in [zero_limit, zero_period] {
        let result = stores.rate_limiter.acquire("k", quota, 1, 0).await;
        assert!(
            matches!(result, Err(Error::Internal { .. })),
            "{quota:?} gave {result:?}"
        );
    }
}

#[tokio::test]
async fn a_counter_counts_within_its_window_from_the_first_increment_only() {
    let stores = stores().await;
    let limiter = &stores.rate_limiter;
    let window = Duration::from_millis(700);
    assert_eq!(limiter.count("logins:alice").await.unwrap(), 0);
    assert_eq!(limiter.increment("logins:alice", window).await.unwrap(), 1);
    assert_eq!(limiter.increment("logins:alice", window).await.unwrap(), 2);
    assert_eq!(limiter.count("logins:alice").await.unwrap(), 2);
    assert_eq!(limiter.count("logins:bob").await.unwrap(), 0);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(limiter.increment("logins:alice", window).await.unwrap(), 3);
    // 1.1 s after the first increment: the window (700 ms) is over even though the last
    // increment was only 800 ms ago; later increments do not extend it.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(limiter.count("logins:alice").await.unwrap(), 0);
    assert_eq!(limiter.increment("logins:alice", window).await.unwrap(), 1);
}

#[tokio::test]
async fn reset_clears_both_the_bucket_and_the_counter_of_that_key_only() {
    let stores = stores().await;
    let limiter = &stores.rate_limiter;
    let quota = Quota::per_minute(1);
    let window = Duration::from_secs(60);
    for key in ["alice", "bob"] {
        assert!(limiter.acquire(key, quota, 1, 0).await.unwrap().allowed);
        limiter.increment(key, window).await.unwrap();
    }

    limiter.reset("alice").await.unwrap();
    assert_eq!(limiter.count("alice").await.unwrap(), 0);
    let fresh = limiter.acquire("alice", quota, 1, 0).await.unwrap();
    assert!(fresh.allowed);
    assert_eq!(fresh.remaining, 0);

    assert_eq!(limiter.count("bob").await.unwrap(), 1);
    assert!(!limiter.acquire("bob", quota, 1, 0).await.unwrap().allowed);
    limiter.reset("never-used").await.unwrap();
}

async fn take(
    stores: &TestStores,
    key: &str,
    quota: Quota,
    cost: u32,
    hold: Duration,
) -> RateDecision {
    stores
        .rate_limiter
        .take_in_window(key, quota, cost, hold)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_window_grants_the_limit_then_nothing_until_those_units_leave_it() {
    let stores = stores().await;
    let quota = Quota {
        limit: 3,
        period: Duration::from_millis(1200),
    };
    for expected_remaining in [2, 1, 0] {
        let decision = take(&stores, "client", quota, 1, Duration::ZERO).await;
        assert!(decision.allowed);
        assert_eq!(decision.limit, 3);
        assert_eq!(decision.remaining, expected_remaining);
        assert!(decision.reset_after <= Duration::from_millis(1220));
    }
    // A bucket would give one unit back after 400 ms; a window gives nothing back until the
    // whole period has passed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = take(&stores, "client", quota, 1, Duration::ZERO).await;
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert!(
        refused.retry_after > Duration::from_millis(300)
            && refused.retry_after <= Duration::from_millis(620),
        "retry_after {:?}",
        refused.retry_after
    );
    tokio::time::sleep(refused.retry_after + Duration::from_millis(50)).await;
    let back = take(&stores, "client", quota, 3, Duration::ZERO).await;
    assert!(back.allowed, "the whole quota is back a period later");
    assert_eq!(back.remaining, 0);
}

#[tokio::test]
async fn a_refused_take_costs_nothing_and_keys_are_independent() {
    let stores = stores().await;
    let quota = Quota::per_minute(4);
    assert!(take(&stores, "a", quota, 3, Duration::ZERO).await.allowed);
    for _ in 0..5 {
        let refused = take(&stores, "a", quota, 2, Duration::ZERO).await;
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 1);
    }
    assert!(take(&stores, "a", quota, 1, Duration::ZERO).await.allowed);
    assert!(!take(&stores, "a", quota, 1, Duration::ZERO).await.allowed);
    assert!(take(&stores, "b", quota, 4, Duration::ZERO).await.allowed);
    // The bucket of the same key is another thing entirely.
    assert!(
        stores
            .rate_limiter
            .acquire("a", quota, 4, 0)
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn held_units_keep_counting_for_a_period_after_their_hold() {
    let stores = stores().await;
    let quota = Quota {
        limit: 10,
        period: Duration::from_millis(600),
    };
    // A lease of 10 units that may be handed out for 500 ms.
    assert!(
        take(&stores, "k", quota, 10, Duration::from_millis(500))
            .await
            .allowed
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    // 800 ms > the period, but < hold + period: the units may have been used at 500 ms.
    let refused = take(&stores, "k", quota, 1, Duration::ZERO).await;
    assert!(!refused.allowed);
    assert!(
        refused.retry_after <= Duration::from_millis(320),
        "{:?}",
        refused.retry_after
    );
    tokio::time::sleep(refused.retry_after + Duration::from_millis(50)).await;
    assert!(take(&stores, "k", quota, 10, Duration::ZERO).await.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takes_grant_exactly_the_limit() {
    let stores = Arc::new(stores().await);
    let quota = Quota::per_minute(25);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let stores = Arc::clone(&stores);
            // Leases of 2 and single units, as instances would mix them.
            let cost = 1 + i % 2;
            tokio::spawn(async move {
                let decision = stores
                    .rate_limiter
                    .take_in_window(
                        "shared",
                        quota,
                        cost,
                        Duration::from_millis(u64::from(i % 2) * 100),
                    )
                    .await
                    .unwrap();
                if decision.allowed { cost } else { 0 }
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap();
    }
    assert!((24..=25).contains(&granted), "{granted} granted of 25");
}

#[tokio::test]
async fn reset_clears_the_window_too_and_an_invalid_window_is_an_internal_error() {
    let stores = stores().await;
    let quota = Quota::per_minute(1);
    assert!(take(&stores, "k", quota, 1, Duration::ZERO).await.allowed);
    stores.rate_limiter.reset("k").await.unwrap();
    assert!(take(&stores, "k", quota, 1, Duration::ZERO).await.allowed);
    let zero_limit = Quota {
        limit: 0,
        period: Duration::from_secs(1),
    };
    let result = stores
        .rate_limiter
        .take_in_window("k", zero_limit, 1, Duration::ZERO)
        .await;
    assert!(matches!(result, Err(Error::Internal { .. })), "{result:?}");
}
