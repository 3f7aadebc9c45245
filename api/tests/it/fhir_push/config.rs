//! Configuring FHIR destinations: secrets write-only (never in answers, the database or the
//! logs), bad input refused with every field named and nothing stored, clinicians refused,
//! another clinic's destination 404, and "test connection".

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{CLIENT_SECRET, Scene, issue_tokens};
use crate::common::PASSWORD;
use crate::secrets_at_rest::{captured_logs, contains, database_contents, forms_of};
use crate::tokens::clinic;

#[tokio::test]
async fn a_client_secret_is_never_shown_stored_or_logged_in_plaintext() {
    let logs = captured_logs();
    let scene = Scene::start("harbour", false).await;
    let created = scene.add_oauth().await;
    let text = created.to_string();
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    assert_eq!(created["auth"]["type"], "client_credentials");
    assert_eq!(created["auth"]["client_id"], "clinicgate");
    assert_eq!(created["resources"], json!(["Patient"]));
    let id = created["id"].as_str().unwrap();

    // Reconfigured without the secret: the stored one stays (the token request still uses it).
    let changed = scene
        .call(
            scene.owner(),
            Method::PUT,
            &format!("/{id}"),
            Some(json!({
                "name": "EHR (renamed)",
                "base_url": scene.base_url(),
                "auth": {"type": "client_credentials", "token_url": scene.token_url(), "client_id": "clinicgate"},
                "resources": ["Patient", "Appointment"],
                "enabled": false,
            })),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let listed = scene.call(scene.owner(), Method::GET, "", None).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(
        listed.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let text = listed.text().await.unwrap();
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["data"][0]["name"], "EHR (renamed)");
    assert_eq!(listed["data"][0]["enabled"], false);

    issue_tokens(&scene.fhir, "tok-test", 3600).await;
    Mock::given(method("GET"))
        .and(path("/fhir/r4/metadata"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1", "status": "active"}),
        ))
        .mount(&scene.fhir)
        .await;
    let tested = scene
        .call(scene.owner(), Method::POST, &format!("/{id}/test"), None)
        .await;
    assert_eq!(tested.status(), 200);
    let report: Value = tested.json().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["fhir_version"], "4.0.1");
    assert_eq!(report["token"]["ok"], true);
    let token_requests = scene.received("POST", "/oauth/token").await;
    assert_eq!(token_requests.len(), 1);
    // client_secret_basic with the secret kept from before the update.
    let basic = token_requests[0].headers["authorization"].to_str().unwrap();
    let decoded = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        basic.trim_start_matches("Basic "),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("clinicgate:{CLIENT_SECRET}")
    );

    let stored = database_contents(&scene.app, &["fhir_destinations"]).await;
    let logged = logs.lock().unwrap().clone();
    for form in forms_of(CLIENT_SECRET) {
        assert!(
            !contains(&stored, &form),
            "the secret is stored in plaintext"
        );
        assert!(!contains(&logged, &form), "the secret was logged");
    }
}

#[tokio::test]
async fn a_failing_server_is_reported_by_test_connection_not_as_an_error() {
    let scene = Scene::start("harbour", false).await;
    let created = scene.add(json!({"type": "none"})).await;
    Mock::given(method("GET"))
        .and(path("/fhir/r4/metadata"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&scene.fhir)
        .await;
    let id = created["id"].as_str().unwrap();
    let tested = scene
        .call(scene.owner(), Method::POST, &format!("/{id}/test"), None)
        .await;
    assert_eq!(tested.status(), 200);
    let report: Value = tested.json().await.unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["metadata"]["status"], 503);
    assert!(report["token"].is_null());
    // No authentication: no Authorization header went out.
    let sent = scene.received("GET", "/metadata").await;
    assert!(
        sent.iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field_and_nothing_is_stored() {
    let scene = Scene::start("harbour", false).await;
    let response = scene
        .call(
            scene.owner(),
            Method::POST,
            "",
            Some(json!({
                "name": "",
                "base_url": "http://169.254.169.254/fhir",
                "auth": {"type": "client_credentials", "token_url": "ftp://x", "client_id": "", "client_secret": "has space"},
                "resources": ["Flag"],
                "enabled": true,
            })),
        )
        .await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "name",
        "base_url",
        "resources",
        "auth.token_url",
        "auth.client_id",
        "auth.client_secret",
    ] {
        assert!(fields.contains(&field), "{field} not named: {problem}");
    }
    assert!(!problem.to_string().contains("has space"));
    let listed: Value = scene
        .call(scene.owner(), Method::GET, "", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn clinicians_are_refused_and_another_clinics_destination_is_not_found() {
    let scene = Scene::start("harbour", false).await;
    let created = scene
        .add(json!({"type": "smart_backend_services", "token_url": scene.token_url(), "client_id": "cg"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let jwks_url = created["auth"]["jwks_url"].as_str().unwrap();
    assert!(jwks_url.ends_with(&format!("/fhir-destinations/{id}/jwks.json")));

    let owner = scene.owner();
    scene
        .app
        .add_user(
            owner.sub(),
            &owner.cookie,
            "sam@harbour.example.com",
            "clinician",
        )
        .await;
    let clinician = scene
        .app
        .log_in(owner.sub(), "sam@harbour.example.com", PASSWORD)
        .await;
    for (method_, suffix) in [
        (Method::GET, String::new()),
        (Method::GET, format!("/{id}")),
        (Method::DELETE, format!("/{id}")),
        (Method::POST, format!("/{id}/test")),
    ] {
        let response = scene
            .app
            .on(
                method_.clone(),
                owner.sub(),
                &format!("/api/tenant/fhir-destinations{suffix}"),
                Some(&clinician),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method_} {suffix}");
    }

    let other = clinic(&scene.app, "lighthouse").await;
    for (method_, suffix) in [
        (Method::GET, format!("/{id}")),
        (Method::DELETE, format!("/{id}")),
        (Method::POST, format!("/{id}/test")),
        (Method::GET, format!("/{id}/deliveries")),
    ] {
        let response = scene.call(&other, method_.clone(), &suffix, None).await;
        assert_eq!(response.status(), 404, "{method_} {suffix}");
    }
    // The public key is published on its own clinic's host only.
    let path = format!("/fhir-destinations/{id}/jwks.json");
    let elsewhere = scene
        .app
        .on(Method::GET, other.sub(), &path, None)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    let published = scene
        .app
        .on(Method::GET, owner.sub(), &path, None)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    let jwks: Value = published.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kid"], created["auth"]["key_id"]);
    assert_eq!(jwks["keys"][0]["crv"], "P-384");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    // Still there for its own clinic.
    let mine = scene
        .call(owner, Method::GET, &format!("/{id}"), None)
        .await;
    assert_eq!(mine.status(), 200);
}

#[tokio::test]
async fn a_smart_key_pair_is_kept_across_updates_and_replaced_when_the_algorithm_changes() {
    let scene = Scene::start("harbour", false).await;
    let auth = |algorithm: Option<&str>| {
        let mut auth = json!({"type": "smart_backend_services", "token_url": scene.token_url(), "client_id": "cg"});
        if let Some(algorithm) = algorithm {
            auth["algorithm"] = json!(algorithm);
        }
        auth
    };
    let refused = scene
        .call(
            scene.owner(),
            Method::POST,
            "",
            Some(json!({
                "name": "EHR", "base_url": scene.base_url(), "auth": auth(Some("HS256")),
                "resources": ["Patient"], "enabled": true,
            })),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "auth.algorithm", "{problem}");

    let created = scene.add(auth(None)).await;
    assert_eq!(created["auth"]["algorithm"], "ES384");
    let id = created["id"].as_str().unwrap();
    let update = |auth: Value| {
        let scene = &scene;
        async move {
            let response = scene
                .call(
                    scene.owner(),
                    Method::PUT,
                    &format!("/{id}"),
                    Some(json!({
                        "name": "EHR", "base_url": scene.base_url(), "auth": auth,
                        "resources": ["Patient"], "enabled": true,
                    })),
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    // Unchanged (or the same algorithm named): the registered key stays.
    let kept = update(auth(None)).await;
    assert_eq!(kept["auth"]["key_id"], created["auth"]["key_id"]);
    let kept = update(auth(Some("ES384"))).await;
    assert_eq!(kept["auth"]["key_id"], created["auth"]["key_id"]);
    // Another algorithm: a new RSA key pair, published in place of the old one.
    let rsa = update(auth(Some("RS384"))).await;
    assert_eq!(rsa["auth"]["algorithm"], "RS384");
    assert_ne!(rsa["auth"]["key_id"], created["auth"]["key_id"]);
    let jwks: Value = scene
        .app
        .on(
            Method::GET,
            scene.owner().sub(),
            &format!("/fhir-destinations/{id}/jwks.json"),
            None,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS384");
    assert_eq!(key["kid"], rsa["auth"]["key_id"]);
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "no private part: {key}");
    }
    // And it stays while the algorithm does.
    let again = update(auth(None)).await;
    assert_eq!(again["auth"]["key_id"], rsa["auth"]["key_id"]);
}
