//! Staff TOTP MFA (RFC 6238): enrolment confirmed with an app code, the code step of logins
//! (JSON and the HTML form, where the patient button's `next` survives), replays and lockout,
//! recovery codes, turning it off, and clinics kept apart. Codes are computed here with HMAC-SHA1
//! as RFC 6238 describes, independently of the implementation under test (`common::totp`).

use reqwest::Method;
use serde_json::{Value, json};

pub(crate) use crate::common::totp::{code_at, current_step};
use crate::common::{PASSWORD, TestApp, session_cookie, spawn_app_with};

/// A well-formed code that is none of the codes the server accepts around `step`.
fn wrong_code(secret: &str, step: u64) -> String {
    let window: Vec<String> = (step - 2..=step + 2).map(|s| code_at(secret, s)).collect();
    ["123456", "654321", "111111", "999999", "424242", "000001"]
        .into_iter()
        .find(|candidate| !window.iter().any(|code| code == candidate))
        .unwrap()
        .to_owned()
}

/// An app whose login throttle adds no delay (the lockout test counts failures, not seconds).
pub(crate) async fn app() -> TestApp {
    spawn_app_with(|figment| {
        figment.merge(figment::providers::Serialized::default(
            "login.delay_step_ms",
            0,
        ))
    })
    .await
}

pub(crate) async fn json_on(
    app: &TestApp,
    method: Method,
    sub: &str,
    path: &str,
    cookie: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let response = app
        .on(method, sub, path, cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Enrols the owner of a fresh clinic `sub`: returns their base32 secret and recovery codes.
/// The enrolment is confirmed with the code of `step`.
pub(crate) async fn enrolled_owner(
    app: &TestApp,
    sub: &str,
    step: u64,
) -> (String, String, Vec<String>) {
    let clinic = app.sign_up(sub).await;
    let cookie = app.log_in(sub, &clinic.owner_email, PASSWORD).await;
    let response = app
        .on(
            Method::POST,
            sub,
            "/api/tenant/me/mfa/enrolment",
            Some(&cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let enrolment: Value = response.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));

    let (status, body) = json_on(
        app,
        Method::POST,
        sub,
        "/api/tenant/me/mfa/enrolment/confirm",
        Some(&cookie),
        json!({ "code": wrong_code(&secret, step) }),
    )
    .await;
    assert_eq!(status, 422, "a wrong code confirms nothing: {body}");
    let (status, body) = json_on(
        app,
        Method::POST,
        sub,
        "/api/tenant/me/mfa/enrolment/confirm",
        Some(&cookie),
        json!({ "code": code_at(&secret, step) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (clinic.owner_email, secret, codes)
}

/// The password step as a script does it: the pending token of a user with MFA.
async fn pending_token(app: &TestApp, sub: &str, email: &str) -> String {
    let response = app.try_log_in(sub, email, PASSWORD).await;
    assert_eq!(
        response.status(),
        202,
        "a user with MFA gets no session yet"
    );
    assert!(response.headers().get("set-cookie").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn send_code(app: &TestApp, sub: &str, token: &str, code: &str) -> reqwest::Response {
    app.on(Method::POST, sub, "/api/session/mfa", None)
        .json(&json!({ "mfa_token": token, "code": code }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn after_enrolment_a_login_needs_a_code_and_each_code_counts_once() {
    let app = app().await;
    let step = current_step();
    let (email, secret, _) = enrolled_owner(&app, "harbour", step).await;

    let token = pending_token(&app, "harbour", &email).await;
    let wrong = send_code(&app, "harbour", &token, &wrong_code(&secret, step)).await;
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["code"], "invalid_mfa_code");

    let response = send_code(&app, "harbour", &token, &code_at(&secret, step + 1)).await;
    assert_eq!(response.status(), 200);
    let cookie = session_cookie(&response);
    let me = app
        .on(Method::GET, "harbour", "/api/session", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // The same code again, even after a fresh password step, is a replay; and so is the code
    // enrolment was confirmed with.
    let token = pending_token(&app, "harbour", &email).await;
    for replay in [code_at(&secret, step + 1), code_at(&secret, step)] {
        let response = send_code(&app, "harbour", &token, &replay).await;
        assert_eq!(response.status(), 401, "replayed code accepted");
    }
}

#[tokio::test]
async fn repeated_wrong_codes_lock_the_user_out_even_with_the_right_code() {
    let app = app().await;
    let step = current_step();
    let (email, secret, _) = enrolled_owner(&app, "harbour", step).await;
    let token = pending_token(&app, "harbour", &email).await;
    let right = code_at(&secret, step + 1);
    let wrong = wrong_code(&secret, step);
    for _ in 0..5 {
        let response = send_code(&app, "harbour", &token, &wrong).await;
        assert_eq!(response.status(), 401);
    }
    let response = send_code(&app, "harbour", &token, &right).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_recovery_code_logs_in_once() {
    let app = app().await;
    let step = current_step();
    let (email, _, codes) = enrolled_owner(&app, "harbour", step).await;
    let token = pending_token(&app, "harbour", &email).await;
    let typed = codes[3].to_lowercase().replace('-', " ");
    let response = send_code(&app, "harbour", &token, &typed).await;
    assert_eq!(response.status(), 200, "a recovery code as typed works");
    let token = pending_token(&app, "harbour", &email).await;
    let response = send_code(&app, "harbour", &token, &codes[3]).await;
    assert_eq!(response.status(), 401, "a recovery code works once");
    let response = send_code(&app, "harbour", &token, &codes[4]).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_patient_button_lands_on_the_patient_after_the_code_step() {
    let app = app().await;
    let step = current_step();
    let (email, secret, _) = enrolled_owner(&app, "harbour", step).await;
    let next = "/patients?patient_id=1001";
    let response = app
        .on(Method::POST, "harbour", "/login", None)
        .form(&[
            ("email", email.as_str()),
            ("password", PASSWORD),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("action=\"/login/mfa\""), "{html}");
    crate::pages::assert_accessible_and_csp_clean(&html, "/login (code step)");
    let token = html
        .split("name=\"mfa_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        html.contains("value=\"/patients?patient_id=1001\""),
        "{html}"
    );

    let response = app
        .on(Method::POST, "harbour", "/login/mfa", None)
        .form(&[
            ("mfa_token", token.as_str()),
            ("code", wrong_code(&secret, step).as_str()),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("value=\"/patients?patient_id=1001\""),
        "next survives a wrong code"
    );
    let response = app
        .on(Method::POST, "harbour", "/login/mfa", None)
        .form(&[
            ("mfa_token", token.as_str()),
            ("code", code_at(&secret, step + 1).as_str()),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], next);
    session_cookie(&response);
}

#[tokio::test]
async fn a_pending_login_of_one_clinic_is_refused_on_another() {
    let app = app().await;
    let step = current_step();
    let (email, secret, _) = enrolled_owner(&app, "harbour", step).await;
    app.sign_up("bayside").await;
    let token = pending_token(&app, "harbour", &email).await;
    let code = code_at(&secret, step + 1);
    let response = send_code(&app, "bayside", &token, &code).await;
    assert_eq!(response.status(), 401);
    let forged = format!("{token}x");
    let response = send_code(&app, "harbour", &forged, &code).await;
    assert_eq!(response.status(), 401);
    // The code was not spent by the refused attempts.
    let response = send_code(&app, "harbour", &token, &code).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn mfa_turned_off_with_password_and_code_lets_the_password_alone_log_in() {
    let app = app().await;
    let step = current_step();
    let (email, secret, codes) = enrolled_owner(&app, "harbour", step).await;
    let token = pending_token(&app, "harbour", &email).await;
    let response = send_code(&app, "harbour", &token, &codes[0]).await;
    let cookie = session_cookie(&response);

    let (status, _) = json_on(
        &app,
        Method::DELETE,
        "harbour",
        "/api/tenant/me/mfa",
        Some(&cookie),
        json!({ "current_password": "not my password at all", "code": code_at(&secret, step + 1) }),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = json_on(
        &app,
        Method::DELETE,
        "harbour",
        "/api/tenant/me/mfa",
        Some(&cookie),
        json!({ "current_password": PASSWORD, "code": code_at(&secret, step + 1) }),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        app.try_log_in("harbour", &email, PASSWORD).await.status(),
        200
    );
}

/// Logs `email` in with `code` after the password; returns the session cookie.
pub(crate) async fn log_in_with_code(app: &TestApp, sub: &str, email: &str, code: &str) -> String {
    let token = pending_token(app, sub, email).await;
    let response = send_code(app, sub, &token, code).await;
    assert_eq!(response.status(), 200);
    session_cookie(&response)
}

#[tokio::test]
async fn an_owner_resets_a_clinicians_mfa_and_the_reset_is_recorded() {
    let app = app().await;
    let step = current_step();
    let (owner_email, owner_secret, _) = enrolled_owner(&app, "harbour", step).await;
    let owner = log_in_with_code(
        &app,
        "harbour",
        &owner_email,
        &code_at(&owner_secret, step + 1),
    )
    .await;
    let sam_id = app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sam = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let response = app
        .on(
            Method::POST,
            "harbour",
            "/api/tenant/me/mfa/enrolment",
            Some(&sam),
        )
        .send()
        .await
        .unwrap();
    let secret = response.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = json_on(
        &app,
        Method::POST,
        "harbour",
        "/api/tenant/me/mfa/enrolment/confirm",
        Some(&sam),
        json!({ "code": code_at(&secret, step) }),
    )
    .await;
    assert_eq!(status, 200);
    let path = format!("/api/tenant/users/{sam_id}/mfa");

    // A clinician cannot reset anyone's; another clinic's owner does not find the user.
    let owner_id = app
        .on(Method::GET, "harbour", "/api/session", Some(&owner))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = json_on(
        &app,
        Method::DELETE,
        "harbour",
        &format!("/api/tenant/users/{owner_id}/mfa"),
        Some(&sam),
        Value::Null,
    )
    .await;
    assert_eq!(status, 403);
    let other = app.sign_up("bayside").await;
    let other_owner = app.log_in("bayside", &other.owner_email, PASSWORD).await;
    let (status, _) = json_on(
        &app,
        Method::DELETE,
        "bayside",
        &path,
        Some(&other_owner),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.try_log_in("harbour", "sam@harbour.example.com", PASSWORD)
            .await
            .status(),
        202,
        "the refused resets changed nothing"
    );

    let (status, body) = json_on(
        &app,
        Method::DELETE,
        "harbour",
        &path,
        Some(&owner),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        app.try_log_in("harbour", "sam@harbour.example.com", PASSWORD)
            .await
            .status(),
        200,
        "after the reset the password alone logs in"
    );
    use sea_orm::{ConnectionTrait as _, Statement};
    let rows = app
        .state
        .db
        .query_all_raw(Statement::from_string(
            app.state.db.get_database_backend(),
            "SELECT user_id, reset_by FROM staff_mfa_resets",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one reset recorded");
    let by: uuid::Uuid = rows[0].try_get("", "reset_by").unwrap();
    let whom: uuid::Uuid = rows[0].try_get("", "user_id").unwrap();
    assert_eq!(by.to_string(), owner_id);
    assert_eq!(whom.to_string(), sam_id);
}
