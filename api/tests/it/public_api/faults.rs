//! Cliniko's failure modes through the public API (wiremock as Cliniko): 429 → 429 with
//! `Retry-After`, 5xx → 502, no answer → 504, 422 → 422 with Cliniko's messages, and a conflict
//! found after booking → ours cancelled and 409.

use std::time::Duration;

use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{ALL_SCOPES, connect_cliniko, get_json, new_key, send_json};
use crate::common::{
    CLINIKO_KEY, TestApp, cliniko_at, cliniko_stub, integration_user, spawn_app_with,
};
use crate::tokens::{clinic, create_client, token};

const DOCTOR: &str = "9007199254740993";
const CLINIC: &str = "9007199254740995";
const KIND: &str = "9007199254740997";
const BOOKED: &str = "9007199254740999";

/// A Cliniko with one doctor, one clinic and one type, whose available times and writes each
/// test decides.
async fn cliniko() -> MockServer {
    let server = cliniko_stub(integration_user()).await;
    let list = |key: &str, items: Value| json!({key: items, "total_entries": 1, "links": {}});
    let doctor = json!([{"id": DOCTOR, "first_name": "Ada", "last_name": "Lovelace",
        "designation": "GP", "active": true, "show_in_online_bookings": true}]);
    let kinds = json!([{"id": KIND, "name": "Consult", "duration_in_minutes": 30,
        "show_in_online_bookings": true}]);
    for (route, body) in [
        ("/v1/practitioners", list("practitioners", doctor.clone())),
        (
            &format!("/v1/businesses/{CLINIC}/practitioners") as &str,
            list("practitioners", doctor),
        ),
        (
            "/v1/businesses",
            list(
                "businesses",
                json!([{"id": CLINIC, "business_name": "Main",
            "show_in_online_bookings": true, "time_zone_identifier": "Europe/London"}]),
            ),
        ),
        (
            "/v1/appointment_types",
            list("appointment_types", kinds.clone()),
        ),
        (
            &format!("/v1/practitioners/{DOCTOR}/appointment_types") as &str,
            list("appointment_types", kinds),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
    }
    server
}

fn times_path() -> String {
    format!(
        "/v1/businesses/{CLINIC}/practitioners/{DOCTOR}/appointment_types/{KIND}/available_times"
    )
}

/// A start the stub offers: tomorrow at 10:00 UTC.
fn start() -> String {
    let day = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    format!("{day}T10:00:00Z")
}

async fn offer_the_start(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path(times_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "available_times": [{"appointment_start": start()}], "total_entries": 1, "links": {}})))
        .mount(server)
        .await;
}

async fn app_and_token(server: &MockServer) -> (TestApp, String) {
    app_with_scopes(server, ALL_SCOPES).await
}

/// An app whose Cliniko is `server` (no retries, 1 s timeout), and a token with `scopes`.
pub(super) async fn app_with_scopes(server: &MockServer, scopes: &[&str]) -> (TestApp, String) {
    let uri = server.uri();
    let app = spawn_app_with(move |f| {
        cliniko_at(f, &uri)
            .merge(Serialized::default("cliniko.timeout_secs", 1))
            .merge(Serialized::default("cliniko.max_retries", 0))
            .merge(Serialized::default(
                "cliniko.user_agent",
                "ClinicGate Tests (tests@clinicgate.dev)",
            ))
    })
    .await;
    let owner = clinic(&app, "faulty").await;
    connect_cliniko(&app, &owner, CLINIKO_KEY).await;
    let client = create_client(&app, &owner, scopes, None).await;
    let token = token(&app, &client).await;
    (app, token)
}

fn slots_path() -> String {
    let day = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    format!(
        "/api/public/available-slots?doctor_id={DOCTOR}&clinic_id={CLINIC}&appointment_type_id={KIND}&from={day}&to={day}"
    )
}

fn booking() -> Value {
    json!({"doctor_id": DOCTOR, "clinic_id": CLINIC, "appointment_type_id": KIND,
           "starts_at": start(), "patient_id": "42"})
}

async fn known_patient(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/patients/42"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "42", "first_name": "P"})),
        )
        .mount(server)
        .await;
}

fn appointment() -> Value {
    json!({"id": BOOKED, "starts_at": start(), "ends_at": start().replace("10:00", "10:30"),
        "patient": {"links": {"self": "https://x/v1/patients/42"}},
        "practitioner": {"links": {"self": format!("https://x/v1/practitioners/{DOCTOR}")}},
        "business": {"links": {"self": format!("https://x/v1/businesses/{CLINIC}")}},
        "appointment_type": {"links": {"self": format!("https://x/v1/appointment_types/{KIND}")}}})
}

#[tokio::test]
async fn clinikos_rate_limit_is_a_429_with_retry_after() {
    let server = cliniko().await;
    let reset = chrono::Utc::now().timestamp() + 30;
    Mock::given(method("GET"))
        .and(path(times_path()))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
        )
        .mount(&server)
        .await;
    let (app, token) = app_and_token(&server).await;
    let response = crate::tokens::get_with(&app, &slots_path(), &token).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn a_cliniko_server_error_is_a_502_and_no_answer_a_504() {
    let server = cliniko().await;
    Mock::given(method("GET"))
        .and(path(times_path()))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (app, token) = app_and_token(&server).await;
    let (status, problem) = get_json(&app, &slots_path(), &token).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (502, Some("cliniko_unavailable"))
    );
    // The request id is random hex and may contain "503" itself.
    let mut shown = problem.clone();
    shown.as_object_mut().unwrap().remove("request_id");
    assert!(
        !shown.to_string().contains("503"),
        "5xx bodies stay opaque: {shown}"
    );

    server.reset().await;
    let slow = cliniko().await;
    Mock::given(method("GET"))
        .and(path(times_path()))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&slow)
        .await;
    let (app, token) = app_and_token(&slow).await;
    let (status, problem) = get_json(&app, &slots_path(), &token).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (504, Some("cliniko_timeout"))
    );
}

#[tokio::test]
async fn clinikos_validation_messages_come_back_as_a_422() {
    let server = cliniko().await;
    offer_the_start(&server).await;
    known_patient(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/individual_appointments"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "message": "Validation Failed", "errors": {"starts_at": "is outside business hours"}})))
        .expect(1)
        .mount(&server)
        .await;
    let (app, token) = app_and_token(&server).await;
    let (status, problem) = send_json(
        &app,
        Method::POST,
        "/api/public/appointments",
        &token,
        Some(&new_key()),
        &booking(),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let error = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "starts_at")
        .unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("outside business hours"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_conflict_found_after_booking_cancels_ours_and_answers_409() {
    let server = cliniko().await;
    offer_the_start(&server).await;
    known_patient(&server).await;
    Mock::given(method("POST"))
        .and(path("/v1/individual_appointments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(appointment()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/individual_appointments/{BOOKED}/conflicts"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"conflicts": {"exist": true}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(format!(
            "^/v1/individual_appointments/{BOOKED}/cancel$"
        )))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let (app, token) = app_and_token(&server).await;
    let (status, problem) = send_json(
        &app,
        Method::POST,
        "/api/public/appointments",
        &token,
        Some(&new_key()),
        &booking(),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("slot_taken"))
    );
    let cancel = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/cancel"))
        .unwrap();
    let sent: Value = serde_json::from_slice(&cancel.body).unwrap();
    assert_eq!(sent["cancellation_reason"], 50);
}
