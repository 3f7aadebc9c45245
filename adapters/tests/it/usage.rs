//! The usage counters on the backend the environment selects: two instances' flushes of the same
//! clinic, client and minute add up (neither overwrites the other), reads are one clinic's and,
//! when asked, one client's, and buckets past their retention are pruned.

use chrono::{DurationRound as _, TimeDelta, Utc};
use clinicgate_adapters::usage::SeaUsageStore;
use clinicgate_core::ids::TenantId;
use clinicgate_core::tokens::ClientId;
use clinicgate_core::usage::{UsageBucket, UsageCounts, UsageStore as _};

use crate::backends::{clinic, migrated_database};

fn bucket(
    tenant: TenantId,
    client: Option<&ClientId>,
    minutes_ago: i64,
    counts: UsageCounts,
) -> UsageBucket {
    let minute =
        Utc::now().duration_trunc(TimeDelta::minutes(1)).unwrap() - TimeDelta::minutes(minutes_ago);
    UsageBucket {
        tenant_id: tenant,
        client_id: client.cloned(),
        minute,
        counts,
    }
}

fn requests(requests: u64, rate_limited: u64) -> UsageCounts {
    UsageCounts {
        requests,
        client_errors: rate_limited,
        rate_limited,
        ..UsageCounts::default()
    }
}

#[tokio::test]
async fn flushes_of_two_instances_add_up_and_reads_stay_in_the_clinic() {
    let (_database, db) = migrated_database().await;
    let harbour = clinic(&db, "harbour").await;
    let ridge = clinic(&db, "ridge").await;
    let partner = ClientId::generate();
    let other = ClientId::generate();
    let one = SeaUsageStore::new(db.clone());
    let two = SeaUsageStore::new(db.clone());

    one.add(&[
        bucket(harbour, Some(&partner), 0, requests(3, 1)),
        bucket(harbour, Some(&other), 0, requests(1, 0)),
        bucket(
            harbour,
            None,
            0,
            UsageCounts {
                cliniko_background: 2,
                ..UsageCounts::default()
            },
        ),
        bucket(ridge, Some(&partner), 0, requests(7, 0)),
    ])
    .await
    .unwrap();
    two.add(&[bucket(harbour, Some(&partner), 0, requests(2, 2))])
        .await
        .unwrap();

    let from = Utc::now() - TimeDelta::hours(1);
    let to = Utc::now() + TimeDelta::minutes(1);
    let read = one.read(harbour, from, to, None).await.unwrap();
    assert_eq!(read.len(), 3, "{read:?}");
    assert!(read.iter().all(|b| b.tenant_id == harbour));
    let partners = one.read(harbour, from, to, Some(&partner)).await.unwrap();
    assert_eq!(partners.len(), 1);
    assert_eq!(partners[0].counts, requests(5, 3), "both flushes counted");
    let clinic_own = read.iter().find(|b| b.client_id.is_none()).unwrap();
    assert_eq!(clinic_own.counts.cliniko_background, 2);
}

#[tokio::test]
async fn buckets_older_than_the_retention_are_pruned() {
    let (_database, db) = migrated_database().await;
    let harbour = clinic(&db, "harbour").await;
    let partner = ClientId::generate();
    let store = SeaUsageStore::new(db.clone());
    store
        .add(&[
            bucket(harbour, Some(&partner), 0, requests(1, 0)),
            bucket(harbour, Some(&partner), 31 * 24 * 60, requests(1, 0)),
        ])
        .await
        .unwrap();

    let pruned = store
        .prune(Utc::now() - clinicgate_core::usage::RETENTION)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let left = store
        .read(
            harbour,
            Utc::now() - TimeDelta::days(40),
            Utc::now() + TimeDelta::minutes(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
}
