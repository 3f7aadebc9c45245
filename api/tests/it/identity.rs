//! Staff identity: changing one's own password, reset and invite links (made by managers, used
//! once on the clinic's host), display names, and the root host's login that leads to a
//! clinic's. Every password change or reset ends the person's other sessions.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, spawn_app};
use crate::pages::assert_accessible_and_csp_clean;

const NEW_PASSWORD: &str = "a brand new passphrase 77";

/// Whether `cookie` still holds a session on `sub`.
async fn logged_in(app: &TestApp, sub: &str, cookie: &str) -> bool {
    let response = app
        .on(Method::GET, sub, "/api/tenant", Some(cookie))
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected status {other}"),
    }
}

async fn json_on(
    app: &TestApp,
    method: Method,
    sub: &str,
    path: &str,
    cookie: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.on(method, sub, path, Some(cookie));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Posts the reset page's form with `token` and `password`.
async fn set_password(app: &TestApp, sub: &str, token: &str, password: &str) -> reqwest::Response {
    app.on(Method::POST, sub, "/reset-password", None)
        .form(&[("token", token), ("password", password)])
        .send()
        .await
        .unwrap()
}

fn token_of(url: &str) -> String {
    url.split("token=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn staff_change_their_own_password_and_every_other_session_ends() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let here = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let elsewhere = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;

    let (status, problem) = json_on(
        &app,
        Method::POST,
        "harbour",
        "/api/tenant/me/password",
        &here,
        Some(json!({"current_password": "not my password at all", "new_password": NEW_PASSWORD})),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("current_password"))
    );
    let (status, problem) = json_on(
        &app,
        Method::POST,
        "harbour",
        "/api/tenant/me/password",
        &here,
        Some(json!({"current_password": PASSWORD, "new_password": "short"})),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("new_password"))
    );
    assert!(
        logged_in(&app, "harbour", &elsewhere).await,
        "nothing changed"
    );
    assert_eq!(
        app.try_log_in("harbour", &clinic.owner_email, PASSWORD)
            .await
            .status(),
        200
    );

    let response = app
        .on(
            Method::POST,
            "harbour",
            "/api/tenant/me/password",
            Some(&here),
        )
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let fresh = crate::common::session_cookie(&response);
    assert!(
        logged_in(&app, "harbour", &fresh).await,
        "this browser stays in"
    );
    assert!(
        !logged_in(&app, "harbour", &here).await,
        "the old cookie is done"
    );
    assert!(
        !logged_in(&app, "harbour", &elsewhere).await,
        "other sessions end"
    );
    assert_eq!(
        app.try_log_in("harbour", &clinic.owner_email, PASSWORD)
            .await
            .status(),
        401
    );
    app.log_in("harbour", &clinic.owner_email, NEW_PASSWORD)
        .await;
}

#[tokio::test]
async fn the_account_page_changes_the_password_with_a_form() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let sam = app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    assert!(!sam.is_empty());
    let cookie = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let page = app
        .on(Method::GET, "harbour", "/account", Some(&cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "every staff member has the page");
    let html = page.text().await.unwrap();
    assert!(html.contains(">Current password</label>"));
    assert_accessible_and_csp_clean(&html, "/account");

    let wrong = app
        .on(Method::POST, "harbour", "/account/password", Some(&cookie))
        .form(&[
            ("current_password", "wrong wrong wrong"),
            ("new_password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("not your current password")
    );

    let changed = app
        .on(Method::POST, "harbour", "/account/password", Some(&cookie))
        .form(&[
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 303);
    assert_eq!(changed.headers()["location"], "/account?changed=1");
    let fresh = crate::common::session_cookie(&changed);
    assert!(logged_in(&app, "harbour", &fresh).await);
    assert!(!logged_in(&app, "harbour", &cookie).await);
}

#[tokio::test]
async fn an_owner_makes_a_reset_link_that_works_once_and_ends_the_persons_sessions() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let sam_id = app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sams = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let path = format!("/api/tenant/users/{sam_id}/password-reset");

    // Clinicians cannot make links; another clinic's owner does not find Sam.
    let (status, _) = json_on(&app, Method::POST, "harbour", &path, &sams, None).await;
    assert_eq!(status, 403);
    let other = app.sign_up("thames").await;
    let thames = app.log_in("thames", &other.owner_email, PASSWORD).await;
    let (status, _) = json_on(&app, Method::POST, "thames", &path, &thames, None).await;
    assert_eq!(status, 404);

    let (status, first) = json_on(&app, Method::POST, "harbour", &path, &owner, None).await;
    assert_eq!(status, 201, "{first}");
    let (_, link) = json_on(&app, Method::POST, "harbour", &path, &owner, None).await;
    assert_eq!(link["purpose"], "reset");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://harbour.localhost:") && url.contains("/reset-password?token=cgpw_"),
        "{url}"
    );
    let token = token_of(url);

    // A newer link replaces the older one; a link is the clinic's own.
    let stale = set_password(
        &app,
        "harbour",
        &token_of(first["url"].as_str().unwrap()),
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(stale.status(), 404);
    assert_eq!(
        set_password(&app, "thames", &token, NEW_PASSWORD)
            .await
            .status(),
        404
    );

    let landing = app
        .on(
            Method::GET,
            "harbour",
            &format!("/reset-password?token={token}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(landing.status(), 200);
    assert_eq!(landing.headers()["referrer-policy"], "same-origin");
    let html = landing.text().await.unwrap();
    assert!(html.contains("Set a new password"));
    assert_accessible_and_csp_clean(&html, "/reset-password");

    let weak = set_password(&app, "harbour", &token, "short").await;
    assert_eq!(weak.status(), 422, "a weak password keeps the link usable");
    assert!(logged_in(&app, "harbour", &sams).await);

    let done = set_password(&app, "harbour", &token, NEW_PASSWORD).await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/login?password_set=1");
    assert!(
        !logged_in(&app, "harbour", &sams).await,
        "Sam's sessions end"
    );
    assert_eq!(
        app.try_log_in("harbour", "sam@harbour.example.com", PASSWORD)
            .await
            .status(),
        401
    );
    app.log_in("harbour", "sam@harbour.example.com", NEW_PASSWORD)
        .await;

    let again = set_password(&app, "harbour", &token, "yet another passphrase 99").await;
    assert_eq!(again.status(), 404, "single use");
    let landing = app
        .on(
            Method::GET,
            "harbour",
            &format!("/reset-password?token={token}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(landing.status(), 404);
    assert!(
        landing
            .text()
            .await
            .unwrap()
            .contains("expired or has already been used")
    );
}

#[tokio::test]
async fn an_expired_link_sets_nothing() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
    let sam_id = app
        .add_user("harbour", &owner, "sam@harbour.example.com", "admin")
        .await;
    let (_, link) = json_on(
        &app,
        Method::POST,
        "harbour",
        &format!("/api/tenant/users/{sam_id}/password-reset"),
        &owner,
        None,
    )
    .await;
    let token = token_of(link["url"].as_str().unwrap());
    // Age the link past its expiry in storage (the literal suits both backends' timestamps).
    {
        use sea_orm::{ConnectionTrait as _, Statement};
        let statement = Statement::from_string(
            app.state.db.get_database_backend(),
            "UPDATE password_resets SET expires_at = created_at",
        );
        app.state.db.execute_raw(statement).await.unwrap();
    }
    assert_eq!(
        set_password(&app, "harbour", &token, NEW_PASSWORD)
            .await
            .status(),
        404
    );
    assert_eq!(
        app.try_log_in("harbour", "sam@harbour.example.com", PASSWORD)
            .await
            .status(),
        200,
        "the old password still works"
    );
}

#[tokio::test]
async fn a_staff_member_added_without_a_password_chooses_it_through_the_invite_link() {
    let app = spawn_app().await;
    let clinic = app.sign_up("harbour").await;
    let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;

    let (status, problem) = json_on(
        &app,
        Method::POST,
        "harbour",
        "/api/tenant/users",
        &owner,
        Some(json!({"email": "kim@harbour.example.com", "role": "clinician", "display_name": "K".repeat(101)})),
    )
    .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("display_name"))
    );
    let (status, created) = json_on(
        &app,
        Method::POST,
        "harbour",
        "/api/tenant/users",
        &owner,
        Some(json!({"email": "kim@harbour.example.com", "role": "clinician", "display_name": "  Kim Nguyen "})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["display_name"], "Kim Nguyen");
    assert_eq!(created["invite"]["purpose"], "invite");
    let expires =
        chrono::DateTime::parse_from_rfc3339(created["invite"]["expires_at"].as_str().unwrap())
            .unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(6));
    let (_, staff) = json_on(
        &app,
        Method::GET,
        "harbour",
        "/api/tenant/users",
        &owner,
        None,
    )
    .await;
    assert_eq!(
        staff.as_array().unwrap().len(),
        2,
        "one rejected, one added"
    );
    assert!(
        staff
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["display_name"] == "Kim Nguyen" && u["email"] == "kim@harbour.example.com")
    );

    let token = token_of(created["invite"]["url"].as_str().unwrap());
    let landing = app
        .on(
            Method::GET,
            "harbour",
            &format!("/reset-password?token={token}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert!(
        landing
            .text()
            .await
            .unwrap()
            .contains("Choose your password")
    );
    assert_eq!(
        set_password(&app, "harbour", &token, NEW_PASSWORD)
            .await
            .status(),
        303
    );
    app.log_in("harbour", "kim@harbour.example.com", NEW_PASSWORD)
        .await;

    // With a password, no invite.
    let (status, with_password) = json_on(
        &app,
        Method::POST,
        "harbour",
        "/api/tenant/users",
        &owner,
        Some(json!({"email": "lee@harbour.example.com", "role": "admin", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(with_password.get("invite").is_none());
}

#[tokio::test]
async fn the_login_page_says_how_to_get_a_reset_link_without_revealing_accounts() {
    let app = spawn_app().await;
    app.sign_up("harbour").await;
    let html = app
        .on(Method::GET, "harbour", "/login", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Forgot password?"));
    assert!(html.contains("href=\"/forgot-password\""));
}

#[tokio::test]
async fn the_root_login_sends_every_clinic_address_to_that_clinics_login_alike() {
    let app = spawn_app().await;
    app.sign_up("harbour").await;
    let landing = app.get("/").await.text().await.unwrap();
    assert!(
        landing.contains("href=\"/login\""),
        "the landing page links to it"
    );

    let page = app.get("/login").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(">Clinic address</label>"));
    assert_accessible_and_csp_clean(&html, "root /login");

    for (typed, sub) in [("harbour", "harbour"), ("Nowhere-Clinic", "nowhere-clinic")] {
        let response = app.get(&format!("/login?clinic={typed}")).await;
        assert_eq!(response.status(), 303, "{typed}");
        assert_eq!(
            response.headers()["location"],
            format!("http://{sub}.localhost:8080/login").as_str(),
            "the same answer whether or not the clinic exists"
        );
    }
    let bad = app.get("/login?clinic=no%20spaces").await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("not a clinic address"));
}
