//! The cache contract: TTLs, replacement, deletion, and `set_if_absent` as a lock.

use std::sync::Arc;
use std::time::Duration;

use super::stores;

#[tokio::test]
async fn a_cached_value_is_returned_until_its_ttl_passes() {
    let stores = stores().await;
    stores
        .cache
        .set("practitioners", b"[1,2]", Duration::from_millis(400))
        .await
        .unwrap();
    assert_eq!(
        stores.cache.get("practitioners").await.unwrap().as_deref(),
        Some(&b"[1,2]"[..])
    );
    assert_eq!(stores.cache.get("someone-else").await.unwrap(), None);

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(stores.cache.get("practitioners").await.unwrap(), None);
}

#[tokio::test]
async fn a_zero_ttl_keeps_the_value_for_a_moment_only_never_forever() {
    let stores = stores().await;
    stores
        .cache
        .set("brief", b"x", Duration::ZERO)
        .await
        .unwrap();
    assert!(
        stores
            .cache
            .set_if_absent("brief-lock", b"x", Duration::ZERO)
            .await
            .unwrap()
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stores.cache.get("brief").await.unwrap(), None);
    assert_eq!(stores.cache.get("brief-lock").await.unwrap(), None);
}

#[tokio::test]
async fn set_replaces_a_value_and_its_ttl_and_delete_removes_it() {
    let stores = stores().await;
    stores
        .cache
        .set("k", b"old", Duration::from_millis(300))
        .await
        .unwrap();
    stores
        .cache
        .set("k", b"new", Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    // The second set restarted the TTL as well as replacing the value.
    assert_eq!(
        stores.cache.get("k").await.unwrap().as_deref(),
        Some(&b"new"[..])
    );

    stores.cache.delete("k").await.unwrap();
    assert_eq!(stores.cache.get("k").await.unwrap(), None);
    stores.cache.delete("never-there").await.unwrap();
}

#[tokio::test]
async fn values_are_bytes_and_come_back_unchanged() {
    let stores = stores().await;
    let value: Vec<u8> = (0..=255).collect();
    stores
        .cache
        .set("bytes", &value, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(stores.cache.get("bytes").await.unwrap(), Some(value));
    stores
        .cache
        .set("empty", b"", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(stores.cache.get("empty").await.unwrap(), Some(Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_if_absent_lets_exactly_one_of_many_concurrent_callers_win() {
    let stores = Arc::new(stores().await);
    let tasks: Vec<_> = (0..32_u8)
        .map(|n| {
            let stores = Arc::clone(&stores);
            tokio::spawn(async move {
                let won = stores
                    .cache
                    .set_if_absent("booking:slot-7", &[n], Duration::from_secs(30))
                    .await
                    .unwrap();
                won.then_some(n)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    // The stored value is the winner's, untouched by the losers.
    assert_eq!(
        stores.cache.get("booking:slot-7").await.unwrap(),
        Some(winners)
    );
}

#[tokio::test]
async fn set_if_absent_succeeds_again_once_the_holder_expires_or_is_deleted() {
    let stores = stores().await;
    let cache = &stores.cache;
    assert!(
        cache
            .set_if_absent("lock", b"a", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert!(
        !cache
            .set_if_absent("lock", b"b", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert_eq!(cache.get("lock").await.unwrap().as_deref(), Some(&b"a"[..]));

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        cache
            .set_if_absent("lock", b"c", Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert_eq!(cache.get("lock").await.unwrap().as_deref(), Some(&b"c"[..]));

    cache.delete("lock").await.unwrap();
    assert!(
        cache
            .set_if_absent("lock", b"d", Duration::from_secs(30))
            .await
            .unwrap()
    );
}
