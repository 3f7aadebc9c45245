//! Settings → Webhooks in a real browser: the owner is told an endpoint was disabled because it
//! kept failing, reads its deliveries with their response codes and latency, resends one and
//! enables the endpoint again.

use chrono::{TimeDelta, Utc};
use clinicgate_core::events::EventType;
use clinicgate_core::webhooks::DeliveryEndpoints as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{browser, screenshot};
use crate::common::deliveries::Events;
use crate::common::{PASSWORD, TestApp};
use crate::onboarding::{click_button, log_in, spawn_on_own_port, wait_for_path, wait_for_text};

/// What `request` answers, as JSON.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A client of the clinic `subdomain` (owner logged in as `cookie`) registers an endpoint; its id.
async fn partner_endpoint(app: &TestApp, subdomain: &str, cookie: &str) -> String {
    let created = json_of(
        app
        .on(Method::POST, subdomain, "/api/tenant/clients", Some(cookie))
        .json(
            &json!({"name": "Booking partner", "scopes": ["appointments:read", "webhooks:manage"]}),
        )
    )
    .await;
    let token = json_of(
        app.client
            .post(format!("{}/api/auth/token", app.address))
            .basic_auth(
                created["client_id"].as_str().unwrap(),
                created["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    let endpoint = json_of(
        app
        .client
        .post(format!("{}/api/public/webhooks", app.address))
        .bearer_auth(token["access_token"].as_str().unwrap())
        // A public address literal: accepted without DNS, and never called (it is disabled).
        .json(
            &json!({"url": "https://93.184.215.14/hooks", "event_types": ["appointment.created"]}),
        )
    )
    .await;
    endpoint["id"]
        .as_str()
        .expect("the endpoint was created")
        .to_owned()
}

#[tokio::test]
async fn an_owner_sees_a_failing_endpoint_reads_its_deliveries_resends_and_enables_it() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let clinic = app.sign_up("harbour").await;
    let cookie = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let id = partner_endpoint(&app, "harbour", &cookie).await;

    // Five days of failures, as the delivery worker reports them: the endpoint is disabled.
    let events = Events::of(&app, &clinic.id);
    let endpoint = id.parse().unwrap();
    let webhooks = &app.state.webhooks;
    webhooks
        .note_outcome(
            events.tenant,
            endpoint,
            false,
            Utc::now() - TimeDelta::days(6),
        )
        .await
        .unwrap();
    assert!(
        webhooks
            .note_outcome(events.tenant, endpoint, false, Utc::now())
            .await
            .unwrap()
    );
    let failed = events
        .publish(EventType::AppointmentCreated, Utc::now(), &[&id])
        .await[0];
    events.fail(failed, 503).await;

    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", app.port);
    client
        .goto(&format!("{origin}/settings/webhooks"))
        .await
        .unwrap();
    wait_for_path(client, &origin, "/login?next=%2Fsettings%2Fwebhooks").await;
    log_in(client, &clinic.owner_email, PASSWORD).await;
    wait_for_path(client, &origin, "/settings/webhooks").await;
    wait_for_text(
        client,
        "#failing-notice",
        "every delivery failed for five days",
    )
    .await;
    wait_for_text(client, "#webhooks-body", "Booking partner").await;
    wait_for_text(client, "#webhooks-body", "Disabled: kept failing").await;
    wait_for_text(client, "#webhooks-body", "0 delivered, 1 failed").await;

    click_button(client, "Deliveries").await;
    wait_for_text(client, "#deliveries-body", "HTTP 503").await;
    wait_for_text(client, "#deliveries-body", "12 ms").await;
    wait_for_text(client, "#deliveries-body", "appointment.created").await;
    screenshot(client, "settings-webhooks").await;

    click_button(client, "Resend").await;
    wait_for_text(client, "#deliveries-done", "Queued again").await;
    wait_for_text(client, "#deliveries-body", "pending").await;

    click_button(client, "Enable").await;
    wait_for_text(client, "#webhooks-body", "Enabled").await;
    let notice = client
        .find(fantoccini::Locator::Id("failing-notice"))
        .await
        .unwrap();
    assert!(!notice.is_displayed().await.unwrap(), "the notice is gone");
    browser.client.clone().close().await.unwrap();
}
