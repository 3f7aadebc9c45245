//! The clinic's dashboard (`GET /api/tenant/dashboard` and the clinic home): usage written by
//! two instances summed for the clinic only, the range validated, webhook deliveries counted
//! from the queue, a polled clinic's connection health and detection lag, clinicians reading it
//! without any suspend control, and the page's charts labelled and drawn without script.

use chrono::Utc;
use clinicgate_core::events::EventType;
use reqwest::Method;
use serde_json::Value;

use crate::common::deliveries::Events;
use crate::common::{PASSWORD, TestApp, spawn_app};
use crate::pages::assert_accessible_and_csp_clean;
use crate::polling::Scene;
use crate::tokens::{Clinic, clinic, create_client, get_with, token};
use crate::webhooks::Partner;

/// `GET path` on the clinic's host as the holder of `cookie`; the status and the body.
async fn get_as(app: &TestApp, clinic: &Clinic, cookie: &str, path: &str) -> (u16, String) {
    let response = app
        .on(Method::GET, clinic.sub(), path, Some(cookie))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The dashboard's JSON over `range` as the holder of `cookie`.
async fn dashboard(app: &TestApp, clinic: &Clinic, cookie: &str, range: &str) -> Value {
    let path = format!("/api/tenant/dashboard?range={range}");
    let (status, body) = get_as(app, clinic, cookie, &path).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The series of `client` in `dashboard`, if it appears.
fn client_series<'a>(dashboard: &'a Value, client: &str) -> Option<&'a Value> {
    dashboard["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client)
}

fn sum(series: &Value) -> u64 {
    series
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// A clinician of `clinic` on `app`, logged in.
async fn clinician(app: &TestApp, clinic: &Clinic) -> String {
    let email = format!("clinician@{}.example.com", clinic.sub());
    app.add_user(clinic.sub(), &clinic.cookie, &email, "clinician")
        .await;
    app.log_in(clinic.sub(), &email, PASSWORD).await
}

#[tokio::test]
async fn the_dashboard_sums_what_both_instances_counted_for_its_clinic_only() {
    let first = spawn_app().await;
    let second = first.spawn_sibling(|f| f).await;
    let harbour = clinic(&first, "harbour").await;
    let ridge = clinic(&first, "ridge").await;
    let partner = create_client(&first, &harbour, &["doctors:read"], None).await;
    let theirs = create_client(&first, &ridge, &["doctors:read"], None).await;
    let partner_token = token(&first, &partner).await;
    let their_token = token(&first, &theirs).await;
    for app in [&first, &second, &second] {
        assert_eq!(
            get_with(app, "/api/public/me", &partner_token)
                .await
                .status(),
            200
        );
    }
    // Not the scope for it: an error.
    assert_eq!(
        get_with(&first, "/api/public/webhooks", &partner_token)
            .await
            .status(),
        403
    );
    assert_eq!(
        get_with(&second, "/api/public/me", &their_token)
            .await
            .status(),
        200
    );
    for app in [&first, &second] {
        app.state.usage_recorder.flush().await.unwrap();
    }

    let shown = dashboard(&first, &harbour, &harbour.cookie, "1h").await;
    let mine = client_series(&shown, &partner.id).expect("the partner's series");
    assert_eq!(sum(&mine["requests"]), 4, "{shown}");
    assert_eq!(sum(&mine["errors"]), 1, "{shown}");
    assert_eq!(sum(&mine["rate_limited"]), 0);
    assert_eq!(mine["name"], "Partner app");
    assert!(
        client_series(&shown, &theirs.id).is_none(),
        "another clinic's client never appears: {shown}"
    );
    let steps = shown["steps"].as_array().unwrap().len();
    assert_eq!(mine["requests"].as_array().unwrap().len(), steps);
    assert_eq!(shown["lanes"]["api"].as_array().unwrap().len(), steps);

    // The other clinic sees only its own numbers (counted on the second instance).
    let theirs_shown = dashboard(&first, &ridge, &ridge.cookie, "24h").await;
    assert_eq!(
        sum(&client_series(&theirs_shown, &theirs.id).unwrap()["requests"]),
        1
    );
    assert!(client_series(&theirs_shown, &partner.id).is_none());

    // A clinician reads it too.
    let cookie = clinician(&first, &harbour).await;
    let seen = dashboard(&first, &harbour, &cookie, "7d").await;
    assert_eq!(
        sum(&client_series(&seen, &partner.id).unwrap()["requests"]),
        4
    );
}

#[tokio::test]
async fn a_range_other_than_an_hour_a_day_or_a_week_is_refused() {
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    for range in ["30d", "1d", "", "24H"] {
        let path = format!("/api/tenant/dashboard?range={range}");
        let (status, problem) = get_as(&app, &harbour, &harbour.cookie, &path).await;
        assert_eq!(status, 422, "{range}: {problem}");
        assert!(problem.contains("\"range\""), "{problem}");
    }
    for (range, step_seconds) in [("1h", 60), ("24h", 900), ("7d", 7200)] {
        let shown = dashboard(&app, &harbour, &harbour.cookie, range).await;
        assert_eq!(shown["range"], range);
        assert_eq!(shown["step_seconds"], step_seconds);
        assert_eq!(shown["cliniko"]["connected"], false);
    }
    // Without a session: not logged in.
    let response = app
        .on(Method::GET, harbour.sub(), "/api/tenant/dashboard", None)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn webhook_deliveries_are_summed_with_the_oldest_pending_and_the_disabled_endpoints() {
    let partner = Partner::new(&["appointments:read", "webhooks:manage"]).await;
    let endpoint = partner
        .create("http://127.0.0.1:9999/hooks", &["appointment.created"])
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    // Disabled while the test writes its deliveries, so no worker sends them meanwhile.
    let path = format!("/api/tenant/webhooks/{id}/disable");
    let response = partner
        .app
        .on(
            Method::POST,
            partner.clinic.sub(),
            &path,
            Some(&partner.clinic.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = Events::of(&partner.app, &partner.clinic.clinic.id);
    let mut deliveries = Vec::new();
    for _ in 0..3 {
        deliveries.push(
            events
                .publish(EventType::AppointmentCreated, Utc::now(), &[&id])
                .await[0],
        );
    }
    events.fail(deliveries[0], 410).await;

    let app = &partner.app;
    let cookie = clinician(app, &partner.clinic).await;
    let shown = dashboard(app, &partner.clinic, &cookie, "24h").await;
    let webhooks = &shown["webhooks"];
    assert_eq!(webhooks["pending"], 2, "{shown}");
    assert_eq!(webhooks["failed"], 1);
    assert_eq!(webhooks["delivered"], 0);
    assert_eq!(webhooks["success_rate"], 0.0);
    assert_eq!(webhooks["disabled_endpoints"], 1);
    assert!(webhooks["oldest_pending_at"].is_string(), "{shown}");
    assert!(webhooks["oldest_pending_age_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(shown["patient_syncs"]["pending"], 0);
    assert_eq!(shown["patient_syncs"]["oldest_pending_at"], Value::Null);

    // Another clinic sees none of them.
    let ridge = clinic(app, "ridge").await;
    let theirs = dashboard(app, &ridge, &ridge.cookie, "24h").await;
    assert_eq!(theirs["webhooks"]["pending"], 0, "{theirs}");
    assert_eq!(theirs["webhooks"]["disabled_endpoints"], 0);
}

#[tokio::test]
async fn the_home_page_draws_labelled_charts_without_script_and_clinicians_get_no_suspend_control()
{
    let app = spawn_app().await;
    let harbour = clinic(&app, "harbour").await;
    let partner = create_client(&app, &harbour, &["doctors:read"], None).await;
    let partner_token = token(&app, &partner).await;
    assert_eq!(
        get_with(&app, "/api/public/me", &partner_token)
            .await
            .status(),
        200
    );
    app.state.usage_recorder.flush().await.unwrap();

    let (status, owners) = get_as(&app, &harbour, &harbour.cookie, "/?range=1h").await;
    assert_eq!(status, 200);
    assert_accessible_and_csp_clean(&owners, "home (owner)");
    for label in [
        "aria-labelledby=\"chart-lanes-title chart-lanes-desc\"",
        "<title id=\"chart-lanes-title\">Cliniko calls by lane</title>",
        "<title id=\"chart-clients-title\">Cliniko calls by client</title>",
        "Partner app: requests, errors and 429s",
        "Requests: 1",
        "<h3 id=\"webhooks-title\">Webhook deliveries</h3>",
        "<h3 id=\"syncs-title\">Partner patient syncs</h3>",
        "href=\"/?range=1h\" aria-current=\"page\"",
        "/static/dashboard.css",
    ] {
        assert!(owners.contains(label), "no {label}: {owners}");
    }
    assert!(owners.contains("<table>"), "the charts' numbers as tables");
    assert!(
        owners.contains("Times are in UTC (the practice"),
        "without Cliniko the page says its times are UTC"
    );
    assert!(owners.contains("href=\"/settings/clients\">Suspend or resume clients"));
    assert!(owners.contains("Recently viewed") || owners.contains("Patients"));

    let cookie = clinician(&app, &harbour).await;
    let (status, theirs) = get_as(&app, &harbour, &cookie, "/?range=not-a-range").await;
    assert_eq!(status, 200);
    assert_accessible_and_csp_clean(&theirs, "home (clinician)");
    assert!(theirs.contains("href=\"/?range=24h\" aria-current=\"page\""));
    assert!(theirs.contains("Partner app: requests, errors and 429s"));
    assert!(!theirs.contains("Suspend"), "clinicians cannot suspend");

    let (status, css) = get_as(&app, &harbour, &cookie, "/static/dashboard.css").await;
    assert_eq!(status, 200);
    assert!(css.contains(".chart-series-0"));
}

#[tokio::test]
async fn a_polled_clinic_shows_its_connection_its_background_calls_and_its_detection_lag() {
    let scene = Scene::start("harbour", "au1").await;
    scene.app.state.usage_recorder.flush().await.unwrap();
    let owner = &scene.clinic.owner;
    let shown = dashboard(&scene.app, owner, &owner.cookie, "1h").await;
    let (status, home) = get_as(&scene.app, owner, &owner.cookie, "/?range=1h").await;
    scene.polling.stop().await;
    assert_eq!(status, 200);
    // The sandbox practice has businesses in Sydney and Perth: no one zone is the practice's,
    // and the page says why its times are UTC.
    assert!(
        home.contains("Times are in UTC (the practice&#39;s businesses are in several time zones)"),
        "the reason is given: {home}"
    );
    assert!(
        home.contains(" UTC</dd>"),
        "the last call is written in UTC"
    );

    let cliniko = &shown["cliniko"];
    assert_eq!(cliniko["connected"], true, "{shown}");
    assert!(cliniko["verified_at"].is_string());
    assert_eq!(cliniko["rejected_at"], Value::Null);
    assert!(cliniko["last_call_at"].is_string(), "{shown}");
    assert!(sum(&shown["lanes"]["background"]) > 0, "the poller's calls");
    let detection = shown["detection"].as_array().unwrap();
    for resource in ["appointments", "patients", "hours"] {
        let read = detection
            .iter()
            .find(|d| d["resource"] == resource)
            .unwrap_or_else(|| panic!("no {resource}: {shown}"));
        assert!(read["lag_seconds"].as_i64().unwrap() < 60, "{read}");
    }
}
