//! `PUT|GET|DELETE /api/tenant/clients/{client_id}/patient-sync`: the credential is write-only,
//! invalid input changes nothing, and another clinic's client is not found.

use reqwest::Method;
use serde_json::{Value, json};

use super::{PARTNER_TOKEN, Scene};
use crate::secrets_at_rest::{captured_logs, contains, database_contents, forms_of};
use crate::tokens::clinic;

fn valid(base_url: &str) -> Value {
    json!({
        "base_url": base_url,
        "auth": {"type": "bearer", "token": PARTNER_TOKEN},
        "identifier_system": "https://partner.example/patient-ids",
        "enabled": true,
    })
}

#[tokio::test]
async fn a_clinic_connects_a_partner_and_its_credential_is_never_shown_stored_or_logged_in_plaintext()
 {
    let logs = captured_logs();
    let scene = Scene::start("harbour", false).await;
    let owner = scene.owner();
    let header_secret = "hdr-secret-55a0e1b7";

    let put = scene
        .sync_call(
            owner,
            Method::PUT,
            "",
            Some(valid("http://127.0.0.1:9999/api/")),
        )
        .await;
    assert_eq!(put.status(), 200);
    assert_eq!(put.headers()["cache-control"], "no-store");
    let text = put.text().await.unwrap();
    assert!(!text.contains(PARTNER_TOKEN), "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stored["base_url"], "http://127.0.0.1:9999/api");
    assert_eq!(stored["auth"], json!({"type": "bearer", "name": null}));
    assert_eq!(stored["client_id"], scene.client.id.as_str());

    // Another credential, of the header kind: only the header's name is shown.
    let mut header = valid("http://127.0.0.1:9999/api");
    header["auth"] = json!({"type": "header", "name": "X-Api-Key", "value": header_secret});
    let put = scene.sync_call(owner, Method::PUT, "", Some(header)).await;
    assert_eq!(put.status(), 200);
    // Switched off without typing the secret again: the stored one stays.
    let off = scene
        .sync_call(
            owner,
            Method::PUT,
            "",
            Some(json!({
                "base_url": "http://127.0.0.1:9999/api",
                "identifier_system": "https://partner.example/patient-ids",
                "enabled": false,
            })),
        )
        .await;
    assert_eq!(off.status(), 200);
    let get = scene.sync_call(owner, Method::GET, "", None).await;
    assert_eq!(get.status(), 200);
    let text = get.text().await.unwrap();
    assert!(!text.contains(header_secret), "{text}");
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        shown["auth"],
        json!({"type": "header", "name": "x-api-key"})
    );
    assert_eq!(shown["enabled"], false);

    let stored = database_contents(&scene.app, &["patient_syncs"]).await;
    let logged = logs.lock().unwrap().clone();
    for secret in [PARTNER_TOKEN, header_secret] {
        for form in forms_of(secret) {
            assert!(!contains(&stored, &form), "{secret} is stored in plaintext");
            assert!(!contains(&logged, &form), "{secret} was logged");
        }
    }

    assert_eq!(
        scene
            .sync_call(owner, Method::DELETE, "", None)
            .await
            .status(),
        204
    );
    assert_eq!(
        scene.sync_call(owner, Method::GET, "", None).await.status(),
        404
    );
    assert_eq!(
        scene
            .sync_call(owner, Method::DELETE, "", None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn invalid_input_is_refused_field_by_field_and_changes_nothing() {
    let scene = Scene::start("harbour", false).await;
    let owner = scene.owner();

    // No credential on a first configuration.
    let mut first = valid("http://127.0.0.1:9999");
    first.as_object_mut().unwrap().remove("auth");
    let refused = scene.sync_call(owner, Method::PUT, "", Some(first)).await;
    assert_eq!(refused.status(), 422);
    assert_eq!(
        scene.sync_call(owner, Method::GET, "", None).await.status(),
        404,
        "nothing was stored"
    );

    assert_eq!(
        scene
            .sync_call(owner, Method::PUT, "", Some(valid("http://127.0.0.1:9999")))
            .await
            .status(),
        200
    );
    let before: Value = scene
        .sync_call(owner, Method::GET, "", None)
        .await
        .json()
        .await
        .unwrap();
    let refused = scene
        .sync_call(
            owner,
            Method::PUT,
            "",
            Some(json!({
                // A private address the outbound guard refuses, as for webhook endpoints.
                "base_url": "http://10.1.2.3/api",
                "auth": {"type": "header", "name": "Idempotency-Key", "value": "v"},
                "identifier_system": "has spaces in it",
                "enabled": false,
            })),
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = refused.json().await.unwrap();
    let mut fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            ("auth.name", "reserved_header"),
            ("base_url", "address_not_allowed"),
            ("identifier_system", "invalid"),
        ]
    );
    let wrong_shape = scene
        .sync_call(
            owner,
            Method::PUT,
            "",
            Some(json!({"base_url": "http://127.0.0.1:9999", "auth": {"type": "basic"}, "identifier_system": "x", "enabled": true})),
        )
        .await;
    assert_eq!(wrong_shape.status(), 422);
    let after: Value = scene
        .sync_call(owner, Method::GET, "", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before, "a refused change changed nothing");
}

#[tokio::test]
async fn another_clinic_can_neither_read_nor_change_a_clients_patient_sync() {
    let scene = Scene::start("harbour", false).await;
    assert_eq!(
        scene
            .sync_call(
                scene.owner(),
                Method::PUT,
                "",
                Some(valid("http://127.0.0.1:9999"))
            )
            .await
            .status(),
        200
    );
    let other = clinic(&scene.app, "rival").await;
    for (method, body, suffix) in [
        (Method::GET, None, ""),
        (Method::PUT, Some(valid("http://127.0.0.1:9998")), ""),
        (Method::DELETE, None, ""),
        (Method::POST, None, "/backfill"),
        (Method::GET, None, "/deliveries"),
        (Method::GET, None, "/links"),
        (
            Method::POST,
            None,
            "/deliveries/00000000-0000-4000-8000-000000000000/retry",
        ),
    ] {
        let response = scene.sync_call(&other, method.clone(), suffix, body).await;
        assert_eq!(response.status(), 404, "{method} {suffix}");
    }
    let mine: Value = scene
        .sync_call(scene.owner(), Method::GET, "", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["base_url"], "http://127.0.0.1:9999", "untouched");
    assert_eq!(mine["enabled"], true);
}
