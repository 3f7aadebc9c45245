//! A partner's endpoints: created with a secret shown once, listed, read, changed, rotated (the
//! new secret shown once, the old one kept for the grace) and deleted; invalid input named field
//! by field; another client's or another clinic's endpoint is 404.

use reqwest::Method;
use serde_json::{Value, json};

use super::{Partner, field_codes};

const SCOPES: &[&str] = &["appointments:read", "patients:read", "webhooks:manage"];

/// Whether any string in `value` (at any depth) starts with `whsec_`.
fn carries_a_secret(value: &Value) -> bool {
    match value {
        Value::String(text) => text.starts_with("whsec_"),
        Value::Array(items) => items.iter().any(carries_a_secret),
        Value::Object(fields) => fields.values().any(carries_a_secret),
        _ => false,
    }
}

#[tokio::test]
async fn an_endpoint_is_created_with_a_secret_shown_once_then_read_changed_rotated_and_deleted() {
    let partner = Partner::new(SCOPES).await;
    let response = partner
        .call_as(
            &partner.token,
            Method::POST,
            "/api/public/webhooks",
            Some(json!({
                "url": "http://127.0.0.1:9999/hooks",
                "event_types": ["appointment.created", "patient.created", "appointment.created"],
                "description": "  Bookings  ",
            })),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/public/webhooks/{id}"));
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["url"], "http://127.0.0.1:9999/hooks");
    assert_eq!(
        created["event_types"],
        json!(["appointment.created", "patient.created"])
    );
    assert_eq!(created["description"], "Bookings");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["disabled_reason"], Value::Null);

    let path = format!("/api/public/webhooks/{id}");
    let (status, listed) = partner
        .call(Method::GET, "/api/public/webhooks", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    let (status, fetched) = partner.call(Method::GET, &path, None).await;
    assert_eq!(status, 200);
    for answer in [&listed, &fetched] {
        assert!(
            !carries_a_secret(answer),
            "a secret is shown only once: {answer}"
        );
    }

    let (status, changed) = partner
        .call(
            Method::PATCH,
            &path,
            Some(json!({
                "url": "http://127.0.0.1:10000/v2",
                "event_types": ["appointment.cancelled"],
                "description": null,
                "enabled": false,
            })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["url"], "http://127.0.0.1:10000/v2");
    assert_eq!(changed["event_types"], json!(["appointment.cancelled"]));
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["disabled_reason"], "manual");
    assert!(!carries_a_secret(&changed));
    let (status, problem) = partner.call(Method::PATCH, &path, Some(json!({}))).await;
    assert_eq!(status, 422);
    assert_eq!(field_codes(&problem), ["url:nothing_to_change"]);
    let (_, enabled) = partner
        .call(Method::PATCH, &path, Some(json!({"enabled": true})))
        .await;
    assert_eq!(enabled["enabled"], true);

    let (status, rotated) = partner
        .call(Method::POST, &format!("{path}/rotate-secret"), None)
        .await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    let (_, fetched) = partner.call(Method::GET, &path, None).await;
    assert!(!carries_a_secret(&fetched));
    assert_eq!(
        fetched["previous_secret_expires_at"],
        rotated["previous_secret_expires_at"]
    );

    let (status, _) = partner.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, problem) = partner.call(Method::GET, &path, None).await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("not_found")));
    let (status, _) = partner.call(Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
    let (_, listed) = partner
        .call(Method::GET, "/api/public/webhooks", None)
        .await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn every_invalid_field_is_named_at_once() {
    let partner = Partner::new(SCOPES).await;
    let (status, problem) = partner
        .call(
            Method::POST,
            "/api/public/webhooks",
            Some(json!({
                "url": "  ",
                "event_types": ["appointment.deleted"],
                "description": "line one\nline two",
            })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        field_codes(&problem),
        [
            "url:required",
            "event_types:unknown_event_type",
            "description:invalid_characters"
        ]
    );
    let (status, problem) = partner
        .call(Method::POST, "/api/public/webhooks", Some(json!({})))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        field_codes(&problem),
        ["url:required", "event_types:required"]
    );
    let (status, problem) = partner
        .call(
            Method::POST,
            "/api/public/webhooks",
            Some(json!({"url": "not a url", "event_types": ["patient.created"], "secret": "mine"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_body")),
        "unknown fields are refused"
    );
}

#[tokio::test]
async fn another_clients_or_another_clinics_endpoint_is_not_found() {
    let partner = Partner::new(SCOPES).await;
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let path = format!("/api/public/webhooks/{}", endpoint["id"].as_str().unwrap());
    let sibling = partner.sibling_token(SCOPES).await;
    let app = &partner.app;
    let other_clinic = crate::tokens::clinic(app, "elsewhere").await;
    let outsider = crate::tokens::create_client(app, &other_clinic, SCOPES, None).await;
    let outsider = crate::tokens::token(app, &outsider).await;

    for token in [&sibling, &outsider] {
        for (method, suffix, body) in [
            (Method::GET, "", None),
            (Method::PATCH, "", Some(json!({"enabled": false}))),
            (Method::DELETE, "", None),
            (Method::POST, "/rotate-secret", None),
            (Method::POST, "/test", None),
            (Method::GET, "/deliveries", None),
            (
                Method::POST,
                "/recover",
                Some(json!({"since": "2026-01-01T00:00:00Z"})),
            ),
        ] {
            let response = partner
                .call_as(token, method.clone(), &format!("{path}{suffix}"), body)
                .await;
            assert_eq!(response.status(), 404, "{method} {path}{suffix}");
        }
        let (_, listed) = super::status_and_json(
            partner
                .call_as(token, Method::GET, "/api/public/webhooks", None)
                .await,
        )
        .await;
        assert_eq!(listed["data"], json!([]));
    }
    let (status, fetched) = partner.call(Method::GET, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["enabled"], true, "nobody else disabled it");
    // An id that is not one names nothing.
    let (status, _) = partner
        .call(Method::GET, "/api/public/webhooks/not-an-id", None)
        .await;
    assert_eq!(status, 404);
}
