//! The acceptance, as a new user would try it: a clinic connected to the sandbox, a
//! partner's endpoint registered with a token, then a patient created, an appointment booked,
//! moved and cancelled directly in Cliniko, and one booked through the public API — each event
//! arrives once, signed, at a receiver that verifies it with the Standard Webhooks reference
//! library, and the clinic's webhooks API shows the deliveries. Everything runs in the app itself:
//! its own poller on the background lane, its own delivery worker.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Partner, allow_loopback, verified};
use crate::polling::{Reception, a_few_polls, baseline, connected, polling_on, roomy_sandbox};
use crate::public_api::{app_on, bookable, new_key, send_json};

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
    "webhooks:manage",
];

const TYPES: &[&str] = &[
    "patient.created",
    "appointment.created",
    "appointment.updated",
    "appointment.cancelled",
];

/// The verified messages `server` received so far: `(webhook-id, type, data)`.
async fn messages(server: &MockServer, secret: &str) -> Vec<(String, String, Value)> {
    let mut seen = Vec::new();
    for request in server.received_requests().await.unwrap() {
        let body = verified(&request, secret);
        seen.push((
            request.headers["webhook-id"].to_str().unwrap().to_owned(),
            body["type"].as_str().unwrap().to_owned(),
            body["data"].clone(),
        ));
    }
    seen
}

/// Waits until a message of `event_type` about `id` arrived; its data.
async fn arrival(server: &MockServer, secret: &str, event_type: &str, id: &str) -> Value {
    for _ in 0..300 {
        if let Some((_, _, data)) = messages(server, secret)
            .await
            .into_iter()
            .find(|(_, t, data)| t == event_type && data["id"] == id)
        {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {event_type} for {id}");
}

#[tokio::test]
async fn changes_in_cliniko_and_through_the_api_arrive_once_each_signed_at_the_partner() {
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| {
        allow_loopback(polling_on(f)).merge(Serialized::default("polling.enabled", true))
    })
    .await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let tenant = clinic.tenant;
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let endpoint = partner
        .create(&format!("{}/clinicgate", server.uri()), TYPES)
        .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    baseline(&partner.app, tenant).await;

    // Reception works in Cliniko.
    let desk = Reception::at(&sandbox, &clinic.key);
    let patient = desk.new_patient("Aroha", "Ngata").await;
    let data = arrival(&server, &secret, "patient.created", &patient).await;
    assert_eq!(data["first_name"], "Aroha");
    let starts = Utc::now() + TimeDelta::hours(5);
    let appointment = desk
        .book(&patient, starts, starts + TimeDelta::minutes(30))
        .await;
    arrival(&server, &secret, "appointment.created", &appointment).await;
    let path = format!("/individual_appointments/{appointment}");
    let moved = starts + TimeDelta::hours(1);
    desk.patch(
        &path,
        json!({"starts_at": moved.to_rfc3339(), "ends_at": (moved + TimeDelta::minutes(30)).to_rfc3339()}),
    )
    .await;
    let data = arrival(&server, &secret, "appointment.updated", &appointment).await;
    let announced: chrono::DateTime<Utc> = data["starts_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(announced.timestamp(), moved.timestamp());
    desk.patch(
        &format!("{path}/cancel"),
        json!({"cancellation_reason": 40}),
    )
    .await;
    let data = arrival(&server, &secret, "appointment.cancelled", &appointment).await;
    assert_eq!(data["status"], "cancelled");

    // The partner books through ClinicGate: the event is published at once, not by a poll.
    let target = bookable(&partner.app, &partner.token, "Marcus").await;
    let free = target.free_starts(&partner.app, &partner.token).await;
    let (status, booked) = send_json(
        &partner.app,
        Method::POST,
        "/api/public/appointments",
        &partner.token,
        Some(&new_key()),
        &target.booking(&free[0], "aroha@example.org"),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    let own = booked["id"].as_str().unwrap();
    let data = arrival(&server, &secret, "appointment.created", own).await;
    assert_eq!(data, booked, "the event carries what the API answered");

    // Polls later, still once each.
    a_few_polls().await;
    let seen = messages(&server, &secret).await;
    for (event_type, id) in [
        ("patient.created", patient.as_str()),
        ("appointment.created", appointment.as_str()),
        ("appointment.updated", appointment.as_str()),
        ("appointment.cancelled", appointment.as_str()),
        ("appointment.created", own),
    ] {
        let times = seen
            .iter()
            .filter(|(_, t, data)| t == event_type && data["id"] == id)
            .count();
        assert_eq!(times, 1, "{event_type} {id}: {seen:?}");
    }
    let mut ids: Vec<&String> = seen.iter().map(|(id, _, _)| id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "one webhook-id per message");

    // The clinic sees the endpoint and its deliveries.
    let owner = &partner.clinic;
    let listed = partner
        .app
        .on(
            Method::GET,
            owner.sub(),
            "/api/tenant/webhooks",
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["data"][0]["id"], endpoint["id"]);
    let deliveries = partner
        .app
        .on(
            Method::GET,
            owner.sub(),
            &format!(
                "/api/tenant/webhooks/{}/deliveries",
                endpoint["id"].as_str().unwrap()
            ),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    let deliveries: Value = deliveries.json().await.unwrap();
    let rows = deliveries["data"].as_array().unwrap();
    assert_eq!(rows.len(), seen.len());
    assert!(rows.iter().all(|d| d["status"] == "delivered"), "{rows:?}");
}
