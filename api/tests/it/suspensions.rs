//! The clinic's kill-switches through the real HTTP surface: a suspended client's tokens are
//! refused on every instance within the stated bound (with and without Redis, and after Redis
//! loses its data), the clinic-wide switch stops every client, only owners and admins switch,
//! another clinic's client is 404, and the history says who did what.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::common::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::shared_store::{PrivateRedis, two_instances};
use crate::tokens::{Client, Clinic, clinic, create_client, get_with, request_token, token};

/// How long a switch may take to reach every instance (`docs/operations.md`): the next request
/// with Redis or without; the bound leaves room for a slow test machine.
const BOUND: Duration = Duration::from_secs(2);

/// `POST path` on the clinic's host as the holder of `cookie`; the status and JSON body.
async fn post_as(app: &TestApp, clinic: &Clinic, cookie: &str, path: &str) -> (u16, Value) {
    let response = app
        .on(Method::POST, clinic.sub(), path, Some(cookie))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Suspends (`"suspend"`) or resumes (`"resume"`) `client` as the clinic's owner.
async fn switch_client(app: &TestApp, clinic: &Clinic, client: &Client, action: &str) -> Value {
    let path = format!("/api/tenant/clients/{}/{action}", client.id);
    let (status, body) = post_as(app, clinic, &clinic.cookie, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_id"], client.id.as_str());
    body
}

/// `GET /api/public/me` with `token`; the status and the problem's code, if any.
async fn me(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let response = get_with(app, "/api/public/me", token).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().map(str::to_owned))
}

/// Waits until every instance answers `token` with `expected` (a status), at most [`BOUND`];
/// how long it took.
async fn answered_everywhere(apps: [&TestApp; 2], token: &str, expected: u16) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        for app in apps {
            all &= me(app, token).await.0 == expected;
        }
        if all {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < BOUND,
            "not every instance answered {expected} within {BOUND:?} (backends {:?})",
            apps[0].backends()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_suspended_clients_tokens_are_refused_on_both_instances_until_it_is_resumed() {
    let first = spawn_app().await;
    let second = first.spawn_sibling(|f| f).await;
    let harbour = clinic(&first, "harbour").await;
    let suspended = create_client(&first, &harbour, &["doctors:read"], None).await;
    let other = create_client(&first, &harbour, &["doctors:read"], None).await;
    let suspended_token = token(&first, &suspended).await;
    let other_token = token(&first, &other).await;
    // Both instances have seen (and, with Redis, cached) the client as usable.
    for app in [&first, &second] {
        assert_eq!(me(app, &suspended_token).await.0, 200);
    }

    let body = switch_client(&first, &harbour, &suspended, "suspend").await;
    assert!(body["suspended_at"].is_string(), "{body}");

    let took = answered_everywhere([&first, &second], &suspended_token, 403).await;
    eprintln!("suspension refused on both instances after {took:?}");
    for app in [&first, &second] {
        assert_eq!(
            me(app, &suspended_token).await,
            (403, Some("client_suspended".to_owned())),
            "the partner is told why"
        );
        assert_eq!(
            me(app, &other_token).await.0,
            200,
            "the other client runs on"
        );
        let (status, introspected) = crate::tokens::validate(app, &suspended_token).await;
        assert_eq!(status, 401);
        assert_eq!(introspected["active"], false);
    }
    let (_, clients) = get_as(&first, &harbour, &harbour.cookie, "/api/tenant/clients").await;
    let listed = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == suspended.id.as_str())
        .unwrap();
    assert_eq!(listed["suspended_at"], body["suspended_at"]);

    // Suspending again changes nothing (and records nothing, see the history test). Staff act
    // on the instance they logged in to: without Redis, sessions are each instance's own.
    let again = switch_client(&first, &harbour, &suspended, "suspend").await;
    assert_eq!(again["suspended_at"], body["suspended_at"]);

    let resumed = switch_client(&first, &harbour, &suspended, "resume").await;
    assert!(resumed["suspended_at"].is_null(), "{resumed}");
    let took = answered_everywhere([&first, &second], &suspended_token, 200).await;
    eprintln!("resumption served on both instances after {took:?}");
}

#[tokio::test]
async fn suspending_all_integrations_refuses_every_client_until_the_clinic_resumes() {
    let first = spawn_app().await;
    let second = first.spawn_sibling(|f| f).await;
    let harbour = clinic(&first, "harbour").await;
    let alone = create_client(&first, &harbour, &["doctors:read"], None).await;
    let also = create_client(&first, &harbour, &["doctors:read"], None).await;
    let tokens = [token(&first, &alone).await, token(&first, &also).await];
    let ridge = clinic(&first, "ridge").await;
    let elsewhere = create_client(&first, &ridge, &["doctors:read"], None).await;
    let elsewhere_token = token(&first, &elsewhere).await;
    for app in [&first, &second] {
        for access_token in &tokens {
            assert_eq!(me(app, access_token).await.0, 200);
        }
    }

    let (status, body) = post_as(
        &first,
        &harbour,
        &harbour.cookie,
        "/api/tenant/integrations/suspend",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["suspended_at"].is_string());
    for access_token in &tokens {
        answered_everywhere([&first, &second], access_token, 403).await;
    }
    assert_eq!(
        me(&second, &elsewhere_token).await.0,
        200,
        "another clinic's clients run on"
    );
    let (_, overview) = get_as(
        &first,
        &harbour,
        &harbour.cookie,
        "/api/tenant/integrations/suspensions",
    )
    .await;
    assert_eq!(overview["suspended_at"], body["suspended_at"]);

    // A client suspended on its own stays suspended when the clinic resumes.
    switch_client(&first, &harbour, &alone, "suspend").await;
    let (status, body) = post_as(
        &first,
        &harbour,
        &harbour.cookie,
        "/api/tenant/integrations/resume",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["suspended_at"].is_null());
    answered_everywhere([&first, &second], &tokens[1], 200).await;
    assert_eq!(me(&first, &tokens[0]).await.0, 403);
    assert_eq!(me(&second, &tokens[0]).await.0, 403);
}

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

#[tokio::test]
async fn a_clinician_cannot_switch_and_another_clinics_client_is_not_found() {
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    let client = create_client(&app, &harbour, &["doctors:read"], None).await;
    let access_token = token(&app, &client).await;
    app.add_user(
        "harbour",
        &harbour.cookie,
        "clinician@harbour.example.com",
        "clinician",
    )
    .await;
    let clinician = app
        .log_in("harbour", "clinician@harbour.example.com", PASSWORD)
        .await;
    let ridge = clinic(&app, "ridge").await;

    for path in [
        format!("/api/tenant/clients/{}/suspend", client.id),
        "/api/tenant/integrations/suspend".to_owned(),
    ] {
        let (status, body) = post_as(&app, &harbour, &clinician, &path).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    // A clinician may read what was switched, and nothing was.
    let (status, overview) = get_as(
        &app,
        &harbour,
        &clinician,
        "/api/tenant/integrations/suspensions",
    )
    .await;
    assert_eq!(status, 200, "{overview}");
    assert!(overview["suspended_at"].is_null());
    assert_eq!(overview["history"], serde_json::json!([]));

    // Another clinic's owner, on their own host, cannot reach this clinic's client.
    let path = format!("/api/tenant/clients/{}/suspend", client.id);
    let (status, body) = post_as(&app, &ridge, &ridge.cookie, &path).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = post_as(
        &app,
        &harbour,
        &harbour.cookie,
        "/api/tenant/clients/cgcl_not-a-client/suspend",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        me(&app, &access_token).await.0,
        200,
        "nothing was suspended"
    );
}

#[tokio::test]
async fn the_history_says_who_suspended_and_resumed_what_newest_first() {
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    let client = create_client(&app, &harbour, &["doctors:read"], None).await;
    app.add_user(
        "harbour",
        &harbour.cookie,
        "admin@harbour.example.com",
        "admin",
    )
    .await;
    let admin = app
        .log_in("harbour", "admin@harbour.example.com", PASSWORD)
        .await;
    let client_path = |action: &str| format!("/api/tenant/clients/{}/{action}", client.id);

    assert_eq!(
        post_as(&app, &harbour, &harbour.cookie, &client_path("suspend"))
            .await
            .0,
        200
    );
    // Already suspended: not recorded twice.
    assert_eq!(
        post_as(&app, &harbour, &admin, &client_path("suspend"))
            .await
            .0,
        200
    );
    assert_eq!(
        post_as(&app, &harbour, &admin, &client_path("resume"))
            .await
            .0,
        200
    );
    assert_eq!(
        post_as(&app, &harbour, &admin, "/api/tenant/integrations/suspend")
            .await
            .0,
        200
    );

    let (status, overview) = get_as(
        &app,
        &harbour,
        &harbour.cookie,
        "/api/tenant/integrations/suspensions",
    )
    .await;
    assert_eq!(status, 200);
    let history: Vec<(Value, String, String)> = overview["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["client_id"].clone(),
                e["action"].as_str().unwrap().to_owned(),
                e["actor_email"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let client_id = Value::String(client.id.clone());
    assert_eq!(
        history,
        vec![
            (
                Value::Null,
                "suspend".to_owned(),
                "admin@harbour.example.com".to_owned()
            ),
            (
                client_id.clone(),
                "resume".to_owned(),
                "admin@harbour.example.com".to_owned()
            ),
            (
                client_id,
                "suspend".to_owned(),
                harbour.clinic.owner_email.clone()
            ),
        ]
    );
}

#[tokio::test]
async fn suspensions_hold_on_both_instances_after_redis_loses_everything() {
    let Some(redis) = PrivateRedis::start_or_explain("the suspension flush test").await else {
        return;
    };
    let (one, two) = two_instances(redis.url()).await;
    let harbour = clinic(&one, "harbour").await;
    let suspended = create_client(&one, &harbour, &["doctors:read"], None).await;
    let running = create_client(&one, &harbour, &["doctors:read"], None).await;
    let suspended_token = token(&one, &suspended).await;
    let running_token = token(&one, &running).await;
    let ridge = clinic(&one, "ridge").await;
    let ridge_client = create_client(&one, &ridge, &["doctors:read"], None).await;
    let ridge_token = token(&one, &ridge_client).await;
    for app in [&one, &two] {
        for access_token in [&suspended_token, &running_token, &ridge_token] {
            assert_eq!(me(app, access_token).await.0, 200);
        }
    }
    switch_client(&one, &harbour, &suspended, "suspend").await;
    let (status, _) = post_as(
        &one,
        &ridge,
        &ridge.cookie,
        "/api/tenant/integrations/suspend",
    )
    .await;
    assert_eq!(status, 200);

    assert_eq!(redis.command(&["FLUSHALL"]).trim(), "OK");
    let started = Instant::now();
    let mut recovered = None;
    while started.elapsed() < Duration::from_secs(3) {
        for app in [&one, &two] {
            for access_token in [&suspended_token, &ridge_token] {
                let (status, _) = me(app, access_token).await;
                assert!(
                    matches!(status, 403 | 503),
                    "a suspended client got {status} {:?} after the flush",
                    started.elapsed()
                );
            }
        }
        if recovered.is_none()
            && me(&one, &running_token).await.0 == 200
            && me(&two, &running_token).await.0 == 200
        {
            recovered = Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recovered = recovered.expect("the running client is served again after the flush");
    assert!(recovered < BOUND, "{recovered:?}");
}

#[tokio::test]
async fn suspensions_are_not_lost_when_an_instance_starts_after_them() {
    // The state is the database's: a fresh instance (empty caches) refuses at once.
    let first = spawn_app_with(|f| f).await;
    let harbour = clinic(&first, "harbour").await;
    let client = create_client(&first, &harbour, &["doctors:read"], None).await;
    let access_token = token(&first, &client).await;
    switch_client(&first, &harbour, &client, "suspend").await;
    let late = first.spawn_sibling(|f| f).await;
    assert_eq!(me(&late, &access_token).await.0, 403);
}

/// `POST /api/auth/token` for `client`; the status and the OAuth `error`.
async fn grant(app: &TestApp, client: &Client) -> (u16, Option<String>) {
    let response = request_token(app, client, &[("grant_type", "client_credentials")]).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn a_suspended_client_gets_no_new_token_until_it_is_resumed() {
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    let suspended = create_client(&app, &harbour, &["doctors:read"], None).await;
    let other = create_client(&app, &harbour, &["doctors:read"], None).await;
    switch_client(&app, &harbour, &suspended, "suspend").await;

    let unauthorized = (400, Some("unauthorized_client".to_owned()));
    assert_eq!(grant(&app, &suspended).await, unauthorized);
    assert_eq!(
        grant(&app, &other).await.0,
        200,
        "the other client is served"
    );
    let impostor = Client {
        id: suspended.id.clone(),
        secret: format!("{}x", suspended.secret),
    };
    assert_eq!(
        grant(&app, &impostor).await,
        (401, Some("invalid_client".to_owned())),
        "without the secret nothing is said about the suspension"
    );

    switch_client(&app, &harbour, &suspended, "resume").await;
    assert_eq!(grant(&app, &suspended).await.0, 200);

    // The clinic-wide switch refuses every client's new tokens the same way.
    let (status, _) = post_as(
        &app,
        &harbour,
        &harbour.cookie,
        "/api/tenant/integrations/suspend",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(grant(&app, &other).await, unauthorized);
    let (status, _) = post_as(
        &app,
        &harbour,
        &harbour.cookie,
        "/api/tenant/integrations/resume",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(grant(&app, &other).await.0, 200);
}
