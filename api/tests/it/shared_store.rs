//! Redis is a cache and a coordinator, never the only copy of a revocation, a deletion or a
//! suspension: what the token door does when Redis loses its data, restarts empty, cannot be
//! reached, or stops answering — on two instances, with recovery times measured and printed.
//!
//! These tests need a Redis of their own (they flush, pause and restart it): a private
//! `redis-server` on a free port. CI installs it; elsewhere, a machine without it says the tests
//! did not run.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clinicgate_core::clinics::ClinicStatus;
use figment::providers::Serialized;
use reqwest::Method;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

use crate::common::{TestApp, spawn_app_with};
use crate::tokens::{Client, clinic, create_client, get_with, revoke, token, validate};

/// A private `redis-server` on a free port, stopped when dropped.
pub struct PrivateRedis {
    child: Child,
    port: u16,
    url: String,
}

impl PrivateRedis {
    /// Starts one, or `None` when `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Self::spawn(port).await?;
        Some(Self {
            child,
            port,
            url: format!("redis://127.0.0.1:{port}"),
        })
    }

    /// Starts one, or says why the calling test does not run and returns `None`.
    pub async fn start_or_explain(test: &str) -> Option<Self> {
        let started = Self::start().await;
        if started.is_none() {
            eprintln!(
                "{test} NOT run: it needs a private redis-server (apt-get install redis-server)"
            );
        }
        started
    }

    async fn spawn(port: u16) -> Option<Child> {
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(child);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one command on it with `redis-cli` (installed with the server); its output.
    pub fn command(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(output.status.success(), "redis-cli {args:?} failed");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Kills it and starts an empty one on the same port (a restart without persistence).
    pub async fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.port)
            .await
            .expect("redis-server restarts on its port");
    }

    /// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the process: connections stay open and nothing
    /// answers, as with a Redis stuck on a slow disk.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.signal_quietly();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrivateRedis {
    /// Resumes a stopped process so that it can be killed (a failed test may leave it stopped).
    fn signal_quietly(&self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
    }
}

/// A TCP proxy in front of Redis that can be cut and restored, standing in for a network outage.
pub struct CuttableProxy {
    /// `127.0.0.1:{port}`.
    pub address: String,
    upstream: String,
    task: Mutex<tokio::task::JoinHandle<()>>,
}

impl CuttableProxy {
    /// A proxy to the Redis at `redis_url`, and the URL that goes through it.
    pub async fn in_front_of(redis_url: &str) -> (Self, String) {
        let redis = url::Url::parse(redis_url).unwrap();
        let upstream = format!(
            "{}:{}",
            redis.host_str().unwrap(),
            redis.port().unwrap_or(6379)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let task = Mutex::new(Self::serve(listener, upstream.clone()));
        let mut through = redis.clone();
        through.set_host(Some("127.0.0.1")).unwrap();
        through
            .set_port(Some(address.rsplit(':').next().unwrap().parse().unwrap()))
            .unwrap();
        (
            Self {
                address,
                upstream,
                task,
            },
            through.to_string(),
        )
    }

    fn serve(listener: TcpListener, upstream: String) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                pipes.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        let _ = outbound.shutdown().await;
                    }
                });
            }
        })
    }

    /// Stops listening and drops every open connection (the JoinSet aborts its pipes).
    pub fn cut(&self) {
        self.task.lock().unwrap().abort();
    }

    /// Listens again on the same address.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(&self.address).await.unwrap();
        *self.task.lock().unwrap() = Self::serve(listener, self.upstream.clone());
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Two instances of one deployment over the Redis at `redis_url`.
pub async fn two_instances(redis_url: &str) -> (TestApp, TestApp) {
    let url = redis_url.to_owned();
    let one = spawn_app_with(move |f| f.merge(Serialized::default("redis_url", url))).await;
    let two = one.spawn_sibling(|f| f).await;
    (one, two)
}

/// Tokens whose access was taken away in each way Redis caches — revoked, client deleted,
/// clinic suspended — and a valid token of a live client.
struct TakenAway {
    refused: Vec<String>,
    valid: String,
    valid_client: Client,
}

async fn tokens_taken_away(app: &TestApp) -> TakenAway {
    let harbour = clinic(app, "harbour").await;
    let valid_client = create_client(app, &harbour, &["doctors:read"], None).await;
    let revoked = token(app, &valid_client).await;
    let valid = token(app, &valid_client).await;
    let doomed = create_client(app, &harbour, &["doctors:read"], None).await;
    let deleted_client = token(app, &doomed).await;
    let ridge = clinic(app, "ridge").await;
    let suspended = create_client(app, &ridge, &["doctors:read"], None).await;
    let suspended_clinic = token(app, &suspended).await;

    for access_token in [&revoked, &deleted_client, &suspended_clinic, &valid] {
        assert_eq!(
            get_with(app, "/api/public/me", access_token).await.status(),
            200
        );
    }
    assert_eq!(revoke(app, &revoked, None).await.status(), 204);
    let deleted = app
        .on(
            Method::DELETE,
            harbour.sub(),
            &format!("/api/tenant/clients/{}", doomed.id),
            Some(&harbour.cookie),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    app.state
        .clinics
        .set_status(ridge.clinic.id.parse().unwrap(), ClinicStatus::Suspended)
        .await
        .unwrap();
    TakenAway {
        refused: vec![revoked, deleted_client, suspended_clinic],
        valid,
        valid_client,
    }
}

/// Asks both instances about every refused token, repeatedly for `period`: none is ever
/// accepted (neither by the public API nor by introspection). Returns how long it took until the
/// valid token was served again by both, if it was.
async fn none_accepted_for(
    instances: [&TestApp; 2],
    tokens: &TakenAway,
    period: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut recovered = None;
    while started.elapsed() < period {
        for app in instances {
            for access_token in &tokens.refused {
                let status = get_with(app, "/api/public/me", access_token)
                    .await
                    .status()
                    .as_u16();
                assert!(
                    matches!(status, 401 | 503),
                    "a token whose access was taken away got {status} after {:?}",
                    started.elapsed()
                );
                let (status, body) = validate(app, access_token).await;
                assert!(
                    matches!(status, 401 | 503) && body["active"] != true,
                    "introspection said {status} {body} after {:?}",
                    started.elapsed()
                );
            }
        }
        if recovered.is_none() {
            let mut served = true;
            for app in instances {
                served &= get_with(app, "/api/public/me", &tokens.valid)
                    .await
                    .status()
                    == 200;
            }
            if served {
                recovered = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    recovered
}

#[tokio::test]
async fn revoked_deleted_and_suspended_stay_refused_on_both_instances_after_redis_is_flushed() {
    let Some(redis) = PrivateRedis::start_or_explain("the Redis flush test").await else {
        return;
    };
    let (one, two) = two_instances(redis.url()).await;
    let tokens = tokens_taken_away(&one).await;

    assert_eq!(redis.command(&["FLUSHALL"]).trim(), "OK");
    let recovered = none_accepted_for([&one, &two], &tokens, Duration::from_secs(3)).await;
    let recovered = recovered.expect("the valid token is served again after the flush");
    eprintln!("after FLUSHALL: valid tokens served again on both instances after {recovered:?}");
    assert!(recovered < Duration::from_secs(2), "{recovered:?}");

    // The set was refilled from the database: a new generation exists again.
    let generation = redis.command(&["KEYS", "*revocations:generation"]);
    assert_eq!(generation.lines().count(), 1, "{generation}");
    let fresh = token(&two, &tokens.valid_client).await;
    assert_eq!(get_with(&one, "/api/public/me", &fresh).await.status(), 200);
}

#[tokio::test]
async fn a_redis_restarting_empty_under_traffic_lets_no_refused_token_through() {
    let Some(mut redis) = PrivateRedis::start_or_explain("the Redis restart test").await else {
        return;
    };
    let (one, two) = two_instances(redis.url()).await;
    let tokens = tokens_taken_away(&one).await;

    redis.restart_empty().await;
    let recovered = none_accepted_for([&one, &two], &tokens, Duration::from_secs(5)).await;
    let recovered = recovered.expect("the valid token is served again after the restart");
    eprintln!("after a restart without persistence: served again after {recovered:?}");
    assert!(recovered < Duration::from_secs(4), "{recovered:?}");
}

#[tokio::test]
async fn a_revoke_while_redis_is_unreachable_is_durable_and_refused_everywhere_once_it_is_back() {
    let Some(redis) = PrivateRedis::start_or_explain("the Redis outage revoke test").await else {
        return;
    };
    let (proxy, through) = CuttableProxy::in_front_of(redis.url()).await;
    let (one, two) = two_instances(&through).await;
    let harbour = clinic(&one, "harbour").await;
    let client = create_client(&one, &harbour, &["doctors:read"], None).await;
    let doomed = token(&one, &client).await;
    let valid = token(&one, &client).await;
    for app in [&one, &two] {
        assert_eq!(get_with(app, "/api/public/me", &doomed).await.status(), 200);
    }

    proxy.cut();
    // The revocation reaches the database: that is the record, so the answer is 204.
    assert_eq!(revoke(&one, &doomed, None).await.status(), 204);
    let started = Instant::now();
    let during = get_with(&two, "/api/public/me", &doomed).await;
    assert_eq!(
        during.status(),
        503,
        "fail closed while Redis is unreachable"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Redis comes back with the data it had, which never got the revocation.
    proxy.restore().await;
    let tokens = TakenAway {
        refused: vec![doomed],
        valid,
        valid_client: client,
    };
    let recovered = none_accepted_for([&one, &two], &tokens, Duration::from_secs(4)).await;
    let recovered = recovered.expect("the valid token is served again once Redis is back");
    eprintln!("after an outage with a revoke in it: served again after {recovered:?}");
}

#[tokio::test]
async fn a_paused_redis_fails_requests_closed_within_a_bound_and_service_resumes_after() {
    let Some(redis) = PrivateRedis::start_or_explain("the Redis pause test").await else {
        return;
    };
    let (one, _two) = two_instances(redis.url()).await;
    let harbour = clinic(&one, "harbour").await;
    let client = create_client(&one, &harbour, &["doctors:read"], None).await;
    let access_token = token(&one, &client).await;
    assert_eq!(
        get_with(&one, "/api/public/me", &access_token)
            .await
            .status(),
        200
    );

    redis.signal("-STOP");
    // What this instance mirrors from Redis is served for at most a second after Redis's last
    // answer (checks made then saw state at most that old); after that, nothing unchecked.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let status = get_with(&one, "/api/public/me", &access_token)
            .await
            .status();
        slowest = slowest.max(started.elapsed());
        assert_eq!(
            status, 503,
            "nothing is served unchecked while Redis is paused"
        );
    }
    eprintln!("with Redis paused: 503 within {slowest:?}");
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");

    redis.signal("-CONT");
    let resumed = Instant::now();
    loop {
        if get_with(&one, "/api/public/me", &access_token)
            .await
            .status()
            == 200
        {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(10), "never resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "after Redis resumed: served again after {:?}",
        resumed.elapsed()
    );
}
