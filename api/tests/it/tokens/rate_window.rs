//! The per-client limit as a partner counts it: whatever `RateLimit-Policy` announces
//! (`q` requests per `w` seconds) holds in every `w`-second window, across instances.

use std::time::{Duration, Instant};

use figment::Figment;
use figment::providers::Serialized;

use super::{clinic, create_client, get_with, token};
use crate::common::{TestApp, spawn_app_with};

/// A window short enough for a test to see it slide several times.
fn short_window(figment: Figment) -> Figment {
    figment.merge(Serialized::default("tokens.rate_limit_window_secs", 2))
}

/// One answered request: when it was sent and answered, its status and its policy header.
struct Answer {
    sent: Instant,
    answered: Instant,
    status: u16,
    policy: String,
}

/// Calls `GET /api/public/me` with `token` on `app` until `until`, a little apart.
async fn call_until(app: &TestApp, token: &str, until: Instant) -> Vec<Answer> {
    let mut answers = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        let response = get_with(app, "/api/public/me", token).await;
        let answered = Instant::now();
        let policy = response
            .headers()
            .get("ratelimit-policy")
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default();
        answers.push(Answer {
            sent,
            answered,
            status: response.status().as_u16(),
            policy,
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    answers
}

/// `q` and `w` of a `"client";q=…;w=…` policy.
fn quota_and_window(policy: &str) -> (usize, Duration) {
    let mut quota = None;
    let mut window = None;
    for part in policy.split(';') {
        if let Some(q) = part.strip_prefix("q=") {
            quota = q.parse().ok();
        } else if let Some(w) = part.strip_prefix("w=") {
            window = w.parse().ok().map(Duration::from_secs);
        }
    }
    (
        quota.expect("the policy names q"),
        window.expect("the policy names w"),
    )
}

/// The most served requests that certainly fell within one `window`: each was admitted between
/// its sending and its answer, so requests sent at or after `s` and answered before `s + window`
/// were all admitted inside a window starting at `s`. (Only certain overlaps count, so network
/// latency cannot make an honest limiter look dishonest.)
fn most_served_in_one_window(served: &[&Answer], window: Duration) -> usize {
    served
        .iter()
        .map(|first| {
            served
                .iter()
                .filter(|other| other.sent >= first.sent && other.answered < first.sent + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_never_served_more_than_its_announced_quota_in_any_window_across_instances() {
    let first = spawn_app_with(short_window).await;
    // In-process stores live in one process, so only a shared store (Redis) can hold one limit
    // for several instances; without it the deployment is one instance, and so is this test.
    let second = match first.backends().1 {
        "redis" => Some(first.spawn_sibling(short_window).await),
        _ => None,
    };
    let owner = clinic(&first, "harbour").await;
    // 40 per 2 s is 20 a second: with Redis, each instance leases 2 units at a time.
    let client = create_client(&first, &owner, &["doctors:read"], Some(40)).await;
    let access_token = token(&first, &client).await;
    let instances: Vec<&TestApp> = std::iter::once(&first).chain(second.as_ref()).collect();

    // Two callers per instance for six seconds, up to 100 calls a second each: three windows of
    // 2 s, each asked for several times its quota.
    let until = Instant::now() + Duration::from_secs(6);
    let callers = instances
        .iter()
        .flat_map(|app| [*app, *app])
        .map(|app| call_until(app, &access_token, until));
    let answers: Vec<Answer> = futures::future::join_all(callers)
        .await
        .into_iter()
        .flatten()
        .collect();

    assert!(
        answers.iter().all(|a| a.status == 200 || a.status == 429),
        "only 200 and 429"
    );
    assert!(
        answers.iter().any(|a| a.status == 429),
        "the callers asked for more than the quota"
    );
    let policy = &answers[0].policy;
    assert!(
        answers.iter().all(|answer| &answer.policy == policy),
        "one policy"
    );
    let (quota, window) = quota_and_window(policy);
    assert_eq!(quota, 40, "{policy}");
    let served: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    let most = most_served_in_one_window(&served, window);
    assert!(
        most <= quota,
        "{most} requests served within one window of {window:?} although the policy is {policy}"
    );
    // The quota comes back as the window slides (leased units count half a second longer):
    // six seconds hold at least two windows' worth.
    assert!(
        served.len() >= 2 * quota,
        "only {} served in 6 s under {policy}",
        served.len()
    );
}
