use crate::common::{spawn_app, spawn_app_with};
use figment::providers::Serialized;

#[tokio::test]
async fn an_unknown_path_is_a_404_problem_carrying_the_request_id() {
    let app = spawn_app().await;
    let response = app.get("/api/does-not-exist").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["title"], "Not Found");
    assert_eq!(body["type"], "urn:clinicgate:problem:not_found");
    assert_eq!(body["request_id"], request_id);
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_is_a_405_problem_listing_the_allowed_ones() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/healthz", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
}

#[tokio::test]
async fn a_callers_request_id_is_echoed_and_a_hostile_one_replaced() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-abc.123");

    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(generated, "a b\"c");
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/nope"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"),
            "{csp}"
        );
        // HSTS only makes sense (and is only honoured) over https.
        assert!(headers.get("strict-transport-security").is_none(), "{path}");
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let app = spawn_app_with(|f| {
        f.merge(Serialized::default(
            "public_url",
            "https://gateway.example.com",
        ))
    })
    .await;
    let response = app.get("/healthz").await;
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}
