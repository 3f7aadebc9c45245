//! The revocation contract: a token id is revoked for its TTL, then forgotten.

use std::time::Duration;

use super::stores;

#[tokio::test]
async fn a_revoked_token_stays_revoked_until_its_ttl_passes() {
    let stores = stores().await;
    let revocations = &stores.revocations;
    assert!(!revocations.is_revoked("tok-1").await.unwrap());

    revocations
        .revoke("tok-1", Duration::from_millis(400))
        .await
        .unwrap();
    assert!(revocations.is_revoked("tok-1").await.unwrap());
    assert!(!revocations.is_revoked("tok-2").await.unwrap());

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!revocations.is_revoked("tok-1").await.unwrap());
}

#[tokio::test]
async fn revoking_twice_is_fine_and_the_latest_ttl_applies() {
    let stores = stores().await;
    let revocations = &stores.revocations;
    revocations
        .revoke("tok", Duration::from_millis(300))
        .await
        .unwrap();
    revocations
        .revoke("tok", Duration::from_secs(30))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(revocations.is_revoked("tok").await.unwrap());
}
