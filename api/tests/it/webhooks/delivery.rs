//! Events published by a running app reach partners' endpoints through its delivery worker, as a
//! receiver using the Standard Webhooks reference library sees them: signed, with the public
//! API's shapes, retried with the same `webhook-id` after a 500 or a timeout, failed at once on
//! 410, and taken over by another instance when the one sending is killed mid-delivery.

use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use chrono_tz::Tz;
use clinicgate_core::booking::BookedAppointment;
use clinicgate_core::cliniko::{Appointment, ClinikoId};
use clinicgate_core::events::{EventData, EventType, NewEvent};
use clinicgate_core::ids::TenantId;
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{Partner, allow_loopback, verified};
use crate::binary::{Running, clinicgate, free_port};
use crate::common::spawn_app_with;

pub(super) const SCOPES: &[&str] = &["appointments:read", "webhooks:manage"];

/// An appointment as Cliniko answers it.
fn booked(id: &str) -> BookedAppointment {
    let cliniko_id = |raw: &str| ClinikoId::parse(raw).unwrap();
    let starts_at = Utc::now() + TimeDelta::days(2);
    BookedAppointment {
        appointment: Appointment {
            id: cliniko_id(id),
            starts_at,
            ends_at: Some(starts_at + TimeDelta::minutes(30)),
            patient_name: Some("Jane Citizen".into()),
            notes: Some("Left knee".into()),
            patient_id: Some(cliniko_id("836447129235000001")),
            practitioner_id: Some(cliniko_id("836447129235000002")),
            business_id: Some(cliniko_id("836447129235000003")),
            appointment_type_id: Some(cliniko_id("836447129235000004")),
            cancelled_at: None,
            cancellation_reason: None,
            cancellation_reason_description: None,
            cancellation_note: None,
            did_not_arrive: Some(false),
            patient_arrived: Some(false),
            telehealth_url: None,
            archived_at: None,
            deleted_at: None,
            created_at: Some(Utc::now()),
            updated_at: Some(Utc::now()),
        },
        time_zone: Tz::Australia__Sydney,
    }
}

/// Publishes `appointment.created` for appointment `id` through the app's own publisher.
pub(super) async fn publish(partner: &Partner, id: &str) -> String {
    let tenant: TenantId = partner.clinic.clinic.id.parse().unwrap();
    let event = NewEvent {
        event_type: EventType::AppointmentCreated,
        occurred_at: Utc::now(),
        data: EventData::Appointment(booked(id)),
    };
    partner
        .app
        .state
        .events
        .publish(tenant, event)
        .await
        .unwrap()
        .to_string()
}

/// Waits until `server` has received `count` requests (at most `within`); them.
pub(super) async fn received(server: &MockServer, count: usize, within: Duration) -> Vec<Request> {
    let started = Instant::now();
    loop {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= count {
            return requests;
        }
        assert!(
            started.elapsed() < within,
            "{} of {count} requests after {within:?}",
            requests.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) fn webhook_id(request: &Request) -> String {
    request.headers["webhook-id"].to_str().unwrap().to_owned()
}

/// The endpoint's deliveries as its partner reads them, once the newest is no longer pending.
async fn settled_deliveries(partner: &Partner, endpoint: &Value) -> Vec<Value> {
    let path = Partner::path_of(endpoint, "/deliveries");
    for _ in 0..100 {
        let (status, page) = partner.call(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap().clone();
        if data.first().is_some_and(|d| d["status"] != "pending") {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the delivery never settled");
}

#[tokio::test]
async fn a_published_event_reaches_each_subscribed_endpoint_signed_in_the_public_api_shape() {
    let partner = Partner::new(SCOPES).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let subscribed = partner
        .create(
            &format!("{}/created", server.uri()),
            &["appointment.created"],
        )
        .await;
    partner
        .create(
            &format!("{}/cancelled", server.uri()),
            &["appointment.cancelled"],
        )
        .await;
    // Another clinic's partner on the same app, subscribed to the same type.
    let other = Partner::on(spawn_app_with(allow_loopback).await, "lighthouse", SCOPES).await;
    other
        .create(&format!("{}/other", server.uri()), &["appointment.created"])
        .await;

    let event_id = publish(&partner, "836447129235991234").await;

    let requests = received(&server, 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests_later = server.received_requests().await.unwrap();
    assert_eq!(
        requests_later.len(),
        1,
        "only the subscribed endpoint hears it"
    );
    let request = &requests[0];
    assert_eq!(request.url.path(), "/created");
    assert_eq!(webhook_id(request), event_id);
    let message = verified(request, subscribed["secret"].as_str().unwrap());
    assert_eq!(message["type"], "appointment.created");
    assert!(message["timestamp"].is_string());
    let data = &message["data"];
    assert_eq!(data["id"], "836447129235991234");
    assert_eq!(data["status"], "booked");
    assert_eq!(data["doctor_id"], "836447129235000002");
    assert_eq!(data["time_zone"], "Australia/Sydney");
    assert!(data.get("patient_name").is_none(), "{data}");

    let deliveries = settled_deliveries(&partner, &subscribed).await;
    assert_eq!(deliveries[0]["status"], "delivered");
    assert_eq!(deliveries[0]["attempts"][0]["status_code"], 204);
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_webhook_id_and_a_410_fails_at_once() {
    let partner = Partner::new(SCOPES).await;
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("try later"))
        .up_to_n_times(1)
        .mount(&flaky)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&flaky)
        .await;
    let gone = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&gone)
        .await;
    let retried = partner
        .create(&format!("{}/hooks", flaky.uri()), &["appointment.created"])
        .await;
    let refused = partner
        .create(&format!("{}/hooks", gone.uri()), &["appointment.created"])
        .await;

    publish(&partner, "836447129235991235").await;

    // The schedule's first retry comes 5 s (±20 %) after the failure.
    let requests = received(&flaky, 2, Duration::from_secs(15)).await;
    assert_eq!(webhook_id(&requests[0]), webhook_id(&requests[1]));
    let secret = retried["secret"].as_str().unwrap();
    assert_eq!(
        verified(&requests[0], secret)["data"],
        verified(&requests[1], secret)["data"]
    );
    let deliveries = settled_deliveries(&partner, &retried).await;
    assert_eq!(deliveries[0]["status"], "delivered");
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    let codes: Vec<&Value> = attempts.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&Value::from(500), &Value::from(200)]);
    assert_eq!(attempts[0]["response_excerpt"], "try later");

    assert_eq!(gone.received_requests().await.unwrap().len(), 1);
    let deliveries = settled_deliveries(&partner, &refused).await;
    assert_eq!(deliveries[0]["status"], "failed");
    assert_eq!(deliveries[0]["attempts"].as_array().unwrap().len(), 1);
}

/// Delivery settings with a short request timeout, so a hanging receiver is given up quickly.
fn quick_timeout(figment: Figment) -> Figment {
    allow_loopback(figment)
        .merge(Serialized::default("events.delivery_timeout_secs", 1))
        .merge(Serialized::default("events.delivery_lease_secs", 6))
}

#[tokio::test]
async fn a_receiver_that_hangs_times_out_and_gets_the_message_again() {
    let partner = Partner::on(spawn_app_with(quick_timeout).await, "harbour", SCOPES).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(5)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let endpoint = partner
        .create(&format!("{}/hooks", server.uri()), &["appointment.created"])
        .await;

    publish(&partner, "836447129235991236").await;

    let requests = received(&server, 2, Duration::from_secs(15)).await;
    assert_eq!(webhook_id(&requests[0]), webhook_id(&requests[1]));
    let deliveries = settled_deliveries(&partner, &endpoint).await;
    assert_eq!(deliveries[0]["status"], "delivered");
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["error_class"], "timeout", "{attempts:?}");
    assert_eq!(attempts[1]["status_code"], 204);
}

#[tokio::test]
async fn a_delivery_whose_instance_is_killed_mid_attempt_is_taken_over_and_recorded_once() {
    // This app publishes but does not deliver: the binary below claims the delivery.
    let partner = Partner::on(
        spawn_app_with(|f| allow_loopback(f).merge(Serialized::default("events.deliver", false)))
            .await,
        "harbour",
        SCOPES,
    )
    .await;
    let server = MockServer::start().await;
    // The first attempt hangs far longer than the test lets the sending instance live.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(60)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let endpoint = partner
        .create(&format!("{}/hooks", server.uri()), &["appointment.created"])
        .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();

    let state = &partner.app.state;
    let master_key = std::fs::read_to_string(state.settings.master_key_file()).unwrap();
    let mut sender = clinicgate(partner.app.data_dir.path());
    sender
        .env("CLINICGATE_BIND", format!("127.0.0.1:{}", free_port()))
        .env(
            "CLINICGATE_DATABASE_URL",
            state.settings.database_url.expose_secret(),
        )
        .env("CLINICGATE_MASTER_KEY", master_key.trim())
        .env("CLINICGATE_OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("CLINICGATE_OUTBOUND__ALLOW_HTTP", "true")
        .env("CLINICGATE_EVENTS__DELIVERY_TIMEOUT_SECS", "5")
        .env("CLINICGATE_EVENTS__DELIVERY_LEASE_SECS", "10")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(redis) = &state.settings.redis_url {
        sender
            .env("CLINICGATE_REDIS_URL", redis.expose_secret())
            .env(
                "CLINICGATE_REDIS__KEY_PREFIX",
                &state.settings.redis.key_prefix,
            );
    }
    let mut sender = Running(sender.spawn().unwrap());

    let event_id = publish(&partner, "836447129235991237").await;
    let first = received(&server, 1, Duration::from_secs(20)).await;
    let killed_at = Instant::now();
    sender.0.kill().unwrap();
    sender.0.wait().unwrap();
    assert_eq!(webhook_id(&first[0]), event_id);

    // Another instance, delivering, takes the delivery over once the dead one's lease ends.
    let _taker = partner
        .app
        .spawn_sibling(|f| allow_loopback(f).merge(Serialized::default("events.deliver", true)))
        .await;
    let both = received(&server, 2, Duration::from_secs(30)).await;
    assert!(
        killed_at.elapsed() >= Duration::from_secs(5),
        "taken over only after the lease"
    );
    assert_eq!(webhook_id(&both[1]), event_id);
    verified(&both[1], &secret);

    let deliveries = settled_deliveries(&partner, &endpoint).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0]["status"], "delivered");
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "the killed attempt left no record: {attempts:?}"
    );
    assert_eq!(attempts[0]["status_code"], 204);
}
