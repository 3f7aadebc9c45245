//! Two-step login in a real browser, as a clinician would set it up: the button URL → log in →
//! the patient; then **My account → Set up two-step login**, the key read off the page into an
//! "authenticator" (RFC 6238 computed here), the first code turns it on and the recovery codes
//! are shown; logged out, the button URL again asks for the password and then the code (the
//! code page fits a 390 px phone) and lands on the patient.

use fantoccini::Locator;

use crate::browser::browser;
use crate::common::PASSWORD;
use crate::common::totp::{code_at, current_step};
use crate::onboarding::{WAIT, click_button, fill, log_in, wait_for_path, wait_for_text};
use crate::sandbox::SandboxClinic;
use crate::sign_in::assert_no_sideways_scroll;

const SAM: &str = "sam@harbour.example.com";

#[tokio::test]
async fn a_clinician_turns_on_two_step_login_and_the_button_url_asks_for_the_code() {
    let Some(browser) = browser().await else {
        return;
    };
    let env = SandboxClinic::start().await;
    let (app, port) = (&env.app, env.port);
    app.add_user("harbour", &env.owner, SAM, "clinician").await;
    let patients = env.cliniko("/patients?per_page=1").await;
    let patient_id = patients["patients"][0]["id"].as_str().unwrap().to_owned();
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{port}");
    let button = format!("/patients?patient_id={patient_id}");
    let login = format!("/login?next=/patients%3Fpatient_id%3D{patient_id}");

    client.goto(&format!("{origin}{button}")).await.unwrap();
    wait_for_path(client, &origin, &login).await;
    log_in(client, SAM, PASSWORD).await;
    wait_for_path(client, &origin, &button).await;

    // Set up: the page shows a QR code and, for typing, the key.
    client.goto(&format!("{origin}/account")).await.unwrap();
    click_button(client, "Set up two-step login").await;
    wait_for_text(client, "#mfa h2", "scan this code").await;
    let qr = client
        .find(Locator::Css("#mfa figure.qr svg"))
        .await
        .expect("the QR code is drawn in the page");
    assert!(qr.is_displayed().await.unwrap());
    let secret = client
        .find(Locator::Css("#mfa code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(secret.len() >= 16, "a base32 key: {secret}");
    let step = current_step();
    fill(client, "Code from the app", &code_at(&secret, step)).await;
    click_button(client, "Turn on two-step login").await;
    wait_for_text(client, "#mfa h2", "Two-step login is on").await;
    let codes = client
        .find_all(Locator::Css("#mfa .recovery-codes li"))
        .await
        .unwrap();
    assert!(
        codes.len() >= 8,
        "recovery codes shown once: {}",
        codes.len()
    );

    // Logged out, the button URL asks for the password, then for a code, then shows the patient.
    client.goto(&format!("{origin}/logout")).await.unwrap();
    click_button(client, "Log out").await;
    wait_for_path(client, &origin, "/login?logged_out=1").await;
    client.goto(&format!("{origin}{button}")).await.unwrap();
    wait_for_path(client, &origin, &login).await;
    log_in(client, SAM, PASSWORD).await;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("code"))
        .await
        .expect("the code step follows the password");
    client.set_window_size(390, 844).await.unwrap();
    assert_no_sideways_scroll(client, "the code page on a phone").await;
    fill(client, "Code", &code_at(&secret, step + 1)).await;
    click_button(client, "Continue").await;
    wait_for_path(client, &origin, &button).await;
    client.set_window_size(1280, 900).await.unwrap();
}
