//! The revocation contract: a token id is revoked for its TTL, then forgotten; the set is filled
//! in generations, so that losing it is seen as "not known complete", never as "nothing revoked".

use std::time::Duration;

use clinicgate_core::ports::{Generation, RevocationSet};

use super::{stores, stores_with_prefix};

/// Fills `set` (with nothing) and returns the generation made current.
pub(super) async fn filled(set: &dyn RevocationSet) -> Generation {
    let generation = set
        .begin_refill()
        .await
        .unwrap()
        .expect("no refill under way");
    assert!(set.refill(&generation, &[]).await.unwrap());
    assert!(set.complete_refill(&generation).await.unwrap());
    generation
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_until_its_ttl_passes() {
    let stores = stores().await;
    let revocations = &*stores.revocations;
    let generation = filled(revocations).await;
    assert!(!revocations.is_revoked(&generation, "tok-1").await.unwrap());

    revocations
        .revoke("tok-1", Duration::from_millis(400))
        .await
        .unwrap();
    assert!(revocations.is_revoked(&generation, "tok-1").await.unwrap());
    assert!(!revocations.is_revoked(&generation, "tok-2").await.unwrap());

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!revocations.is_revoked(&generation, "tok-1").await.unwrap());
}

#[tokio::test]
async fn revoking_twice_is_fine_and_the_latest_ttl_applies() {
    let stores = stores().await;
    let revocations = &*stores.revocations;
    let generation = filled(revocations).await;
    revocations
        .revoke("tok", Duration::from_millis(300))
        .await
        .unwrap();
    revocations
        .revoke("tok", Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(revocations.is_revoked(&generation, "tok").await.unwrap());
}

#[tokio::test]
async fn a_new_set_has_no_generation_until_a_refill_completes_with_what_it_copied() {
    let stores = stores().await;
    let revocations = &*stores.revocations;
    assert_eq!(revocations.generation().await.unwrap(), None);
    // Revoked while nothing is filled: not written anywhere (the database has it).
    revocations
        .revoke("before", Duration::from_secs(30))
        .await
        .unwrap();

    let generation = revocations.begin_refill().await.unwrap().unwrap();
    assert_eq!(revocations.generation().await.unwrap(), None);
    let copied = [("copied".to_owned(), Duration::from_secs(30))];
    assert!(revocations.refill(&generation, &copied).await.unwrap());
    assert!(revocations.complete_refill(&generation).await.unwrap());

    assert_eq!(
        revocations.generation().await.unwrap(),
        Some(generation.clone())
    );
    assert!(revocations.is_revoked(&generation, "copied").await.unwrap());
    assert!(!revocations.is_revoked(&generation, "before").await.unwrap());
}

#[tokio::test]
async fn a_revocation_made_during_a_refill_is_in_the_new_generation() {
    let stores = stores().await;
    let revocations = &*stores.revocations;
    let old = filled(revocations).await;
    let refill = revocations.begin_refill().await.unwrap().unwrap();
    assert_ne!(refill, old);
    // The refill read the database before this revocation reached it.
    revocations
        .revoke("late", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(revocations.is_revoked(&old, "late").await.unwrap());
    assert!(revocations.complete_refill(&refill).await.unwrap());
    assert!(revocations.is_revoked(&refill, "late").await.unwrap());
}

#[tokio::test]
async fn one_refill_runs_at_a_time_across_handles() {
    let prefix = super::fresh_prefix();
    let one = stores_with_prefix(&prefix).await;
    let two = stores_with_prefix(&prefix).await;
    let first = one.revocations.begin_refill().await.unwrap();
    assert!(first.is_some());
    let shared = super::redis_url().is_some();
    // Redis handles share the refill lease; in-process handles are separate deployments.
    assert_eq!(
        two.revocations.begin_refill().await.unwrap().is_none(),
        shared
    );
    assert!(one.revocations.begin_refill().await.unwrap().is_none());
}

#[tokio::test]
async fn an_invalidated_set_has_no_generation_and_the_next_starts_empty() {
    let stores = stores().await;
    let revocations = &*stores.revocations;
    let old = filled(revocations).await;
    revocations
        .revoke("tok", Duration::from_secs(30))
        .await
        .unwrap();
    revocations.invalidate().await.unwrap();
    assert_eq!(revocations.generation().await.unwrap(), None);

    let new = filled(revocations).await;
    assert_ne!(new, old);
    assert!(!revocations.is_revoked(&new, "tok").await.unwrap());
}

#[tokio::test]
async fn a_set_whose_store_lost_its_data_has_no_generation_and_its_refill_cannot_complete() {
    let stores = stores().await;
    let revocations = &*stores.revocations;
    let generation = filled(revocations).await;
    revocations
        .revoke("tok", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(revocations.is_revoked(&generation, "tok").await.unwrap());
    let refill = revocations.begin_refill().await.unwrap().unwrap();
    if !stores.lose_everything() {
        // In-process state is lost only with its process.
        return;
    }
    // This process mirrors the key until Redis's invalidation message arrives: moments.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while revocations.generation().await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the loss was never seen"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!revocations.refill(&refill, &[]).await.unwrap());
    assert!(!revocations.complete_refill(&refill).await.unwrap());
    assert_eq!(revocations.generation().await.unwrap(), None);
}
