//! The sign-in features of issue 18 in a real browser: the owner sets up single sign-on on
//! Settings → Sign-in against a local OpenID provider stub, then a clinician follows a patient
//! button URL, chooses "Sign in with …" and lands on that patient (the login page with the
//! button fits a desktop and a 390 px phone); and "Forgot password?" gives every address the
//! same confirmation page while only a staff member's address gets the e-mail.

use fantoccini::{Client, Locator};

use crate::browser::{browser, screenshot};
use crate::common::allow_loopback;
use crate::common::oidc_provider::{CLIENT_ID, CLIENT_SECRET, PersonClaims, Provider};
use crate::common::smtp_sink::SmtpSink;
use crate::onboarding::{WAIT, click_button, fill, log_in_to, wait_for_path, wait_for_text};
use crate::sandbox::SandboxClinic;

const SAM: &str = "sam@harbour.example.com";

/// Asserts the page is no wider than the window (no sideways scrolling).
pub(crate) async fn assert_no_sideways_scroll(client: &Client, what: &str) {
    let widths = client
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        widths[0].as_u64().unwrap() <= widths[1].as_u64().unwrap(),
        "{what} scrolls sideways: [scrollWidth, clientWidth] = {widths}"
    );
}

/// Waits for the login page's single sign-on button, visible and named for the provider.
async fn sso_button(client: &Client) -> fantoccini::elements::Element {
    let button = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("sso-login"))
        .await
        .expect("the login page shows the single sign-on button");
    assert_eq!(button.text().await.unwrap(), "Sign in with Stub IdP");
    assert!(button.is_displayed().await.unwrap());
    button
}

#[tokio::test]
async fn an_owner_sets_up_single_sign_on_and_a_clinician_signs_in_onto_the_patient() {
    let Some(browser) = browser().await else {
        return;
    };
    let env = SandboxClinic::start_with(allow_loopback).await;
    let (app, clinic, port) = (&env.app, &env.clinic, env.port);
    app.add_user("harbour", &env.owner, SAM, "clinician").await;
    let provider = Provider::start().await;
    provider
        .signs_in(PersonClaims {
            email: Some(SAM.to_owned()),
            email_verified: true,
            amr: vec!["pwd".to_owned()],
        })
        .await;
    let patients = env.cliniko("/patients?per_page=1").await;
    let patient = &patients["patients"][0];
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    let last_name = patient["last_name"].as_str().unwrap().to_owned();

    // The owner configures the provider on Settings → Sign-in.
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{port}");
    log_in_to(client, &origin, "/settings/sign-in", &clinic.owner_email).await;
    wait_for_text(
        client,
        "#sso-redirect-uri",
        &format!("{origin}/login/sso/callback"),
    )
    .await;
    // The issuer's URL field is styled like the others (as wide as the client ID's).
    let widths = client
        .execute(
            "return ['sso-issuer', 'sso-client_id'].map(id => document.getElementById(id).getBoundingClientRect().width);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(widths[0], widths[1], "[issuer, client ID] widths: {widths}");
    fill(client, "Issuer URL", &provider.issuer()).await;
    fill(client, "Client ID", CLIENT_ID).await;
    fill(client, "Client secret", CLIENT_SECRET).await;
    fill(client, "Button name (optional)", "Stub IdP").await;
    click_button(client, "Save").await;
    wait_for_text(client, "#sso-saved", "Saved.").await;
    screenshot(client, "sign-in-settings").await;
    client.goto(&format!("{origin}/logout")).await.unwrap();
    click_button(client, "Log out").await;
    wait_for_path(client, &origin, "/login?logged_out=1").await;

    // The clinician clicks the patient button in Cliniko and signs in through the provider.
    let patient_page = format!("/patients?patient_id={patient_id}");
    client
        .goto(&format!("{origin}{patient_page}"))
        .await
        .unwrap();
    wait_for_path(
        client,
        &origin,
        &format!("/login?next=/patients%3Fpatient_id%3D{patient_id}"),
    )
    .await;
    sso_button(client).await;
    assert_no_sideways_scroll(client, "the login page on a desktop").await;
    client.set_window_size(390, 844).await.unwrap();
    sso_button(client).await;
    assert_no_sideways_scroll(client, "the login page at 390 px").await;
    client.set_window_size(1280, 900).await.unwrap();
    sso_button(client).await.click().await.unwrap();
    wait_for_path(client, &origin, &patient_page).await;
    wait_for_text(client, "#patient-name", &last_name).await;
    let signed_in = provider
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/token")
        .count();
    assert_eq!(signed_in, 1, "one code redeemed at the provider");
}

#[tokio::test]
async fn forgot_password_shows_the_same_page_for_any_address_and_mails_only_staff() {
    let Some(browser) = browser().await else {
        return;
    };
    let sink = SmtpSink::start().await;
    let relay = sink.clone();
    let env = SandboxClinic::start_with(move |f| relay.relay_for(f)).await;
    env.app
        .add_user("harbour", &env.owner, SAM, "clinician")
        .await;
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", env.port);

    let mut confirmations = Vec::new();
    for email in [SAM, "nobody@harbour.example.com"] {
        client.goto(&format!("{origin}/login")).await.unwrap();
        client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::LinkText("Forgot password?"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(client, &origin, "/forgot-password").await;
        fill(client, "Email", email).await;
        click_button(client, "E-mail me a reset link").await;
        wait_for_text(
            client,
            "#forgot-notice",
            "a link to set a new password is on its way",
        )
        .await;
        let notice = client.find(Locator::Id("forgot-notice")).await.unwrap();
        confirmations.push(notice.text().await.unwrap());
        assert!(
            client.find(Locator::Id("email")).await.is_err(),
            "the form is gone once the request is taken"
        );
    }
    assert_eq!(
        confirmations[0], confirmations[1],
        "the page says nothing about who has an account"
    );
    let mail = sink.wait_for(SAM, "Reset your ClinicGate password").await;
    assert!(
        mail.parsed()
            .body_text(0)
            .unwrap()
            .contains("/reset-password?token=cgpw_")
    );
    assert!(
        sink.messages()
            .iter()
            .all(|m| !m.to.iter().any(|to| to.starts_with("nobody@"))),
        "no e-mail to an address without an account"
    );
}
