//! The durable delivery queue on the backend the environment selects: an event's deliveries are
//! claimed by one worker at a time, a worker that died is taken over when its lease runs out, a
//! late worker cannot overwrite the attempt of the one that took over, and one clinic never sees
//! another's deliveries.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::notifications::SeaNotificationRepository;
use clinicgate_core::delivery::{
    AttemptRecord, AttemptResult, Attempted, DeliveryQueue as _, DeliveryStatus, EventId, Next,
    OutboundKind, StoredEvent, Target, TransportFailure,
};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::notifications::{NotificationRepository as _, NotificationRuleId, QueueKey};
use clinicgate_core::secrets::SealedSecret;

use crate::backends::{clinic, migrated_database};

fn event(tenant: TenantId) -> StoredEvent {
    // PostgreSQL keeps microseconds: an event read back equals the one written at that precision.
    let now = Utc::now().trunc_subsecs(6);
    StoredEvent {
        id: EventId::new(),
        tenant_id: tenant,
        event_type: EventType::AppointmentCreated,
        occurred_at: now,
        data: SealedSecret {
            ciphertext: vec![1, 2, 3],
            key_version: 1,
        },
        expires_at: now + chrono::Duration::days(30),
    }
}

fn webhook() -> Target {
    Target {
        kind: OutboundKind::Webhook,
        id: uuid::Uuid::now_v7(),
    }
}

fn answered(status: u16, at: DateTime<Utc>) -> AttemptRecord {
    AttemptRecord {
        attempted_at: at,
        result: AttemptResult::Answered {
            status,
            retry_after: None,
        },
        latency: Duration::from_millis(12),
        response_excerpt: Some("ok".into()),
    }
}

const LEASE: Duration = Duration::from_secs(30);

/// A moment safely after everything appended so far is due.
fn soon() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(1)
}

#[tokio::test]
async fn an_events_deliveries_are_claimed_once_retried_when_due_and_logged() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let queue = SeaDeliveryQueue::new(db);
    let (first, second) = (webhook(), webhook());
    let stored = event(tenant);
    let ids = queue.append(&stored, &[first, second]).await.unwrap();
    assert_eq!(ids.len(), 2);

    let claimed = queue.claim(soon(), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.event == stored));
    assert!(
        queue.claim(soon(), LEASE, 10).await.unwrap().is_empty(),
        "held deliveries are not claimed again"
    );

    let now = Utc::now();
    let (delivered, retried) = if claimed[0].delivery.target == first {
        (&claimed[0], &claimed[1])
    } else {
        (&claimed[1], &claimed[0])
    };
    assert!(
        queue
            .record(delivered, &answered(204, now), Next::Delivered)
            .await
            .unwrap()
    );
    let timeout = AttemptRecord {
        attempted_at: now,
        result: AttemptResult::Failed(TransportFailure::Timeout),
        latency: Duration::from_secs(15),
        response_excerpt: None,
    };
    let due = now + chrono::Duration::seconds(5);
    assert!(
        queue
            .record(retried, &timeout, Next::RetryAt(due))
            .await
            .unwrap()
    );

    assert!(queue.claim(soon(), LEASE, 10).await.unwrap().is_empty());
    let again = queue
        .claim(due + chrono::Duration::seconds(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].delivery.id, retried.delivery.id);
    assert_eq!(again[0].delivery.attempts, 1);
    assert!(
        queue
            .record(&again[0], &answered(410, Utc::now()), Next::Failed)
            .await
            .unwrap()
    );

    let listed = queue.deliveries(tenant, second, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Failed);
    assert_eq!(listed[0].attempts, 2);
    assert!(listed[0].finished_at.is_some());
    let log = queue.attempts(tenant, retried.delivery.id).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].result, timeout.result);
    assert_eq!(log[0].latency, Duration::from_secs(15));
    assert_eq!(
        log[1].result,
        AttemptResult::Answered {
            status: 410,
            retry_after: None
        }
    );
    let done = queue.deliveries(tenant, first, 10).await.unwrap();
    assert_eq!(done[0].status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn a_dead_workers_delivery_is_taken_over_and_its_late_attempt_is_not_recorded() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let queue = SeaDeliveryQueue::new(db);
    let target = webhook();
    queue.append(&event(tenant), &[target]).await.unwrap();

    let now = soon();
    let dead = queue
        .claim(now, Duration::from_secs(2), 10)
        .await
        .unwrap()
        .remove(0);
    assert!(
        queue
            .claim(now + chrono::Duration::seconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let successor = queue
        .claim(now + chrono::Duration::seconds(3), LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(successor.delivery.id, dead.delivery.id);
    assert_ne!(successor.lease, dead.lease);

    assert!(
        !queue
            .record(&dead, &answered(500, Utc::now()), Next::Failed)
            .await
            .unwrap(),
        "the claim was lost"
    );
    assert!(
        queue
            .record(&successor, &answered(200, Utc::now()), Next::Delivered)
            .await
            .unwrap()
    );
    let listed = queue.deliveries(tenant, target, 10).await.unwrap();
    assert_eq!(listed[0].status, DeliveryStatus::Delivered);
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(
        queue
            .attempts(tenant, dead.delivery.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_batch_of_attempts_is_recorded_together_except_the_one_whose_claim_was_lost() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let queue = SeaDeliveryQueue::new(db);
    let targets: Vec<Target> = (0..3).map(|_| webhook()).collect();
    queue.append(&event(tenant), &targets).await.unwrap();

    let now = soon();
    let mut claimed = queue.claim(now, Duration::from_secs(2), 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    // The first delivery's lease runs out and another worker takes it over.
    let taken_over = queue
        .claim(now + chrono::Duration::seconds(3), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    let lost = claimed
        .iter()
        .position(|c| c.delivery.id == taken_over.delivery.id)
        .unwrap();
    let due = Utc::now() + chrono::Duration::minutes(5);
    let attempted: Vec<Attempted> = claimed
        .drain(..)
        .enumerate()
        .map(|(i, claimed)| Attempted {
            claimed,
            attempt: answered(if i == 1 { 503 } else { 204 }, Utc::now()),
            next: if i == 1 {
                Next::RetryAt(due)
            } else {
                Next::Delivered
            },
        })
        .collect();

    let recorded = queue.record_all(&attempted).await.unwrap();
    for (i, recorded) in recorded.iter().enumerate() {
        assert_eq!(*recorded, i != lost, "attempt {i} (lost: {lost})");
    }
    for (i, a) in attempted.iter().enumerate() {
        let attempts = queue.attempts(tenant, a.claimed.delivery.id).await.unwrap();
        assert_eq!(attempts.len(), usize::from(i != lost), "attempt {i}");
    }
    let listed = queue.deliveries(tenant, targets[0], 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    let by_status = |status| {
        attempted
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != lost)
            .filter(|(i, _)| (*i == 1) == (status == DeliveryStatus::Pending))
            .count()
    };
    let mut pending = 0;
    let mut delivered = 0;
    for target in &targets {
        for d in queue.deliveries(tenant, *target, 10).await.unwrap() {
            match d.status {
                DeliveryStatus::Pending => pending += 1,
                DeliveryStatus::Delivered => delivered += 1,
                DeliveryStatus::Failed => panic!("nothing failed"),
            }
        }
    }
    // The lost one stays pending under its new claim; the 503 is pending for its retry.
    assert_eq!(delivered, by_status(DeliveryStatus::Delivered));
    assert_eq!(pending, by_status(DeliveryStatus::Pending) + 1);
}

#[tokio::test]
async fn a_batch_spanning_two_clinics_and_two_claims_settles_each_delivery_as_its_attempt_says() {
    let (_guard, db) = migrated_database().await;
    let harbour = clinic(&db, "harbour").await;
    let ridge = clinic(&db, "ridge").await;
    let queue = SeaDeliveryQueue::new(db);
    for tenant in [harbour, ridge] {
        let targets: Vec<Target> = (0..3).map(|_| webhook()).collect();
        queue.append(&event(tenant), &targets).await.unwrap();
    }
    // Two claims (two leases), each holding deliveries of both clinics.
    let now = soon();
    let mut claimed = queue.claim(now, LEASE, 3).await.unwrap();
    claimed.extend(queue.claim(now, LEASE, 3).await.unwrap());
    assert_eq!(claimed.len(), 6);
    assert_eq!(
        claimed
            .iter()
            .map(|c| c.lease)
            .collect::<HashSet<_>>()
            .len(),
        2
    );
    let at = Utc::now().trunc_subsecs(6);
    let due = at + chrono::Duration::minutes(5);
    let next_of = |i: usize| match i % 3 {
        0 => Next::Delivered,
        1 => Next::RetryAt(due + chrono::Duration::seconds(i as i64)),
        _ => Next::Failed,
    };
    let attempted: Vec<Attempted> = claimed
        .into_iter()
        .enumerate()
        .map(|(i, claimed)| Attempted {
            claimed,
            attempt: answered(
                [204, 503, 410][i % 3],
                at - chrono::Duration::seconds(i as i64),
            ),
            next: next_of(i),
        })
        .collect();

    assert_eq!(queue.record_all(&attempted).await.unwrap(), vec![true; 6]);

    for (i, a) in attempted.iter().enumerate() {
        let tenant = a.claimed.delivery.tenant_id;
        let stored = queue
            .deliveries(tenant, a.claimed.delivery.target, 10)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(stored.attempts, 1, "delivery {i}");
        let attempted_at = a.attempt.attempted_at;
        match next_of(i) {
            Next::Delivered => {
                assert_eq!(stored.status, DeliveryStatus::Delivered, "delivery {i}");
                assert_eq!(stored.finished_at, Some(attempted_at), "delivery {i}");
            }
            Next::RetryAt(due) => {
                assert_eq!(stored.status, DeliveryStatus::Pending, "delivery {i}");
                assert_eq!(stored.next_attempt_at, due, "delivery {i}");
                assert_eq!(stored.finished_at, None, "delivery {i}");
            }
            Next::Failed => {
                assert_eq!(stored.status, DeliveryStatus::Failed, "delivery {i}");
                assert_eq!(stored.finished_at, Some(attempted_at), "delivery {i}");
            }
        }
        let log = queue.attempts(tenant, a.claimed.delivery.id).await.unwrap();
        assert_eq!(log.len(), 1, "delivery {i}");
        assert_eq!(log[0].result, a.attempt.result, "delivery {i}");
    }
    // Settled and released: nothing is claimable until the retries fall due, then only they.
    assert!(queue.claim(now, LEASE, 10).await.unwrap().is_empty());
    let retried = queue
        .claim(due + chrono::Duration::minutes(1), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 2);
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_delivery() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let queue = SeaDeliveryQueue::new(db);
    let targets: Vec<Target> = (0..120).map(|_| webhook()).collect();
    queue.append(&event(tenant), &targets).await.unwrap();

    let now = soon();
    let workers = (0..6).map(|_| {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = queue.claim(now, LEASE, 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.delivery.id));
            }
        })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for worker in workers {
        for id in worker.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "{id} was claimed twice");
        }
    }
    assert_eq!(total, 120);
}

#[tokio::test]
async fn another_clinic_sees_no_delivery_or_attempt_of_a_clinic() {
    let (_guard, db) = migrated_database().await;
    let (a, b) = (clinic(&db, "clinic-a").await, clinic(&db, "clinic-b").await);
    let queue = SeaDeliveryQueue::new(db);
    let target = webhook();
    queue.append(&event(a), &[target]).await.unwrap();
    let claimed = queue.claim(soon(), LEASE, 10).await.unwrap().remove(0);
    queue
        .record(&claimed, &answered(204, Utc::now()), Next::Delivered)
        .await
        .unwrap();

    assert_eq!(queue.deliveries(a, target, 10).await.unwrap().len(), 1);
    assert!(queue.deliveries(b, target, 10).await.unwrap().is_empty());
    assert!(
        queue
            .attempts(b, claimed.delivery.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn events_past_their_retention_go_with_their_deliveries_and_the_rest_stay() {
    let (_database, db) = migrated_database().await;
    let tenant = clinic(&db, "retention").await;
    let queue = SeaDeliveryQueue::new(db.clone());
    let kept = event(tenant);
    let mut expired = event(tenant);
    expired.expires_at = Utc::now() - chrono::Duration::minutes(1);
    let target = webhook();
    queue.append(&kept, &[target]).await.unwrap();
    queue.append(&expired, &[target]).await.unwrap();
    assert_eq!(queue.stats().await.unwrap().pending, 2);

    assert_eq!(queue.prune(Utc::now(), 100).await.unwrap(), 1);
    assert_eq!(queue.prune(Utc::now(), 100).await.unwrap(), 0);

    let left = queue.deliveries(tenant, target, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event_id, kept.id);
    assert_eq!(queue.stats().await.unwrap().pending, 1);
}

#[tokio::test]
async fn a_queue_messages_idempotency_key_goes_with_the_delivery_that_sent_it() {
    let (_database, db) = migrated_database().await;
    let tenant = clinic(&db, "queue-keys").await;
    let queue = SeaDeliveryQueue::new(db.clone());
    let notifications = SeaNotificationRepository::new(db.clone());
    let rule = NotificationRuleId::new();
    let target = Target {
        kind: OutboundKind::Notification,
        id: rule.as_uuid(),
    };
    let kept = event(tenant);
    let mut expired = event(tenant);
    expired.expires_at = Utc::now() - chrono::Duration::minutes(1);
    queue.append(&kept, &[target]).await.unwrap();
    queue.append(&expired, &[target]).await.unwrap();
    let delivery_of = |event_id| {
        let queue = queue.clone();
        async move {
            queue
                .deliveries(tenant, target, 10)
                .await
                .unwrap()
                .into_iter()
                .find(|d| d.event_id == event_id)
                .unwrap()
                .id
        }
    };
    let key = |appointment: &str| QueueKey {
        rule,
        appointment_id: appointment.to_owned(),
        progress: "place:1".to_owned(),
    };
    let (kept_delivery, expired_delivery) =
        (delivery_of(kept.id).await, delivery_of(expired.id).await);
    assert!(
        notifications
            .claim_queue(tenant, &key("1"), kept_delivery)
            .await
            .unwrap()
    );
    assert!(
        notifications
            .claim_queue(tenant, &key("2"), expired_delivery)
            .await
            .unwrap()
    );
    assert!(
        !notifications
            .claim_queue(tenant, &key("2"), kept_delivery)
            .await
            .unwrap()
    );

    assert_eq!(queue.prune(Utc::now(), 100).await.unwrap(), 1);

    // The expired delivery's key went with it; the kept one's still holds.
    assert!(
        notifications
            .claim_queue(tenant, &key("2"), kept_delivery)
            .await
            .unwrap()
    );
    assert!(
        !notifications
            .claim_queue(tenant, &key("1"), kept_delivery)
            .await
            .unwrap()
    );
}
