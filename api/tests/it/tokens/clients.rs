//! `/api/tenant/clients`: who may manage a clinic's API clients, what they see, and the secret
//! shown exactly once.

use reqwest::Method;
use serde_json::{Value, json};

use super::{clinic, create_client, get_with, token, try_create_client};
use crate::common::{PASSWORD, spawn_app};

#[tokio::test]
async fn an_owner_creates_lists_changes_rotates_and_deletes_clients_and_sees_each_secret_once() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let response = try_create_client(
        &app,
        &owner,
        json!({"name": "  Online booking ", "scopes": ["slots:read", "doctors:read"], "rate_limit_per_minute": 120}),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("cgcl_"));
    assert!(
        secret.starts_with("cgsk_") && secret.len() >= 5 + 43,
        "≥ 256 bits: {secret}"
    );
    assert_eq!(created["name"], "Online booking");
    assert_eq!(created["scopes"], json!(["doctors:read", "slots:read"]));
    assert_eq!(created["rate_limit_per_minute"], 120);
    assert!(created["created_at"].is_string());

    let list = app
        .on(
            Method::GET,
            "harbour",
            "/api/tenant/clients",
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let text = list.text().await.unwrap();
    assert!(!text.contains(&secret), "the list never shows a secret");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["client_id"], client_id.as_str());
    assert!(listed[0].get("client_secret").is_none());

    let patched = app
        .on(
            Method::PATCH,
            "harbour",
            &format!("/api/tenant/clients/{client_id}"),
            Some(&owner.cookie),
        )
        .json(&json!({"name": "Booking", "rate_limit_per_minute": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (
            patched["name"].as_str(),
            patched["rate_limit_per_minute"].is_null()
        ),
        (Some("Booking"), true)
    );
    assert_eq!(
        patched["scopes"],
        json!(["doctors:read", "slots:read"]),
        "absent fields stay"
    );

    let rotated = app
        .on(
            Method::POST,
            "harbour",
            &format!("/api/tenant/clients/{client_id}/rotate-secret"),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    assert_ne!(rotated["client_secret"], secret.as_str());
    assert!(rotated["previous_secret_expires_at"].is_string());

    let deleted = app
        .on(
            Method::DELETE,
            "harbour",
            &format!("/api/tenant/clients/{client_id}"),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let again = app
        .on(
            Method::DELETE,
            "harbour",
            &format!("/api/tenant/clients/{client_id}"),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn admins_manage_clients_but_clinicians_are_refused_every_operation() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    app.add_user(
        "harbour",
        &owner.cookie,
        "admin@harbour.example.com",
        "admin",
    )
    .await;
    app.add_user(
        "harbour",
        &owner.cookie,
        "sam@harbour.example.com",
        "clinician",
    )
    .await;
    let admin = app
        .log_in("harbour", "admin@harbour.example.com", PASSWORD)
        .await;
    let clinician = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let existing = create_client(&app, &owner, &["doctors:read"], None).await;

    let by_admin = app
        .on(Method::POST, "harbour", "/api/tenant/clients", Some(&admin))
        .json(&json!({"name": "Admin's", "scopes": ["doctors:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_admin.status(), 201);

    let path = format!("/api/tenant/clients/{}", existing.id);
    let attempts = [
        (Method::GET, "/api/tenant/clients".to_owned(), None),
        (
            Method::POST,
            "/api/tenant/clients".to_owned(),
            Some(json!({"name": "x", "scopes": ["doctors:read"]})),
        ),
        (Method::PATCH, path.clone(), Some(json!({"name": "x"}))),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (Method::DELETE, path, None),
    ];
    for (method, path, body) in attempts {
        let mut request = app.on(method.clone(), "harbour", &path, Some(&clinician));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    let page = app
        .on(
            Method::GET,
            "harbour",
            "/settings/clients",
            Some(&clinician),
        )
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
}

#[tokio::test]
async fn a_client_id_that_cannot_be_ours_is_not_found_for_managers_and_forbidden_to_clinicians() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    app.add_user(
        "harbour",
        &owner.cookie,
        "sam@harbour.example.com",
        "clinician",
    )
    .await;
    let clinician = app
        .log_in("harbour", "sam@harbour.example.com", PASSWORD)
        .await;
    let path = "/api/tenant/clients/not-a-client-id";
    for (cookie, expected) in [(&owner.cookie, 404), (&clinician, 403)] {
        for (method, path, body) in [
            (Method::PATCH, path.to_owned(), Some(json!({"name": "x"}))),
            (Method::POST, format!("{path}/rotate-secret"), None),
            (Method::DELETE, path.to_owned(), None),
        ] {
            let mut request = app.on(method.clone(), "harbour", &path, Some(cookie));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), expected, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn another_clinics_client_is_not_found_and_a_token_is_not_a_session() {
    let app = spawn_app().await;
    let a = clinic(&app, "clinic-a").await;
    let b = clinic(&app, "clinic-b").await;
    let a_client = create_client(&app, &a, &["doctors:read"], None).await;
    let path = format!("/api/tenant/clients/{}", a_client.id);
    for (method, path, body) in [
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"name": "mine now"})),
        ),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (Method::DELETE, path.clone(), None),
    ] {
        let mut request = app.on(method.clone(), "clinic-b", &path, Some(&b.cookie));
        if let Some(body) = body {
            request = request.json(&body);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            404,
            "{method} {path}"
        );
    }
    let b_list: Value = app
        .on(
            Method::GET,
            "clinic-b",
            "/api/tenant/clients",
            Some(&b.cookie),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(b_list, json!([]));

    let a_token = token(&app, &a_client).await;
    for sub in ["clinic-a", "clinic-b"] {
        let response = app
            .on(Method::GET, sub, "/api/tenant/clients", None)
            .bearer_auth(&a_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            401,
            "an API token opens no clinic's staff API ({sub})"
        );
    }
}

#[tokio::test]
async fn invalid_fields_are_422_naming_each_field() {
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let response = try_create_client(
        &app,
        &owner,
        json!({"name": " ", "scopes": ["doctors:read", "admin:all"], "rate_limit_per_minute": 0}),
    )
    .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("name", "required"),
            ("scopes", "unknown_scope"),
            ("rate_limit_per_minute", "out_of_range")
        ]
    );
    let none = try_create_client(&app, &owner, json!({"name": "x", "scopes": []})).await;
    assert_eq!(none.status(), 422);
    let problem: Value = none.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "scopes");
}

#[tokio::test]
async fn edited_scopes_and_rate_limit_apply_to_tokens_already_issued_and_bad_edits_change_nothing()
{
    let app = spawn_app().await;
    let owner = clinic(&app, "harbour").await;
    let client = create_client(&app, &owner, &["doctors:read", "slots:read"], Some(600)).await;
    let issued = token(&app, &client).await;
    let path = format!("/api/tenant/clients/{}", client.id);
    let patch = |body: Value| {
        app.on(Method::PATCH, "harbour", &path, Some(&owner.cookie))
            .json(&body)
            .send()
    };

    for bad in [
        json!({"scopes": []}),
        json!({"scopes": ["everything:write"]}),
        json!({"rate_limit_per_minute": 0}),
    ] {
        let response = patch(bad.clone()).await.unwrap();
        assert_eq!(response.status(), 422, "{bad}");
    }
    let me = get_with(&app, "/api/public/me", &issued).await;
    assert_eq!(me.headers()["ratelimit-policy"], "\"client\";q=600;w=60");

    let response = patch(json!({"scopes": ["slots:read"], "rate_limit_per_minute": 30}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(
        (&changed["scopes"], &changed["rate_limit_per_minute"]),
        (&json!(["slots:read"]), &json!(30))
    );
    let me = get_with(&app, "/api/public/me", &issued).await;
    assert_eq!(me.headers()["ratelimit-policy"], "\"client\";q=30;w=60");
    let doctors = get_with(&app, "/api/public/doctors", &issued).await;
    assert_eq!(
        doctors.status(),
        403,
        "a removed scope stops working at once"
    );

    let page = app
        .on(
            Method::GET,
            "harbour",
            "/settings/clients",
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for label in ["edit-scope-doctors-read", "edit-rate_limit_per_minute"] {
        assert!(page.contains(&format!("<label for=\"{label}\"")), "{label}");
    }
    assert!(page.contains("id=\"edit-client-form\""));
    crate::pages::assert_accessible_and_csp_clean(&page, "/settings/clients");
}
