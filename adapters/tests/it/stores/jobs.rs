//! The job-queue contract: due-time order, scheduling, leases that expire into redelivery,
//! completion, retries and counting.

use std::time::Duration;

use chrono::Utc;
use clinicgate_core::ports::Job;
use serde_json::json;

use super::stores;

const LEASE: Duration = Duration::from_secs(30);

fn from_now(ms: i64) -> Option<chrono::DateTime<Utc>> {
    Some(Utc::now() + chrono::Duration::milliseconds(ms))
}

#[tokio::test]
async fn an_empty_queue_hands_out_nothing() {
    let stores = stores().await;
    assert_eq!(stores.jobs.reserve("sync", LEASE).await.unwrap(), None);
    assert_eq!(stores.jobs.len("sync").await.unwrap(), 0);
}

#[tokio::test]
async fn jobs_are_handed_out_earliest_due_first_with_attempt_one() {
    let stores = stores().await;
    let jobs = &stores.jobs;
    let now_job = jobs
        .enqueue("sync", &json!({"n": "now"}), None)
        .await
        .unwrap();
    let c = jobs
        .enqueue("sync", &json!({"n": "c"}), from_now(-1000))
        .await
        .unwrap();
    let a = jobs
        .enqueue("sync", &json!({"n": "a"}), from_now(-3000))
        .await
        .unwrap();
    let b = jobs
        .enqueue("sync", &json!({"n": "b"}), from_now(-2000))
        .await
        .unwrap();

    let mut order = Vec::new();
    while let Some(job) = jobs.reserve("sync", LEASE).await.unwrap() {
        assert_eq!(job.queue, "sync");
        assert_eq!(job.attempt, 1);
        order.push((job.id, job.payload["n"].clone()));
    }
    assert_eq!(
        order,
        [
            (a, json!("a")),
            (b, json!("b")),
            (c, json!("c")),
            (now_job, json!("now"))
        ]
    );
}

#[tokio::test]
async fn a_scheduled_job_is_not_handed_out_before_it_is_due() {
    let stores = stores().await;
    let id = stores
        .jobs
        .enqueue("reminders", &json!({"appointment": "1"}), from_now(500))
        .await
        .unwrap();
    assert_eq!(stores.jobs.reserve("reminders", LEASE).await.unwrap(), None);
    assert_eq!(stores.jobs.len("reminders").await.unwrap(), 1);

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let job = stores
        .jobs
        .reserve("reminders", LEASE)
        .await
        .unwrap()
        .expect("due by now");
    assert_eq!(job.id, id);
    assert_eq!(job.attempt, 1);
}

#[tokio::test]
async fn a_job_whose_lease_ends_is_handed_out_again_with_attempt_two() {
    let stores = stores().await;
    let payload = json!({"tenant": "t-1", "kind": "sync"});
    let id = stores.jobs.enqueue("sync", &payload, None).await.unwrap();
    let first = stores
        .jobs
        .reserve("sync", Duration::from_millis(400))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id.clone(), first.attempt), (id.clone(), 1));
    // Leased: nobody else gets it meanwhile.
    assert_eq!(stores.jobs.reserve("sync", LEASE).await.unwrap(), None);

    tokio::time::sleep(Duration::from_millis(900)).await;
    let second = stores
        .jobs
        .reserve("sync", LEASE)
        .await
        .unwrap()
        .expect("the lease has ended");
    assert_eq!(
        second,
        Job {
            id,
            queue: "sync".into(),
            payload,
            attempt: 2
        }
    );
}

#[tokio::test]
async fn a_completed_job_is_gone_for_good() {
    let stores = stores().await;
    stores.jobs.enqueue("sync", &json!(1), None).await.unwrap();
    let job = stores
        .jobs
        .reserve("sync", Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    stores.jobs.complete(&job).await.unwrap();
    assert_eq!(stores.jobs.len("sync").await.unwrap(), 0);

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stores.jobs.reserve("sync", LEASE).await.unwrap(), None);
    // Retrying a completed job (a worker that outlived its lease) does not bring it back.
    stores.jobs.retry(&job, Utc::now()).await.unwrap();
    assert_eq!(stores.jobs.len("sync").await.unwrap(), 0);
    assert_eq!(stores.jobs.reserve("sync", LEASE).await.unwrap(), None);
}

#[tokio::test]
async fn a_retried_job_comes_back_at_its_run_at_with_the_next_attempt() {
    let stores = stores().await;
    let id = stores
        .jobs
        .enqueue("sync", &json!({"x": 1}), None)
        .await
        .unwrap();
    let job = stores.jobs.reserve("sync", LEASE).await.unwrap().unwrap();
    stores
        .jobs
        .retry(&job, from_now(500).unwrap())
        .await
        .unwrap();
    assert_eq!(stores.jobs.reserve("sync", LEASE).await.unwrap(), None);

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let again = stores
        .jobs
        .reserve("sync", LEASE)
        .await
        .unwrap()
        .expect("due again");
    assert_eq!((again.id.clone(), again.attempt), (id, 2));
    // A retry in the past is due at once.
    stores
        .jobs
        .retry(&again, Utc::now() - chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        stores
            .jobs
            .reserve("sync", LEASE)
            .await
            .unwrap()
            .map(|job| job.attempt),
        Some(3)
    );
}

#[tokio::test]
async fn len_counts_due_scheduled_and_leased_jobs_per_queue() {
    let stores = stores().await;
    stores.jobs.enqueue("sync", &json!(1), None).await.unwrap();
    stores.jobs.enqueue("sync", &json!(2), None).await.unwrap();
    stores
        .jobs
        .enqueue("sync", &json!(3), from_now(60_000))
        .await
        .unwrap();
    stores.jobs.enqueue("email", &json!(4), None).await.unwrap();
    stores.jobs.reserve("sync", LEASE).await.unwrap().unwrap();

    assert_eq!(stores.jobs.len("sync").await.unwrap(), 3);
    assert_eq!(stores.jobs.len("email").await.unwrap(), 1);
    let email = stores.jobs.reserve("email", LEASE).await.unwrap().unwrap();
    assert_eq!(email.payload, json!(4));
    assert_eq!(email.queue, "email");
}

#[tokio::test]
async fn payloads_come_back_exactly_as_enqueued() {
    let stores = stores().await;
    let payloads = [
        json!([]),
        json!({}),
        json!({"ids": [], "nested": {"empty": {}}, "big": u64::MAX, "neg": i64::MIN, "pi": 3.25}),
        json!("Zoë — 患者"),
        json!(null),
    ];
    for payload in &payloads {
        stores.jobs.enqueue("sync", payload, None).await.unwrap();
    }
    let mut seen = Vec::new();
    while let Some(job) = stores.jobs.reserve("sync", LEASE).await.unwrap() {
        seen.push(job.payload);
    }
    seen.sort_by_key(ToString::to_string);
    let mut expected = payloads.to_vec();
    expected.sort_by_key(ToString::to_string);
    assert_eq!(seen, expected);
}
