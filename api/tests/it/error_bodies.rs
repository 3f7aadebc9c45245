//! Every error a client can receive from application code has a body it can parse: problem+json,
//! or the OAuth error shape on the OAuth endpoints. Requests actix-http's HTTP/1 codec refuses
//! before any application code runs get its bare status (see `docs/architecture.md`, "Errors the
//! HTTP codec answers"); the tests pin that boundary so a change in actix shows up here.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::common::{TestApp, spawn_app};

/// One more byte than the default body limit (`http.body_limit_bytes`, 256 KiB).
const OVER_THE_BODY_LIMIT: usize = 262_145;

#[tokio::test]
async fn an_oversized_body_at_the_oauth_endpoints_is_a_413_in_the_oauth_error_shape() {
    let app = spawn_app().await;
    let body = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(OVER_THE_BODY_LIMIT)
    );
    for (method, path) in [
        (reqwest::Method::POST, "/api/auth/token"),
        (reqwest::Method::DELETE, "/api/auth/revoke"),
    ] {
        let response = app
            .client
            .request(method, format!("{}{path}", app.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{path}");
        assert_eq!(
            error["error_description"], "the body is larger than 262144 bytes",
            "{path}"
        );
    }
}

/// Sends `head` (the request line and headers, without the blank line) on a fresh connection
/// and answers the status and the whole raw response, read until the server closes.
async fn raw_request(app: &TestApp, head: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream.write_all(head).await.unwrap();
    stream
        .write_all(b"\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut response),
    )
    .await
    .expect("the server answers and closes")
    .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    (status, response)
}

fn body_of(response: &str) -> serde_json::Value {
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"))
}

fn is_problem(response: &str) -> bool {
    response
        .to_ascii_lowercase()
        .contains("\r\ncontent-type: application/problem+json\r\n")
}

#[tokio::test]
async fn an_http_1_0_request_without_a_host_reaches_the_app_and_gets_a_problem() {
    let app = spawn_app().await;
    let (status, response) = raw_request(&app, b"GET /api/public/doctors HTTP/1.0").await;
    assert_eq!(status, 404);
    assert!(is_problem(&response), "{response}");
    assert_eq!(body_of(&response)["code"], "not_found");
}

#[tokio::test]
async fn a_60_kb_url_and_percent_encoded_utf8_in_the_query_get_a_problem_from_the_app() {
    let app = spawn_app().await;
    let host = format!("Host: localhost:{}", app.port);
    let long = format!(
        "GET /api/public/doctors?name={} HTTP/1.1\r\n{host}",
        "a".repeat(60_000)
    );
    let encoded = format!("GET /api/public/doctors?name=Ren%C3%A9e HTTP/1.1\r\n{host}");
    for head in [long, encoded] {
        let (status, response) = raw_request(&app, head.as_bytes()).await;
        assert_eq!(status, 401, "{response}");
        assert!(is_problem(&response), "{response}");
        assert_eq!(body_of(&response)["code"], "invalid_token");
    }
}

#[tokio::test]
async fn requests_the_http_codec_refuses_get_its_bare_400_and_the_connection_closes() {
    let app = spawn_app().await;
    let host = format!("Host: localhost:{}", app.port);
    let cases = [
        (
            "no Host in HTTP/1.1",
            "GET /api/public/doctors HTTP/1.1".to_owned(),
        ),
        (
            "an 80 KB URL",
            format!(
                "GET /api/public/doctors?name={} HTTP/1.1\r\n{host}",
                "a".repeat(80_000)
            ),
        ),
        (
            "raw UTF-8 in the query",
            format!("GET /api/public/doctors?name=Renée HTTP/1.1\r\n{host}"),
        ),
    ];
    for (case, head) in cases {
        let (status, response) = raw_request(&app, head.as_bytes()).await;
        // actix-http answers these itself, before any middleware or handler: if this starts
        // failing, those requests now reach the app, and the docs' list of them must change.
        assert_eq!(status, 400, "{case}: {response}");
        assert!(
            response.to_ascii_lowercase().contains("content-length: 0"),
            "{case}: {response}"
        );
    }
}
