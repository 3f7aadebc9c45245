//! `/api/tenant/cliniko-key`: verify with Cliniko, store sealed, describe, disconnect.

use std::time::Duration;

use base64::Engine as _;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{
    CLINIKO_KEY, PASSWORD, TestApp, cliniko_at, cliniko_stub, integration_user, spawn_app_with,
};

/// An app whose Cliniko is `server`, with clinic `harbour` and its owner logged in.
async fn app_with(server_uri: &str) -> (TestApp, String) {
    let uri = server_uri.to_owned();
    let app = spawn_app_with(move |f| {
        cliniko_at(f, &uri)
            .merge(Serialized::default("cliniko.timeout_secs", 1))
            .merge(Serialized::default(
                "cliniko.user_agent",
                "ClinicGate Tests (tests@clinicgate.dev)",
            ))
    })
    .await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    (app, cookie)
}

async fn put_key(app: &TestApp, cookie: &str, key: &str) -> reqwest::Response {
    app.on(
        Method::PUT,
        "harbour",
        "/api/tenant/cliniko-key",
        Some(cookie),
    )
    .json(&json!({ "api_key": key }))
    .send()
    .await
    .unwrap()
}

async fn status(app: &TestApp, cookie: &str) -> serde_json::Value {
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
    let code = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code, 200, "{body}");
    body
}

#[tokio::test]
async fn a_key_cliniko_accepts_is_stored_and_described_but_never_returned() {
    let server = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLINIKO_KEY}:"));
    Mock::given(method("GET"))
        .and(path("/v1/user"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("accept", "application/json"))
        .and(header(
            "user-agent",
            "ClinicGate Tests (tests@clinicgate.dev)",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(integration_user()))
        .expect(1)
        .mount(&server)
        .await;
    let (app, cookie) = app_with(&server.uri()).await;

    let response = put_key(&app, &cookie, &format!("  {CLINIKO_KEY}\n")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains(CLINIKO_KEY) && !text.contains("MS0xMjM0NTY3ODkw"),
        "{text}"
    );
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["connected"], true);
    assert_eq!(body["shard"], "au2");
    assert_eq!(body["last4"], "4eXo");
    assert_eq!(body["cliniko_user"]["id"], "836447129235883061");
    assert_eq!(body["cliniko_user"]["name"], "ClinicGate Integration");
    assert_eq!(body["cliniko_user"]["role"], "receptionist");
    assert_eq!(body["warnings"], json!([]));
    assert!(body["verified_at"].as_str().unwrap().ends_with('Z'));

    let again = status(&app, &cookie).await;
    assert_eq!(again["last4"], "4eXo");
    assert!(!again.to_string().contains(CLINIKO_KEY));
    let tenant: serde_json::Value = app
        .on(Method::GET, "harbour", "/api/tenant", Some(&cookie))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["cliniko_connected"], true);
}

#[tokio::test]
async fn a_key_cliniko_rejects_is_a_422_and_nothing_is_stored() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/user"))
        .respond_with(ResponseTemplate::new(401).set_body_string("HTTP Basic: Access denied."))
        .mount(&server)
        .await;
    let (app, cookie) = app_with(&server.uri()).await;
    let response = put_key(&app, &cookie, CLINIKO_KEY).await;
    assert_eq!(response.status(), 422);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "api_key");
    assert_eq!(problem["errors"][0]["code"], "rejected");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Cliniko did not accept")
    );
    assert!(!problem.to_string().contains(CLINIKO_KEY));
    assert_eq!(status(&app, &cookie).await["connected"], false);
}

#[tokio::test]
async fn an_unreachable_cliniko_is_a_502_and_nothing_is_stored() {
    let refused = clinicgate_adapters::testing::RefusedPort::new();
    let (app, cookie) = app_with(&format!("http://127.0.0.1:{}", refused.port())).await;
    let response = put_key(&app, &cookie, CLINIKO_KEY).await;
    assert_eq!(response.status(), 502);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cliniko_unavailable");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("could not connect to cliniko"), "{detail}");
    assert!(!detail.contains("retry"), "{detail}");
    assert_eq!(status(&app, &cookie).await["connected"], false);
}

#[tokio::test]
async fn a_cliniko_that_does_not_answer_in_time_is_a_504() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(integration_user())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let (app, cookie) = app_with(&server.uri()).await;
    let response = put_key(&app, &cookie, CLINIKO_KEY).await;
    assert_eq!(response.status(), 504);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cliniko_timeout");
    assert_eq!(status(&app, &cookie).await["connected"], false);
}

#[tokio::test]
async fn a_malformed_key_or_unknown_shard_is_refused_without_asking_cliniko() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(integration_user()))
        .expect(0)
        .mount(&server)
        .await;
    let (app, cookie) = app_with(&server.uri()).await;
    for (key, code, says) in [
        ("abc-evil.com", "unknown_shard", "not a Cliniko region"),
        ("", "required", "paste the API key"),
        (
            "has space-au1",
            "malformed",
            "does not look like a Cliniko API key",
        ),
        ("garbage", "too_short", "too short to be a Cliniko API key"),
        (
            "MS0xMjM0NTY3ODkwYWJj*ZGVm-au2",
            "malformed",
            "only letters, digits",
        ),
    ] {
        let response = put_key(&app, &cookie, key).await;
        assert_eq!(response.status(), 422, "{key:?}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["code"], code, "{key:?}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("api_key: ") && detail.contains(says),
            "{key:?}: {detail}"
        );
    }
}

#[tokio::test]
async fn a_key_of_a_personal_administrator_login_is_connected_with_warnings() {
    let server = cliniko_stub(json!({
        "id": "12", "first_name": "Jane", "last_name": "Citizen", "role": "administrator", "user_active": true
    }))
    .await;
    let (app, cookie) = app_with(&server.uri()).await;
    let body: serde_json::Value = put_key(&app, &cookie, CLINIKO_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["connected"], true);
    let codes: Vec<_> = body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].clone())
        .collect();
    assert_eq!(codes, [json!("administrator_key"), json!("personal_key")]);
    assert_eq!(status(&app, &cookie).await["warnings"], body["warnings"]);
}

#[tokio::test]
async fn disconnecting_forgets_the_key() {
    let server = cliniko_stub(integration_user()).await;
    let (app, cookie) = app_with(&server.uri()).await;
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    for _ in 0..2 {
        let response = app
            .on(
                Method::DELETE,
                "harbour",
                "/api/tenant/cliniko-key",
                Some(&cookie),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    assert_eq!(
        status(&app, &cookie).await,
        json!({
            "connected": false, "shard": null, "last4": null, "cliniko_user": null, "verified_at": null, "warnings": []
        })
    );
}

#[tokio::test]
async fn one_clinics_key_is_invisible_to_another_clinic() {
    let server = cliniko_stub(integration_user()).await;
    let (app, cookie) = app_with(&server.uri()).await;
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    let other = app.sign_up("other").await;
    let other_cookie = app.log_in("other", &other.owner_email, PASSWORD).await;
    let response = app
        .on(
            Method::GET,
            "other",
            "/api/tenant/cliniko-key",
            Some(&other_cookie),
        )
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["connected"], false);
}

#[tokio::test]
async fn a_stored_key_that_cliniko_later_refuses_is_flagged_until_a_new_one_is_connected() {
    use clinicgate_core::cliniko::Lane;
    use clinicgate_core::sessions::LoginAttempt;
    use clinicgate_core::{Error, UpstreamFailure};

    let server = cliniko_stub(integration_user()).await;
    let (app, cookie) = app_with(&server.uri()).await;
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    assert!(status(&app, &cookie).await.get("rejected_at").is_none());

    // The key is revoked in Cliniko, which now answers 401 in plain text.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/v1/user"))
        .respond_with(ResponseTemplate::new(401).set_body_string("HTTP Basic: Access denied.\n"))
        .mount(&server)
        .await;
    // Every feature reaches Cliniko through `with_account` with a staff member's context.
    let tenant_id = app
        .state
        .clinics
        .find_by_subdomain(&clinicgate_core::clinics::Subdomain::parse("harbour").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let login = app
        .state
        .sessions
        .login(LoginAttempt {
            tenant_id,
            email: "owner@harbour.example.com".to_owned(),
            password: PASSWORD.to_owned().into(),
            client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            previous: None,
        })
        .await
        .unwrap();
    let cliniko = app.state.cliniko.clone();
    let outcome = app
        .state
        .cliniko_keys
        .with_account(&login.session.context, |account| async move {
            cliniko.current_user(&account, Lane::Interactive).await
        })
        .await;
    assert!(
        matches!(
            outcome,
            Err(Error::Upstream {
                failure: UpstreamFailure::Unauthorized,
                ..
            })
        ),
        "{outcome:?}"
    );

    let flagged = status(&app, &cookie).await;
    assert!(flagged["rejected_at"].is_string(), "{flagged}");
    assert_eq!(flagged["warnings"][0]["code"], "key_rejected");

    // Connecting a key Cliniko accepts clears the flag.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/v1/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(integration_user()))
        .mount(&server)
        .await;
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    let cleared = status(&app, &cookie).await;
    assert!(cleared.get("rejected_at").is_none(), "{cleared}");
    assert!(
        cleared["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["code"] != "key_rejected")
    );
}

/// Signs up and logs in a second clinic on `app`; returns its owner's cookie.
async fn second_clinic(app: &TestApp, subdomain: &str) -> String {
    let clinic = app.sign_up(subdomain).await;
    app.log_in(subdomain, &clinic.owner_email, PASSWORD).await
}

async fn put_key_on(app: &TestApp, subdomain: &str, cookie: &str) -> reqwest::Response {
    app.on(
        Method::PUT,
        subdomain,
        "/api/tenant/cliniko-key",
        Some(cookie),
    )
    .json(&json!({ "api_key": CLINIKO_KEY }))
    .send()
    .await
    .unwrap()
}

async fn assert_key_in_use(response: reqwest::Response) {
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cliniko_key_in_use", "{problem}");
    assert!(!problem.to_string().contains(CLINIKO_KEY));
}

#[tokio::test]
async fn a_key_already_connected_to_another_clinic_is_refused_with_a_409() {
    let server = cliniko_stub(integration_user()).await;
    let (app, cookie) = app_with(&server.uri()).await;
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    let other = second_clinic(&app, "other").await;

    assert_key_in_use(put_key_on(&app, "other", &other).await).await;
    let response = app
        .on(
            Method::GET,
            "other",
            "/api/tenant/cliniko-key",
            Some(&other),
        )
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["connected"], false);

    // The clinic that holds the key may reconnect it; once it lets go, another clinic may take it.
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    let response = app
        .on(
            Method::DELETE,
            "harbour",
            "/api/tenant/cliniko-key",
            Some(&cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(put_key_on(&app, "other", &other).await.status(), 200);
}

#[tokio::test]
async fn two_clinics_connecting_the_same_key_at_once_cannot_both_succeed() {
    // Cliniko answers slowly, so both requests pass every check made before storing.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(integration_user())
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&server)
        .await;
    let (app, cookie) = app_with(&server.uri()).await;
    let other = second_clinic(&app, "other").await;

    let (first, second) = tokio::join!(
        put_key_on(&app, "harbour", &cookie),
        put_key_on(&app, "other", &other)
    );
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "exactly one clinic gets the key");
    let loser = if first.status() == 409 { first } else { second };
    assert_key_in_use(loser).await;
}

#[tokio::test]
async fn a_key_stored_before_fingerprints_existed_is_fingerprinted_at_start_up() {
    use sea_orm::{ConnectionTrait as _, Statement};
    let server = cliniko_stub(integration_user()).await;
    let (app, cookie) = app_with(&server.uri()).await;
    assert_eq!(put_key(&app, &cookie, CLINIKO_KEY).await.status(), 200);
    // A row written before the fingerprint column existed.
    app.state
        .db
        .execute_raw(Statement::from_string(
            app.state.db.get_database_backend(),
            "UPDATE cliniko_keys SET key_fingerprint = NULL",
        ))
        .await
        .unwrap();

    // What every instance runs when it starts: decrypt the keys that have no fingerprint yet.
    let report = app
        .state
        .cliniko_keys
        .fill_missing_fingerprints()
        .await
        .unwrap();
    assert_eq!(report.filled, 1);

    let other = second_clinic(&app, "other").await;
    assert_key_in_use(put_key_on(&app, "other", &other).await).await;
}
