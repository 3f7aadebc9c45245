//! Cliniko failing under the patient page: friendly 502/504 pages with the request id, and a
//! 429 that the page waits out within the interactive budget instead of showing an error.

use std::time::Duration;

use figment::providers::Serialized;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::assert_phi_headers;
use crate::common::{CLINIKO_KEY, PASSWORD, TestApp, cliniko_at, integration_user, spawn_app_with};

const PATIENT: &str = "836447129235883061";

fn list(envelope: &str, items: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        envelope: items, "total_entries": items.as_array().map_or(0, Vec::len), "links": {}
    }))
}

/// A Cliniko double answering everything the patient page asks except the patient itself.
async fn cliniko_without_patient() -> MockServer {
    let server = MockServer::start().await;
    let ok = |p: &str, body: ResponseTemplate| {
        Mock::given(method("GET")).and(path(p)).respond_with(body)
    };
    ok(
        "/v1/user",
        ResponseTemplate::new(200).set_body_json(integration_user()),
    )
    .mount(&server)
    .await;
    ok(
        "/v1/medical_alerts",
        list(
            "medical_alerts",
            json!([{"id": "5", "name": "Latex allergy",
            "patient": {"links": {"self": format!("https://x/v1/patients/{PATIENT}")}}}]),
        ),
    )
    .mount(&server)
    .await;
    ok(
        "/v1/individual_appointments",
        list("individual_appointments", json!([])),
    )
    .mount(&server)
    .await;
    ok("/v1/businesses", list("businesses", json!([])))
        .mount(&server)
        .await;
    ok("/v1/practitioners", list("practitioners", json!([])))
        .mount(&server)
        .await;
    ok(
        "/v1/appointment_types",
        list("appointment_types", json!([])),
    )
    .mount(&server)
    .await;
    ok(
        "/v1/settings",
        ResponseTemplate::new(200)
            .set_body_json(json!({"account": {"subdomain": "harbour", "time_zone": "Sydney"}})),
    )
    .mount(&server)
    .await;
    server
}

async fn app_on(server: &MockServer) -> (TestApp, String) {
    let uri = server.uri();
    // A budget large enough for several views in a row, so no test here waits on it.
    let app = spawn_app_with(move |f| {
        cliniko_at(f, &uri)
            .merge(Serialized::default("cliniko.timeout_secs", 1))
            .merge(Serialized::default("cliniko.max_retries", 0))
            .merge(Serialized::default("cliniko.budget_per_minute", 180))
            .merge(Serialized::default("cliniko.budget_burst", 15))
    })
    .await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let response = app
        .on(
            Method::PUT,
            "harbour",
            "/api/tenant/cliniko-key",
            Some(&cookie),
        )
        .json(&json!({"api_key": CLINIKO_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    (app, cookie)
}

async fn open(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.on(
        Method::GET,
        "harbour",
        &format!("/patients?patient_id={PATIENT}"),
        Some(cookie),
    )
    .header("accept", "text/html")
    .send()
    .await
    .unwrap()
}

fn patient() -> serde_json::Value {
    json!({"id": PATIENT, "first_name": "Wilhelmina", "last_name": "Faultless"})
}

#[tokio::test]
async fn a_cliniko_server_error_is_a_502_page_with_the_request_id() {
    let server = cliniko_without_patient().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/patients/{PATIENT}")))
        .respond_with(ResponseTemplate::new(503).set_body_string("<h1>down</h1>"))
        .mount(&server)
        .await;
    let (app, cookie) = app_on(&server).await;
    let response = open(&app, &cookie).await;
    assert_eq!(response.status(), 502);
    assert_phi_headers(&response);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();
    assert!(html.contains("Cliniko is not responding properly"));
    assert!(html.contains(&request_id), "the page quotes the request id");
    assert!(!html.contains("down"), "Cliniko's body is not shown");
}

#[tokio::test]
async fn a_cliniko_timeout_is_a_504_page() {
    let server = cliniko_without_patient().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/patients/{PATIENT}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(patient())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let (app, cookie) = app_on(&server).await;
    let response = open(&app, &cookie).await;
    assert_eq!(response.status(), 504);
    let html = response.text().await.unwrap();
    assert!(html.contains("Cliniko is taking too long") && html.contains("Request id"));
    assert!(!html.contains("Wilhelmina"));
}

#[tokio::test]
async fn a_cliniko_429_is_waited_out_and_the_clinician_sees_the_patient() {
    /// Cliniko's 429: the limit resets at the next whole second (epoch seconds).
    struct TooManyRequests;
    impl wiremock::Respond for TooManyRequests {
        fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
            let reset = chrono::Utc::now().timestamp() + 1;
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Reset", reset.to_string().as_str())
        }
    }
    let server = cliniko_without_patient().await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^/v1/patients/{PATIENT}$")))
        .respond_with(TooManyRequests)
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/patients/{PATIENT}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(patient()))
        .mount(&server)
        .await;
    let uri = server.uri();
    // A burst large enough for the page's eight first calls, so only the 429 is waited for.
    let app = spawn_app_with(move |f| {
        cliniko_at(f, &uri)
            .merge(Serialized::default("cliniko.timeout_secs", 5))
            .merge(Serialized::default("cliniko.budget_per_minute", 180))
            .merge(Serialized::default("cliniko.budget_burst", 15))
    })
    .await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let connected = app
        .on(
            Method::PUT,
            "harbour",
            "/api/tenant/cliniko-key",
            Some(&cookie),
        )
        .json(&json!({"api_key": CLINIKO_KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(connected.status(), 200);
    let response = open(&app, &cookie).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Wilhelmina Faultless") && html.contains("Latex allergy"));
}

/// When the clinic's key row last changed, read straight from the database.
async fn key_row_updated_at(app: &TestApp) -> String {
    use sea_orm::{ConnectionTrait as _, Statement};
    let statement = Statement::from_string(
        app.state.db.get_database_backend(),
        "SELECT CAST(updated_at AS TEXT) AS updated FROM cliniko_keys",
    );
    let row = app
        .state
        .db
        .query_one_raw(statement)
        .await
        .unwrap()
        .unwrap();
    row.try_get::<String>("", "updated").unwrap()
}

async fn key_status(app: &TestApp, cookie: &str) -> serde_json::Value {
    let response = app
        .on(
            Method::GET,
            "harbour",
            "/api/tenant/cliniko-key",
            Some(cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn view_json(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.on(
        Method::GET,
        "harbour",
        &format!("/api/tenant/patients/{PATIENT}"),
        Some(cookie),
    )
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_single_cliniko_401_flags_the_key_only_until_cliniko_accepts_it_again() {
    let server = cliniko_without_patient().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/patients/{PATIENT}")))
        .respond_with(ResponseTemplate::new(401).set_body_string("HTTP Basic: Access denied.\n"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/patients/{PATIENT}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(patient()))
        .mount(&server)
        .await;
    let (app, cookie) = app_on(&server).await;

    let refused = view_json(&app, &cookie).await;
    assert_eq!(refused.status(), 502);
    let flagged = key_status(&app, &cookie).await;
    assert!(flagged["rejected_at"].is_string(), "{flagged}");
    assert_eq!(flagged["warnings"][0]["code"], "key_rejected");

    // Cliniko accepts the same key again: the settings page stops asking for a new one.
    assert_eq!(view_json(&app, &cookie).await.status(), 200);
    let recovered = key_status(&app, &cookie).await;
    assert!(recovered.get("rejected_at").is_none(), "{recovered}");
    assert!(
        recovered["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["code"] != "key_rejected"),
        "{recovered}"
    );

    // A working key's row is not rewritten by every successful call.
    let before = key_row_updated_at(&app).await;
    assert_eq!(view_json(&app, &cookie).await.status(), 200);
    assert_eq!(key_row_updated_at(&app).await, before);
}
