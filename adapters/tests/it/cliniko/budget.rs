//! The shared budget across three client instances on one store (three Redis connections under
//! one prefix, or one in-process store): never above the budget, lanes by priority, refused calls
//! free, a Cliniko 429 seen by one instance pausing all of them, and a capped client held to its
//! share while another keeps the rest.
//!
//! Periods are seconds instead of a minute so the tests run quickly; the arithmetic is the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clinicgate_adapters::cliniko::{BudgetConfig, ClinikoClientConfig, HttpClinikoClient};
use clinicgate_cliniko_sandbox::SandboxConfig;
use clinicgate_core::Error;
use clinicgate_core::cliniko::{ClinikoAccount, ClinikoCaller, ClinikoClient, Lane};
use clinicgate_core::tokens::ClientId;
use serde_json::json;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{account, admin_key, config, instances, start_sandbox};

fn with_budget(base_url: &str, budget: BudgetConfig) -> ClinikoClientConfig {
    ClinikoClientConfig {
        budget,
        ..config(base_url)
    }
}

async fn three_clients(
    base_url: &str,
    budget: &BudgetConfig,
) -> (Vec<HttpClinikoClient>, super::Instances) {
    let instances = instances(3).await;
    let clients = instances
        .states
        .iter()
        .map(|state| super::client(with_budget(base_url, budget.clone()), state))
        .collect();
    (clients, instances)
}

async fn user_mock() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "7", "role": "administrator"})),
        )
        .mount(&server)
        .await;
    server
}

fn mock_base(server: &MockServer) -> String {
    format!("{}/{{shard}}/v1", server.uri())
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

fn clinic() -> ClinikoAccount {
    account("MS0budgetkey00000000000000-au1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_on_three_instances_never_exceed_the_budget_in_any_window() {
    const WINDOW: Duration = Duration::from_secs(4);
    const RUN: Duration = Duration::from_secs(10);
    // 20 calls per window sustained plus a burst of 2: at most 22 in any window, which is the
    // sandbox's limit, so a single call too many would be answered 429.
    let budget = BudgetConfig {
        limit: 20,
        period: WINDOW,
        burst: 2,
        api_reserve: 0,
        background_reserve: 1,
        interactive_wait: Duration::from_secs(2),
        background_wait: Duration::from_secs(10),
        default_pause: Duration::from_secs(1),
    };
    let sandbox = start_sandbox(SandboxConfig {
        rate_limit: 22,
        window: WINDOW,
        seed: 3,
    });
    let key = admin_key(&sandbox, "au1");
    let clinic = account(&key.key);
    let (clients, _instances) = three_clients(&sandbox.base_url(), &budget).await;
    let granted = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for (instance, client) in clients.into_iter().enumerate() {
        let client = Arc::new(client);
        for caller in 0..6 {
            let (client, clinic, granted) =
                (Arc::clone(&client), clinic.clone(), Arc::clone(&granted));
            let lane = Lane::ALL[(instance + caller) % 3];
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    match client.current_user(&clinic, lane).await {
                        Ok(_) => {
                            granted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::RateLimited { retry_after }) => {
                            tokio::time::sleep(retry_after.min(Duration::from_millis(100))).await;
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = sandbox.stats()[&key.account].clone();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert!(stats.peak_in_window <= 22, "{stats:?}");
    assert_eq!(
        stats.accepted,
        granted.load(Ordering::Relaxed),
        "every granted call, and only those, reached Cliniko"
    );
    // 2 + 20 per 4 s over 10 s is 52; the budget is used, not just respected.
    assert!(stats.accepted >= 45, "{stats:?}");
}

#[tokio::test]
async fn lanes_take_the_shared_budget_in_priority_order() {
    // A bucket of 5 refilled one per second; api leaves 1, background leaves 2.
    let budget = BudgetConfig {
        limit: 5,
        period: Duration::from_secs(5),
        burst: 5,
        api_reserve: 1,
        background_reserve: 2,
        interactive_wait: Duration::from_millis(2500),
        background_wait: Duration::from_millis(300),
        default_pause: Duration::from_secs(1),
    };
    let server = user_mock().await;
    let (clients, _instances) = three_clients(&mock_base(&server), &budget).await;
    let clinic = clinic();

    for _ in 0..3 {
        clients[0]
            .current_user(&clinic, Lane::Background)
            .await
            .unwrap();
    }
    let err = clients[0]
        .current_user(&clinic, Lane::Background)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { .. }),
        "background stops above its reserve: {err:?}"
    );

    clients[1].current_user(&clinic, Lane::Api).await.unwrap();
    let started = Instant::now();
    let err = clients[1]
        .current_user(&clinic, Lane::Api)
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after } = err else {
        panic!("{err:?}")
    };
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "api fails fast"
    );
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(2),
        "{retry_after:?}"
    );

    // Interactive still finds the unit api left for it, then waits (boundedly) for refills.
    clients[2]
        .current_user(&clinic, Lane::Interactive)
        .await
        .unwrap();
    let started = Instant::now();
    let waiting: Vec<_> = (0..3)
        .map(|i| {
            let client = clients[i].clone();
            let clinic = clinic.clone();
            tokio::spawn(async move {
                let result = client.current_user(&clinic, Lane::Interactive).await;
                (result.map(drop), started.elapsed())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in waiting {
        outcomes.push(task.await.unwrap());
    }
    let served: Vec<_> = outcomes
        .iter()
        .filter(|(r, _)| r.is_ok())
        .map(|(_, t)| *t)
        .collect();
    assert_eq!(
        served.len(),
        2,
        "one refill each second within 2.5 s: {outcomes:?}"
    );
    assert!(
        served.iter().all(|t| *t >= Duration::from_millis(700)),
        "{served:?}"
    );
    let refused: Vec<_> = outcomes.iter().filter(|(r, _)| r.is_err()).collect();
    assert!(
        refused
            .iter()
            .all(|(_, t)| *t <= Duration::from_millis(2600)),
        "the wait is bounded: {refused:?}"
    );
    assert_eq!(
        received(&server).await,
        3 + 1 + 1 + 2,
        "refused calls never reach Cliniko"
    );
}

#[tokio::test]
async fn refused_calls_do_not_use_up_the_budget() {
    let budget = BudgetConfig {
        limit: 2,
        period: Duration::from_secs(2),
        burst: 2,
        api_reserve: 0,
        background_reserve: 1,
        ..BudgetConfig::default()
    };
    let server = user_mock().await;
    let (clients, _instances) = three_clients(&mock_base(&server), &budget).await;
    let clinic = clinic();
    clients[0].current_user(&clinic, Lane::Api).await.unwrap();
    clients[1].current_user(&clinic, Lane::Api).await.unwrap();
    for i in 0..30 {
        assert!(
            clients[i % 3]
                .current_user(&clinic, Lane::Api)
                .await
                .is_err()
        );
    }
    // One unit refills per second; thirty refusals did not push that back.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    clients[2].current_user(&clinic, Lane::Api).await.unwrap();
    assert_eq!(received(&server).await, 3);
}

#[tokio::test]
async fn a_reservation_is_all_or_nothing_and_its_unused_units_go_back() {
    // A bucket of 4 refilling one unit every 500 ms.
    let budget = BudgetConfig {
        limit: 4,
        period: Duration::from_secs(2),
        burst: 4,
        api_reserve: 0,
        background_reserve: 1,
        ..BudgetConfig::default()
    };
    let server = user_mock().await;
    let (clients, _instances) = three_clients(&mock_base(&server), &budget).await;
    let clinic = clinic();

    // Three units booked on one instance, one used: two go back when the operation ends.
    let operation = clients[0].reserve(&clinic, Lane::Api, 3).await.unwrap();
    operation.current_user(&clinic, Lane::Api).await.unwrap();
    // Only the fourth unit is left to the others meanwhile.
    clients[1].current_user(&clinic, Lane::Api).await.unwrap();
    assert!(clients[2].current_user(&clinic, Lane::Api).await.is_err());
    drop(operation);
    tokio::time::sleep(Duration::from_millis(100)).await;
    clients[1].current_user(&clinic, Lane::Api).await.unwrap();
    clients[2].current_user(&clinic, Lane::Api).await.unwrap();
    assert_eq!(received(&server).await, 4);

    // A queue: one operation holds the bucket, a second waits 2 s for its turn, and a third,
    // which would wait 4 s, is refused at once and takes nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = clients[0].reserve(&clinic, Lane::Api, 4).await.unwrap();
    let second = {
        let (client, clinic) = (clients[1].clone(), clinic.clone());
        tokio::spawn(async move { client.reserve(&clinic, Lane::Api, 4).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let refused = clients[2].reserve(&clinic, Lane::Api, 4).await;
    assert!(
        matches!(refused, Err(Error::RateLimited { .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    second.await.unwrap().unwrap();
    drop(first);
    // Larger than the bucket on an idle budget: admitted after the refill it needs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let big = clients[1].reserve(&clinic, Lane::Api, 6).await.unwrap();
    let waited = started.elapsed();
    assert!(
        (Duration::from_millis(800)..Duration::from_millis(1500)).contains(&waited),
        "two units beyond the bucket take a second to refill: waited {waited:?}"
    );
    for _ in 0..6 {
        big.current_user(&clinic, Lane::Api).await.unwrap();
    }
    assert_eq!(received(&server).await, 10);
}

#[tokio::test]
async fn a_cliniko_429_seen_by_one_instance_pauses_every_instance_until_the_reset() {
    let server = MockServer::start().await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    Mock::given(path("/au1/v1/user"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Reset", reset.to_string().as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "7"})))
        .mount(&server)
        .await;
    let budget = BudgetConfig {
        background_wait: Duration::from_secs(6),
        ..config("http://unused").budget
    };
    let (clients, _instances) = three_clients(&mock_base(&server), &budget).await;
    let clinic = clinic();

    let err = clients[0]
        .current_user(&clinic, Lane::Api)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    let err = clients[1]
        .current_user(&clinic, Lane::Api)
        .await
        .unwrap_err();
    let Error::RateLimited { retry_after } = err else {
        panic!("{err:?}")
    };
    assert!(
        retry_after > Duration::from_secs(1),
        "paused until the reset: {retry_after:?}"
    );
    assert_eq!(
        received(&server).await,
        1,
        "the other instance did not call Cliniko"
    );

    let started = Instant::now();
    clients[2]
        .current_user(&clinic, Lane::Background)
        .await
        .unwrap();
    let resumed_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        resumed_at >= Duration::from_secs(reset),
        "background waited for the reset ({:?})",
        started.elapsed()
    );
    assert_eq!(received(&server).await, 2);

    // Another clinic's key is not paused.
    clients[1]
        .current_user(&account("MS0anotherkey000000000000-au1"), Lane::Api)
        .await
        .unwrap();
}

#[tokio::test]
async fn usage_by_lane_is_the_same_on_every_instance() {
    let budget = BudgetConfig {
        limit: 60,
        period: Duration::from_secs(60),
        burst: 3,
        api_reserve: 0,
        background_reserve: 1,
        ..BudgetConfig::default()
    };
    let server = user_mock().await;
    let (clients, _instances) = three_clients(&mock_base(&server), &budget).await;
    let clinic = clinic();
    clients[0]
        .current_user(&clinic, Lane::Interactive)
        .await
        .unwrap();
    clients[1]
        .current_user(&clinic, Lane::Interactive)
        .await
        .unwrap();
    clients[2].current_user(&clinic, Lane::Api).await.unwrap();
    assert!(clients[0].current_user(&clinic, Lane::Api).await.is_err());

    // Counting happens off the call path; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let usage = clients[1].usage(&clinic).await.unwrap();
        let by = |lane: Lane| usage.lanes.iter().find(|l| l.lane == lane).unwrap().clone();
        let sent = |lane: Lane| by(lane).sent_this_minute + by(lane).sent_last_minute;
        let refused = |lane: Lane| by(lane).refused_this_minute + by(lane).refused_last_minute;
        let seen = (
            sent(Lane::Interactive),
            sent(Lane::Api),
            refused(Lane::Api),
            sent(Lane::Background),
        );
        if seen == (2, 1, 1, 0) {
            assert_eq!(usage.budget_per_minute, 60);
            assert_eq!(usage.available_now, 0);
            assert_eq!(usage.paused_for, None);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage never showed the calls: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_client_gets_its_share_on_three_instances_and_the_other_keeps_the_rest() {
    const WINDOW: Duration = Duration::from_secs(4);
    const RUN: Duration = Duration::from_secs(8);
    // 5 calls a second and a burst of 8: at most 28 in any window, the sandbox's limit.
    let budget = BudgetConfig {
        limit: 20,
        period: WINDOW,
        burst: 8,
        api_reserve: 0,
        background_reserve: 1,
        interactive_wait: Duration::from_secs(2),
        background_wait: Duration::from_secs(10),
        default_pause: Duration::from_secs(1),
    };
    let sandbox = start_sandbox(SandboxConfig {
        rate_limit: 28,
        window: WINDOW,
        seed: 4,
    });
    let key = admin_key(&sandbox, "au1");
    let uncapped = account(&key.key);
    // A quarter: 1.25 calls a second and a burst of 2, whichever instance serves it.
    let capped = ClinikoAccount {
        caller: Some(ClinikoCaller {
            client_id: ClientId::generate(),
            budget_share: Some(25),
        }),
        ..uncapped.clone()
    };
    let (clients, _instances) = three_clients(&sandbox.base_url(), &budget).await;
    let served = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let refused = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let deadline = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for client in clients {
        let client = Arc::new(client);
        for (who, account) in [&capped, &uncapped].into_iter().enumerate() {
            for _ in 0..3 {
                let (client, account) = (Arc::clone(&client), account.clone());
                let (served, refused) = (Arc::clone(&served[who]), Arc::clone(&refused[who]));
                tasks.push(tokio::spawn(async move {
                    while Instant::now() < deadline {
                        match client.current_user(&account, Lane::Api).await {
                            Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                            Err(Error::RateLimited { .. }) => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                0
                            }
                            Err(other) => panic!("unexpected {other:?}"),
                        };
                    }
                }));
            }
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = sandbox.stats()[&key.account].clone();
    let [capped_served, uncapped_served] = served.map(|n| n.load(Ordering::Relaxed));
    eprintln!(
        "capped: {capped_served} served, {} refused; uncapped: {uncapped_served} served; {stats:?}",
        refused[0].load(Ordering::Relaxed)
    );
    assert_eq!(
        stats.rate_limited, 0,
        "Cliniko never answers 429: {stats:?}"
    );
    // 2 + 1.25 × 8 s = 12, plus a unit of rounding.
    assert!(capped_served <= 13, "the capped client got {capped_served}");
    // A share is a ceiling, not a reservation: past its own bucket the capped client competes
    // for the clinic's budget with everyone else, so under this load it may get less than 12.
    assert!(
        capped_served >= 1,
        "a capped client is limited, not shut out"
    );
    assert!(refused[0].load(Ordering::Relaxed) > 0);
    // 8 + 5 × 8 s = 48 for both: the uncapped client gets what the capped one may not use.
    assert!(
        uncapped_served >= 28,
        "the uncapped client got only {uncapped_served}"
    );
    assert_eq!(stats.accepted, capped_served + uncapped_served);
}
