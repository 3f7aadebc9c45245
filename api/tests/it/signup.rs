//! `POST /api/signup`: every rule, and the failure paths.

use figment::providers::Serialized;
use reqwest::Method;
use serde_json::json;

use crate::common::{PASSWORD, spawn_app, spawn_app_with};

async fn sign_up(app: &crate::common::TestApp, body: serde_json::Value) -> reqwest::Response {
    app.client
        .post(format!("{}/api/signup", app.address))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn body(subdomain: &str) -> serde_json::Value {
    json!({
        "clinic_name": "Harbour Physio",
        "subdomain": subdomain,
        "email": "Owner@Harbour.example.com",
        "password": PASSWORD,
    })
}

fn field_codes(problem: &serde_json::Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_clinic_signs_up_and_its_owner_logs_in_on_the_clinics_own_host() {
    let app = spawn_app().await;
    let response = sign_up(&app, body("Harbour-Physio")).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"],
        "http://harbour-physio.localhost:8080"
    );
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["subdomain"], "harbour-physio");
    assert_eq!(created["name"], "Harbour Physio");
    assert_eq!(created["url"], "http://harbour-physio.localhost:8080");
    assert_eq!(
        created["login_url"],
        "http://harbour-physio.localhost:8080/login"
    );
    assert!(uuid::Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());

    let cookie = app
        .log_in("harbour-physio", "owner@harbour.example.com", PASSWORD)
        .await;
    let me: serde_json::Value = app
        .on(Method::GET, "harbour-physio", "/api/session", Some(&cookie))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["user"]["email"], "owner@harbour.example.com");
    assert_eq!(me["clinic"]["id"], created["id"]);
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once_with_its_reason() {
    let app = spawn_app().await;
    let response = sign_up(
        &app,
        json!({"clinic_name": "  ", "subdomain": "my_clinic", "email": "not-an-email", "password": "short"}),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(
        field_codes(&problem),
        [
            ("clinic_name".to_owned(), "required".to_owned()),
            ("subdomain".to_owned(), "invalid_characters".to_owned()),
            ("email".to_owned(), "invalid".to_owned()),
            ("password".to_owned(), "too_short".to_owned()),
        ]
    );
    for error in problem["errors"].as_array().unwrap() {
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn subdomains_must_be_one_dns_label() {
    let app = spawn_app().await;
    for (subdomain, code) in [
        ("", "required"),
        ("fr.eu", "invalid_characters"),
        ("-clinic", "hyphen_at_edge"),
        ("clinic-", "hyphen_at_edge"),
        ("clinic a", "invalid_characters"),
    ] {
        let response = sign_up(&app, body(subdomain)).await;
        assert_eq!(response.status(), 422, "{subdomain:?}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            field_codes(&problem),
            [("subdomain".to_owned(), code.to_owned())],
            "{subdomain:?}"
        );
    }
    let too_long = sign_up(&app, body(&"a".repeat(64))).await;
    assert_eq!(too_long.status(), 422);
    assert_eq!(sign_up(&app, body(&"a".repeat(63))).await.status(), 201);
}

#[tokio::test]
async fn reserved_subdomains_are_refused_whatever_their_case() {
    let app = spawn_app().await;
    for reserved in [
        "www", "api", "app", "admin", "docs", "static", "assets", "auth", "login", "mail",
        "status", "WWW",
    ] {
        let response = sign_up(&app, body(reserved)).await;
        assert_eq!(response.status(), 422, "{reserved}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            field_codes(&problem),
            [("subdomain".to_owned(), "reserved".to_owned())]
        );
    }
}

#[tokio::test]
async fn a_taken_subdomain_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    assert_eq!(sign_up(&app, body("bayside")).await.status(), 201);
    let response = sign_up(&app, body("BaySide")).await;
    assert_eq!(response.status(), 409);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "subdomain_taken");
}

#[tokio::test]
async fn weak_and_oversized_passwords_are_refused() {
    let app = spawn_app().await;
    for (password, code) in [
        ("elevenchars".to_owned(), "too_short"),
        ("Password1234".to_owned(), "too_common"),
        ("123456789012".to_owned(), "too_common"),
        ("x".repeat(1025), "too_long"),
    ] {
        let mut request = body("clinic-x");
        request["password"] = json!(password);
        let response = sign_up(&app, request).await;
        assert_eq!(response.status(), 422, "{code}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            field_codes(&problem),
            [("password".to_owned(), code.to_owned())]
        );
    }
    let mut longest = body("clinic-x");
    longest["password"] = json!("y1".repeat(512));
    assert_eq!(sign_up(&app, longest).await.status(), 201);
}

#[tokio::test]
async fn sign_up_exists_only_on_the_root_host() {
    let app = spawn_app().await;
    app.sign_up("clinic-a").await;
    let response = app
        .on(Method::POST, "clinic-a", "/api/signup", None)
        .json(&body("clinic-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(sign_up(&app, body("clinic-b")).await.status(), 201);
}

#[tokio::test]
async fn clinics_created_from_one_address_are_rate_limited() {
    let app =
        spawn_app_with(|f| f.merge(Serialized::default("signup.max_per_ip_per_hour", 2))).await;
    // Refused attempts do not count: a typo never locks anyone out.
    assert_eq!(sign_up(&app, body("www")).await.status(), 422);
    assert_eq!(sign_up(&app, body("one")).await.status(), 201);
    assert_eq!(sign_up(&app, body("one")).await.status(), 409);
    assert_eq!(sign_up(&app, body("two")).await.status(), 201);
    let response = sign_up(&app, body("three")).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 3600);
}

#[tokio::test]
async fn clinic_names_with_direction_overrides_or_invisible_characters_are_refused() {
    let app = spawn_app().await;
    for (i, name) in [
        "Harbour \u{202E}oisyhP", // right-to-left override: shows as "Harbour Physio"
        "Harbour\u{200B}Physio",  // zero-width space
        "\u{2067}Harbour Physio", // right-to-left isolate
        "Harbour Physio\u{200F}", // right-to-left mark
        "Harbour\u{FEFF} Physio", // zero-width no-break space
        "Harbour \u{3164} Physio", // Hangul filler: a "letter" that shows nothing
    ]
    .into_iter()
    .enumerate()
    {
        let mut request = body(&format!("spoof-{i}"));
        request["clinic_name"] = json!(name);
        let response = sign_up(&app, request).await;
        assert_eq!(response.status(), 422, "{name:?}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            field_codes(&problem),
            [("clinic_name".to_owned(), "invisible_characters".to_owned())],
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn a_clinic_name_is_stored_in_nfc_with_single_spaces() {
    let app = spawn_app().await;
    let mut request = body("cafe");
    // "e" + combining acute accent, and a no-break space between the words.
    request["clinic_name"] = json!("  Cafe\u{301}\u{A0}\u{A0}Physio ");
    let response = sign_up(&app, request).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let cookie = app
        .log_in("cafe", "owner@harbour.example.com", PASSWORD)
        .await;
    let clinic: serde_json::Value = app
        .on(Method::GET, "cafe", "/api/tenant", Some(&cookie))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clinic["name"], "Caf\u{E9} Physio");
}

#[tokio::test]
async fn punycode_subdomains_are_refused() {
    let app = spawn_app().await;
    // `xn--hrbour-2ve` would show in browsers as a look-alike of "harbour" with a Cyrillic "a".
    for subdomain in ["xn--hrbour-2ve", "XN--80ak6aa92e", "ab--cd"] {
        let response = sign_up(&app, body(subdomain)).await;
        assert_eq!(response.status(), 422, "{subdomain}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            field_codes(&problem),
            [("subdomain".to_owned(), "reserved_prefix".to_owned())],
            "{subdomain}"
        );
    }
    assert_eq!(sign_up(&app, body("a--b")).await.status(), 201);
}
