//! `webhooks:manage` is a scope like the others: a clinic grants it and the client asks for it in
//! a token; without it every webhook route is refused, naming it. An endpoint is sent only
//! events its client's scopes may read.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Partner, field_codes};
use crate::tokens::request_token;

#[tokio::test]
async fn a_clinic_grants_webhooks_manage_and_its_client_gets_a_token_for_it() {
    let partner = Partner::new(&["appointments:read", "webhooks:manage"]).await;
    let response = request_token(
        &partner.app,
        &partner.client,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "webhooks:manage"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "webhooks:manage");

    let (status, me) = partner.call(Method::GET, "/api/public/me", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        me["scopes"],
        json!(["appointments:read", "webhooks:manage"])
    );
}

#[tokio::test]
async fn without_webhooks_manage_every_webhook_route_is_refused_naming_the_scope() {
    let partner = Partner::new(&["appointments:read", "webhooks:manage"]).await;
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let id = endpoint["id"].as_str().unwrap();
    let reader = partner.sibling_token(&["appointments:read"]).await;
    let any = "0193b0a0-0000-7000-8000-000000000000";
    // Bodies that parse, so the scope is what refuses (extractors run concurrently, and a
    // body's refusal could otherwise come first).
    let since = json!({"since": "2026-01-01T00:00:00Z"});
    for (method, path, body) in [
        (Method::GET, "/api/public/webhooks".to_owned(), None),
        (
            Method::POST,
            "/api/public/webhooks".to_owned(),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/public/webhooks/{id}"), None),
        (
            Method::PATCH,
            format!("/api/public/webhooks/{id}"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/api/public/webhooks/{id}"), None),
        (
            Method::POST,
            format!("/api/public/webhooks/{id}/rotate-secret"),
            None,
        ),
        (
            Method::POST,
            format!("/api/public/webhooks/{id}/test"),
            None,
        ),
        (
            Method::GET,
            format!("/api/public/webhooks/{id}/deliveries"),
            None,
        ),
        (
            Method::POST,
            format!("/api/public/webhooks/{id}/deliveries/{any}/resend"),
            None,
        ),
        (
            Method::POST,
            format!("/api/public/webhooks/{id}/recover"),
            Some(since.clone()),
        ),
    ] {
        let response = partner.call_as(&reader, method.clone(), &path, body).await;
        assert_eq!(response.status(), 403, "{method} {path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains("scope=\"webhooks:manage\""),
            "{challenge}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "insufficient_scope");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("webhooks:manage")
        );
    }
    // The endpoint is untouched.
    let (status, _) = partner
        .call(Method::GET, &format!("/api/public/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_event_type_whose_data_the_client_may_not_read_is_refused() {
    let partner = Partner::new(&["appointments:read", "webhooks:manage"]).await;
    let (status, problem) = partner
        .call(
            Method::POST,
            "/api/public/webhooks",
            Some(json!({
                "url": "http://127.0.0.1:9999/hooks",
                "event_types": ["appointment.created", "patient.created", "doctor.queue_updated"],
            })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(field_codes(&problem), ["event_types:scope_missing"]);
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("patient.created needs patients:read"),
        "{message}"
    );
    assert!(
        message.contains("doctor.queue_updated needs doctors:read"),
        "{message}"
    );

    // Nor by a change.
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let (status, problem) = partner
        .patch(&endpoint, json!({"event_types": ["patient.updated"]}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(field_codes(&problem), ["event_types:scope_missing"]);
}

#[tokio::test]
async fn the_event_type_catalogue_needs_no_token_and_names_each_types_scope() {
    let partner = Partner::new(&["webhooks:manage"]).await;
    let response = partner.app.get("/api/public/event-types").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let types = body["data"].as_array().unwrap();
    assert_eq!(types.len(), 10);
    let created = types
        .iter()
        .find(|t| t["type"] == "appointment.created")
        .unwrap();
    assert_eq!(created["scope"], "appointments:read");
    assert!(!created["description"].as_str().unwrap().is_empty());
    let queue = types
        .iter()
        .find(|t| t["type"] == "doctor.queue_updated")
        .unwrap();
    assert_eq!(queue["scope"], "doctors:read");
}
