//! What the choice of backend means for several instances: Redis handles with the same key
//! prefix share state (that is what Redis is for); in-process handles never do; different
//! prefixes never do. Also: a Redis that cannot be reached is reported without its URL.

use std::time::{Duration, Instant};

use clinicgate_adapters::stores::{StoreConfig, build_shared_state};
use clinicgate_core::Error;
use clinicgate_core::ports::Quota;

use super::{fresh_prefix, redis_url, stores, stores_with_prefix};

#[tokio::test]
async fn two_handles_share_state_exactly_when_both_are_redis_with_the_same_prefix() {
    let prefix = fresh_prefix();
    let one = stores_with_prefix(&prefix).await;
    let two = stores_with_prefix(&prefix).await;
    let stranger = stores().await;

    let generation = super::revocation::filled(&*one.revocations).await;
    one.revocations
        .revoke("tok", Duration::from_secs(30))
        .await
        .unwrap();
    one.cache
        .set("k", b"v", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        one.rate_limiter
            .acquire("k", Quota::per_minute(1), 1, 0)
            .await
            .unwrap()
            .allowed
    );

    let shared = redis_url().is_some();
    assert_eq!(
        one.handle.probe.backend(),
        if shared { "redis" } else { "in-process" }
    );
    assert_eq!(
        two.revocations.generation().await.unwrap(),
        shared.then(|| generation.clone())
    );
    if shared {
        assert!(
            two.revocations
                .is_revoked(&generation, "tok")
                .await
                .unwrap()
        );
    }
    assert_eq!(two.cache.get("k").await.unwrap().is_some(), shared);
    assert_eq!(
        two.rate_limiter
            .acquire("k", Quota::per_minute(1), 1, 0)
            .await
            .unwrap()
            .allowed,
        !shared
    );

    // Another prefix is another deployment: nothing is shared, on either backend.
    assert_eq!(stranger.revocations.generation().await.unwrap(), None);
    assert_eq!(stranger.cache.get("k").await.unwrap(), None);
}

#[tokio::test]
async fn the_probe_names_the_selected_backend_and_answers_pings() {
    let stores = stores().await;
    let expected = if redis_url().is_some() {
        "redis"
    } else {
        "in-process"
    };
    assert_eq!(stores.handle.probe.backend(), expected);
    stores.handle.probe.ping().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_quickly_and_its_url_is_never_shown() {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let config = StoreConfig {
        redis_url: Some("redis://:hunter2-secret@127.0.0.1:1/0".to_owned().into()),
        key_prefix: fresh_prefix(),
    };
    assert!(!format!("{config:?}").contains("hunter2"));

    let started = Instant::now();
    let err = build_shared_state(&config).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            Error::Unavailable {
                dependency: "shared store"
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains("hunter2"));
}

#[tokio::test]
async fn printing_a_handle_shows_neither_the_redis_url_nor_anything_stored() {
    let stores = stores().await;
    stores
        .cache
        .set("k", b"cached-value-xyz", Duration::from_secs(30))
        .await
        .unwrap();

    let printed = format!("{:?}", stores.handle);
    assert!(printed.contains("cache"), "{printed}");
    for hidden in ["cached-value-xyz", "127.0.0.1", "redis://"] {
        assert!(!printed.contains(hidden), "{hidden} shown in {printed}");
    }
}
