//! `/api/tenant/users`: roles, tenant isolation, the last owner, deactivation.

use reqwest::Method;
use serde_json::json;

use crate::common::{PASSWORD, TestApp, spawn_app};

/// A clinic with its owner logged in; returns the owner's cookie.
async fn clinic_with_owner(app: &TestApp, subdomain: &str) -> String {
    let clinic = app.sign_up(subdomain).await;
    app.log_in(subdomain, &clinic.owner_email, PASSWORD).await
}

async fn patch(
    app: &TestApp,
    sub: &str,
    cookie: &str,
    id: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    app.on(
        Method::PATCH,
        sub,
        &format!("/api/tenant/users/{id}"),
        Some(cookie),
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

async fn my_id(app: &TestApp, sub: &str, cookie: &str) -> String {
    let me: serde_json::Value = app
        .on(Method::GET, sub, "/api/session", Some(cookie))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["user"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn owners_add_staff_who_can_then_log_in() {
    let app = spawn_app().await;
    let owner = clinic_with_owner(&app, "harbour").await;
    let id = app
        .add_user("harbour", &owner, "Sam@Harbour.example.com", "clinician")
        .await;
    let list: serde_json::Value = app
        .on(Method::GET, "harbour", "/api/tenant/users", Some(&owner))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users = list.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[1]["id"], id);
    assert_eq!(users[1]["email"], "sam@harbour.example.com");
    assert_eq!(users[1]["role"], "clinician");
    assert_eq!(users[1]["active"], true);
    assert!(
        users
            .iter()
            .all(|u| u.get("password").is_none() && u.get("password_hash").is_none())
    );
    app.log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
}

#[tokio::test]
async fn a_clinician_cannot_manage_staff_keys_or_settings() {
    let app = spawn_app().await;
    let owner = clinic_with_owner(&app, "harbour").await;
    let owner_id = my_id(&app, "harbour", &owner).await;
    app.add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sam = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;

    let refused = [
        (Method::GET, "/api/tenant/users".to_owned(), None),
        (
            Method::POST,
            "/api/tenant/users".to_owned(),
            Some(
                json!({"email": "x@harbour.example.com", "role": "clinician", "password": PASSWORD}),
            ),
        ),
        (
            Method::PATCH,
            format!("/api/tenant/users/{owner_id}"),
            Some(json!({"role": "clinician"})),
        ),
        (
            Method::DELETE,
            format!("/api/tenant/users/{owner_id}"),
            None,
        ),
        (Method::GET, "/api/tenant/cliniko-key".to_owned(), None),
        (
            Method::PUT,
            "/api/tenant/cliniko-key".to_owned(),
            Some(json!({"api_key": "abc-au1"})),
        ),
        (Method::DELETE, "/api/tenant/cliniko-key".to_owned(), None),
    ];
    for (method, path, body) in refused {
        let mut request = app.on(method.clone(), "harbour", &path, Some(&sam));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "forbidden");
    }
    // What clinicians may see still works.
    let tenant = app
        .on(Method::GET, "harbour", "/api/tenant", Some(&sam))
        .send()
        .await
        .unwrap();
    assert_eq!(tenant.status(), 200);
    // The managers' settings pages are refused and not even linked.
    for page in ["/settings", "/settings/cliniko", "/settings/users"] {
        let response = app
            .on(Method::GET, "harbour", page, Some(&sam))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{page}");
    }
    let home = app
        .on(Method::GET, "harbour", "/", Some(&sam))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    // Only the webhooks tab, which every staff member may look at, is linked.
    let home = home.text().await.unwrap();
    assert!(home.contains("href=\"/settings/webhooks\""));
    assert_eq!(home.matches("/settings").count(), 1, "{home}");
}

#[tokio::test]
async fn an_admin_manages_staff_but_not_owners() {
    let app = spawn_app().await;
    let owner = clinic_with_owner(&app, "harbour").await;
    let owner_id = my_id(&app, "harbour", &owner).await;
    app.add_user("harbour", &owner, "ada@harbour.example.com", "admin")
        .await;
    let ada = app
        .log_in("harbour", "ada@harbour.example.com", PASSWORD)
        .await;

    let clinician = app
        .add_user("harbour", &ada, "sam@harbour.example.com", "clinician")
        .await;
    assert_eq!(
        patch(&app, "harbour", &ada, &clinician, json!({"role": "admin"}))
            .await
            .status(),
        200
    );

    let response = app
        .on(Method::POST, "harbour", "/api/tenant/users", Some(&ada))
        .json(&json!({"email": "boss@harbour.example.com", "role": "owner", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        patch(&app, "harbour", &ada, &clinician, json!({"role": "owner"}))
            .await
            .status(),
        403
    );
    assert_eq!(
        patch(&app, "harbour", &ada, &owner_id, json!({"active": false}))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn another_clinics_user_is_not_found() {
    let app = spawn_app().await;
    let a = clinic_with_owner(&app, "clinic-a").await;
    let b = clinic_with_owner(&app, "clinic-b").await;
    let b_user = app
        .add_user("clinic-b", &b, "sam@clinic-b.example.com", "clinician")
        .await;

    let response = patch(&app, "clinic-a", &a, &b_user, json!({"role": "admin"})).await;
    assert_eq!(response.status(), 404);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "not_found");
    let deleted = app
        .on(
            Method::DELETE,
            "clinic-a",
            &format!("/api/tenant/users/{b_user}"),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 404);
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_owned()] {
        assert_eq!(
            patch(&app, "clinic-a", &a, &id, json!({"active": true}))
                .await
                .status(),
            404,
            "{id}"
        );
    }
    // B's user is untouched.
    app.log_in("clinic-b", "sam@clinic-b.example.com", PASSWORD)
        .await;
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_deactivated() {
    let app = spawn_app().await;
    let owner = clinic_with_owner(&app, "harbour").await;
    let owner_id = my_id(&app, "harbour", &owner).await;

    for body in [json!({"role": "admin"}), json!({"active": false})] {
        let response = patch(&app, "harbour", &owner, &owner_id, body).await;
        assert_eq!(response.status(), 409);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "last_owner");
    }
    let response = app
        .on(
            Method::DELETE,
            "harbour",
            &format!("/api/tenant/users/{owner_id}"),
            Some(&owner),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);

    // With a second owner, the first may step down.
    let second = app
        .add_user("harbour", &owner, "second@harbour.example.com", "owner")
        .await;
    let response = patch(&app, "harbour", &owner, &owner_id, json!({"role": "admin"})).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    // ...and now the second is the last one.
    let second_cookie = app
        .log_in("harbour", "second@harbour.example.com", PASSWORD)
        .await;
    assert_eq!(
        patch(
            &app,
            "harbour",
            &second_cookie,
            &second,
            json!({"active": false})
        )
        .await
        .status(),
        409
    );
}

#[tokio::test]
async fn deactivating_a_user_ends_their_sessions_and_their_logins() {
    let app = spawn_app().await;
    let owner = clinic_with_owner(&app, "harbour").await;
    let sam_id = app
        .add_user("harbour", &owner, "sam@harbour.example.com", "clinician")
        .await;
    let sam_laptop = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let sam_phone = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;

    let response = app
        .on(
            Method::DELETE,
            "harbour",
            &format!("/api/tenant/users/{sam_id}"),
            Some(&owner),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    for cookie in [&sam_laptop, &sam_phone] {
        let status = app
            .on(Method::GET, "harbour", "/api/session", Some(cookie))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    assert_eq!(
        app.try_log_in("harbour", "sam@harbour.example.com", PASSWORD)
            .await
            .status(),
        401
    );

    assert_eq!(
        patch(&app, "harbour", &owner, &sam_id, json!({"active": true}))
            .await
            .status(),
        200
    );
    app.log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
}

#[tokio::test]
async fn an_email_is_unique_within_a_clinic_only() {
    let app = spawn_app().await;
    let a = clinic_with_owner(&app, "clinic-a").await;
    let b = clinic_with_owner(&app, "clinic-b").await;
    app.add_user("clinic-a", &a, "sam@example.com", "clinician")
        .await;
    let response = app
        .on(Method::POST, "clinic-a", "/api/tenant/users", Some(&a))
        .json(&json!({"email": "SAM@example.com", "role": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "email_taken");
    app.add_user("clinic-b", &b, "sam@example.com", "clinician")
        .await;
}

#[tokio::test]
async fn new_staff_must_get_a_valid_email_and_a_strong_password() {
    let app = spawn_app().await;
    let owner = clinic_with_owner(&app, "harbour").await;
    let response = app
        .on(Method::POST, "harbour", "/api/tenant/users", Some(&owner))
        .json(&json!({"email": "nope", "role": "clinician", "password": "password1234"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: serde_json::Value = response.json().await.unwrap();
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    let empty = patch(
        &app,
        "harbour",
        &owner,
        &my_id(&app, "harbour", &owner).await,
        json!({}),
    )
    .await;
    assert_eq!(empty.status(), 422);
    let bad_role = app
        .on(Method::POST, "harbour", "/api/tenant/users", Some(&owner))
        .json(&json!({"email": "a@harbour.example.com", "role": "superuser", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_role.status(), 422);
}
