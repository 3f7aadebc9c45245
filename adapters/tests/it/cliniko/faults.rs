//! The client against wiremock for every fault Cliniko (or the network) can produce: what the
//! caller gets, and how many requests Cliniko receives.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use clinicgate_core::cliniko::{
    ClinikoAccount, ClinikoClient, ClinikoId, Filter, Lane, ListQuery, PatientFields,
    PractitionerScope,
};
use clinicgate_core::{Error, UpstreamFailure};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{USER_AGENT, account, client, config, instances};

const KEY: &str = "MS0faultfinderkey0123456789-au1";

fn clinic() -> ClinikoAccount {
    account(KEY)
}

async fn setup() -> (
    MockServer,
    clinicgate_adapters::cliniko::HttpClinikoClient,
    super::Instances,
) {
    let server = MockServer::start().await;
    let instances = instances(1).await;
    let client = client(
        config(&format!("{}/{{shard}}/v1", server.uri())),
        &instances.states[0],
    );
    (server, client, instances)
}

fn user() -> serde_json::Value {
    json!({"id": "836447129235007919", "first_name": "Alex", "role": "administrator", "user_active": true})
}

fn epoch_in(seconds: u64) -> String {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + seconds)
        .to_string()
}

/// How a write (a new patient, A B) that Cliniko does not answer well fails.
async fn failed_write(client: &clinicgate_adapters::cliniko::HttpClinikoClient) -> Error {
    client
        .create_patient(
            &clinic(),
            Lane::Interactive,
            &PatientFields {
                first_name: Some("A".into()),
                last_name: Some("B".into()),
                ..PatientFields::default()
            },
        )
        .await
        .unwrap_err()
}

/// Asserts Cliniko is reported unreachable.
fn assert_unreachable(err: &Error) {
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::Unreachable,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Asserts the error says nothing of the key.
fn assert_no_key(err: &Error) {
    let printed = format!("{err:?} {err}");
    assert!(!printed.contains("faultfinder"), "{printed}");
}

#[tokio::test]
async fn requests_carry_basic_auth_the_user_agent_json_accept_and_pages_of_one_hundred() {
    let (server, client, _i) = setup().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    Mock::given(method("GET"))
        .and(path("/au1/v1/patients"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .and(header("user-agent", USER_AGENT))
        .and(header("accept", "application/json"))
        .and(query_param("per_page", "100"))
        .and(query_param("q[]", "last_name:~~O'Br%"))
        .and(query_param("sort", "first_name:desc"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"patients": [], "total_entries": 0, "links": {}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let query = ListQuery::new()
        .filter(Filter::new(
            "last_name",
            clinicgate_core::cliniko::FilterOp::Like,
            "O'Br%",
        ))
        .sort_by("first_name", clinicgate_core::cliniko::Direction::Desc);
    client.patients(&clinic(), Lane::Api, &query).await.unwrap();
    let raw = server.received_requests().await.unwrap()[0].url.to_string();
    assert!(raw.contains("q%5B%5D=last_name%3A%7E%7EO%27Br%25"), "{raw}");
}

#[tokio::test]
async fn a_429_with_x_ratelimit_reset_pauses_the_key_until_then_and_the_read_is_retried() {
    let (server, _, instances) = setup().await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("X-RateLimit-Reset", epoch_in(2).as_str()),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user()))
        .mount(&server)
        .await;
    let started = Instant::now();
    let mut cfg = config(&format!("{}/{{shard}}/v1", server.uri()));
    cfg.budget.interactive_wait = Duration::from_secs(3);
    let client = client(cfg, &instances.states[0]);
    let user = client
        .current_user(&clinic(), Lane::Interactive)
        .await
        .unwrap();
    assert_eq!(user.first_name.as_deref(), Some("Alex"));
    let waited = started.elapsed();
    // The reset is a whole second 1–2 s away; the retry waits for it, not for a backoff.
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_429_without_a_reset_header_pauses_for_retry_after_or_else_the_default() {
    for (headers, expected) in [
        (Some("2"), Duration::from_secs(2)),
        (None, Duration::from_secs(1)),
    ] {
        let (server, _, instances) = setup().await;
        let mut template = ResponseTemplate::new(429);
        if let Some(seconds) = headers {
            template = template.insert_header("Retry-After", seconds);
        }
        Mock::given(path("/au1/v1/user"))
            .respond_with(template)
            .mount(&server)
            .await;
        let client = client(
            config(&format!("{}/{{shard}}/v1", server.uri())),
            &instances.states[0],
        );
        let err = client.current_user(&clinic(), Lane::Api).await.unwrap_err();
        let Error::RateLimited { retry_after } = err else {
            panic!("expected RateLimited, got {err:?}")
        };
        assert!(
            retry_after <= expected && retry_after > expected - Duration::from_millis(500),
            "{retry_after:?} vs {expected:?}"
        );
        // The api lane does not wait: one request reached Cliniko and the pause refused the retry.
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn gateway_errors_are_retried_for_reads_but_never_for_writes() {
    let (server, client, _i) = setup().await;
    Mock::given(method("GET"))
        .and(path("/au1/v1/user"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/au1/v1/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(user()))
        .mount(&server)
        .await;
    client
        .current_user(&clinic(), Lane::Interactive)
        .await
        .unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        3,
        "two retries"
    );

    Mock::given(method("POST"))
        .and(path("/au1/v1/patients"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let err = failed_write(&client).await;
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::ServerError(502),
                ..
            }
        ),
        "{err:?}"
    );
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(
        posts, 1,
        "a write could be applied twice, so it is never retried"
    );
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_retries_and_a_500_is_not_retried() {
    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(ResponseTemplate::new(504))
        .mount(&server)
        .await;
    let err = client
        .current_user(&clinic(), Lane::Interactive)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::ServerError(504),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);

    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let err = client
        .current_user(&clinic(), Lane::Interactive)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::ServerError(500),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_times_out_without_a_retry() {
    let server = MockServer::start().await;
    let instances = instances(1).await;
    let mut cfg = config(&format!("{}/{{shard}}/v1", server.uri()));
    cfg.timeout = Duration::from_millis(300);
    let client = client(cfg, &instances.states[0]);
    Mock::given(path("/au1/v1/user"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(user())
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = client
        .current_user(&clinic(), Lane::Interactive)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn clinikos_plain_text_401_means_the_key_was_rejected() {
    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(
            ResponseTemplate::new(401).set_body_raw("HTTP Basic: Access denied.\n", "text/plain"),
        )
        .mount(&server)
        .await;
    let err = client
        .current_user(&clinic(), Lane::Interactive)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                service: "cliniko",
                failure: UpstreamFailure::Unauthorized
            }
        ),
        "{err:?}"
    );
    assert_no_key(&err);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_a_bad_response_that_quotes_nothing() {
    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/patients/42"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html>Jane Citizen 1984-03-02</html>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/au1/v1/patients/43"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "43", "first_name": "Jane", "date_of_birth": "second of March"}),
        ))
        .mount(&server)
        .await;
    for id in ["42", "43"] {
        let err = client
            .patient(&clinic(), Lane::Interactive, &ClinikoId::parse(id).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Upstream {
                    failure: UpstreamFailure::BadResponse(_),
                    ..
                }
            ),
            "{err:?}"
        );
        let printed = format!("{err:?}");
        assert!(
            !printed.contains("Jane") && !printed.contains("March"),
            "{printed}"
        );
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn unknown_fields_and_collection_links_are_ignored() {
    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/practitioners"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "practitioners": [{
                "id": "836447129235883061", "first_name": "Ada", "last_name": "Lovelace",
                "brand_new_field": {"nested": [1, 2, 3]}, "display_name": "",
                "appointments": {"links": {"self": "https://api.au1.cliniko.com/v1/practitioners/1/appointments"}},
                "user": {"links": {"self": "https://api.au1.cliniko.com/v1/users/5"}},
                "created_at": "", "updated_at": null
            }],
            "total_entires": 1, "links": {"self": "x"}
        })))
        .mount(&server)
        .await;
    let practitioners = client
        .practitioners(&clinic(), Lane::Api, &PractitionerScope::All)
        .await
        .unwrap();
    assert_eq!(practitioners[0].name(), "Ada Lovelace");
    assert_eq!(practitioners[0].id.as_str(), "836447129235883061");
}

#[tokio::test]
async fn a_next_link_to_another_host_is_never_followed_with_the_key() {
    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/patients"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "patients": [{"id": "1"}], "total_entries": 2,
            "links": {"next": "https://evil.example/v1/patients?page=2"}
        })))
        .mount(&server)
        .await;
    let err = client
        .patients(&clinic(), Lane::Api, &ListQuery::new())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::BadResponse(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (server, client, _i) = setup().await;
    Mock::given(path("/au1/v1/user"))
        .respond_with(
            ResponseTemplate::new(301)
                .insert_header("location", "https://elsewhere.example/v1/user"),
        )
        .mount(&server)
        .await;
    let err = client.current_user(&clinic(), Lane::Api).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Upstream {
                failure: UpstreamFailure::BadResponse(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_cliniko_is_reported_as_unreachable() {
    let refused = clinicgate_adapters::testing::RefusedPort::new();
    let instances = instances(1).await;
    let client = client(
        config(&format!("http://127.0.0.1:{}/{{shard}}/v1", refused.port())),
        &instances.states[0],
    );
    let err = client.current_user(&clinic(), Lane::Api).await.unwrap_err();
    assert_unreachable(&err);
}

/// A server that closes each of its first `drops` requests' connections without answering, then
/// answers every request with the current user. Returns its base URL and the requests it read.
async fn dropping_server(drops: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/{{shard}}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 4096];
                loop {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    head.clear();
                    if counter.fetch_add(1, Ordering::SeqCst) < drops {
                        return; // closed without an answer
                    }
                    let body = user().to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

#[tokio::test]
async fn a_read_whose_connection_closes_before_the_answer_is_retried_and_a_write_is_not() {
    use std::sync::atomic::Ordering;

    let instances = instances(1).await;
    let (base, seen) = dropping_server(1).await;
    let reads = client(config(&base), &instances.states[0]);
    reads
        .current_user(&clinic(), Lane::Interactive)
        .await
        .expect("the read was repeated on a new connection");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one retry");

    let (base, seen) = dropping_server(usize::MAX).await;
    let writes = client(config(&base), &instances.states[0]);
    let err = failed_write(&writes).await;
    assert_unreachable(&err);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "a write Cliniko may have applied is never repeated"
    );
}
