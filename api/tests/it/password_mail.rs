//! Password links by e-mail (issue 18): "Forgot password?" on the clinic's login page e-mails a
//! reset link through the local SMTP sink without revealing whether an account exists, the link
//! works once, requests are rate-limited; a manager's reset or invite link can be e-mailed too;
//! without a relay the page says to ask the clinic's owner.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::notifications::sink::{Received, SmtpSink};

const NEW_PASSWORD: &str = "a brand new passphrase 77";
const SAM: &str = "sam@harbour.example.com";
const SUBJECT: &str = "Reset your ClinicGate password";

async fn with_sink() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let relay = sink.clone();
    let app = spawn_app_with(move |figment| relay.relay_for(figment)).await;
    (app, sink)
}

/// `POST /api/session/password-reset` for `email` on `sub`: status, `Retry-After`, body.
async fn forgot(app: &TestApp, sub: &str, email: &str) -> (u16, Option<String>, Value) {
    let response = app
        .on(Method::POST, sub, "/api/session/password-reset", None)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap())
}

/// The clinic's reset link in a message's text.
fn link_in(message: &Received) -> String {
    let text = message.parsed().body_text(0).unwrap().into_owned();
    text.split_whitespace()
        .find(|word| word.contains("/reset-password?token=cgpw_"))
        .unwrap_or_else(|| panic!("no link in {text}"))
        .to_owned()
}

/// Uses `link` (an absolute URL on `sub`'s host) to set `password`: the status of the form post.
async fn use_link(app: &TestApp, sub: &str, link: &str, password: &str) -> u16 {
    let token = link.split("token=").nth(1).unwrap();
    let path = format!("/reset-password?token={token}");
    // The link names the clinic's public address (the configured public URL, not the test's
    // port); the test posts to the running app.
    assert!(
        link.ends_with(&path) && link.starts_with(&format!("http://{sub}.localhost")),
        "{link}"
    );
    app.on(Method::POST, sub, "/reset-password", None)
        .form(&[("token", token), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn forgot_password_emails_a_link_that_resets_the_password_once() {
    let (app, sink) = with_sink().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    app.add_user("harbour", &owner, SAM, "clinician").await;
    let sam_session = app.log_in("harbour", SAM, PASSWORD).await;

    let (status, _, body) = forgot(&app, "harbour", "  Sam@Harbour.example.com ").await;
    assert_eq!(
        (status, body),
        (202, json!({"emailed_if_account_exists": true}))
    );
    let message = sink.wait_for(SAM, SUBJECT).await;
    let link = link_in(&message);
    assert!(
        message.parsed().body_html(0).unwrap().contains(&link),
        "the HTML part holds the same link"
    );

    let page = app
        .on(
            Method::GET,
            "harbour",
            &link[link.find("/reset-password").unwrap()..],
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(use_link(&app, "harbour", &link, NEW_PASSWORD).await, 303);
    assert_eq!(app.try_log_in("harbour", SAM, PASSWORD).await.status(), 401);
    app.log_in("harbour", SAM, NEW_PASSWORD).await;
    let old = app
        .on(Method::GET, "harbour", "/api/session", Some(&sam_session))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401, "the reset ended Sam's other sessions");

    assert_eq!(
        use_link(&app, "harbour", &link, "yet another passphrase 99").await,
        404,
        "the link works once"
    );
    app.log_in("harbour", SAM, NEW_PASSWORD).await;
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail_even_one_of_another_clinic() {
    let (app, sink) = with_sink().await;
    let harbour = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &harbour.owner_email, PASSWORD).await;
    app.add_user("harbour", &owner, SAM, "clinician").await;
    let other = app.sign_up("northside").await;

    let known = forgot(&app, "harbour", SAM).await;
    let unknown = forgot(&app, "harbour", "nobody@harbour.example.com").await;
    let elsewhere = forgot(&app, "harbour", &other.owner_email).await;
    let malformed = forgot(&app, "harbour", "not an address").await;
    assert_eq!(known.0, 202);
    for answer in [&unknown, &elsewhere, &malformed] {
        assert_eq!(answer, &known);
    }
    sink.wait_for(SAM, SUBJECT).await;
    // The background tasks of the other three had as long as Sam's, and longer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let recipients: Vec<Vec<String>> = sink.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(recipients, vec![vec![SAM.to_owned()]]);

    // The page answers alike too.
    let page = |email: &'static str| {
        let app = &app;
        async move {
            app.on(Method::POST, "harbour", "/forgot-password", None)
                .form(&[("email", email)])
                .send()
                .await
                .unwrap()
        }
    };
    let (a, b) = (page(SAM).await, page("ghost@harbour.example.com").await);
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b) = (a.text().await.unwrap(), b.text().await.unwrap());
    assert!(
        a.contains("a link to set a new password is on its way"),
        "{a}"
    );
    let without_ids = |html: &str| {
        html.lines()
            .filter(|l| !l.contains("nonce") && !l.contains("request"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without_ids(&a), without_ids(&b));
}

#[tokio::test]
async fn requests_are_limited_per_address_whether_or_not_it_exists_and_per_client() {
    let (app, _sink) = with_sink().await;
    app.sign_up("harbour").await;
    for email in ["nobody@harbour.example.com", "owner@harbour.example.com"] {
        for _ in 0..3 {
            assert_eq!(forgot(&app, "harbour", email).await.0, 202);
        }
        let (status, retry, body) = forgot(&app, "harbour", email).await;
        assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
        assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() > 0));
    }
    // Eight requests so far from this client (refused ones count too): two more reach its
    // limit of ten.
    for n in 0..2 {
        let email = format!("person{n}@harbour.example.com");
        assert_eq!(forgot(&app, "harbour", &email).await.0, 202);
    }
    let (status, _, _) = forgot(&app, "harbour", "fresh@harbour.example.com").await;
    assert_eq!(status, 429, "the client's own limit");
}

#[tokio::test]
async fn without_a_relay_the_pages_say_to_ask_the_owner() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let login = app
        .on(Method::GET, "harbour", "/login", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login.contains("href=\"/forgot-password\""));
    let page = app
        .on(Method::GET, "harbour", "/forgot-password", None)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Ask an owner or admin of Clinic harbour for a password reset link"));
    assert!(!page.contains("<form"), "no form that would send nothing");
    let (status, _, body) = forgot(&app, "harbour", &clinic.owner_email).await;
    assert_eq!(
        (status, body),
        (202, json!({"emailed_if_account_exists": false}))
    );
}

#[tokio::test]
async fn the_forgot_password_page_has_a_form_and_refuses_other_origins() {
    let (app, sink) = with_sink().await;
    let clinic = app.sign_up("harbour").await;
    let page = app
        .on(Method::GET, "harbour", "/forgot-password", None)
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/forgot-password\""));
    crate::pages::assert_accessible_and_csp_clean(&html, "forgot-password");

    let foreign = app
        .client
        .post(format!("{}/forgot-password", app.origin("harbour")))
        .header("origin", "https://evil.example")
        .form(&[("email", clinic.owner_email.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let sent = app
        .on(Method::POST, "harbour", "/forgot-password", None)
        .form(&[("email", clinic.owner_email.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let message = sink.wait_for(&clinic.owner_email, SUBJECT).await;
    assert_eq!(
        use_link(&app, "harbour", &link_in(&message), NEW_PASSWORD).await,
        303
    );
    app.log_in("harbour", &clinic.owner_email, NEW_PASSWORD)
        .await;
}

#[tokio::test]
async fn a_manager_can_email_a_reset_link_and_an_invite_and_still_sees_them() {
    let (app, sink) = with_sink().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let sam = app.add_user("harbour", &owner, SAM, "clinician").await;

    let reset = app
        .on(
            Method::POST,
            "harbour",
            &format!("/api/tenant/users/{sam}/password-reset"),
            Some(&owner),
        )
        .json(&json!({"send_email": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 201);
    let reset: Value = reset.json().await.unwrap();
    assert_eq!(reset["emailed"], true);
    let mailed = link_in(&sink.wait_for(SAM, SUBJECT).await);
    assert_eq!(reset["url"].as_str(), Some(mailed.as_str()));

    let plain = app
        .on(
            Method::POST,
            "harbour",
            &format!("/api/tenant/users/{sam}/password-reset"),
            Some(&owner),
        )
        .send()
        .await
        .unwrap();
    let plain: Value = plain.json().await.unwrap();
    assert_eq!(plain["emailed"], false, "no body: shown only");
    assert_eq!(
        use_link(&app, "harbour", &mailed, NEW_PASSWORD).await,
        404,
        "the newer link replaced it"
    );

    let invited = app
        .on(Method::POST, "harbour", "/api/tenant/users", Some(&owner))
        .json(&json!({"email": "lee@harbour.example.com", "role": "admin", "send_invite_email": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), 201);
    let invited: Value = invited.json().await.unwrap();
    assert_eq!(invited["invite"]["emailed"], true);
    let message = sink
        .wait_for(
            "lee@harbour.example.com",
            "You're invited to Clinic harbour",
        )
        .await;
    let link = link_in(&message);
    assert_eq!(invited["invite"]["url"].as_str(), Some(link.as_str()));
    assert_eq!(use_link(&app, "harbour", &link, NEW_PASSWORD).await, 303);
    app.log_in("harbour", "lee@harbour.example.com", NEW_PASSWORD)
        .await;
}
