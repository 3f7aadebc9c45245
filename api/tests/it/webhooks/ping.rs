//! `POST /api/public/webhooks/{id}/test`: a signed `ping` sent now, as a receiver using the
//! Standard Webhooks reference library sees it (verified with the secret from the create answer,
//! and after a rotation with either secret), and the outcome as the partner reads it.

use reqwest::Method;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Partner, verifies};

const SCOPES: &[&str] = &["appointments:read", "webhooks:manage"];

/// A receiver on 127.0.0.1 answering every POST to `/hooks` with `status`.
async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(status).set_body_string("thanks"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_test_ping_arrives_signed_and_verifies_with_either_secret_during_a_rotation() {
    let partner = Partner::new(SCOPES).await;
    let server = receiver(204).await;
    let created = partner
        .create(&format!("{}/hooks", server.uri()), &["appointment.created"])
        .await;
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();

    let (status, outcome) = partner.ping(&created).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["delivered"], true);
    assert_eq!(outcome["status_code"], 204);
    assert_eq!(outcome["error_class"], Value::Null);
    assert!(outcome["latency_ms"].is_u64());

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let ping = &requests[0];
    assert!(
        verifies(ping, secret),
        "the reference library verifies the ping"
    );
    assert!(!verifies(ping, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert_eq!(ping.headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&ping.body).unwrap();
    assert_eq!(body["type"], "ping");
    assert_eq!(body["data"]["endpoint_id"], id);
    assert!(body["timestamp"].is_string());

    let (_, rotated) = partner
        .call(
            Method::POST,
            &Partner::path_of(&created, "/rotate-secret"),
            None,
        )
        .await;
    let new_secret = rotated["secret"].as_str().unwrap();
    partner.ping(&created).await;
    let requests = server.received_requests().await.unwrap();
    let second = &requests[1];
    assert_ne!(second.headers["webhook-id"], ping.headers["webhook-id"]);
    assert_eq!(
        second.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    assert!(verifies(second, new_secret), "the new secret verifies");
    assert!(
        verifies(second, secret),
        "the previous secret still verifies"
    );
}

#[tokio::test]
async fn a_failing_or_unreachable_receiver_is_reported_not_raised() {
    let partner = Partner::new(SCOPES).await;
    let server = receiver(500).await;
    let failing = partner
        .create(&format!("{}/hooks", server.uri()), &["appointment.created"])
        .await;
    let (status, outcome) = partner.ping(&failing).await;
    assert_eq!(status, 200);
    assert_eq!(outcome["delivered"], false);
    assert_eq!(outcome["status_code"], 500);

    let refused = clinicgate_adapters::testing::RefusedPort::new();
    let url = format!("http://127.0.0.1:{}/hooks", refused.port());
    let unreachable = partner.create(&url, &["appointment.created"]).await;
    let (status, outcome) = partner.ping(&unreachable).await;
    assert_eq!(status, 200);
    assert_eq!(outcome["delivered"], false);
    assert_eq!(outcome["status_code"], Value::Null);
    assert_eq!(outcome["error_class"], "connection");
}
