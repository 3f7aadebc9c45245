use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::browser::{browser, screenshot};
use crate::common::spawn_app;
use crate::sandbox::SandboxClinic;

#[tokio::test]
async fn the_api_docs_render_with_no_resource_from_another_origin() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_app().await;
    let client = &browser.client;

    client
        .goto(&format!("http://localhost:{}/docs", app.port))
        .await
        .unwrap();
    let title = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".swagger-ui .info .title"))
        .await
        .expect("Swagger UI rendered the document's title");
    assert!(title.text().await.unwrap().contains("ClinicGate"));
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".opblock-summary-path[data-path='/readyz']"))
        .await
        .expect("the operations are listed");
    screenshot(client, "api-docs").await;

    let resources = client
        .execute("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);", vec![])
        .await
        .unwrap();
    let origin = format!("http://localhost:{}/", app.port);
    for url in resources.as_array().unwrap() {
        let url = url.as_str().unwrap();
        assert!(
            url.starts_with(&origin),
            "the docs page loaded {url} from another origin"
        );
    }
    browser.client.clone().close().await.unwrap();
}

/// A partner as the README tells one to: in the API docs, **Authorize** with the client id and
/// secret (OAuth 2.0 client credentials; Swagger UI fetches the token itself), then **Try it
/// out** on `GET /api/public/appointments` lists the clinic's appointments (200).
#[tokio::test]
async fn a_partner_gets_a_token_in_the_authorize_dialog_and_lists_its_appointments() {
    let Some(browser) = browser().await else {
        return;
    };
    let env = SandboxClinic::start().await;
    let created: Value = env
        .app
        .on(
            reqwest::Method::POST,
            "harbour",
            "/api/tenant/clients",
            Some(&env.owner),
        )
        .json(&json!({"name": "Docs partner", "scopes": ["appointments:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    let client = &browser.client;
    client
        .goto(&format!("http://localhost:{}/docs", env.port))
        .await
        .unwrap();
    let wait = |css: &'static str| async move {
        client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    };
    wait(".swagger-ui .auth-wrapper button.authorize")
        .await
        .click()
        .await
        .unwrap();
    let id_field = wait(".modal-ux input[id^='client_id_']").await;
    id_field.send_keys(id).await.unwrap();
    wait(".modal-ux input[id^='client_secret_']")
        .await
        .send_keys(secret)
        .await
        .unwrap();
    // The Authorize button of the client-credentials block (the bearer block has its own).
    id_field
        .find(Locator::XPath(
            "ancestor::div[contains(@class, 'auth-container')]//button[contains(@class, 'authorize')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Authorized: the block now offers to log out.
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(
            "//div[contains(@class, 'modal-ux')]//button[normalize-space()='Logout']",
        ))
        .await
        .expect("Swagger UI got a token from /api/auth/token");
    wait(".modal-ux button.btn-done")
        .await
        .click()
        .await
        .unwrap();

    wait(".opblock-get .opblock-summary-path[data-path='/api/public/appointments']")
        .await
        .click()
        .await
        .unwrap();
    wait(".opblock-get.is-open button.try-out__btn")
        .await
        .click()
        .await
        .unwrap();
    // Try it out fills every parameter with the document's example (one patient, one doctor, May
    // 2030, cancelled): cleared, as a partner listing everything would.
    wait(".opblock-get.is-open table.parameters").await;
    for input in client
        .find_all(Locator::Css(
            ".opblock-get.is-open table.parameters input[type='text']",
        ))
        .await
        .unwrap()
    {
        // Keys, not WebDriver's clear(): Swagger UI's inputs listen for typing.
        // (Ctrl+A, release the modifier, Backspace.)
        input.send_keys("\u{E009}a\u{E000}\u{E003}").await.unwrap();
    }
    for select in client
        .find_all(Locator::Css(".opblock-get.is-open table.parameters select"))
        .await
        .unwrap()
    {
        select.select_by_label("--").await.unwrap();
    }
    wait(".opblock-get.is-open button.execute")
        .await
        .click()
        .await
        .unwrap();
    let status =
        wait(".opblock-get.is-open .live-responses-table tbody .response-col_status").await;
    assert_eq!(status.text().await.unwrap().trim(), "200");
    let body = wait(".opblock-get.is-open .live-responses-table tbody .response-col_description")
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("\"data\": ["), "{body}");
    assert!(
        !body.contains("\"total\": 0,"),
        "the clinic's appointments: {body}"
    );
}
