//! Single sign-on with OpenID Connect (issue 18) against a local provider stub
//! ([`crate::common::oidc_provider::Provider`]): the owner's settings (`/api/tenant/sso`, the secret sealed and
//! never answered), a login through the provider landing on the patient a clinician clicked,
//! and every way a login is refused: a wrong nonce, audience or state, an expired token, an
//! unverified address, an address of another clinic's staff or of nobody; "SSO only" refusing
//! staff passwords but not the owner's break-glass login.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::oidc_provider::{
    Authorization, CLIENT_ID, CLIENT_SECRET, PersonClaims, Provider, settings,
};
use crate::common::{PASSWORD, TestApp, spawn_app_with};
use crate::webhooks::allow_loopback;

const SAM: &str = "sam@harbour.example.com";
const PATIENT_PAGE: &str = "/patients?patient_id=1001";

/// An app whose outbound guard lets the stub on loopback through, with clinic `harbour`, its
/// owner's cookie and clinician Sam.
async fn clinic_with_staff() -> (TestApp, String) {
    let app = spawn_app_with(allow_loopback).await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    app.add_user("harbour", &owner, SAM, "clinician").await;
    (app, owner)
}

async fn call(
    app: &TestApp,
    method: Method,
    cookie: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.on(method, "harbour", path, Some(cookie));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn configure(app: &TestApp, owner: &str, provider: &Provider, sso_only: bool) {
    let (status, body) = call(
        app,
        Method::PUT,
        owner,
        "/api/tenant/sso",
        Some(settings(provider, sso_only)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The `name=value` of a cookie a response sets, when it sets one with a value.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
        .map(str::to_owned)
}

/// A login started at `/login/sso?next=…`: the provider's parameters and the state cookie.
async fn start_login(app: &TestApp, next: &str) -> (Authorization, String) {
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let response = app
        .on(
            Method::GET,
            "harbour",
            &format!("/login/sso?next={encoded}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let cookie = set_cookie(&response, "cg_sso").expect("the login's state cookie");
    (Authorization::parse(&location), cookie)
}

/// The provider's redirect back: `GET /login/sso/callback?code&state` with `cookie`.
async fn come_back(
    app: &TestApp,
    code: &str,
    state: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    app.on(
        Method::GET,
        "harbour",
        &format!("/login/sso/callback?code={code}&state={state}"),
        cookie,
    )
    .send()
    .await
    .unwrap()
}

/// Turns on two-step login for the holder of `cookie`.
async fn enrol(app: &TestApp, cookie: &str) {
    let (status, enrolment) = call(
        app,
        Method::POST,
        cookie,
        "/api/tenant/me/mfa/enrolment",
        None,
    )
    .await;
    assert_eq!(status, 201);
    let secret = enrolment["secret"].as_str().unwrap();
    let code = crate::mfa::code_at(secret, crate::mfa::current_step());
    let (status, body) = call(
        app,
        Method::POST,
        cookie,
        "/api/tenant/me/mfa/enrolment/confirm",
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn person(email: &str) -> PersonClaims {
    PersonClaims {
        email: Some(email.to_owned()),
        email_verified: true,
        amr: vec!["pwd".to_owned()],
    }
}

/// A whole login through the stub with an ID token made by `token(provider, login)`.
async fn log_in_through(
    app: &TestApp,
    provider: &Provider,
    token: impl FnOnce(&Provider, &Authorization) -> String,
) -> reqwest::Response {
    let (login, cookie) = start_login(app, PATIENT_PAGE).await;
    let id_token = token(provider, &login);
    // A code of this login only: the stub's earlier codes stay mounted.
    let code = format!("code-{}", &login.get("state")[..16]);
    provider.will_answer(&login, &code, id_token).await;
    come_back(app, &code, login.get("state"), Some(&cookie)).await
}

/// Asserts a refused login: the login page with `status` and `words`, and no session.
async fn assert_refused(response: reqwest::Response, status: u16, words: &str) {
    let got = response.status().as_u16();
    assert!(set_cookie(&response, "cg_session").is_none(), "no session");
    let html = response.text().await.unwrap();
    let error = html
        .lines()
        .find(|l| l.contains("notice-error"))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(got, status, "{error}");
    assert!(html.contains(words), "{words:?} not in {error}");
}

#[tokio::test]
async fn a_clinician_signs_in_through_the_provider_and_lands_on_the_patient() {
    let (app, owner) = clinic_with_staff().await;
    let provider = Provider::start().await;
    configure(&app, &owner, &provider, false).await;

    let login_page = app
        .on(
            Method::GET,
            "harbour",
            "/login?next=/patients%3Fpatient_id%3D1001",
            None,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(login_page.contains("Sign in with Stub IdP"));
    assert!(login_page.contains("href=\"/login/sso?next=%2Fpatients%3Fpatient_id%3D1001\""));

    let (login, cookie) = start_login(&app, PATIENT_PAGE).await;
    assert_eq!(login.get("client_id"), CLIENT_ID);
    assert_eq!(login.get("response_type"), "code");
    assert_eq!(login.get("code_challenge_method"), "S256");
    assert_eq!(
        login.get("redirect_uri"),
        format!(
            "{}/login/sso/callback",
            app.state.settings.public_url.tenant_url("harbour")
        )
    );
    assert!(login.get("scope").split(' ').any(|s| s == "openid"));
    let id_token = provider.id_token(&person(SAM), CLIENT_ID, login.get("nonce"), 300);
    provider.will_answer(&login, "code-1", id_token).await;
    let response = come_back(&app, "code-1", login.get("state"), Some(&cookie)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], PATIENT_PAGE);
    let session = set_cookie(&response, "cg_session").expect("a session");
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("cg_sso=;"));
    assert!(cleared, "the state cookie is spent");

    let (status, me) = call(&app, Method::GET, &session, "/api/session", None).await;
    assert_eq!((status, me["user"]["email"].as_str()), (200, Some(SAM)));
    let patient = app
        .on(Method::GET, "harbour", PATIENT_PAGE, Some(&session))
        .send()
        .await
        .unwrap();
    assert_ne!(
        patient.status(),
        303,
        "the patient page does not ask to log in again"
    );

    // The same callback again (a replayed URL): the state cookie is gone, so it is refused.
    let again = come_back(&app, "code-1", login.get("state"), None).await;
    assert_refused(again, 400, "did not start in this browser").await;
}

#[tokio::test]
async fn a_wrong_nonce_audience_or_expiry_is_refused() {
    let (app, owner) = clinic_with_staff().await;
    let provider = Provider::start().await;
    configure(&app, &owner, &provider, false).await;

    let wrong_nonce = log_in_through(&app, &provider, |p, _| {
        p.id_token(&person(SAM), CLIENT_ID, "a-nonce-of-another-login", 300)
    })
    .await;
    assert_refused(wrong_nonce, 401, "(nonce)").await;

    let wrong_audience = log_in_through(&app, &provider, |p, login| {
        p.id_token(&person(SAM), "another-client", login.get("nonce"), 300)
    })
    .await;
    assert_refused(wrong_audience, 401, "(audience)").await;

    let expired = log_in_through(&app, &provider, |p, login| {
        p.id_token(&person(SAM), CLIENT_ID, login.get("nonce"), -600)
    })
    .await;
    assert_refused(expired, 401, "(expired)").await;
}

#[tokio::test]
async fn a_callback_without_the_browsers_state_is_refused() {
    let (app, owner) = clinic_with_staff().await;
    let provider = Provider::start().await;
    configure(&app, &owner, &provider, false).await;

    let (login, cookie) = start_login(&app, PATIENT_PAGE).await;
    let id_token = provider.id_token(&person(SAM), CLIENT_ID, login.get("nonce"), 300);
    provider.will_answer(&login, "code-1", id_token).await;
    assert_refused(
        come_back(&app, "code-1", "a-state-of-nobody", Some(&cookie)).await,
        400,
        "did not start in this browser",
    )
    .await;
    assert_refused(
        come_back(&app, "code-1", login.get("state"), None).await,
        400,
        "did not start in this browser",
    )
    .await;
    let tampered = format!("{}x", &cookie[..cookie.len() - 2]);
    assert_refused(
        come_back(&app, "code-1", login.get("state"), Some(&tampered)).await,
        400,
        "did not start in this browser",
    )
    .await;
    let denied = app
        .on(
            Method::GET,
            "harbour",
            &format!(
                "/login/sso/callback?error=access_denied&state={}",
                login.get("state")
            ),
            Some(&cookie),
        )
        .send()
        .await
        .unwrap();
    assert_refused(denied, 401, "access_denied").await;
}

#[tokio::test]
async fn only_a_verified_address_of_this_clinics_active_staff_signs_in() {
    let (app, owner) = clinic_with_staff().await;
    let other = app.sign_up("northside").await;
    let provider = Provider::start().await;
    configure(&app, &owner, &provider, false).await;

    let unverified = log_in_through(&app, &provider, |p, login| {
        let mut who = person(SAM);
        who.email_verified = false;
        p.id_token(&who, CLIENT_ID, login.get("nonce"), 300)
    })
    .await;
    assert_refused(unverified, 403, "has not verified your e-mail address").await;

    let elsewhere = log_in_through(&app, &provider, |p, login| {
        p.id_token(
            &person(&other.owner_email),
            CLIENT_ID,
            login.get("nonce"),
            300,
        )
    })
    .await;
    assert_refused(elsewhere, 403, "no active staff account of this clinic").await;

    let nobody = log_in_through(&app, &provider, |p, login| {
        p.id_token(
            &person("nobody@harbour.example.com"),
            CLIENT_ID,
            login.get("nonce"),
            300,
        )
    })
    .await;
    assert_refused(nobody, 403, "no active staff account of this clinic").await;

    // Another clinic's owner signs in at their own clinic only: northside has no SSO.
    let northside = app
        .on(Method::GET, "northside", "/login/sso", None)
        .send()
        .await
        .unwrap();
    assert_eq!(northside.status(), 404);
}

#[tokio::test]
async fn sso_only_refuses_staff_passwords_but_keeps_the_owners_break_glass_login() {
    let (app, owner) = clinic_with_staff().await;
    let provider = Provider::start().await;
    configure(&app, &owner, &provider, true).await;

    let refused = app.try_log_in("harbour", SAM, PASSWORD).await;
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "sso_required");
    let wrong = app
        .try_log_in("harbour", SAM, "not the password at all")
        .await;
    assert_eq!(wrong.status(), 401, "a wrong password learns nothing more");
    let form = app
        .on(Method::POST, "harbour", "/login", None)
        .form(&[("email", SAM), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_refused(form, 403, "sign in with single sign-on").await;

    app.log_in("harbour", "owner@harbour.example.com", PASSWORD)
        .await;
    let page = app
        .on(Method::GET, "harbour", "/login", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Owner break-glass login (password)"));

    let through_sso = log_in_through(&app, &provider, |p, login| {
        p.id_token(&person(SAM), CLIENT_ID, login.get("nonce"), 300)
    })
    .await;
    assert_eq!(through_sso.status(), 303);
}

#[tokio::test]
async fn the_settings_keep_the_secret_sealed_and_only_owners_change_them() {
    let (app, owner) = clinic_with_staff().await;
    let provider = Provider::start().await;

    let (status, empty) = call(&app, Method::GET, &owner, "/api/tenant/sso", None).await;
    assert_eq!(status, 200);
    assert_eq!(empty["configured"], false);
    assert_eq!(
        empty["redirect_uri"],
        format!(
            "{}/login/sso/callback",
            app.state.settings.public_url.tenant_url("harbour")
        )
    );
    let (status, problem) = call(
        &app,
        Method::PUT,
        &owner,
        "/api/tenant/sso",
        Some(json!({"issuer": provider.issuer(), "client_id": CLIENT_ID})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(problem["errors"][0]["field"], "client_secret");
    let mut nowhere = settings(&provider, false);
    nowhere["issuer"] = json!(format!("{}/no-such-issuer", provider.issuer()));
    let (status, problem) = call(&app, Method::PUT, &owner, "/api/tenant/sso", Some(nowhere)).await;
    assert_eq!(
        (status, problem["errors"][0]["code"].as_str()),
        (422, Some("discovery_failed"))
    );

    let (status, set) = call(
        &app,
        Method::PUT,
        &owner,
        "/api/tenant/sso",
        Some(settings(&provider, false)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(set["configured"], true);
    assert_eq!(set["client_secret_set"], true);
    let (_, read) = call(&app, Method::GET, &owner, "/api/tenant/sso", None).await;
    for answer in [&set, &read] {
        assert!(!answer.to_string().contains(CLIENT_SECRET), "{answer}");
    }
    // Changing a setting without the secret keeps the stored one: logins still work.
    let mut keep = settings(&provider, false);
    keep.as_object_mut().unwrap().remove("client_secret");
    keep["provider_name"] = json!("Harbour IdP");
    let (status, kept) = call(&app, Method::PUT, &owner, "/api/tenant/sso", Some(keep)).await;
    assert_eq!(
        (status, kept["provider_name"].as_str()),
        (200, Some("Harbour IdP"))
    );
    let login = log_in_through(&app, &provider, |p, login| {
        p.id_token(&person(SAM), CLIENT_ID, login.get("nonce"), 300)
    })
    .await;
    assert_eq!(login.status(), 303, "the kept secret still authenticates");

    let stored = crate::secrets_at_rest::database_contents(&app, &["sso_configs"]).await;
    assert!(!crate::secrets_at_rest::contains(
        &stored,
        CLIENT_SECRET.as_bytes()
    ));

    let sam = app.log_in("harbour", SAM, PASSWORD).await;
    let (status, _) = call(
        &app,
        Method::PUT,
        &sam,
        "/api/tenant/sso",
        Some(settings(&provider, false)),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, Method::DELETE, &owner, "/api/tenant/sso", None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&app, Method::DELETE, &owner, "/api/tenant/sso", None).await;
    assert_eq!(status, 404);
    let page = app
        .on(Method::GET, "harbour", "/login", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Sign in with"));
}

#[tokio::test]
async fn a_staff_member_with_mfa_still_enters_a_code_unless_the_provider_did_mfa() {
    let (app, owner) = clinic_with_staff().await;
    let provider = Provider::start().await;
    configure(&app, &owner, &provider, false).await;
    let sam = app.log_in("harbour", SAM, PASSWORD).await;
    enrol(&app, &sam).await;

    let password_only = log_in_through(&app, &provider, |p, login| {
        p.id_token(&person(SAM), CLIENT_ID, login.get("nonce"), 300)
    })
    .await;
    assert_eq!(password_only.status(), 200);
    assert!(set_cookie(&password_only, "cg_session").is_none());
    let html = password_only.text().await.unwrap();
    assert!(html.contains("name=\"mfa_token\""), "the code page");
    assert!(
        html.contains(&format!("value=\"{PATIENT_PAGE}\"")),
        "still going to the patient"
    );

    let with_mfa = log_in_through(&app, &provider, |p, login| {
        let mut who = person(SAM);
        who.amr = vec!["pwd".to_owned(), "mfa".to_owned()];
        p.id_token(&who, CLIENT_ID, login.get("nonce"), 300)
    })
    .await;
    assert_eq!(with_mfa.status(), 303);
    assert_eq!(with_mfa.headers()["location"], PATIENT_PAGE);
}
