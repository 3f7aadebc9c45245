//! The custom patient button: login and back, the page and the JSON, ids, other clinics, a
//! clinic without Cliniko, and `next` values that try to leave the host.

use reqwest::Method;
use sea_orm::ConnectionTrait as _;

use super::{SandboxApp, assert_phi_headers};
use crate::common::PASSWORD;

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Submits the login form as the browser would after landing on `/login?next=…`.
async fn log_in_with_next(
    env: &SandboxApp,
    subdomain: &str,
    email: &str,
    next: &str,
) -> reqwest::Response {
    env.app
        .on(Method::POST, subdomain, "/login", None)
        .form(&[("email", email), ("password", PASSWORD), ("next", next)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_button_url_asks_for_a_login_then_lands_on_the_patient() {
    let env = SandboxApp::start().await;
    env.clinic("harbour", Some(0)).await;
    let patient = env.patient_with_alert(0, 0).await;
    let button = format!("/patients?patient_id={}", patient.id);

    let response = env.page("harbour", &button, None).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/login?next=/patients%3Fpatient_id%3D{}", patient.id)
    );
    assert_eq!(response.headers()["cache-control"], "no-store");

    let login = env
        .page("harbour", &location(&response), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        login.contains(&format!("value=\"{button}\"")),
        "the form keeps next"
    );

    let response = log_in_with_next(&env, "harbour", "owner@harbour.example.com", &button).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), button);
    let cookie = crate::common::session_cookie(&response);

    let response = env.page("harbour", &button, Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    assert_phi_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains(&patient.first_name) && html.contains(&patient.last_name));
    assert!(
        html.contains("id=\"medical-alerts\""),
        "alerts are shown prominently"
    );
    assert!(html.contains(&patient.alert));
    assert!(html.contains(&patient.email) && html.contains(&patient.phone));
    assert!(html.contains("Upcoming appointments") && html.contains("Recent appointments"));
    assert!(
        html.contains(&format!(
            "https://harbourphysio.au1.cliniko.com/patients/{}",
            patient.id
        )),
        "links back to the patient in Cliniko"
    );
    assert!(!html.contains("<script>"), "no inline script");
    assert!(
        html.contains("href=\"/logout\""),
        "logging out goes through the confirmation page (forms would post Origin: null)"
    );
}

#[tokio::test]
async fn the_json_has_the_same_data_with_local_times_and_names() {
    let env = SandboxApp::start().await;
    let cookie = env.clinic("harbour", Some(0)).await;
    // A patient with past and future appointments: take one from the appointment list.
    let appointments = env
        .cliniko(0, "/individual_appointments?per_page=100")
        .await;
    let first = &appointments["individual_appointments"][0];
    let id = first["patient"]["links"]["self"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    let response = env
        .json("harbour", &format!("/api/tenant/patients/{id}"), &cookie)
        .await;
    assert_eq!(response.status(), 200);
    assert_phi_headers(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    let all: Vec<&serde_json::Value> = body["upcoming_appointments"]
        .as_array()
        .unwrap()
        .iter()
        .chain(body["recent_appointments"].as_array().unwrap())
        .collect();
    assert!(!all.is_empty(), "the patient has appointments");
    for appointment in &all {
        let zone = appointment["time_zone"].as_str().unwrap();
        assert!(
            ["Australia/Sydney", "Australia/Perth"].contains(&zone),
            "{zone}"
        );
        let starts = appointment["starts_at"].as_str().unwrap();
        assert!(
            starts.ends_with("+11:00") || starts.ends_with("+10:00") || starts.ends_with("+08:00"),
            "{starts}"
        );
        assert!(appointment["practitioner"].is_string());
        assert!(
            appointment["business"]
                .as_str()
                .unwrap()
                .starts_with("Harbour Physio")
        );
        assert!(appointment["appointment_type"].is_string());
        assert!(
            ["booked", "arrived", "did_not_arrive", "cancelled"]
                .contains(&appointment["status"].as_str().unwrap())
        );
    }
    let upcoming = body["upcoming_appointments"].as_array().unwrap();
    let times: Vec<chrono::DateTime<chrono::FixedOffset>> = upcoming
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "soonest first");

    let ledger = env.ledger("harbour", &cookie, "").await;
    let entry = &ledger["entries"][0];
    assert_eq!(entry["patient_id"], id.as_str());
    assert_eq!(entry["channel"], "json");
    assert_eq!(
        entry["categories"],
        serde_json::json!(["demographics", "contact", "alerts", "appointments"])
    );
    assert_eq!(entry["actor"]["email"], "owner@harbour.example.com");
}

#[tokio::test]
async fn malformed_ids_are_400_and_ids_unknown_to_this_clinics_cliniko_are_404() {
    let env = SandboxApp::start().await;
    let cookie = env.clinic("harbour", Some(0)).await;
    env.clinic("thames", Some(1)).await;
    let theirs = env.patient_with_alert(1, 0).await;

    for query in [
        "",
        "?patient_id=",
        "?patient_id=abc",
        "?patient_id=-5",
        "?patient_id=0",
        "?patient_id=12345678901234567890",
        "?patient_id=99999999999999999999999",
        "?patient_id=1&patient_id=2",
        "?patient_id=%3Cscript%3E",
    ] {
        let response = env
            .page("harbour", &format!("/patients{query}"), Some(&cookie))
            .await;
        assert_eq!(response.status(), 400, "{query}");
        assert_phi_headers(&response);
        assert!(!response.text().await.unwrap().contains("<script>"));
    }
    for id in [theirs.id.as_str(), "1", "9223372036854775807"] {
        let response = env
            .page(
                "harbour",
                &format!("/patients?patient_id={id}"),
                Some(&cookie),
            )
            .await;
        assert_eq!(response.status(), 404, "{id}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Patient not found"));
        assert!(
            !html.contains(&theirs.last_name),
            "never the other clinic's data"
        );
        let response = env
            .json("harbour", &format!("/api/tenant/patients/{id}"), &cookie)
            .await;
        assert_eq!(response.status(), 404);
    }
    let response = env
        .json("harbour", "/api/tenant/patients/abc", &cookie)
        .await;
    assert_eq!(response.status(), 400);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_patient_id");
    let ledger = env.ledger("harbour", &cookie, "").await;
    assert_eq!(
        ledger["entries"],
        serde_json::json!([]),
        "nothing was disclosed"
    );
}

#[tokio::test]
async fn another_clinics_session_gets_the_login_page_not_the_patient() {
    let env = SandboxApp::start().await;
    env.clinic("harbour", Some(0)).await;
    let thames = env.clinic("thames", Some(1)).await;
    let patient = env.patient_with_alert(0, 0).await;
    let response = env
        .page(
            "harbour",
            &format!("/patients?patient_id={}", patient.id),
            Some(&thames),
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?next="));
    let response = env
        .json(
            "harbour",
            &format!("/api/tenant/patients/{}", patient.id),
            &thames,
        )
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn next_values_that_try_to_leave_the_host_land_on_the_home_page() {
    let env = SandboxApp::start().await;
    env.clinic("harbour", None).await;
    for next in [
        "https://evil.example/patients?patient_id=1",
        "//evil.example/patients",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "https:%2F%2Fevil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "http://harbour.localhost.evil.example/",
    ] {
        let response = log_in_with_next(&env, "harbour", "owner@harbour.example.com", next).await;
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(location(&response), "/", "{next:?}");
        let cookie = crate::common::session_cookie(&response);
        let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let again = env
            .page("harbour", &format!("/login?next={encoded}"), Some(&cookie))
            .await;
        assert_eq!(again.status(), 303, "{next:?}");
        assert_eq!(location(&again), "/", "{next:?}");
    }
}

#[tokio::test]
async fn a_clinic_without_cliniko_says_so_and_only_managers_get_the_connect_link() {
    let env = SandboxApp::start().await;
    let owner = env.clinic("harbour", None).await;
    env.app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let clinician = env
        .app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let response = env
        .page("harbour", "/patients?patient_id=42", Some(&owner))
        .await;
    assert_eq!(response.status(), 409);
    assert_phi_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("Cliniko is not connected"));
    assert!(html.contains("href=\"/settings/cliniko\""));
    let html = env
        .page("harbour", "/patients?patient_id=42", Some(&clinician))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Cliniko is not connected"));
    assert!(!html.contains("href=\"/settings/cliniko\""));
    let response = env
        .json("harbour", "/api/tenant/patients/42", &clinician)
        .await;
    assert_eq!(response.status(), 409);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "cliniko_not_connected");
}

#[tokio::test]
async fn when_the_view_cannot_be_recorded_the_patient_is_not_shown() {
    let env = SandboxApp::start().await;
    let cookie = env.clinic("harbour", Some(0)).await;
    let patient = env.patient_with_alert(0, 0).await;
    env.app
        .state
        .db
        .execute_unprepared("DROP TABLE phi_access_ledger")
        .await
        .unwrap();
    let response = env
        .page(
            "harbour",
            &format!("/patients?patient_id={}", patient.id),
            Some(&cookie),
        )
        .await;
    assert!(response.status().is_server_error(), "{}", response.status());
    assert_phi_headers(&response);
    let html = response.text().await.unwrap();
    assert!(html.contains("Request id"));
    for shown in [&patient.last_name, &patient.alert, &patient.email] {
        assert!(
            !html.contains(shown.as_str()),
            "{shown} was shown unrecorded"
        );
    }
    let response = env
        .json(
            "harbour",
            &format!("/api/tenant/patients/{}", patient.id),
            &cookie,
        )
        .await;
    assert!(response.status().is_server_error());
    let body = response.text().await.unwrap();
    assert!(!body.contains(&patient.last_name) && !body.contains(&patient.alert));
}
