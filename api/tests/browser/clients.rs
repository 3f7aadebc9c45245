//! Settings → API clients in a real browser: an owner creates a client, sees its secret exactly
//! once, and the secret works at the token endpoint.

use fantoccini::Locator;

use crate::browser::{browser, screenshot};
use crate::onboarding::{click_button, fill, log_in_to, spawn_on_own_port, wait_for_text};

#[tokio::test]
async fn an_owner_creates_an_api_client_and_sees_its_secret_once() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let clinic = app.sign_up("harbour").await;
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", app.port);

    log_in_to(client, &origin, "/settings/clients", &clinic.owner_email).await;
    wait_for_text(client, "#clients-body", "No API clients yet").await;

    fill(client, "Name", "Online booking").await;
    client
        .find(Locator::Css("input[name=scopes][value='patients:read']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(client, "Create client").await;
    wait_for_text(client, "#secret-panel", "Copy the client secret now").await;
    wait_for_text(client, "#clients-body", "Online booking").await;
    let secret = client
        .find(Locator::Id("new-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let client_id = client
        .find(Locator::Id("secret-client-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(secret.starts_with("cgsk_"), "{secret}");
    assert!(client_id.starts_with("cgcl_"), "{client_id}");
    wait_for_text(client, "#clients-body", "patients:read").await;
    screenshot(client, "settings-clients").await;

    let response = app
        .client
        .post(format!("{}/api/auth/token", app.address))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the secret shown is the client's secret"
    );
    let token: serde_json::Value = response.json().await.unwrap();
    assert_eq!(token["scope"], "doctors:read slots:read patients:read");

    click_button(client, "I have stored it").await;
    let panel = client.find(Locator::Id("secret-panel")).await.unwrap();
    assert!(
        !panel.is_displayed().await.unwrap(),
        "the secret leaves the page"
    );
    assert!(!client.source().await.unwrap().contains(&secret));
    client.refresh().await.unwrap();
    wait_for_text(client, "#clients-body", "Online booking").await;
    assert!(
        !client.source().await.unwrap().contains(&secret),
        "the secret is never shown again"
    );
    browser.client.clone().close().await.unwrap();
}
