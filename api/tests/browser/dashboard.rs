//! The dashboard on the clinic home in a real browser, as an owner sees it after two partners
//! used the API: each partner's traffic in the charts and their text equivalents, readable on a
//! desktop and on a 390 px phone without sideways scrolling. Screenshots for docs/screenshots.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::{browser, screenshot};
use crate::common::TestApp;
use crate::onboarding::{log_in_to, wait_for_text};
use crate::sandbox::SandboxClinic;

/// Creates client `name` on harbour as `owner` and calls the doctors list `calls` times with its
/// token.
async fn partner_traffic(app: &TestApp, owner: &str, name: &str, calls: usize) {
    let created: Value = app
        .on(Method::POST, "harbour", "/api/tenant/clients", Some(owner))
        .json(&json!({"name": name, "scopes": ["doctors:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token: Value = app
        .client
        .post(format!("{}/api/auth/token", app.address))
        .basic_auth(
            created["client_id"].as_str().unwrap(),
            created["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    for _ in 0..calls {
        let response = app
            .client
            .get(format!("{}/api/public/doctors", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

/// Reloads the home page until the dashboard names `text` (usage is flushed every few seconds).
async fn reload_until(client: &Client, origin: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        client.goto(&format!("{origin}/?range=1h")).await.unwrap();
        let section = client
            .find(Locator::Css("section.dashboard"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if section.contains(text) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never showed {text:?}: {section}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `[page width, viewport width]`: a page wider than its viewport scrolls sideways.
async fn widths(client: &Client) -> (u64, u64) {
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap())
}

#[tokio::test]
async fn an_owner_reads_each_partners_traffic_on_the_dashboard_on_a_desktop_and_a_phone() {
    let Some(browser) = browser().await else {
        return;
    };
    let env = SandboxClinic::start().await;
    partner_traffic(&env.app, &env.owner, "Online booking", 6).await;
    partner_traffic(&env.app, &env.owner, "Recall reminders", 3).await;

    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", env.port);
    log_in_to(client, &origin, "/", &env.clinic.owner_email).await;
    wait_for_text(client, "#dashboard-title", "Integrations at a glance").await;
    reload_until(client, &origin, "Online booking").await;
    reload_until(client, &origin, "Recall reminders").await;
    wait_for_text(client, "#health-title", "Cliniko connection").await;

    // Every chart is a labelled image with its numbers also given as text.
    let charts = client
        .execute(
            "return [...document.querySelectorAll('svg.chart-svg')].map(svg => {
               const ids = (svg.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean);
               return svg.getAttribute('role') === 'img' && ids.length > 0
                 && ids.every(id => (document.getElementById(id)?.textContent || '').trim().length > 0);
             });",
            vec![],
        )
        .await
        .unwrap();
    let charts = charts.as_array().unwrap();
    assert!(!charts.is_empty(), "the dashboard draws charts");
    assert!(charts.iter().all(|labelled| labelled == true), "{charts:?}");
    let (page, viewport) = widths(client).await;
    assert!(
        page <= viewport,
        "no sideways scrolling on a desktop: {page} > {viewport}"
    );
    screenshot(client, "dashboard").await;

    client.set_window_size(390, 844).await.unwrap();
    reload_until(client, &origin, "Online booking").await;
    let (page, viewport) = widths(client).await;
    assert!(
        page <= viewport,
        "no sideways scrolling on a phone: {page} > {viewport}"
    );
    screenshot(client, "dashboard-phone").await;
    client.set_window_size(1280, 900).await.unwrap();
}
