//! An endpoint's deliveries as its partner reads them: newest first with their attempts, paged
//! with `before`, filtered by status and event type; a delivery resent (202, due now; 422 past
//! the retention); every event since a moment recovered. Events and attempts are written with
//! the real queue, as the publisher and the workers write them.
//!
//! The endpoint under test is disabled first, so a delivery worker running in the app holds its
//! deliveries (pending, no attempt) instead of sending them: what the test records is what it
//! reads back.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use clinicgate_core::delivery::DeliveryId;
use clinicgate_core::events::EventType;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Partner, field_codes};
use crate::common::deliveries::Events;

const SCOPES: &[&str] = &["appointments:read", "patients:read", "webhooks:manage"];

/// A partner with a disabled endpoint for appointment events; the endpoint's id.
async fn disabled_endpoint(partner: &Partner) -> String {
    let endpoint = partner
        .create(
            "http://127.0.0.1:9999/hooks",
            &["appointment.created", "appointment.cancelled"],
        )
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let (status, _) = partner
        .call(
            Method::PATCH,
            &format!("/api/public/webhooks/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    id
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_with_their_attempts_paged_and_filtered() {
    let partner = Partner::new(SCOPES).await;
    let id = disabled_endpoint(&partner).await;
    let events = Events::of(&partner.app, &partner.clinic.clinic.id);
    let now = Utc::now();
    let mut published = Vec::new();
    for event_type in [
        EventType::AppointmentCreated,
        EventType::AppointmentCancelled,
        EventType::AppointmentCreated,
    ] {
        published.push(events.publish(event_type, now, &[&id]).await[0].to_string());
    }
    events.fail(published[0].parse().unwrap(), 503).await;
    let path = format!("/api/public/webhooks/{id}/deliveries");

    let response = partner
        .call_as(&partner.token, Method::GET, &path, None)
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page: Value = response.json().await.unwrap();
    assert_eq!(ids(&page), [&published[2], &published[1], &published[0]]);
    assert!(page.get("next_before").is_none(), "{page}");
    let newest = &page["data"][0];
    assert_eq!(newest["event_type"], "appointment.created");
    assert_eq!(newest["status"], "pending");
    assert!(newest["next_attempt_at"].is_string());
    assert_eq!(newest["attempts"], json!([]));
    let oldest = &page["data"][2];
    assert_eq!(oldest["status"], "failed");
    assert_eq!(oldest["next_attempt_at"], Value::Null);
    assert!(oldest["finished_at"].is_string());
    assert_eq!(oldest["attempts"].as_array().unwrap().len(), 1);
    let attempt = &oldest["attempts"][0];
    assert_eq!(attempt["status_code"], 503);
    assert_eq!(attempt["error_class"], Value::Null);
    assert_eq!(attempt["latency_ms"], 12);
    assert_eq!(attempt["response_excerpt"], "receiver said no");

    let (_, first) = partner
        .call(Method::GET, &format!("{path}?limit=2"), None)
        .await;
    assert_eq!(ids(&first), [&published[2], &published[1]]);
    let before = first["next_before"].as_str().unwrap();
    assert_eq!(before, published[1]);
    let (_, second) = partner
        .call(
            Method::GET,
            &format!("{path}?limit=2&before={before}"),
            None,
        )
        .await;
    assert_eq!(ids(&second), [&published[0]]);
    assert!(second.get("next_before").is_none());

    let (_, failed) = partner
        .call(Method::GET, &format!("{path}?status=failed"), None)
        .await;
    assert_eq!(ids(&failed), [&published[0]]);
    let (_, cancelled) = partner
        .call(
            Method::GET,
            &format!("{path}?event_type=appointment.cancelled"),
            None,
        )
        .await;
    assert_eq!(ids(&cancelled), [&published[1]]);

    let (status, problem) = partner
        .call(
            Method::GET,
            &format!("{path}?before=yesterday&status=lost&event_type=appointment.deleted"),
            None,
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        field_codes(&problem),
        [
            "before:invalid",
            "status:invalid",
            "event_type:unknown_event_type"
        ]
    );
    for limit in [0, 101] {
        let (status, problem) = partner
            .call(Method::GET, &format!("{path}?limit={limit}"), None)
            .await;
        assert_eq!(status, 422);
        assert_eq!(field_codes(&problem), ["limit:out_of_range"]);
    }
}

#[tokio::test]
async fn a_delivery_is_resent_and_every_event_since_a_moment_is_recovered() {
    let partner = Partner::new(SCOPES).await;
    let id = disabled_endpoint(&partner).await;
    let other = disabled_endpoint(&partner).await;
    let events = Events::of(&partner.app, &partner.clinic.clinic.id);
    let now = Utc::now();
    // Before the endpoint heard anything: two appointment events and a patient event it is not
    // sent.
    events
        .publish(
            EventType::AppointmentCreated,
            now - TimeDelta::hours(3),
            &[],
        )
        .await;
    events
        .publish(
            EventType::AppointmentCancelled,
            now - TimeDelta::minutes(30),
            &[],
        )
        .await;
    events
        .publish(EventType::PatientCreated, now - TimeDelta::minutes(20), &[])
        .await;
    let delivered = events
        .publish(
            EventType::AppointmentCreated,
            now - TimeDelta::minutes(10),
            &[&id],
        )
        .await[0];
    let elsewhere = events
        .publish(EventType::AppointmentCreated, now, &[&other])
        .await[0];

    let partner = &partner;
    let resend = |delivery: String| {
        let path = format!("/api/public/webhooks/{id}/deliveries/{delivery}/resend");
        async move { partner.call(Method::POST, &path, None).await }
    };
    let (status, resent) = resend(delivered.to_string()).await;
    assert_eq!(status, 202, "{resent}");
    let again = resent["delivery_id"].as_str().unwrap().to_owned();
    assert_ne!(again, delivered.to_string());
    let path = format!("/api/public/webhooks/{id}/deliveries");
    let (_, page) = partner.call(Method::GET, &path, None).await;
    assert_eq!(page["data"][0]["id"], again.as_str());
    assert_eq!(page["data"][0]["event_id"], page["data"][1]["event_id"]);
    assert_eq!(page["data"][0]["status"], "pending");

    let (status, _) = resend(elsewhere.to_string()).await;
    assert_eq!(status, 404, "another endpoint's delivery");
    let (status, _) = resend(DeliveryId::new().to_string()).await;
    assert_eq!(status, 404);

    let expiring = events
        .publish_until(
            EventType::AppointmentCreated,
            now,
            Utc::now() + TimeDelta::milliseconds(300),
            &[&id],
        )
        .await[0];
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, problem) = resend(expiring.to_string()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("beyond_retention"))
    );

    let recover = format!("/api/public/webhooks/{id}/recover");
    let since = (now - TimeDelta::hours(1)).to_rfc3339();
    let (status, recovered) = partner
        .call(Method::POST, &recover, Some(json!({"since": since})))
        .await;
    assert_eq!(status, 202, "{recovered}");
    // Every appointment event of the clinic in the hour: the cancellation 30 minutes ago, the
    // booking 10 minutes ago and the one the other endpoint was sent; not the patient event (not
    // subscribed), the one three hours ago (before `since`), nor the one that expired.
    assert_eq!(recovered, json!({"count": 3, "truncated": false}));
    let (_, page) = partner
        .call(
            Method::GET,
            &format!("{path}?event_type=appointment.cancelled"),
            None,
        )
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    let future = (Utc::now() + TimeDelta::hours(1)).to_rfc3339();
    let (_, nothing) = partner
        .call(Method::POST, &recover, Some(json!({"since": future})))
        .await;
    assert_eq!(nothing, json!({"count": 0, "truncated": false}));
    let (status, problem) = partner
        .call(Method::POST, &recover, Some(json!({"since": "last week"})))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_body"))
    );
}
