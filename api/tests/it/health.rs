use crate::common::spawn_app;

#[tokio::test]
async fn liveness_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readiness_reports_each_backend_in_use() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let (database, store) = app.backends();
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["database"],
        serde_json::json!({"status": "ok", "backend": database})
    );
    assert_eq!(
        body["shared_store"],
        serde_json::json!({"status": "ok", "backend": store})
    );
}

#[tokio::test]
async fn readiness_is_503_and_names_the_database_when_it_is_gone() {
    let app = spawn_app().await;
    app.state.db.clone().close().await.unwrap();
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["database"]["status"], "unavailable");
    assert_eq!(body["shared_store"]["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/no/such/thing/42").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    // Unknown paths are one label, so a scanner cannot blow up the metric's cardinality.
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains("/no/such/thing"), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn a_generated_master_key_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = spawn_app().await;
    let key_file = app.data_dir.path().join("master.key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let encoded = std::fs::read_to_string(key_file).unwrap();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .unwrap()
            .len(),
        32
    );
}
