//! Two `clinicgate serve` processes of one deployment (one database; one Redis key prefix when
//! testing on Redis; one master key) under load, and one of them killed with SIGKILL mid-load: the
//! survivor keeps answering without an error, the dead one's requests fail only as connection
//! errors, and nothing either wrote is half there.
//!
//! Real processes, not two servers in this test's process: a SIGKILL must take the instance's
//! open connections, transactions and SQLite locks down with it, as a crash does in production.

use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clinicgate_adapters::testing::{TestDatabase, test_redis};
use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use super::REQUEST_BOUND;
use crate::binary::{Running, clinicgate, free_port};
use crate::common::{PASSWORD, test_client};

/// Both instances serve one public URL, as behind one load balancer; the port a request reaches
/// does not matter to host routing, so `{clinic}.localhost:{either port}` is that clinic.
const PUBLIC_URL: &str = "http://localhost";
/// How long load runs, and when in it the second instance is killed.
const LOAD_FOR: Duration = Duration::from_secs(4);
const KILL_AFTER: Duration = Duration::from_millis(1500);
/// Concurrent callers per instance, and the most requests each sends.
const CALLERS: usize = 3;
const MAX_REQUESTS: usize = 300;
/// How long an instance may take to become ready.
const START_BOUND: Duration = Duration::from_secs(20);

/// What the two instances share.
struct Deployment {
    database: TestDatabase,
    redis: Option<(SecretString, String)>,
    master_key: String,
}

/// One running `clinicgate serve`, killed when dropped.
struct Instance {
    server: Running,
    port: u16,
    _data_dir: tempfile::TempDir,
}

impl Deployment {
    async fn new() -> Self {
        Self {
            database: TestDatabase::create().await,
            redis: test_redis(),
            master_key: STANDARD.encode([7_u8; 32]),
        }
    }

    /// Starts one instance and waits until it is ready.
    async fn start(&self) -> Instance {
        let data_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut command = clinicgate(data_dir.path());
        command
            .env("CLINICGATE_BIND", format!("127.0.0.1:{port}"))
            .env("CLINICGATE_PUBLIC_URL", PUBLIC_URL)
            .env(
                "CLINICGATE_DATABASE_URL",
                self.database.url().expose_secret(),
            )
            .env("CLINICGATE_MASTER_KEY", &self.master_key)
            .env("CLINICGATE_HTTP__WORKERS", "2")
            // The load signs clinics up from one address.
            .env("CLINICGATE_SIGNUP__MAX_PER_IP_PER_HOUR", "10000")
            // Errors only: a 5xx's cause shows up next to the failed assertion.
            .env("RUST_LOG", "error")
            .stdout(Stdio::null());
        if let Some((url, prefix)) = &self.redis {
            command
                .env("CLINICGATE_REDIS_URL", url.expose_secret())
                .env("CLINICGATE_REDIS__KEY_PREFIX", prefix);
        }
        let mut server = Running(command.spawn().unwrap());
        let http = test_client();
        let started = Instant::now();
        loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                panic!("the instance on port {port} exited before it was ready: {status}");
            }
            let ready = http
                .get(format!("http://localhost:{port}/readyz"))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(
                started.elapsed() < START_BOUND,
                "the instance on port {port} was not ready within {START_BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Instance {
            server,
            port,
            _data_dir: data_dir,
        }
    }
}

impl Instance {
    /// The root host through this instance.
    fn root(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// A clinic's host through this instance.
    fn clinic(&self, subdomain: &str) -> String {
        format!("http://{subdomain}.localhost:{}", self.port)
    }

    /// A request on a clinic's host as its pages send it (same `Origin`, the session cookie).
    fn on(
        &self,
        http: &reqwest::Client,
        method: Method,
        subdomain: &str,
        path: &str,
        cookie: &str,
    ) -> reqwest::RequestBuilder {
        let origin = self.clinic(subdomain);
        http.request(method, format!("{origin}{path}"))
            .header("origin", origin)
            .header("cookie", cookie)
    }

    /// Logs the owner of `subdomain` in through this instance.
    fn log_in(&self, http: &reqwest::Client, subdomain: &str) -> reqwest::RequestBuilder {
        let origin = self.clinic(subdomain);
        http.post(format!("{origin}/api/session"))
            .header("origin", origin)
            .json(&json!({"email": owner_of(subdomain), "password": PASSWORD}))
    }

    /// Asks this instance for a token for `client`.
    fn token(&self, http: &reqwest::Client, client: &(String, String)) -> reqwest::RequestBuilder {
        http.post(format!("{}/api/auth/token", self.root()))
            .basic_auth(&client.0, Some(&client.1))
            .form(&[("grant_type", "client_credentials")])
    }
}

fn owner_of(subdomain: &str) -> String {
    format!("owner@{subdomain}.example.com")
}

/// Signs `subdomain` up through the root host `root`.
fn sign_up(http: &reqwest::Client, root: &str, subdomain: &str) -> reqwest::RequestBuilder {
    http.post(format!("{root}/api/signup")).json(&json!({
        "clinic_name": format!("Clinic {subdomain}"),
        "subdomain": subdomain,
        "email": owner_of(subdomain),
        "password": PASSWORD,
    }))
}

/// Sends `request` and returns the status and JSON body; panics unless it is `expected`.
async fn expect(
    request: reqwest::RequestBuilder,
    expected: u16,
) -> (reqwest::header::HeaderMap, Value) {
    let response = request.timeout(REQUEST_BOUND).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    assert_eq!(status, expected, "{body}");
    (headers, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The session cookie of a successful login.
async fn session(request: reqwest::RequestBuilder) -> String {
    let (headers, _) = expect(request, 200).await;
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cg_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// A client's id and secret from a create or rotate answer.
fn credentials(body: &Value) -> (String, String) {
    (
        body["client_id"].as_str().unwrap().to_owned(),
        body["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// What one load request did.
#[derive(Debug, Clone)]
enum Op {
    /// `GET /api/public/me` with the token.
    Me,
    /// `POST /api/signup` of this subdomain (a clinic and its owner, one transaction).
    SignUp(String),
    /// `POST /api/tenant/clients` (a client row and its secret's hash).
    NewClient,
}

impl Op {
    fn success(&self) -> u16 {
        match self {
            Self::Me => 200,
            Self::SignUp(_) | Self::NewClient => 201,
        }
    }
}

/// One request of the load and how it ended.
#[derive(Debug)]
struct Outcome {
    op: Op,
    sent: Instant,
    took: Duration,
    /// The status and body, or the transport error (nothing came back).
    answer: Result<(u16, String), reqwest::Error>,
}

/// What a load caller needs to reach one instance.
#[derive(Clone)]
struct Caller {
    http: reqwest::Client,
    root: String,
    origin: String,
    cookie: String,
    token: String,
    /// Which instance and caller this is, so that sign-ups never collide.
    name: String,
}

impl Caller {
    /// Sends requests until `until` (at most [`MAX_REQUESTS`]); stops at the first one that gets
    /// no answer, as a load balancer takes a dead instance out.
    async fn drive(self, until: Instant) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for n in 0..MAX_REQUESTS {
            if Instant::now() >= until {
                break;
            }
            let (op, request) = match n % 8 {
                3 => {
                    let subdomain = format!("load-{}-{n}", self.name);
                    let request = sign_up(&self.http, &self.root, &subdomain);
                    (Op::SignUp(subdomain), request)
                }
                7 => (
                    Op::NewClient,
                    self.http
                        .post(format!("{}/api/tenant/clients", self.origin))
                        .header("origin", &self.origin)
                        .header("cookie", &self.cookie)
                        .json(&json!({"name": format!("Partner {}", self.name), "scopes": ["doctors:read"]})),
                ),
                _ => (
                    Op::Me,
                    self.http
                        .get(format!("{}/api/public/me", self.root))
                        .bearer_auth(&self.token),
                ),
            };
            let sent = Instant::now();
            let answer = match request.timeout(REQUEST_BOUND).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    response.text().await.map(|body| (status, body))
                }
                Err(e) => Err(e),
            };
            let failed = answer.is_err();
            outcomes.push(Outcome {
                op,
                sent,
                took: sent.elapsed(),
                answer,
            });
            if failed {
                break;
            }
        }
        outcomes
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_one_of_two_instances_is_killed_under_load_the_other_serves_and_nothing_is_half_written()
 {
    let deployment = Deployment::new().await;
    let boot = Instant::now();
    let survivor = deployment.start().await;
    let mut doomed = deployment.start().await;
    let boot = boot.elapsed();
    let http = test_client();

    // Set-up through HTTP: a clinic, its owner's session on each instance (sessions are per
    // process without Redis), an API client without a practical rate limit, and a token.
    expect(sign_up(&http, &survivor.root(), "harbour"), 201).await;
    let cookies = [
        session(survivor.log_in(&http, "harbour")).await,
        session(doomed.log_in(&http, "harbour")).await,
    ];
    let (_, created) = expect(
        survivor
            .on(&http, Method::POST, "harbour", "/api/tenant/clients", &cookies[0])
            .json(&json!({"name": "Partner", "scopes": ["doctors:read"], "rate_limit_per_minute": 1_000_000})),
        201,
    )
    .await;
    let (_, grant) = expect(survivor.token(&http, &credentials(&created)), 200).await;
    let token = grant["access_token"].as_str().unwrap().to_owned();

    let start = Instant::now();
    let until = start + LOAD_FOR;
    let mut load = tokio::task::JoinSet::new();
    for (index, (instance, cookie)) in [&survivor, &doomed].into_iter().zip(&cookies).enumerate() {
        for caller in 0..CALLERS {
            let caller = Caller {
                http: test_client(),
                root: instance.root(),
                origin: instance.clinic("harbour"),
                cookie: cookie.clone(),
                token: token.clone(),
                name: format!("{index}{caller}"),
            };
            load.spawn(async move { (index, caller.drive(until).await) });
        }
    }
    tokio::time::sleep_until((start + KILL_AFTER).into()).await;
    let killed_at = Instant::now();
    doomed.server.0.kill().unwrap();
    doomed.server.0.wait().unwrap();
    let mut outcomes: [Vec<Outcome>; 2] = Default::default();
    while let Some(finished) = load.join_next().await {
        let (index, done) = finished.unwrap();
        outcomes[index].extend(done);
    }

    // The survivor answered everything, during and after the kill, as it would have without it.
    for outcome in &outcomes[0] {
        match &outcome.answer {
            Ok((status, body)) => assert_eq!(
                *status,
                outcome.op.success(),
                "the surviving instance answered {:?} with {status}: {body}",
                outcome.op
            ),
            Err(e) => panic!(
                "the surviving instance did not answer {:?}: {e}",
                outcome.op
            ),
        }
    }
    let after_kill: Vec<&Outcome> = outcomes[0].iter().filter(|o| o.sent >= killed_at).collect();
    assert!(
        after_kill.len() >= CALLERS,
        "the survivor must have been under load after the kill: {} requests",
        after_kill.len()
    );
    // The killed instance answered correctly while it lived; afterwards nothing came back at all
    // (no 5xx, no hang): its requests failed as connection errors.
    let mut dropped = 0;
    for outcome in &outcomes[1] {
        match &outcome.answer {
            Ok((status, body)) => assert_eq!(
                *status,
                outcome.op.success(),
                "the instance being killed answered {:?} with {status}: {body}",
                outcome.op
            ),
            Err(e) => {
                assert!(
                    !e.is_timeout() && outcome.sent + outcome.took >= killed_at,
                    "a request to the instance being killed failed otherwise than by the kill: {e}"
                );
                dropped += 1;
            }
        }
    }
    let served_by_doomed = outcomes[1].len() - dropped;
    assert!(
        served_by_doomed > 0 && dropped > 0,
        "the second instance must have served load and then been killed under it \
         ({served_by_doomed} served, {dropped} dropped)"
    );

    // Nothing is half-written: every clinic either instance may have created (acknowledged or
    // cut off by the kill) is either absent or whole, i.e. its owner can log in; every
    // acknowledged one exists.
    let mut clinics = (0, 0);
    let mut acknowledged_clients = Vec::new();
    for outcome in outcomes.iter().flatten() {
        let acknowledged = match &outcome.answer {
            Ok((status, body)) if *status == outcome.op.success() => Some(body),
            _ => None,
        };
        match (&outcome.op, acknowledged) {
            (Op::SignUp(subdomain), acknowledged) => {
                let acknowledged = acknowledged.is_some();
                let page = http
                    .get(format!("{}/login", survivor.clinic(subdomain)))
                    .timeout(REQUEST_BOUND)
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert!(
                    page == 200 || (page == 404 && !acknowledged),
                    "clinic {subdomain} (acknowledged: {acknowledged}): login page {page}"
                );
                if page == 200 {
                    session(survivor.log_in(&http, subdomain)).await;
                    clinics.0 += 1;
                    clinics.1 += usize::from(!acknowledged);
                }
            }
            (Op::NewClient, Some(body)) => {
                acknowledged_clients.push(credentials(&serde_json::from_str(body).unwrap()));
            }
            (Op::NewClient | Op::Me, _) => {}
        }
    }
    // Every client listed can get a token: with the secret its creator was given, or, for one
    // whose answer the kill swallowed, with a secret rotated now.
    let (_, listed) = expect(
        survivor.on(
            &http,
            Method::GET,
            "harbour",
            "/api/tenant/clients",
            &cookies[0],
        ),
        200,
    )
    .await;
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    for (id, _) in &acknowledged_clients {
        assert!(
            listed.contains(&id.as_str()),
            "acknowledged client {id} is missing"
        );
    }
    let mut unacknowledged = 0;
    for id in &listed {
        let known = acknowledged_clients.iter().find(|(known, _)| known == id);
        let client = match known {
            Some(client) => client.clone(),
            None if *id == credentials(&created).0 => credentials(&created),
            None => {
                unacknowledged += 1;
                let path = format!("/api/tenant/clients/{id}/rotate-secret");
                credentials(
                    &expect(
                        survivor.on(&http, Method::POST, "harbour", &path, &cookies[0]),
                        200,
                    )
                    .await
                    .1,
                )
            }
        };
        expect(survivor.token(&http, &client), 200).await;
    }

    let slowest = after_kill.iter().map(|o| o.took).max().unwrap_or_default();
    eprintln!(
        "sigkill of one of two instances: both ready {} ms after launch; load {} s, kill at {} ms; \
         survivor served {} requests ({} sent after the kill, slowest of those {} ms), 0 errors; \
         killed instance served {served_by_doomed}, {dropped} ended as connection errors; \
         {} clinics ({} of them not acknowledged) and {} clients ({unacknowledged} not \
         acknowledged) all whole",
        boot.as_millis(),
        LOAD_FOR.as_secs(),
        KILL_AFTER.as_millis(),
        outcomes[0].len(),
        after_kill.len(),
        slowest.as_millis(),
        clinics.0,
        clinics.1,
        listed.len(),
    );
}
