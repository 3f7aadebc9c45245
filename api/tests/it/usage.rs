//! The clinic's usage counters through the real HTTP surface: each API client's requests, errors
//! and 429s per minute, summed over two instances, written without a database write per request
//! (in memory, flushed every few seconds), readable by the clinic's staff only for their clinic.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::common::{PASSWORD, TestApp, spawn_app};
use crate::tokens::{Clinic, clinic, create_client, get_with, token};

/// `GET path` on the clinic's host as the holder of `cookie`; the status and JSON body.
async fn get_as(app: &TestApp, clinic: &Clinic, cookie: &str, path: &str) -> (u16, Value) {
    let response = app
        .on(Method::GET, clinic.sub(), path, Some(cookie))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The sum of `field` over the buckets of `usage` (a `GET /api/tenant/usage` body) of `client`.
fn total(usage: &Value, client: &str, field: &str) -> u64 {
    usage["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["client_id"] == client)
        .map(|b| b[field].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn requests_errors_and_429s_are_counted_per_client_over_both_instances() {
    let first = spawn_app().await;
    let second = first.spawn_sibling(|f| f).await;
    let harbour = clinic(&first, "harbour").await;
    let busy = create_client(&first, &harbour, &["doctors:read"], None).await;
    let limited = create_client(&first, &harbour, &["doctors:read"], Some(1)).await;
    let busy_token = token(&first, &busy).await;
    let limited_token = token(&first, &limited).await;
    for app in [&first, &first, &first, &second, &second] {
        assert_eq!(
            get_with(app, "/api/public/me", &busy_token).await.status(),
            200
        );
    }
    // Not the scope for it: a 4xx that is not a 429.
    assert_eq!(
        get_with(&second, "/api/public/webhooks", &busy_token)
            .await
            .status(),
        403
    );
    assert_eq!(
        get_with(&first, "/api/public/me", &limited_token)
            .await
            .status(),
        200
    );
    // Its own instance: without Redis, each instance keeps its own rate-limit windows.
    assert_eq!(
        get_with(&first, "/api/public/me", &limited_token)
            .await
            .status(),
        429
    );
    for app in [&first, &second] {
        app.state.usage_recorder.flush().await.unwrap();
    }

    let (status, usage) = get_as(&first, &harbour, &harbour.cookie, "/api/tenant/usage").await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(total(&usage, &busy.id, "requests"), 6, "{usage}");
    assert_eq!(total(&usage, &busy.id, "client_errors"), 1);
    assert_eq!(total(&usage, &busy.id, "rate_limited"), 0);
    assert_eq!(total(&usage, &limited.id, "requests"), 2);
    assert_eq!(total(&usage, &limited.id, "rate_limited"), 1);
    assert_eq!(total(&usage, &limited.id, "server_errors"), 0);

    let path = format!("/api/tenant/usage?client_id={}", limited.id);
    let (_, one_client) = get_as(&first, &harbour, &harbour.cookie, &path).await;
    assert!(
        one_client["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["client_id"] == limited.id.as_str()),
        "{one_client}"
    );
    assert_eq!(total(&one_client, &limited.id, "requests"), 2);

    // A clinician reads them too; another clinic sees none of them.
    first
        .add_user(
            "harbour",
            &harbour.cookie,
            "clinician@harbour.example.com",
            "clinician",
        )
        .await;
    let clinician = first
        .log_in("harbour", "clinician@harbour.example.com", PASSWORD)
        .await;
    let (status, _) = get_as(&first, &harbour, &clinician, "/api/tenant/usage").await;
    assert_eq!(status, 200);
    let ridge = clinic(&first, "ridge").await;
    let (_, theirs) = get_as(&first, &ridge, &ridge.cookie, &path).await;
    assert_eq!(theirs["buckets"], serde_json::json!([]));
}

#[tokio::test]
async fn counts_reach_the_database_within_seconds_without_being_asked() {
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    let client = create_client(&app, &harbour, &["doctors:read"], None).await;
    let access_token = token(&app, &client).await;
    assert_eq!(
        get_with(&app, "/api/public/me", &access_token)
            .await
            .status(),
        200
    );
    let started = Instant::now();
    loop {
        let (_, usage) = get_as(&app, &harbour, &harbour.cookie, "/api/tenant/usage").await;
        if total(&usage, &client.id, "requests") == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not flushed: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_reversed_or_overlong_span_and_a_malformed_client_are_refused() {
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    for path in [
        "/api/tenant/usage?from=2026-12-07T10:00:00Z&to=2026-12-07T09:00:00Z",
        "/api/tenant/usage?from=2026-12-01T00:00:00Z&to=2026-12-07T00:00:00Z",
        "/api/tenant/usage?client_id=not-a-client",
    ] {
        let (status, problem) = get_as(&app, &harbour, &harbour.cookie, path).await;
        assert_eq!(status, 422, "{path}: {problem}");
    }
}
