//! The Cliniko poller's state on the backend the environment selects: one instance at a time
//! holds a clinic (a lease that another takes over once it runs out), a poll's snapshots,
//! cursors, marks and events are stored together or not at all, and a write diffed against a
//! revision that moved on stores nothing.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, SubsecRound as _, Utc};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::polling::SeaPollStore;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::delivery::{DeliveryQueue as _, EventId, OutboundKind, StoredEvent, Target};
use clinicgate_core::events::{EventType, PreparedEvent};
use clinicgate_core::ids::TenantId;
use clinicgate_core::polling::appointments::AppointmentState;
use clinicgate_core::polling::{
    Committed, Cursor, Expect, Fingerprint, Mark, MarkKind, PhoneLookup, PollCommit,
    PollStore as _, Release, Resource, Snapshot,
};
use clinicgate_core::secrets::SealedSecret;

use crate::backends::{clinic, migrated_database};

const LEASE: Duration = Duration::from_secs(30);

/// Now, at the precision PostgreSQL keeps.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn id(n: &str) -> ClinikoId {
    ClinikoId::parse(n).unwrap()
}

fn arrived(doctor: &str, day: NaiveDate, due: DateTime<Utc>) -> Snapshot {
    let start = due - chrono::Duration::minutes(30);
    Snapshot {
        resource: Resource::Appointments,
        record_id: id("9001"),
        source_updated_at: Some(start),
        fingerprint: Fingerprint::from_bytes(&[3; 32]).unwrap(),
        state: Some(AppointmentState {
            starts_at: start,
            ends_at: Some(due),
            doctor_id: Some(id(doctor)),
            clinic_id: Some(id("21")),
            appointment_type_id: Some(id("31")),
            active: true,
            arrived: true,
            did_not_arrive: false,
            arrived_at: Some(start),
            completed: false,
        }),
        body: Some(SealedSecret {
            ciphertext: vec![9, 9, 9],
            key_version: 1,
        }),
        doctor_id: Some(id(doctor)),
        queue_day: Some(day),
        due_at: Some(due),
        revision: 0,
        expires_at: None,
        phone_keys: None,
        phones_indexed: false,
    }
}

fn patient(record: &str, fingerprint: u8) -> Snapshot {
    Snapshot {
        resource: Resource::Patients,
        record_id: id(record),
        source_updated_at: Some(now()),
        fingerprint: Fingerprint::from_bytes(&[fingerprint; 32]).unwrap(),
        state: None,
        body: None,
        doctor_id: None,
        queue_day: None,
        due_at: None,
        revision: 0,
        expires_at: None,
        phone_keys: None,
        phones_indexed: false,
    }
}

fn cursor(at: DateTime<Utc>) -> Cursor {
    Cursor {
        resource: Resource::Patients,
        cursor_at: Some(at),
        watching_since: at - chrono::Duration::days(1),
        baseline_done: true,
        read_at: at,
        phones_indexed: false,
    }
}

fn event(tenant: TenantId) -> PreparedEvent {
    let at = now();
    PreparedEvent {
        event: StoredEvent {
            id: EventId::new(),
            tenant_id: tenant,
            event_type: EventType::PatientUpdated,
            occurred_at: at,
            data: SealedSecret {
                ciphertext: vec![1, 2, 3],
                key_version: 1,
            },
            expires_at: at + chrono::Duration::days(30),
        },
        targets: vec![webhook()],
    }
}

fn webhook() -> Target {
    Target {
        kind: OutboundKind::Webhook,
        id: uuid::Uuid::from_u128(77),
    }
}

#[tokio::test]
async fn one_instance_at_a_time_holds_a_clinic_until_it_finishes_or_its_lease_runs_out() {
    let (_guard, db) = migrated_database().await;
    let (a, b) = (clinic(&db, "harbour").await, clinic(&db, "thames").await);
    let store = SeaPollStore::new(db);
    assert!(
        store
            .claim("one", now(), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.schedule(&[a, b], now()).await.unwrap();
    store.schedule(&[a], now()).await.unwrap();

    let first = store.claim("one", now(), LEASE, 1).await.unwrap();
    let second = store.claim("two", now(), LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_ne!(first[0].tenant_id, second[0].tenant_id);
    assert!(
        store
            .claim("three", now(), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The first instance dies: once its lease ran out, another instance takes the clinic over,
    // and the first can no longer end it.
    let later = now() + chrono::Duration::seconds(31);
    let taken = store.claim("three", later, LEASE, 10).await.unwrap();
    assert_eq!(taken.len(), 2, "both leases ran out");
    let release = Release {
        next_poll_at: later + chrono::Duration::seconds(10),
        outcome: "idle",
        failed: false,
        disable: false,
    };
    assert!(!store.release(&first[0], release).await.unwrap());
    let mine = taken
        .iter()
        .find(|c| c.tenant_id == first[0].tenant_id)
        .unwrap();
    assert!(store.release(mine, release).await.unwrap());
    assert!(
        store
            .claim("four", later, LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before its next poll"
    );
    let due_again = store
        .claim("four", release.next_poll_at, LEASE, 10)
        .await
        .unwrap();
    assert_eq!(due_again.len(), 1);

    // A disabled clinic is not polled until it is scheduled again.
    let stop = Release {
        disable: true,
        outcome: "not_connected",
        ..release
    };
    assert!(store.release(&due_again[0], stop).await.unwrap());
    let far = later + chrono::Duration::days(1);
    let others = store.claim("five", far, LEASE, 10).await.unwrap();
    assert!(others.iter().all(|c| c.tenant_id != mine.tenant_id));
    store.schedule(&[mine.tenant_id], far).await.unwrap();
    let back = store.claim("five", far, LEASE, 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].tenant_id, mine.tenant_id);
}

#[tokio::test]
async fn a_poll_stores_snapshots_cursors_marks_and_events_together() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let store = SeaPollStore::new(db.clone());
    let queue = SeaDeliveryQueue::new(db);
    store.schedule(&[tenant], now()).await.unwrap();
    let claim = store.claim("one", now(), LEASE, 1).await.unwrap().remove(0);
    let day = NaiveDate::from_ymd_opt(2030, 5, 21).unwrap();
    let due = now() + chrono::Duration::minutes(30);
    let mut mark = Mark::new(MarkKind::Queue, "11/2030-05-21".into());
    mark.fingerprint = Fingerprint::from_bytes(&[5; 32]);
    mark.due_at = Some(due);
    let reached = now();
    let committed = store
        .commit(
            tenant,
            PollCommit {
                lease: Some(claim.lease),
                next_poll_at: Some(now()),
                snapshots: vec![
                    (arrived("11", day, due), Expect::Absent),
                    (patient("5", 1), Expect::Absent),
                ],
                cursors: vec![cursor(reached)],
                marks: vec![(mark.clone(), Expect::Absent)],
                events: vec![event(tenant)],
            },
        )
        .await
        .unwrap();
    assert_eq!(committed, Committed::Done);

    assert_eq!(store.cursors(tenant).await.unwrap(), [cursor(reached)]);
    let kept = store
        .snapshots(tenant, Resource::Appointments, &[id("9001"), id("1")])
        .await
        .unwrap();
    assert_eq!(kept, [arrived("11", day, due)]);
    assert_eq!(
        store.queue_members(tenant, &id("11"), day).await.unwrap(),
        kept
    );
    assert!(
        store
            .due_snapshots(tenant, now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.due_snapshots(tenant, due, 10).await.unwrap(), kept);
    assert_eq!(
        store
            .marks(tenant, MarkKind::Queue, &[mark.key.clone()])
            .await
            .unwrap(),
        [mark.clone()]
    );
    assert_eq!(store.due_marks(tenant, due, 10).await.unwrap(), [mark]);
    assert_eq!(
        queue.deliveries(tenant, webhook(), 10).await.unwrap().len(),
        1
    );
    let lags = store.last_successes().await.unwrap();
    assert_eq!(lags.len(), 1);
    assert!(lags[0].1.is_some(), "a committed poll is a success");
}

#[tokio::test]
async fn a_write_diffed_against_an_old_revision_or_a_lost_lease_stores_nothing() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let store = SeaPollStore::new(db.clone());
    let queue = SeaDeliveryQueue::new(db);
    let own_write = |snapshots: Vec<(Snapshot, Expect)>, reached| PollCommit {
        snapshots,
        cursors: vec![cursor(reached)],
        events: vec![event(tenant)],
        ..PollCommit::default()
    };
    let first = now();
    assert_eq!(
        store
            .commit(
                tenant,
                own_write(vec![(patient("5", 1), Expect::Absent)], first)
            )
            .await
            .unwrap(),
        Committed::Done
    );
    // Another writer also saw the record as unknown, or as the revision since replaced.
    for stale in [Expect::Absent, Expect::Revision(7)] {
        let later = first + chrono::Duration::seconds(5);
        let refused = store
            .commit(tenant, own_write(vec![(patient("5", 2), stale)], later))
            .await
            .unwrap();
        assert_eq!(refused, Committed::Conflict, "{stale:?}");
    }
    assert_eq!(store.cursors(tenant).await.unwrap(), [cursor(first)]);
    assert_eq!(
        queue.deliveries(tenant, webhook(), 10).await.unwrap().len(),
        1
    );
    let kept = store
        .snapshots(tenant, Resource::Patients, &[id("5")])
        .await
        .unwrap();
    assert_eq!(kept[0].fingerprint, patient("5", 1).fingerprint);
    assert_eq!(kept[0].revision, 0);

    let next = first + chrono::Duration::seconds(9);
    let moved_on = store
        .commit(
            tenant,
            own_write(vec![(patient("5", 2), Expect::Revision(0))], next),
        )
        .await
        .unwrap();
    assert_eq!(moved_on, Committed::Done);
    let kept = store
        .snapshots(tenant, Resource::Patients, &[id("5")])
        .await
        .unwrap();
    assert_eq!(
        (kept[0].fingerprint, kept[0].revision),
        (patient("5", 2).fingerprint, 1)
    );

    // A poll whose lease another instance took over stores nothing either.
    store.schedule(&[tenant], now()).await.unwrap();
    let stale = store.claim("one", now(), LEASE, 1).await.unwrap().remove(0);
    let _ = store
        .claim("two", now() + chrono::Duration::seconds(31), LEASE, 1)
        .await
        .unwrap();
    let lost = store
        .commit(
            tenant,
            PollCommit {
                lease: Some(stale.lease),
                ..own_write(vec![(patient("6", 3), Expect::Absent)], now())
            },
        )
        .await
        .unwrap();
    assert_eq!(lost, Committed::LeaseLost);
    assert!(
        store
            .snapshots(tenant, Resource::Patients, &[id("6")])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        queue.deliveries(tenant, webhook(), 10).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn expired_snapshots_and_marks_are_forgotten_and_the_rest_kept() {
    let (_guard, db) = migrated_database().await;
    let tenant = clinic(&db, "harbour").await;
    let store = SeaPollStore::new(db);
    let past = now() - chrono::Duration::days(1);
    let old = Snapshot {
        expires_at: Some(past),
        ..patient("7", 1)
    };
    let old_mark = Mark {
        expires_at: Some(past),
        ..Mark::new(MarkKind::Queue, "11/2030-05-21".into())
    };
    let commit = PollCommit {
        snapshots: vec![(old, Expect::Absent), (patient("8", 1), Expect::Absent)],
        marks: vec![
            (old_mark, Expect::Absent),
            (
                Mark::new(MarkKind::Availability, "11".into()),
                Expect::Absent,
            ),
        ],
        ..PollCommit::default()
    };
    assert_eq!(store.commit(tenant, commit).await.unwrap(), Committed::Done);
    assert_eq!(store.prune(now()).await.unwrap(), 2);
    let left = store
        .snapshots(tenant, Resource::Patients, &[id("7"), id("8")])
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].record_id, id("8"));
    assert!(
        store
            .marks(tenant, MarkKind::Queue, &["11/2030-05-21".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .marks(tenant, MarkKind::Availability, &["11".into()])
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn phone_keys_go_with_their_patients_snapshot_and_answer_only_once_complete_and_fresh() {
    let (_guard, db) = migrated_database().await;
    let (a, b) = (clinic(&db, "harbour").await, clinic(&db, "thames").await);
    let store = SeaPollStore::new(db);
    let key = |n: u8| Fingerprint::from_bytes(&[n; 32]).unwrap();
    let fresh_since = now() - chrono::Duration::minutes(10);
    // Not scheduled, or scheduled and never polled: being indexed.
    let lookup = |tenant| {
        let store = store.clone();
        async move {
            store
                .patients_by_phone(tenant, &[key(1)], fresh_since)
                .await
                .unwrap()
        }
    };
    assert_eq!(lookup(a).await, PhoneLookup::Indexing);
    store.schedule(&[a, b], now()).await.unwrap();
    assert_eq!(lookup(a).await, PhoneLookup::Indexing);
    let polled = |tenant, patient: &str, keys: Vec<Fingerprint>, complete: bool| {
        let store = store.clone();
        let patient = patient.to_owned();
        async move {
            let mut claim = None;
            for held in store.claim("one", now(), LEASE, 2).await.unwrap() {
                if held.tenant_id == tenant {
                    claim = Some(held);
                } else {
                    let release = Release {
                        next_poll_at: now(),
                        outcome: "idle",
                        failed: false,
                        disable: false,
                    };
                    assert!(store.release(&held, release).await.unwrap());
                }
            }
            let claim = claim.expect("due");
            let kept = store
                .snapshots(tenant, Resource::Patients, &[id(&patient)])
                .await
                .unwrap();
            let snapshot = Snapshot {
                phone_keys: Some(keys),
                ..patient_snapshot(&patient)
            };
            let commit = PollCommit {
                lease: Some(claim.lease),
                next_poll_at: Some(now()),
                snapshots: vec![(snapshot, Expect::of(kept.first().map(|k| k.revision)))],
                cursors: vec![Cursor {
                    phones_indexed: complete,
                    ..cursor(now())
                }],
                ..PollCommit::default()
            };
            assert_eq!(store.commit(tenant, commit).await.unwrap(), Committed::Done);
        }
    };
    // A's baseline under way: the index is not complete.
    polled(a, "5", vec![key(1), key(2)], false).await;
    assert_eq!(
        store
            .patients_by_phone(a, &[key(1)], fresh_since)
            .await
            .unwrap(),
        PhoneLookup::Indexing
    );
    let kept = store
        .snapshots(a, Resource::Patients, &[id("5")])
        .await
        .unwrap();
    assert!(kept[0].phones_indexed, "written with its keys");
    polled(a, "6", vec![key(2)], true).await;
    polled(b, "7", vec![key(1)], true).await;
    let found = |tenant, keys: Vec<Fingerprint>| {
        let store = store.clone();
        async move {
            store
                .patients_by_phone(tenant, &keys, fresh_since)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        found(a, vec![key(1)]).await,
        PhoneLookup::Ready(vec![id("5")])
    );
    assert_eq!(
        found(a, vec![key(2), key(1)]).await,
        PhoneLookup::Ready(vec![id("5"), id("6")])
    );
    assert_eq!(
        found(b, vec![key(1)]).await,
        PhoneLookup::Ready(vec![id("7")])
    );
    assert_eq!(found(a, vec![key(9)]).await, PhoneLookup::Ready(vec![]));
    // A patient's new numbers replace the old ones.
    polled(a, "5", vec![key(3)], true).await;
    assert_eq!(found(a, vec![key(1)]).await, PhoneLookup::Ready(vec![]));
    assert_eq!(
        found(a, vec![key(3)]).await,
        PhoneLookup::Ready(vec![id("5")])
    );
    // Nobody polled since: stale.
    let later = now() + chrono::Duration::minutes(1);
    assert_eq!(
        store.patients_by_phone(a, &[key(3)], later).await.unwrap(),
        PhoneLookup::Stale
    );
}

/// A patient's snapshot with a fingerprint of its own.
fn patient_snapshot(record: &str) -> Snapshot {
    patient(record, record.as_bytes()[0])
}
