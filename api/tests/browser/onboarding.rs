//! Clinic onboarding in a real browser: sign-up on the root host, landing on the clinic's own
//! host, logging in, connecting Cliniko (a stub of `GET /user`), the button URL, staff, and
//! the session and role boundaries.

use std::time::Duration;

use fantoccini::{Client, Locator};
use figment::providers::Serialized;

use crate::browser::{browser, screenshot};
use crate::common::{
    CLINIKO_KEY, PASSWORD, TestApp, cliniko_at, cliniko_stub, integration_user, spawn_app_with,
};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// An app whose public URL carries its real port, so the URLs it hands the browser (sign-up's
/// `login_url`, the button URL) are the ones the browser can open.
pub(crate) async fn spawn_on_own_port(cliniko: Option<String>) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    spawn_app_with(move |f| {
        let f = f
            .merge(Serialized::default("bind", format!("127.0.0.1:{port}")))
            .merge(Serialized::default(
                "public_url",
                format!("http://localhost:{port}"),
            ));
        match cliniko {
            Some(uri) => cliniko_at(f, &uri),
            None => f,
        }
    })
    .await
}

/// The form control a `<label>` with this text points at (`<label for>`), as a user finds it.
pub(crate) async fn field(client: &Client, label: &str) -> fantoccini::elements::Element {
    let label = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&format!(
            "//label[normalize-space()='{label}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no label {label:?}: {e}"));
    let id = label
        .attr("for")
        .await
        .unwrap()
        .expect("the label has for=");
    client.find(Locator::Id(&id)).await.unwrap()
}

pub(crate) async fn fill(client: &Client, label: &str, value: &str) {
    let input = field(client, label).await;
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

pub(crate) async fn click_button(client: &Client, text: &str) {
    client
        .find(Locator::XPath(&format!(
            "//button[normalize-space()='{text}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("no button {text:?}: {e}"))
        .click()
        .await
        .unwrap();
}

pub(crate) async fn wait_for_text(client: &Client, css: &str, text: &str) {
    let started = std::time::Instant::now();
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.text().await.unwrap_or_default().contains(text)
        {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "{css} never showed {text:?}; page: {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) async fn wait_for_path(client: &Client, origin: &str, path_and_query: &str) {
    let url = url::Url::parse(&format!("{origin}{path_and_query}")).unwrap();
    client
        .wait()
        .at_most(WAIT)
        .for_url(&url)
        .await
        .unwrap_or_else(|e| panic!("never reached {url}: {e}"));
}

/// Opens `path` on `origin` without a session, is sent to the login page (which says it will
/// come back here), logs in as `email` and waits to be back on `path`.
pub(crate) async fn log_in_to(client: &Client, origin: &str, path: &str, email: &str) {
    client.goto(&format!("{origin}{path}")).await.unwrap();
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    wait_for_path(client, origin, &format!("/login?next={next}")).await;
    log_in(client, email, PASSWORD).await;
    wait_for_path(client, origin, path).await;
}

pub(crate) async fn log_in(client: &Client, email: &str, password: &str) {
    fill(client, "Email", email).await;
    fill(client, "Password", password).await;
    click_button(client, "Log in").await;
}

#[tokio::test]
async fn a_clinic_signs_up_lands_on_its_own_host_connects_cliniko_and_sees_its_button_url() {
    let Some(browser) = browser().await else {
        return;
    };
    let cliniko = cliniko_stub(integration_user()).await;
    let app = spawn_on_own_port(Some(cliniko.uri())).await;
    let client = &browser.client;
    let root = format!("http://localhost:{}", app.port);
    let clinic = format!("http://harbour-physio.localhost:{}", app.port);

    client.goto(&format!("{root}/")).await.unwrap();
    fill(client, "Clinic name", "Harbour Physio").await;
    fill(client, "Subdomain", "Harbour-Physio").await;
    wait_for_text(
        client,
        "#subdomain-url",
        &format!("http://harbour-physio.localhost:{}", app.port),
    )
    .await;
    fill(client, "Email", "owner@harbourphysio.example.com").await;
    fill(client, "Password", PASSWORD).await;
    screenshot(client, "landing").await;
    click_button(client, "Create clinic").await;

    wait_for_path(client, &clinic, "/login?welcome=1").await;
    wait_for_text(client, "main", "Your clinic is ready").await;
    screenshot(client, "login").await;
    log_in(client, "owner@harbourphysio.example.com", PASSWORD).await;
    wait_for_path(client, &clinic, "/").await;
    wait_for_text(client, "main", "Not connected").await;
    screenshot(client, "clinic-home").await;

    client
        .find(Locator::LinkText("Settings"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(client, &clinic, "/settings/cliniko").await;
    wait_for_text(client, "#cliniko-status", "Not connected").await;
    let disconnect = client
        .find(Locator::Id("cliniko-disconnect"))
        .await
        .unwrap();
    assert!(
        !disconnect.is_displayed().await.unwrap(),
        "Disconnect is offered while nothing is connected"
    );
    fill(client, "Cliniko API key", CLINIKO_KEY).await;
    click_button(client, "Verify and connect").await;
    wait_for_text(client, "#cliniko-status", "Connected").await;
    assert!(
        disconnect.is_displayed().await.unwrap(),
        "no Disconnect once connected"
    );
    wait_for_text(client, "#cliniko-status", "…4eXo").await;
    wait_for_text(client, "#cliniko-status", "au2").await;
    wait_for_text(client, "#cliniko-status", "ClinicGate Integration").await;
    let button_url = client.find(Locator::Id("button-url")).await.unwrap();
    assert_eq!(
        button_url.text().await.unwrap(),
        format!("{clinic}/patients")
    );
    wait_for_text(
        client,
        "#wildcard-url",
        &format!("*.localhost:{}/patients", app.port),
    )
    .await;
    let key_input = field(client, "Cliniko API key").await;
    assert_eq!(
        key_input.prop("value").await.unwrap().as_deref(),
        Some(""),
        "the key is cleared from the page once stored"
    );
    let source = client.source().await.unwrap();
    assert!(
        !source.contains(CLINIKO_KEY),
        "the page must never show the key"
    );
    screenshot(client, "settings-cliniko").await;

    client
        .find(Locator::LinkText("Staff"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(client, &clinic, "/settings/users").await;
    wait_for_text(client, "#users-body", "owner@harbourphysio.example.com").await;
    fill(client, "Email", "sam@harbourphysio.example.com").await;
    fill(client, "Initial password (optional)", PASSWORD).await;
    click_button(client, "Add staff member").await;
    wait_for_text(client, "#users-body", "sam@harbourphysio.example.com").await;
    wait_for_text(client, "#add-user-done", "can now log in").await;
    screenshot(client, "settings-users").await;

    // The same landing page, narrow: the layout must work on a phone.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{root}/")).await.unwrap();
    wait_for_text(client, "h1", "Cliniko").await;
    screenshot(client, "landing-mobile").await;

    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn sign_up_errors_appear_next_to_the_fields_they_concern() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    app.sign_up("taken").await;
    let client = &browser.client;
    client
        .goto(&format!("http://localhost:{}/", app.port))
        .await
        .unwrap();
    fill(client, "Clinic name", "Second").await;
    fill(client, "Subdomain", "taken").await;
    fill(client, "Email", "owner@second.example.com").await;
    fill(client, "Password", PASSWORD).await;
    click_button(client, "Create clinic").await;
    wait_for_text(client, "#subdomain-error", "already taken").await;
    let subdomain = field(client, "Subdomain").await;
    assert_eq!(
        subdomain.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );

    fill(client, "Subdomain", "admin").await;
    fill(client, "Password", "short").await;
    click_button(client, "Create clinic").await;
    wait_for_text(client, "#subdomain-error", "reserved").await;
    wait_for_text(client, "#password-error", "at least 12 characters").await;
    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_clinician_sees_no_settings_and_is_refused_them() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    app.add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", app.port);

    client
        .goto(&format!("{origin}/settings/cliniko"))
        .await
        .unwrap();
    wait_for_path(client, &origin, "/login?next=%2Fsettings%2Fcliniko").await;
    log_in(client, "sam@harbour.example.com", PASSWORD).await;
    // Back where they were going, which a clinician may not see.
    wait_for_path(client, &origin, "/settings/cliniko").await;
    wait_for_text(client, "main", "Not allowed").await;
    wait_for_text(client, "main", "Request id").await;
    screenshot(client, "forbidden").await;

    client.goto(&format!("{origin}/")).await.unwrap();
    wait_for_text(client, "main", "Ask an owner or admin").await;
    assert!(
        client.find(Locator::LinkText("Settings")).await.is_err(),
        "a clinician must not be offered the settings"
    );
    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn clinic_as_session_cookie_is_refused_on_clinic_bs_host() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let a = app.sign_up("clinic-a").await;
    app.sign_up("clinic-b").await;
    let client = &browser.client;
    let a_origin = format!("http://clinic-a.localhost:{}", app.port);
    let b_origin = format!("http://clinic-b.localhost:{}", app.port);

    client.goto(&format!("{a_origin}/login")).await.unwrap();
    log_in(client, &a.owner_email, PASSWORD).await;
    wait_for_path(client, &a_origin, "/").await;
    let session = client
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == "cg_session")
        .expect("logged in on A");
    assert!(session.http_only().unwrap_or(false));
    assert!(
        session.domain().is_none_or(|d| !d.starts_with('.')),
        "host-only"
    );

    // The browser keeps the cookie to A's host...
    client.goto(&format!("{b_origin}/")).await.unwrap();
    wait_for_path(client, &b_origin, "/login?next=%2F").await;
    // ...and even planted on B's host, A's session is refused there.
    client
        .execute(
            "document.cookie = 'cg_session=' + arguments[0] + '; path=/';",
            vec![serde_json::json!(session.value())],
        )
        .await
        .unwrap();
    let planted = client.get_all_cookies().await.unwrap();
    assert!(
        planted
            .iter()
            .any(|c| c.name() == "cg_session" && c.value() == session.value())
    );
    client
        .goto(&format!("{b_origin}/settings/cliniko"))
        .await
        .unwrap();
    wait_for_path(client, &b_origin, "/login?next=%2Fsettings%2Fcliniko").await;
    wait_for_text(client, "main", "Log in").await;
    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_settings_page_whose_session_was_lost_sends_the_user_to_log_in_and_back() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = spawn_on_own_port(None).await;
    let clinic = app.sign_up("harbour").await;
    let client = &browser.client;
    let origin = format!("http://harbour.localhost:{}", app.port);

    log_in_to(client, &origin, "/settings/cliniko", &clinic.owner_email).await;
    wait_for_text(client, "#cliniko-status", "Not connected").await;

    // The session disappears on the server (as when Redis restarts without persistence) while
    // the page stays open in the browser.
    let session = client
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name() == "cg_session")
        .expect("logged in");
    let cookie = format!("cg_session={}", session.value());
    let logged_out = app
        .on(
            reqwest::Method::DELETE,
            "harbour",
            "/api/session",
            Some(&cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(logged_out.status(), 204);

    // Acting on the page is a clean re-login that returns to the same page, not an error.
    fill(client, "Cliniko API key", CLINIKO_KEY).await;
    click_button(client, "Verify and connect").await;
    wait_for_path(client, &origin, "/login?next=%2Fsettings%2Fcliniko").await;
    log_in(client, &clinic.owner_email, PASSWORD).await;
    wait_for_path(client, &origin, "/settings/cliniko").await;
    wait_for_text(client, "#cliniko-status", "Not connected").await;
    browser.client.clone().close().await.unwrap();
}
