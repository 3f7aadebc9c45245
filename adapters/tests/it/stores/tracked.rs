//! Tracked reads (Redis only): revocation checks and cache reads are answered in-process until
//! Redis reports that the key changed, whoever changed it; a lost tracking connection never
//! leaves a stale value behind. In-process stores have nothing to track (`tracked_reads` is
//! `None`), which is checked too.

use std::future::Future;
use std::time::{Duration, Instant};

use clinicgate_adapters::stores::tracking_connection_name;

use super::{TestStores, fresh_prefix, redis_url, stores_with_prefix};

/// How long a change made elsewhere may take to arrive: Redis pushes it at once, so this only
/// absorbs a loaded machine's scheduling.
const ARRIVAL: Duration = Duration::from_secs(2);

/// Polls `read` until it returns `expected`, for up to [`ARRIVAL`].
async fn eventually<T, F, Fut>(expected: T, mut read: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let value = read().await;
        if value == expected {
            return;
        }
        assert!(
            started.elapsed() < ARRIVAL,
            "still {value:?} after {ARRIVAL:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn local_reads(stores: &TestStores) -> u64 {
    stores.handle.probe.tracked_reads().map_or(0, |s| s.local)
}

#[tokio::test]
async fn repeated_reads_are_answered_here_until_another_instance_writes() {
    let prefix = fresh_prefix();
    let one = stores_with_prefix(&prefix).await;
    let two = stores_with_prefix(&prefix).await;
    if redis_url().is_none() {
        assert_eq!(one.handle.probe.tracked_reads(), None);
        return;
    }
    let ttl = Duration::from_secs(30);
    one.cache.set("k", b"v1", ttl).await.unwrap();
    assert_eq!(
        one.cache.get("k").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    let before = local_reads(&one);
    assert_eq!(
        one.cache.get("k").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(local_reads(&one), before + 1, "the second read stayed here");

    two.cache.set("k", b"v2", ttl).await.unwrap();
    eventually(Some(b"v2".to_vec()), || async {
        one.cache.get("k").await.unwrap()
    })
    .await;
    two.cache.delete("k").await.unwrap();
    eventually(None, || async { one.cache.get("k").await.unwrap() }).await;

    // An absent key is remembered too, and its creation is reported.
    let generation = super::revocation::filled(&*one.revocations).await;
    assert!(
        !one.revocations
            .is_revoked(&generation, "tok")
            .await
            .unwrap()
    );
    let before = local_reads(&one);
    assert!(
        !one.revocations
            .is_revoked(&generation, "tok")
            .await
            .unwrap()
    );
    assert_eq!(local_reads(&one), before + 1);
    two.revocations.revoke("tok", ttl).await.unwrap();
    eventually(true, || async {
        one.revocations
            .is_revoked(&generation, "tok")
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn an_instance_reads_its_own_writes_at_once() {
    let stores = stores_with_prefix(&fresh_prefix()).await;
    let ttl = Duration::from_secs(30);
    for round in 0..20_u8 {
        stores.cache.set("k", &[round], ttl).await.unwrap();
        assert_eq!(stores.cache.get("k").await.unwrap(), Some(vec![round]));
        assert_eq!(stores.cache.get("k").await.unwrap(), Some(vec![round]));
    }
    let generation = super::revocation::filled(&*stores.revocations).await;
    assert!(
        !stores
            .revocations
            .is_revoked(&generation, "tok")
            .await
            .unwrap()
    );
    stores.revocations.revoke("tok", ttl).await.unwrap();
    assert!(
        stores
            .revocations
            .is_revoked(&generation, "tok")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_lost_tracking_connection_leaves_nothing_stale() {
    let Some(url) = redis_url() else {
        return;
    };
    let prefix = fresh_prefix();
    let stores = stores_with_prefix(&prefix).await;
    let ttl = Duration::from_secs(30);
    stores.cache.set("k", b"old", ttl).await.unwrap();
    stores.cache.get("k").await.unwrap();
    let before = local_reads(&stores);
    assert_eq!(
        stores.cache.get("k").await.unwrap().as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(local_reads(&stores), before + 1);

    // Kill the tracking connection, then change the key while nobody tracks it for us: no
    // invalidation can reach this instance, so only forgetting on disconnection helps.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut raw)
        .await
        .unwrap();
    let name = format!("name={}", tracking_connection_name(&prefix));
    let ids: Vec<&str> = clients
        .lines()
        .filter(|line| line.split(' ').any(|field| field == name))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(ids.len(), 1, "one tracking connection per store: {clients}");
    let killed: u64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(ids[0])
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:cache:k"))
        .arg("new")
        .query_async(&mut raw)
        .await
        .unwrap();

    eventually(Some(b"new".to_vec()), || async {
        stores.cache.get("k").await.unwrap()
    })
    .await;
    // A new connection tracks again: reads stay here once more.
    stores.cache.get("k").await.unwrap();
    let before = local_reads(&stores);
    stores.cache.get("k").await.unwrap();
    assert_eq!(local_reads(&stores), before + 1);
}
