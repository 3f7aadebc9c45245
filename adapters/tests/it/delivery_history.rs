//! A target's delivery history on the backend the environment selects: pages newest first with
//! their attempts, keyset by `before`, filtered by status and event type; resending queues the
//! same event again unless it is past its retention; recovery queues every retained event since a
//! moment, oldest first, up to a bound; and nothing crosses clinics or targets.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{SubsecRound as _, TimeDelta, Utc};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_core::delivery::{
    AttemptRecord, AttemptResult, DeliveryHistory as _, DeliveryQueue as _, DeliveryStatus,
    EventId, HistoryFilter, Next, OutboundKind, Resend, StatusCounts, StoredEvent, Target,
};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SealedSecret;

use crate::backends::{clinic, migrated_database};

fn event(tenant: TenantId, event_type: EventType, age: TimeDelta) -> StoredEvent {
    let occurred_at = (Utc::now() - age).trunc_subsecs(6);
    StoredEvent {
        id: EventId::new(),
        tenant_id: tenant,
        event_type,
        occurred_at,
        data: SealedSecret {
            ciphertext: vec![1, 2, 3],
            key_version: 1,
        },
        expires_at: occurred_at + TimeDelta::days(30),
    }
}

fn webhook() -> Target {
    Target {
        kind: OutboundKind::Webhook,
        id: uuid::Uuid::now_v7(),
    }
}

fn all() -> HistoryFilter {
    HistoryFilter::default()
}

#[tokio::test]
async fn pages_are_newest_first_with_attempts_and_filters_and_stay_in_their_target() {
    let (_guard, db) = migrated_database().await;
    let (tenant, other) = (clinic(&db, "harbour").await, clinic(&db, "other").await);
    let queue = SeaDeliveryQueue::new(db);
    let (target, elsewhere) = (webhook(), webhook());
    let mut ids = Vec::new();
    for event_type in [
        EventType::AppointmentCreated,
        EventType::PatientCreated,
        EventType::AppointmentCreated,
    ] {
        let stored = event(tenant, event_type, TimeDelta::minutes(1));
        ids.push(queue.append(&stored, &[target, elsewhere]).await.unwrap()[0]);
        // Distinct creation times, so the order is the creation order on both backends.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The oldest is tried and fails for good.
    let claimed = queue
        .claim(
            Utc::now() + TimeDelta::seconds(1),
            Duration::from_secs(30),
            10,
        )
        .await
        .unwrap();
    let oldest = claimed.iter().find(|c| c.delivery.id == ids[0]).unwrap();
    let attempt = AttemptRecord {
        attempted_at: Utc::now().trunc_subsecs(6),
        result: AttemptResult::Answered {
            status: 410,
            retry_after: None,
        },
        latency: Duration::from_millis(42),
        response_excerpt: Some("gone".into()),
    };
    assert!(queue.record(oldest, &attempt, Next::Failed).await.unwrap());

    let page = queue.page(tenant, target, all(), 10).await.unwrap();
    let listed: Vec<_> = page.iter().map(|r| r.delivery.id).collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]]);
    assert_eq!(page[1].event_type, EventType::PatientCreated);
    assert_eq!(page[2].delivery.status, DeliveryStatus::Failed);
    assert_eq!(page[2].attempts, [attempt]);
    assert!(page[0].attempts.is_empty());

    // Keyset: two, then the rest after the second.
    let first = queue.page(tenant, target, all(), 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = HistoryFilter {
        before: Some(first[1].delivery.id),
        ..all()
    };
    let second = queue.page(tenant, target, rest, 2).await.unwrap();
    assert_eq!(
        second.iter().map(|r| r.delivery.id).collect::<Vec<_>>(),
        [ids[0]]
    );

    let failed = HistoryFilter {
        status: Some(DeliveryStatus::Failed),
        ..all()
    };
    assert_eq!(
        queue.page(tenant, target, failed, 10).await.unwrap().len(),
        1
    );
    let patients = HistoryFilter {
        event_type: Some(EventType::PatientCreated),
        ..all()
    };
    let only = queue.page(tenant, target, patients, 10).await.unwrap();
    assert_eq!(
        only.iter().map(|r| r.delivery.id).collect::<Vec<_>>(),
        [ids[1]]
    );

    let counts = queue
        .counts_since(
            tenant,
            OutboundKind::Webhook,
            Utc::now() - TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(
        counts[&target.id],
        StatusCounts {
            pending: 2,
            delivered: 0,
            failed: 1
        }
    );
    assert_eq!(counts[&elsewhere.id].pending, 3);
    for (clinic, since) in [
        (tenant, Utc::now() + TimeDelta::hours(1)),
        (other, Utc::now() - TimeDelta::hours(1)),
    ] {
        let none = queue
            .counts_since(clinic, OutboundKind::Webhook, since)
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    assert!(
        queue
            .page(other, target, all(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        queue
            .page(tenant, webhook(), all(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A cursor of another target's delivery reads nothing rather than someone else's order.
    let foreign = HistoryFilter {
        before: Some(
            queue.page(tenant, elsewhere, all(), 1).await.unwrap()[0]
                .delivery
                .id,
        ),
        ..all()
    };
    assert!(
        queue
            .page(tenant, target, foreign, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_resend_queues_the_same_event_again_unless_it_is_past_its_retention() {
    let (_guard, db) = migrated_database().await;
    let (tenant, other) = (clinic(&db, "harbour").await, clinic(&db, "other").await);
    let queue = SeaDeliveryQueue::new(db);
    let target = webhook();
    let stored = event(tenant, EventType::AppointmentCreated, TimeDelta::minutes(1));
    let original = queue.append(&stored, &[target]).await.unwrap()[0];

    let now = Utc::now();
    assert_eq!(
        queue.resend(other, target, original, now).await.unwrap(),
        None
    );
    assert_eq!(
        queue
            .resend(tenant, webhook(), original, now)
            .await
            .unwrap(),
        None
    );
    let Some(Resend::Queued(again)) = queue.resend(tenant, target, original, now).await.unwrap()
    else {
        panic!("queued again")
    };
    assert_ne!(again, original);
    let page = queue.page(tenant, target, all(), 10).await.unwrap();
    assert_eq!(page[0].delivery.id, again);
    assert_eq!(page[0].delivery.event_id, stored.id);
    assert_eq!(page[0].delivery.status, DeliveryStatus::Pending);
    assert_eq!(page[0].delivery.attempts, 0);
    let due = queue
        .claim(now + TimeDelta::seconds(1), Duration::from_secs(30), 10)
        .await
        .unwrap();
    assert!(due.iter().any(|c| c.delivery.id == again), "due at once");

    let after_retention = stored.expires_at + TimeDelta::seconds(1);
    assert_eq!(
        queue
            .resend(tenant, target, original, after_retention)
            .await
            .unwrap(),
        Some(Resend::BeyondRetention)
    );
}

#[tokio::test]
async fn a_recovery_queues_every_retained_event_since_a_moment_oldest_first_up_to_a_bound() {
    let (_guard, db) = migrated_database().await;
    let (tenant, other) = (clinic(&db, "harbour").await, clinic(&db, "other").await);
    let queue = SeaDeliveryQueue::new(db);
    let target = webhook();
    // Published before the endpoint existed: no delivery to it yet.
    let old = event(tenant, EventType::AppointmentCreated, TimeDelta::hours(3));
    let mut recent = Vec::new();
    for minutes in [50, 40, 30] {
        recent.push(event(
            tenant,
            EventType::AppointmentCreated,
            TimeDelta::minutes(minutes),
        ));
    }
    let patient = event(tenant, EventType::PatientCreated, TimeDelta::minutes(20));
    let foreign = event(other, EventType::AppointmentCreated, TimeDelta::minutes(10));
    for stored in [&old, &recent[0], &recent[1], &recent[2], &patient, &foreign] {
        queue.append(stored, &[]).await.unwrap();
    }
    let appointments: BTreeSet<_> = [EventType::AppointmentCreated].into_iter().collect();
    let since = Utc::now() - TimeDelta::hours(1);
    let now = Utc::now();

    let bounded = queue
        .recover(tenant, target, &appointments, since, now, 2)
        .await
        .unwrap();
    assert_eq!((bounded.count, bounded.truncated), (2, true));
    let queued: Vec<_> = queue
        .page(tenant, target, all(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.delivery.event_id)
        .collect();
    let mut expected = vec![recent[0].id, recent[1].id];
    expected.sort();
    let mut sorted = queued.clone();
    sorted.sort();
    assert_eq!(
        sorted, expected,
        "the oldest two, of this clinic and type only"
    );

    let target = webhook();
    let whole = queue
        .recover(tenant, target, &appointments, since, now, 10_000)
        .await
        .unwrap();
    assert_eq!((whole.count, whole.truncated), (3, false));
    let everything: BTreeSet<_> = [EventType::AppointmentCreated, EventType::PatientCreated]
        .into_iter()
        .collect();
    let past_retention = old.expires_at + TimeDelta::seconds(1);
    let expired = queue
        .recover(
            tenant,
            webhook(),
            &everything,
            old.occurred_at,
            past_retention,
            10,
        )
        .await
        .unwrap();
    assert_eq!(expired.count, 4, "the expired event is not sent again");
    let none = queue
        .recover(tenant, webhook(), &BTreeSet::new(), since, now, 10)
        .await
        .unwrap();
    assert_eq!((none.count, none.truncated), (0, false));
}
