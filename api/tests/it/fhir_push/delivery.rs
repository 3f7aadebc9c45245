//! Patients reaching a FHIR server: a new sandbox patient arrives as a conditional `PUT` of a
//! valid R4 Patient with a bearer token; a token past its lifetime is replaced; a 5xx is retried
//! and the patient delivered once; a revoked token is replaced once, and a fresh token refused
//! too fails the delivery without a loop; a 400 fails at once and is shown with the server's answer;
//! SMART Backend Services assertions (ES384 and RS384 key pairs) verify against the published
//! JWKS with a JWT library nobody here wrote.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::{Scene, accept_patients, issue_tokens, token_answer};
use crate::fhir::assert_valid;
use crate::patient_sync::eventually;

/// The patient's Cliniko id in a conditional update's `identifier` parameter.
fn identifier_of(request: &wiremock::Request) -> String {
    request
        .url
        .query_pairs()
        .find(|(k, _)| k == "identifier")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn statuses(scene: &Scene, destination: &Value) -> Vec<String> {
    scene
        .deliveries(destination)
        .await
        .iter()
        .map(|d| d["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_new_sandbox_patient_arrives_as_a_conditional_put_of_a_valid_r4_patient() {
    let scene = Scene::start("harbour", true).await;
    issue_tokens(&scene.fhir, "tok-1", 3600).await;
    accept_patients(&scene.fhir, 201).await;
    let destination = scene.add_oauth().await;

    let patient = scene.desk.new_patient("Aroha", "Ngata").await;
    eventually("the FHIR server receives the patient", async || {
        !scene.received("PUT", "/Patient").await.is_empty()
    })
    .await;
    let puts = scene.received("PUT", "/Patient").await;
    let put = &puts[0];
    assert_eq!(
        identifier_of(put),
        format!("https://clinicgate.dev/fhir/sid/cliniko-patient-id|{patient}")
    );
    assert_eq!(put.headers["authorization"], "Bearer tok-1");
    assert!(
        put.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/fhir+json")
    );
    let resource: Value = serde_json::from_slice(&put.body).unwrap();
    assert_valid(&resource);
    assert_eq!(resource["resourceType"], "Patient");
    assert_eq!(resource["name"][0]["family"], "Ngata");
    assert_eq!(resource["identifier"][0]["value"], patient.as_str());
    assert!(resource.get("id").is_none(), "the server keeps its own ids");

    eventually("the delivery is shown delivered", async || {
        statuses(&scene, &destination).await == ["delivered"]
    })
    .await;
    // One token for everything so far: it is cached.
    assert_eq!(scene.received("POST", "/oauth/token").await.len(), 1);
}

#[tokio::test]
async fn a_token_past_its_lifetime_is_replaced_and_a_refused_token_is_replaced_once() {
    let scene = Scene::start("harbour", true).await;
    // The first token lives one second; every later one an hour.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_answer("tok-short", 1))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&scene.fhir)
        .await;
    issue_tokens(&scene.fhir, "tok-long", 3600).await;
    accept_patients(&scene.fhir, 200).await;
    let destination = scene.add_oauth().await;

    scene.desk.new_patient("Mere", "Tane").await;
    eventually("the first patient is delivered", async || {
        statuses(&scene, &destination).await == ["delivered"]
    })
    .await;
    // The short token's lifetime is what this test is about: let it pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    scene.desk.new_patient("Hemi", "Walker").await;
    eventually("the second patient is delivered", async || {
        statuses(&scene, &destination).await == ["delivered", "delivered"]
    })
    .await;
    let puts = scene.received("PUT", "/Patient").await;
    let tokens: Vec<&str> = puts
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap())
        .collect();
    assert_eq!(tokens, ["Bearer tok-short", "Bearer tok-long"]);
    assert_eq!(scene.received("POST", "/oauth/token").await.len(), 2);
}

/// The token endpoint answers `tokens` in turn, one each, then the last one forever.
async fn issue_in_turn(scene: &Scene, tokens: &[&str]) {
    for (at, token) in tokens.iter().enumerate() {
        let mock = Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(token_answer(token, 3600))
            .with_priority(u8::try_from(at + 1).unwrap());
        let mock = if at + 1 < tokens.len() {
            mock.up_to_n_times(1)
        } else {
            mock
        };
        mock.mount(&scene.fhir).await;
    }
}

/// The FHIR server accepts `accepted` patient PUTs bearing `token`, then answers 401 to it (the
/// token was revoked).
async fn revoke_after(scene: &Scene, token: &str, accepted: u64) {
    let bearer = format!("Bearer {token}");
    if accepted > 0 {
        Mock::given(method("PUT"))
            .and(path("/fhir/r4/Patient"))
            .and(header("authorization", bearer.as_str()))
            .respond_with(ResponseTemplate::new(200))
            .up_to_n_times(accepted)
            .with_priority(1)
            .mount(&scene.fhir)
            .await;
    }
    Mock::given(method("PUT"))
        .and(path("/fhir/r4/Patient"))
        .and(header("authorization", bearer.as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_string("token revoked"))
        .with_priority(2)
        .mount(&scene.fhir)
        .await;
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once_and_a_second_401_fails_without_a_loop() {
    let scene = Scene::start("harbour", true).await;
    issue_in_turn(&scene, &["tok-1", "tok-2", "tok-3"]).await;
    revoke_after(&scene, "tok-1", 1).await;
    revoke_after(&scene, "tok-2", 1).await;
    revoke_after(&scene, "tok-3", 0).await;
    let destination = scene.add_oauth().await;

    scene.desk.new_patient("Ana", "Kingi").await;
    eventually("the first patient is delivered", async || {
        statuses(&scene, &destination).await == ["delivered"]
    })
    .await;
    // tok-1, still cached, is refused: one new token, and the patient is delivered with it.
    scene.desk.new_patient("Rawiri", "Kingi").await;
    eventually("the second patient is delivered", async || {
        statuses(&scene, &destination).await == ["delivered", "delivered"]
    })
    .await;
    let bearers = |puts: Vec<wiremock::Request>| -> Vec<String> {
        puts.iter()
            .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        bearers(scene.received("PUT", "/Patient").await),
        ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    );
    assert_eq!(scene.received("POST", "/oauth/token").await.len(), 2);

    // tok-2 is revoked too, and the fresh tok-3 is refused as well: the server means it. The
    // delivery fails after one new token (a 401 is not retried), with no third try.
    scene.desk.new_patient("Huia", "Kingi").await;
    eventually("the third delivery fails", async || {
        let mut now = statuses(&scene, &destination).await;
        now.sort();
        now == ["delivered", "delivered", "failed"]
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        bearers(scene.received("PUT", "/Patient").await),
        [
            "Bearer tok-1",
            "Bearer tok-1",
            "Bearer tok-2",
            "Bearer tok-2",
            "Bearer tok-3"
        ]
    );
    assert_eq!(scene.received("POST", "/oauth/token").await.len(), 3);
    let deliveries = scene.deliveries(&destination).await;
    let failed = deliveries.iter().find(|d| d["status"] == "failed").unwrap();
    let attempts = failed["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status_code"], 401);
}

#[tokio::test]
async fn a_5xx_is_retried_and_the_patient_delivered_once() {
    let scene = Scene::start("harbour", true).await;
    Mock::given(method("PUT"))
        .and(path("/fhir/r4/Patient"))
        .respond_with(ResponseTemplate::new(503).set_body_string("down for maintenance"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&scene.fhir)
        .await;
    accept_patients(&scene.fhir, 201).await;
    let destination = scene.add(json!({"type": "none"})).await;

    scene.desk.new_patient("Wiremu", "Parata").await;
    eventually("the patient is delivered after a retry", async || {
        statuses(&scene, &destination).await == ["delivered"]
    })
    .await;
    let deliveries = scene.deliveries(&destination).await;
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["status_code"], 503);
    assert_eq!(attempts[1]["status_code"], 201);
    assert_eq!(scene.received("PUT", "/Patient").await.len(), 2);
}

#[tokio::test]
async fn a_400_fails_at_once_and_is_shown_with_the_servers_answer_and_can_be_retried() {
    let scene = Scene::start("harbour", true).await;
    Mock::given(method("PUT"))
        .and(path("/fhir/r4/Patient"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "invalid", "diagnostics": "birthDate rejected"}],
        })))
        .mount(&scene.fhir)
        .await;
    let destination = scene.add(json!({"type": "none"})).await;

    scene.desk.new_patient("Kiri", "Te Kanawa").await;
    eventually("the delivery fails", async || {
        statuses(&scene, &destination).await == ["failed"]
    })
    .await;
    let deliveries = scene.deliveries(&destination).await;
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "not retried");
    assert_eq!(attempts[0]["status_code"], 400);
    assert!(
        attempts[0]["response_excerpt"]
            .as_str()
            .unwrap()
            .contains("birthDate rejected")
    );

    // "Retry now" queues it again (and it fails again: the server still refuses).
    let id = destination["id"].as_str().unwrap();
    let delivery = deliveries[0]["id"].as_str().unwrap();
    let retried = scene
        .call(
            scene.owner(),
            Method::POST,
            &format!("/{id}/deliveries/{delivery}/retry"),
            None,
        )
        .await;
    assert_eq!(retried.status(), 202);
    eventually("the retry is sent", async || {
        scene.received("PUT", "/Patient").await.len() == 2
    })
    .await;
}

/// The claims of `assertion`, verified by jwt-simple with the one key of the published `jwks`
/// (as `alg` says), accepting only `client_id` as issuer and `token_url` as audience.
fn verified_with_jwks(
    jwks: &Value,
    assertion: &str,
    client_id: &str,
    token_url: &str,
) -> JWTClaims<NoCustomClaims> {
    let jwk = &jwks["keys"][0];
    let bytes = |member: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[member].as_str().unwrap())
            .unwrap()
    };
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&[client_id])),
        allowed_audiences: Some(HashSet::from_strings(&[token_url])),
        ..Default::default()
    };
    match jwk["alg"].as_str().unwrap() {
        "ES384" => {
            assert_eq!(jwk["crv"], "P-384");
            let mut point = vec![0x04];
            point.extend(bytes("x"));
            point.extend(bytes("y"));
            ES384PublicKey::from_bytes(&point)
                .unwrap()
                .verify_token::<NoCustomClaims>(assertion, Some(options))
                .unwrap()
        }
        "RS384" => {
            assert_eq!(jwk["kty"], "RSA");
            assert!(
                bytes("n").len() * 8 >= 2048,
                "an RSA key of 2048 bits or more"
            );
            RS384PublicKey::from_components(&bytes("n"), &bytes("e"))
                .unwrap()
                .verify_token::<NoCustomClaims>(assertion, Some(options))
                .unwrap()
        }
        other => panic!("unexpected alg {other}"),
    }
}

/// A SMART destination signing with `algorithm` (`None`: the default) pushes a patient; its
/// `client_assertion`, as the wiremock token endpoint received it, verifies against the JWKS it
/// publishes.
async fn smart_assertion_verifies(algorithm: Option<&str>, expected: &str) {
    let scene = Scene::start("harbour", true).await;
    issue_tokens(&scene.fhir, "tok-smart", 3600).await;
    accept_patients(&scene.fhir, 201).await;
    let token_url = scene.token_url();
    let mut auth = json!({
        "type": "smart_backend_services",
        "token_url": token_url,
        "client_id": "cg-smart",
        "scope": "system/Patient.cu",
    });
    if let Some(algorithm) = algorithm {
        auth["algorithm"] = json!(algorithm);
    }
    let destination = scene.add(auth).await;
    assert_eq!(destination["auth"]["algorithm"], expected);
    let jwks_path = format!(
        "/fhir-destinations/{}/jwks.json",
        destination["id"].as_str().unwrap()
    );
    let jwks: Value = scene
        .app
        .on(Method::GET, scene.owner().sub(), &jwks_path, None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], expected);
    assert_eq!(jwks["keys"][0]["kid"], destination["auth"]["key_id"]);

    scene.desk.new_patient("Tama", "Rangi").await;
    eventually("the patient is delivered", async || {
        statuses(&scene, &destination).await == ["delivered"]
    })
    .await;
    let requests = scene.received("POST", "/oauth/token").await;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("grant_type"), "client_credentials");
    assert_eq!(field("scope"), "system/Patient.cu");
    assert_eq!(
        field("client_assertion_type"),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let assertion = field("client_assertion");
    let header = Token::decode_metadata(&assertion).unwrap();
    assert_eq!(header.algorithm(), expected);
    assert_eq!(
        header.key_id(),
        destination["auth"]["key_id"].as_str(),
        "the assertion names the published key"
    );
    let claims = verified_with_jwks(&jwks, &assertion, "cg-smart", &token_url);
    assert_eq!(claims.subject.as_deref(), Some("cg-smart"));
    assert!(claims.jwt_id.is_some());
    let expires = claims.expires_at.unwrap().as_secs();
    let issued = claims.issued_at.unwrap().as_secs();
    assert!(expires > issued && expires - issued <= 300);
    let puts = scene.received("PUT", "/Patient").await;
    assert_eq!(puts[0].headers["authorization"], "Bearer tok-smart");
}

#[tokio::test]
async fn a_smart_assertion_verifies_against_the_published_jwks() {
    smart_assertion_verifies(None, "ES384").await;
}

#[tokio::test]
async fn an_rs384_smart_assertion_verifies_against_the_published_rsa_jwks() {
    smart_assertion_verifies(Some("RS384"), "RS384").await;
}
