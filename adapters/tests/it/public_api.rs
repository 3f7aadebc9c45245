//! The public API's write safety in the database: slot claims (one holder at a time, expired
//! claims replaced) and idempotency records (atomic claim, replay, release, expiry and pruning),
//! on SQLite or PostgreSQL as selected.

use std::time::Duration;

use chrono::Utc;
use clinicgate_adapters::booking_claims::SeaSlotClaims;
use clinicgate_adapters::idempotency::SeaIdempotencyRepository;
use clinicgate_core::booking::{SlotClaims as _, SlotKey};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::idempotency::{
    Claimed, ExistingRecord, Fingerprint, IdempotencyKey, IdempotencyRepository as _,
    IdempotencyScope,
};
use clinicgate_core::secrets::SealedSecret;

use crate::backends::{clinic, migrated_database};

fn slot() -> SlotKey {
    SlotKey {
        clinic_id: ClinikoId::parse("836447129235883061").unwrap(),
        doctor_id: ClinikoId::parse("836447129235883062").unwrap(),
        starts_at: "2030-05-21T08:45:00Z".parse().unwrap(),
    }
}

#[tokio::test]
async fn of_many_concurrent_claims_on_a_slot_exactly_one_wins_and_an_expired_claim_is_replaced() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let other = clinic(&db, "thames").await;
    let claims = SeaSlotClaims::new(db.clone());
    let ttl = Duration::from_secs(60);
    let attempts = (0..8).map(|_| {
        let claims = claims.clone();
        async move { claims.claim(tenant, &slot(), ttl).await.unwrap() }
    });
    let won = futures::future::join_all(attempts).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    assert!(
        claims.claim(other, &slot(), ttl).await.unwrap(),
        "claims are per clinic"
    );

    claims.release(tenant, &slot()).await.unwrap();
    assert!(
        claims
            .claim(tenant, &slot(), Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        claims.claim(tenant, &slot(), ttl).await.unwrap(),
        "an expired claim no longer blocks its slot"
    );
}

#[tokio::test]
async fn an_idempotency_record_is_claimed_once_replayed_released_and_expires() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let records = SeaIdempotencyRepository::new(db.clone());
    let scope = IdempotencyScope {
        tenant,
        client: "cgcl_partner".into(),
        key: IdempotencyKey::parse("key-1").unwrap(),
    };
    let print = Fingerprint::of(
        "POST",
        "/api/public/appointments",
        &serde_json::json!({"a": 1}),
    );
    let now = Utc::now();
    let hour = chrono::Duration::hours(1);
    let claim = |lease, expires| {
        let records = records.clone();
        let scope = scope.clone();
        let print = print.clone();
        async move {
            records
                .claim(&scope, &print, Utc::now(), lease, expires)
                .await
                .unwrap()
        }
    };
    let (a, b) = tokio::join!(claim(now + hour, now + hour), claim(now + hour, now + hour));
    let outcomes = [a, b];
    assert_eq!(
        outcomes.iter().filter(|c| **c == Claimed::Acquired).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Claimed::Existing(ExistingRecord::InProgress {
            fingerprint: print.clone()
        }))
    );

    let body = SealedSecret {
        ciphertext: vec![1, 2, 3],
        key_version: 1,
    };
    records.complete(&scope, 201, &body).await.unwrap();
    assert_eq!(
        claim(now + hour, now + hour).await,
        Claimed::Existing(ExistingRecord::Completed {
            fingerprint: print.clone(),
            status: 201,
            body: body.clone()
        })
    );
    records.release(&scope).await.unwrap();
    assert!(
        matches!(claim(now + hour, now + hour).await, Claimed::Existing(_)),
        "a finished record is not released"
    );

    // Expired: ignored by the next claim, and pruned.
    let stale = IdempotencyScope {
        key: IdempotencyKey::parse("key-2").unwrap(),
        ..scope.clone()
    };
    let past = now - hour;
    assert_eq!(
        records
            .claim(&stale, &print, past - hour, past, past)
            .await
            .unwrap(),
        Claimed::Acquired
    );
    assert_eq!(
        records
            .claim(&stale, &print, now, now + hour, now + hour)
            .await
            .unwrap(),
        Claimed::Acquired,
        "an expired record is replaced"
    );
    let older = IdempotencyScope {
        key: IdempotencyKey::parse("key-3").unwrap(),
        ..scope.clone()
    };
    records
        .claim(&older, &print, past - hour, past, past)
        .await
        .unwrap();
    assert_eq!(records.prune(now).await.unwrap(), 1);

    // An in-progress record whose lease ended (its instance died) is taken over.
    let abandoned = IdempotencyScope {
        key: IdempotencyKey::parse("key-4").unwrap(),
        ..scope
    };
    records
        .claim(&abandoned, &print, past, past, now + hour)
        .await
        .unwrap();
    assert_eq!(
        records
            .claim(&abandoned, &print, now, now + hour, now + hour)
            .await
            .unwrap(),
        Claimed::Acquired
    );
}
