//! The custom patient button in a real browser: Cliniko's button URL → the login page → back on
//! the patient (name and alert visible, printable, on a phone too) → the owner's access ledger
//! shows the view. Cliniko is the in-repo sandbox.

use fantoccini::Locator;

use crate::browser::{browser, screenshot};
use crate::common::PASSWORD;
use crate::onboarding::{click_button, log_in, wait_for_path, wait_for_text};
use crate::sandbox::SandboxClinic;

#[tokio::test]
async fn the_button_url_leads_through_login_to_the_patient_and_into_the_ledger() {
    let Some(browser) = browser().await else {
        return;
    };
    let env = SandboxClinic::start().await;
    let (app, clinic, port) = (&env.app, &env.clinic, env.port);
    app.add_user(
        "harbour",
        &env.owner,
        "sam@harbour.example.com",
        "clinician",
    )
    .await;

    // A patient with a medical alert.
    let alerts = env.cliniko("/medical_alerts?per_page=5").await;
    let alert = &alerts["medical_alerts"][0];
    let alert_name = alert["name"].as_str().unwrap().to_owned();
    let patient_id = alert["patient"]["links"]["self"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let patient = env.cliniko(&format!("/patients/{patient_id}")).await;
    let last_name = patient["last_name"].as_str().unwrap().to_owned();

    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{port}");
    // What Cliniko opens when the clinician clicks the button.
    client
        .goto(&format!("{origin}/patients?patient_id={patient_id}"))
        .await
        .unwrap();
    wait_for_path(
        client,
        &origin,
        &format!("/login?next=/patients%3Fpatient_id%3D{patient_id}"),
    )
    .await;
    log_in(client, "sam@harbour.example.com", PASSWORD).await;
    wait_for_path(
        client,
        &origin,
        &format!("/patients?patient_id={patient_id}"),
    )
    .await;
    wait_for_text(client, "#patient-name", &last_name).await;
    wait_for_text(client, "#medical-alerts", &alert_name).await;
    let print = client.find(Locator::Css("[data-print]")).await.unwrap();
    assert!(
        print.is_displayed().await.unwrap(),
        "the print button is wired by patient.js"
    );
    screenshot(client, "patient").await;
    client.set_window_size(390, 844).await.unwrap();
    wait_for_text(client, "#medical-alerts", &alert_name).await;
    // Every appointment's location, type and status is on screen, not scrolled off to the right.
    let overflow = client
        .execute(
            "const width = document.documentElement.clientWidth;
             const cells = [...document.querySelectorAll('table.table-stack td')];
             return [cells.length, cells.filter(c => c.getBoundingClientRect().right > width + 1).length];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow[0].as_u64().unwrap() > 0,
        "the patient has appointments: {overflow}"
    );
    assert_eq!(
        overflow[1], 0,
        "cells past the screen's edge at 390 px: {overflow}"
    );
    screenshot(client, "patient-phone").await;
    client.set_window_size(1280, 900).await.unwrap();

    // Back home: the patient is in "recently viewed".
    client.goto(&format!("{origin}/")).await.unwrap();
    wait_for_text(client, "#recent-patients", &last_name).await;

    // Log out (through the confirmation page) and read the ledger as the owner.
    client.goto(&format!("{origin}/logout")).await.unwrap();
    click_button(client, "Log out").await;
    wait_for_path(client, &origin, "/login?logged_out=1").await;
    log_in(client, &clinic.owner_email, PASSWORD).await;
    wait_for_path(client, &origin, "/").await;
    client
        .goto(&format!("{origin}/settings/audit"))
        .await
        .unwrap();
    wait_for_text(client, "#ledger-table", "sam@harbour.example.com").await;
    wait_for_text(client, "#ledger-table", &patient_id).await;
    wait_for_text(client, "#ledger-table", &last_name).await;
    wait_for_text(client, "#ledger-table", "page").await;
    screenshot(client, "access-ledger").await;
}
