//! `private_key_jwt` with keys a client publishes at a URL (`jwks_uri`): fetched through the
//! outbound guard (tests allow loopback, where wiremock listens), cached, fetched again once
//! for an unknown `kid` and no more within the interval, and refused cleanly when the URL
//! fails.

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::smart::{Signer, claims, exchange};
use crate::common::{TestApp, spawn_app_with};
use crate::tokens::{Client, Clinic, clinic, create_client};
use crate::webhooks::allow_loopback;

/// Serves `keys` as the JWKS at `/jwks`, replacing what was served.
async fn publish(server: &MockServer, keys: Value) {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
        .mount(server)
        .await;
}

/// How many times the JWKS was fetched since the last [`publish`].
async fn fetches(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// `PUT …/jwks` with `body`: status and JSON.
async fn register(app: &TestApp, owner: &Clinic, client: &Client, body: Value) -> (u16, Value) {
    let response = app
        .on(
            Method::PUT,
            owner.sub(),
            &format!("/api/tenant/clients/{}/jwks", client.id),
            Some(&owner.cookie),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn keyed_by_url(app: &TestApp, server: &MockServer) -> (Clinic, Client) {
    let owner = clinic(app, "harbour").await;
    let client = create_client(app, &owner, &["doctors:read"], None).await;
    let url = format!("{}/jwks", server.uri());
    let (status, body) = register(app, &owner, &client, json!({ "jwks_uri": url })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["jwks_uri"], url);
    assert!(body["jwks"].is_null());
    (owner, client)
}

#[tokio::test]
async fn published_keys_are_cached_and_fetched_again_once_for_an_unknown_kid() {
    let app = spawn_app_with(allow_loopback).await;
    let server = MockServer::start().await;
    let (first, second, stranger) = (Signer::ec(), Signer::ec(), Signer::ec());
    publish(&server, json!([first.jwk("k1")])).await;
    let (_, client) = keyed_by_url(&app, &server).await;
    assert_eq!(fetches(&server).await, 1, "fetched once when registered");

    for _ in 0..2 {
        let assertion = first.sign("k1", claims(&app, &client));
        assert_eq!(exchange(&app, &assertion, None).await.0, 200);
    }
    assert_eq!(fetches(&server).await, 1, "the cached copy is used");

    // The client rotates: the new kid is unknown to the copy, so the JWKS is fetched again.
    publish(&server, json!([first.jwk("k1"), second.jwk("k2")])).await;
    let rotated = second.sign("k2", claims(&app, &client));
    let (status, body) = exchange(&app, &rotated, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetches(&server).await, 1);

    // Another unknown kid within the interval is refused without asking the server again.
    let made_up = stranger.sign("k3", claims(&app, &client));
    let (status, body) = exchange(&app, &made_up, None).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));
    assert_eq!(
        fetches(&server).await,
        1,
        "no second refetch within the interval"
    );
}

#[tokio::test]
async fn several_published_keys_under_one_kid_are_each_tried_and_unusable_ones_skipped() {
    let app = spawn_app_with(allow_loopback).await;
    let server = MockServer::start().await;
    let (old, new) = (Signer::ec(), Signer::ec());
    let p256 = json!({"kty": "EC", "crv": "P-256", "kid": "other-use",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
    publish(
        &server,
        json!([p256, old.jwk("rotating"), new.jwk("rotating")]),
    )
    .await;
    let (_, client) = keyed_by_url(&app, &server).await;
    for signer in [&old, &new] {
        let assertion = signer.sign("rotating", claims(&app, &client));
        let (status, body) = exchange(&app, &assertion, None).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_failing_jwks_uri_refuses_assertions_and_bad_urls_are_not_registered() {
    let app = spawn_app_with(allow_loopback).await;
    let server = MockServer::start().await;
    let signer = Signer::ec();
    publish(&server, json!([signer.jwk("k1")])).await;
    let (owner, client) = keyed_by_url(&app, &server).await;

    // The server fails: a key the copy lacks cannot be found, and the assertion is refused.
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let rotated = Signer::ec().sign("k2", claims(&app, &client));
    let (status, body) = exchange(&app, &rotated, None).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_client")));
    assert_eq!(fetches(&server).await, 1, "the refetch was tried");

    // Registering: a failing URL, a non-JWKS, an oversized document, an address the guard
    // refuses, both forms or neither are 422, and the registered URL is unchanged.
    let other = create_client(&app, &owner, &["doctors:read"], None).await;
    let url = format!("{}/jwks", server.uri());
    let field = |body: &Value| {
        (
            body["errors"][0]["field"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body["errors"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let (status, body) = register(&app, &owner, &other, json!({ "jwks_uri": url })).await;
    assert_eq!(
        (status, field(&body)),
        (422, ("jwks_uri".into(), "jwks_unavailable".into()))
    );
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&server)
        .await;
    let huge: Vec<Value> = (0..2000).map(|i| signer.jwk(&format!("k{i}"))).collect();
    Mock::given(method("GET"))
        .and(path("/huge"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": huge })))
        .mount(&server)
        .await;
    for bad in [
        json!({ "jwks_uri": format!("{}/html", server.uri()) }),
        json!({ "jwks_uri": format!("{}/huge", server.uri()) }),
    ] {
        let (status, body) = register(&app, &owner, &other, bad.clone()).await;
        assert_eq!(
            (status, field(&body)),
            (422, ("jwks_uri".into(), "jwks_unavailable".into())),
            "{bad}"
        );
    }
    let (status, body) = register(
        &app,
        &owner,
        &other,
        json!({ "jwks_uri": "http://169.254.169.254/jwks" }),
    )
    .await;
    assert_eq!(
        (status, field(&body).0.as_str()),
        (422, "jwks_uri"),
        "{body}"
    );
    let (status, _) = register(
        &app,
        &owner,
        &other,
        json!({ "jwks_uri": url, "jwks": {"keys": [signer.jwk("k1")]} }),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = register(&app, &owner, &other, json!({})).await;
    assert_eq!(status, 422);
    let shown = app
        .on(
            Method::GET,
            owner.sub(),
            &format!("/api/tenant/clients/{}/jwks", other.id),
            Some(&owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 404, "nothing was registered");
}
