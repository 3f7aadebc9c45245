//! Settings → FHIR in a real browser: the owner adds a FHIR destination with OAuth client
//! credentials (a wiremock FHIR server with its token endpoint, started here), tests the
//! connection, sends the clinic's existing patients and watches the progress, and reads the
//! pushes with the server's answers — on a desktop and on a 390 px phone without sideways
//! scrolling. Screenshots for docs/screenshots.

use fantoccini::{Client, Locator};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::browser::{browser, screenshot};
use crate::common::allow_loopback;
use crate::onboarding::{click_button, fill, log_in_to, wait_for_text};
use crate::sandbox::SandboxClinic;

/// A FHIR R4 server: a CapabilityStatement, tokens for ClinicGate, and every conditional update
/// accepted.
async fn fhir_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/fhir/r4/metadata"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "ehr-token", "token_type": "bearer", "expires_in": 3600}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"resourceType": "Patient", "id": "1"})),
        )
        .mount(&server)
        .await;
    server
}

/// Clicks the button reading `text`, again if the page redrew it between finding and clicking
/// (the destinations table is redrawn while a run's progress moves).
async fn press(client: &Client, text: &str) {
    let started = std::time::Instant::now();
    loop {
        let found = client
            .find(Locator::XPath(&format!(
                "//button[normalize-space()='{text}']"
            )))
            .await;
        if let Ok(button) = found
            && button.click().await.is_ok()
        {
            return;
        }
        assert!(
            started.elapsed() < crate::onboarding::WAIT,
            "no button {text:?} to click"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Back to the top of the page, each table scrolled to its start, for a screenshot.
async fn from_the_top(client: &Client) {
    client
        .execute(
            "document.querySelectorAll('.table-wrap').forEach(w => { w.scrollLeft = 0; });
             window.scrollTo(0, 0);",
            vec![],
        )
        .await
        .unwrap();
}

/// No sideways scrolling: the page is no wider than its viewport.
async fn fits(client: &Client, what: &str) {
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (page, viewport) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    if page > viewport {
        // Name what sticks out, for whoever fixes it.
        let wide = client
            .execute(
                "const edge = document.documentElement.clientWidth;
                 return [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > edge + 1)
                   .slice(0, 12)
                   .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));",
                vec![],
            )
            .await
            .unwrap();
        panic!("no sideways scrolling on {what}: {page} > {viewport}: {wide}");
    }
}

#[tokio::test]
async fn an_owner_adds_a_fhir_destination_tests_it_sends_existing_patients_and_reads_the_pushes() {
    let Some(browser) = browser().await else {
        return;
    };
    let env = SandboxClinic::start_with(allow_loopback).await;
    let fhir = fhir_server().await;
    let patients = env.cliniko("/patients?per_page=1").await["total_entries"]
        .as_u64()
        .unwrap();

    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", env.port);
    log_in_to(client, &origin, "/settings/fhir", &env.clinic.owner_email).await;
    wait_for_text(client, "#fhir-body", "No FHIR destination yet").await;

    fill(client, "Name", "Hospital EHR").await;
    fill(client, "FHIR base URL", &format!("{}/fhir/r4", fhir.uri())).await;
    client
        .find(Locator::Id("dest-auth-type"))
        .await
        .unwrap()
        .select_by_value("client_credentials")
        .await
        .unwrap();
    fill(client, "Token URL", &format!("{}/oauth/token", fhir.uri())).await;
    fill(client, "Client id", "clinicgate").await;
    fill(client, "Client secret", "ehr-secret-31f0").await;
    fill(client, "Scopes", "system/Patient.cu").await;
    // Patients only: the sandbox's appointments would make the pushes list long to wait for.
    client
        .find(Locator::Id("dest-res-appointment"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click_button(client, "Add destination").await;
    wait_for_text(client, "#fhir-done", "Destination added").await;
    wait_for_text(client, "#fhir-body", "Hospital EHR").await;
    wait_for_text(client, "#fhir-body", "OAuth client credentials").await;
    let source = client.source().await.unwrap();
    assert!(
        !source.contains("ehr-secret-31f0"),
        "the secret is never shown"
    );

    press(client, "Test connection").await;
    wait_for_text(
        client,
        "#fhir-done",
        "Connected: the server answers FHIR 4.0.1 and issued a token.",
    )
    .await;

    press(client, "Send existing records").await;
    wait_for_text(
        client,
        "#fhir-done",
        "Sending existing records to Hospital EHR",
    )
    .await;
    wait_for_text(
        client,
        "#fhir-body",
        &format!("Existing records sent: {patients} of {patients} patients."),
    )
    .await;

    press(client, "Pushes").await;
    wait_for_text(client, "#pushes-title", "Pushes to Hospital EHR").await;
    wait_for_text(client, "#pushes-deliveries", "patient.created").await;
    // The page reads the pushes when asked: ask until the first ones went out.
    let started = std::time::Instant::now();
    loop {
        press(client, "Pushes").await;
        let shown = client
            .find(Locator::Id("pushes-deliveries"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if shown.contains("HTTP 201") && shown.contains("delivered") {
            break;
        }
        assert!(
            started.elapsed() < crate::onboarding::WAIT,
            "no delivered push shown: {shown}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    fits(client, "a desktop").await;
    from_the_top(client).await;
    screenshot(client, "settings-fhir").await;

    client.set_window_size(390, 844).await.unwrap();
    client
        .goto(&format!("{origin}/settings/fhir"))
        .await
        .unwrap();
    wait_for_text(client, "#fhir-body", "Existing records sent").await;
    press(client, "Pushes").await;
    wait_for_text(client, "#pushes-deliveries", "HTTP 201").await;
    fits(client, "a 390 px phone").await;
    from_the_top(client).await;
    screenshot(client, "settings-fhir-phone").await;
    client.set_window_size(1280, 900).await.unwrap();
    assert!(
        !fhir
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .any(|r| r.method.as_str() == "PUT" && r.url.path() != "/fhir/r4/Patient"),
        "patients only"
    );
    browser.client.clone().close().await.unwrap();
}
