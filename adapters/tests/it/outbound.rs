//! The SSRF guard against a real local receiver (wiremock on 127.0.0.1): what is refused with the
//! default settings, what an allowed network lets through, redirects, DNS rebinding and how send
//! failures are classified. Nothing here reaches the internet or public DNS: names other than
//! `localhost` are answered by a scripted resolver.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clinicgate_adapters::outbound::{OutboundClient, OutboundConfig, SendError, UrlRefusal};
use clinicgate_core::delivery::TransportFailure;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, Request, StatusCode};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Answers every lookup from a script: each call takes the next answer, the last one repeats.
/// An empty answer list makes the lookup fail, like an unknown name.
struct Scripted {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    lookups: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(
                answers
                    .iter()
                    .map(|ips| ips.iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect(),
            ),
            lookups: Mutex::new(Vec::new()),
        })
    }

    fn lookups(&self) -> Vec<String> {
        self.lookups.lock().unwrap().clone()
    }
}

impl Resolve for Scripted {
    fn resolve(&self, name: Name) -> Resolving {
        self.lookups.lock().unwrap().push(name.as_str().to_owned());
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap_or_default()
        };
        Box::pin(async move {
            if answer.is_empty() {
                return Err("no such host".into());
            }
            let addrs: Vec<SocketAddr> = answer.into_iter().map(|ip| (ip, 0).into()).collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn config(allowed: &[&str]) -> OutboundConfig {
    OutboundConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        ..OutboundConfig::new(
            allowed.iter().map(|net| net.parse().unwrap()).collect(),
            true,
        )
    }
}

fn system_client(allowed: &[&str]) -> OutboundClient {
    OutboundClient::new(&config(allowed)).unwrap()
}

fn scripted_client(allowed: &[&str], resolver: Arc<Scripted>) -> OutboundClient {
    OutboundClient::with_resolver(&config(allowed), resolver).unwrap()
}

/// A receiver on 127.0.0.1 that answers `POST /hook` with 204.
async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

fn post(url: &str) -> Request {
    Request::new(Method::POST, Url::parse(url).unwrap())
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn assert_refused(result: Result<reqwest::Response, SendError>) {
    match result {
        Err(SendError::Refused(UrlRefusal::AddressNotAllowed)) => {}
        other => panic!("expected a refusal by the guard, got {other:?}"),
    }
}

#[tokio::test]
async fn a_host_resolving_to_loopback_is_refused_with_the_default_settings() {
    let server = receiver().await;
    let resolver = Scripted::new(&[&["127.0.0.1"]]);
    let client = scripted_client(&[], resolver.clone());
    let url = format!("http://receiver.test:{}/hook", server.address().port());

    let err = client.send(post(&url)).await.unwrap_err();

    assert_eq!(
        err.failure(),
        TransportFailure::AddressNotAllowed,
        "{err:?}"
    );
    assert!(
        err.to_string().contains("refused by the outbound guard"),
        "{err}"
    );
    assert!(
        !format!("{err} {err:?}").contains("receiver.test"),
        "the error names the URL: {err:?}"
    );
    assert_eq!(resolver.lookups(), ["receiver.test"]);
    assert_eq!(received(&server).await, 0);
}

#[tokio::test]
async fn an_allowed_network_lets_the_call_through() {
    let server = receiver().await;
    let port = server.address().port();
    let client = scripted_client(&["127.0.0.0/8"], Scripted::new(&[&["127.0.0.1"]]));

    let by_name = client
        .send(post(&format!("http://receiver.test:{port}/hook")))
        .await
        .unwrap();
    let by_address = client
        .send(post(&format!("http://127.0.0.1:{port}/hook")))
        .await
        .unwrap();

    assert_eq!(by_name.status(), StatusCode::NO_CONTENT);
    assert_eq!(by_address.status(), StatusCode::NO_CONTENT);
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn ip_literal_urls_are_refused_although_reqwest_skips_the_resolver_for_them() {
    let server = receiver().await;
    let port = server.address().port();
    let resolver = Scripted::new(&[&["8.8.8.8"]]);
    let client = scripted_client(&[], resolver.clone());

    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://169.254.169.254:{port}/latest/meta-data/"),
    ] {
        assert_refused(client.send(post(&url)).await);
        assert_eq!(
            client.check_url(&url).await.unwrap_err(),
            UrlRefusal::AddressNotAllowed,
            "{url}"
        );
    }
    assert!(resolver.lookups().is_empty());
    assert_eq!(received(&server).await, 0);
}

#[tokio::test]
async fn localhost_is_refused_because_it_resolves_to_loopback() {
    let server = receiver().await;
    let url = format!("http://localhost:{}/hook", server.address().port());
    let client = system_client(&[]);

    assert_refused(client.send(post(&url)).await);
    assert_eq!(
        client.check_url(&url).await.unwrap_err(),
        UrlRefusal::AddressNotAllowed
    );
    assert_eq!(received(&server).await, 0);

    // The same name passes once loopback is allowed: the refusal came from the guard, not from
    // a failed lookup.
    let allowed = system_client(&["127.0.0.0/8", "::1/128"]);
    assert_eq!(
        allowed.check_url(&url).await.unwrap().as_str(),
        url.as_str()
    );
    let answer = allowed.send(post(&url)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_redirect_is_returned_as_it_is_and_not_followed() {
    let server = receiver().await;
    Mock::given(method("POST"))
        .and(path("/moved"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/hook"))
        .mount(&server)
        .await;
    let client = system_client(&["127.0.0.0/8"]);

    let answer = client
        .send(post(&format!("{}/moved", server.uri())))
        .await
        .unwrap();

    assert_eq!(answer.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(answer.headers()["location"], "/hook");
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| request.url.path().to_owned())
        .collect();
    assert_eq!(paths, ["/moved"]);
}

#[tokio::test]
async fn a_host_that_rebinds_to_a_private_address_is_refused_at_connection_time() {
    let server = receiver().await;
    let port = server.address().port();
    // 1: public when the URL is checked for storage; 2: the receiver (allowed as 127.0.0.1/32,
    // standing in for a public host); 3: rebound to the metadata service.
    let resolver = Scripted::new(&[&["93.184.216.34"], &["127.0.0.1"], &["169.254.169.254"]]);
    let client = scripted_client(&["127.0.0.1/32"], resolver.clone());
    let url = format!("http://rebinding.test:{port}/hook");

    assert!(client.check_url(&url).await.is_ok());
    // `Connection: close`, so the second send needs a new connection and a new lookup (a pooled
    // connection stays with the address it was checked for).
    let mut first = post(&url);
    first
        .headers_mut()
        .insert("connection", "close".parse().unwrap());
    let answer = client.send(first).await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);

    assert_refused(client.send(post(&url)).await);
    assert_eq!(resolver.lookups().len(), 3);
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn the_create_time_check_says_why_a_url_is_refused() {
    let resolver = Scripted::new(&[&["10.0.0.7", "fd00::7"]]);
    let client =
        OutboundClient::with_resolver(&OutboundConfig::new(Vec::new(), false), resolver.clone())
            .unwrap();
    let cases = [
        ("not a url", UrlRefusal::InvalidUrl),
        ("http://hooks.test/x", UrlRefusal::SchemeNotAllowed),
        (
            "https://u:p@hooks.test/x",
            UrlRefusal::CredentialsNotAllowed,
        ),
        ("https://hooks.test:22/x", UrlRefusal::PortNotAllowed),
        ("https://hooks.test/x", UrlRefusal::AddressNotAllowed),
        ("https://[fd00::1]/x", UrlRefusal::AddressNotAllowed),
    ];
    for (url, why) in cases {
        assert_eq!(client.check_url(url).await.unwrap_err(), why, "{url}");
    }
    assert_eq!(
        client
            .check_url("https://8.8.8.8/x")
            .await
            .unwrap()
            .as_str(),
        "https://8.8.8.8/x"
    );

    let public_and_private = OutboundClient::with_resolver(
        &OutboundConfig::new(Vec::new(), false),
        Scripted::new(&[&["10.0.0.7", "8.8.4.4"]]),
    )
    .unwrap();
    assert!(
        public_and_private
            .check_url("https://hooks.test/x")
            .await
            .is_ok()
    );

    let unknown = OutboundClient::with_resolver(
        &OutboundConfig::new(Vec::new(), false),
        Scripted::new(&[&[]]),
    )
    .unwrap();
    assert_eq!(
        unknown
            .check_url("https://nowhere.test/x")
            .await
            .unwrap_err(),
        UrlRefusal::Unresolvable
    );
}

#[tokio::test]
async fn send_failures_are_classified_for_the_retry_logic() {
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&slow)
        .await;
    let client = OutboundClient::new(&OutboundConfig {
        timeout: Duration::from_millis(300),
        ..config(&["127.0.0.0/8"])
    })
    .unwrap();

    let timeout = client
        .send(post(&format!("{}/hook", slow.uri())))
        .await
        .unwrap_err();
    assert_eq!(timeout.failure(), TransportFailure::Timeout, "{timeout:?}");

    // Speaking TLS to a plain-HTTP server fails the handshake. A patient client: on a loaded
    // machine the server's refusal of the handshake can take longer than the short timeout above.
    let patient = OutboundClient::new(&OutboundConfig {
        timeout: Duration::from_secs(20),
        ..config(&["127.0.0.0/8"])
    })
    .unwrap();
    let tls = patient
        .send(post(&format!(
            "https://127.0.0.1:{}/hook",
            slow.address().port()
        )))
        .await
        .unwrap_err();
    assert_eq!(tls.failure(), TransportFailure::Tls, "{tls:?}");

    let closed = clinicgate_adapters::testing::RefusedPort::new();
    let refused = patient
        .send(post(&format!("http://127.0.0.1:{}/hook", closed.port())))
        .await
        .unwrap_err();
    assert_eq!(
        refused.failure(),
        TransportFailure::Connection,
        "{refused:?}"
    );

    let strict = OutboundClient::new(&OutboundConfig::new(Vec::new(), false)).unwrap();
    let plain = strict
        .send(post(&format!("{}/hook", slow.uri())))
        .await
        .unwrap_err();
    assert!(
        matches!(plain, SendError::Refused(UrlRefusal::SchemeNotAllowed)),
        "{plain:?}"
    );
}
