//! Rate-limit state when Redis loses its data: the per-client window (with the leases the
//! public API takes from it) starts again from a fresh quota, never from "unlimited". These run
//! on a private `redis-server` started for the test on a free port — the shared Redis other
//! tests use is never flushed or restarted — and so need Debian's `redis-server` on the PATH.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clinicgate_adapters::stores::{StoreConfig, build_shared_state};
use clinicgate_core::Error;
use clinicgate_core::ports::{Quota, RateLimiter};
use clinicgate_core::tokens::LeasedLimiter;

/// 6 000 a minute: leases of 10 units (100 ms of the rate).
const QUOTA: Quota = Quota::per_minute(6_000);
const LEASE: usize = 10;
/// The most an instance holds: half a lease left when the top-up of a whole one lands.
const IN_HAND: usize = LEASE + LEASE / 2;

/// A `redis-server` of this test's own, without persistence, so a restart comes back empty.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Self::spawn(port);
        let redis = Self { port, child };
        redis.wait_until_up();
        redis
    }

    fn spawn(port: u16) -> Child {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)")
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection()
    }

    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut connection) = self.connection()
                && redis::cmd("PING").exec(&mut connection).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the private redis-server on port {} did not start",
            self.port
        );
    }

    /// `FLUSHALL` — on this private server only.
    fn flush_all(&self) {
        let mut connection = self.connection().unwrap();
        redis::cmd("FLUSHALL").exec(&mut connection).unwrap();
    }

    fn stop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }

    /// Starts it again on the same port: empty, as a Redis without persistence comes back.
    fn restart_empty(&mut self) {
        self.stop();
        self.child = Self::spawn(self.port);
        self.wait_until_up();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Leased limits over the private Redis, as an instance of the public API holds them.
async fn leased_limits(redis: &PrivateRedis) -> LeasedLimiter {
    let stores = build_shared_state(&StoreConfig {
        redis_url: Some(redis.url().into()),
        key_prefix: "cgtest:loss".to_owned(),
    })
    .await
    .unwrap();
    let limiter: Arc<dyn RateLimiter> = stores.state.rate_limiter;
    LeasedLimiter::new(limiter, true)
}

/// Requests one unit at a time until one is refused; how many were served. Gives up (and
/// fails) at three quotas' worth: that would be a limit gone.
async fn served_until_refused(limits: &LeasedLimiter) -> usize {
    let mut served = 0;
    while served < 3 * QUOTA.limit as usize {
        let decision = limits.acquire("api:client:loss", QUOTA).await.unwrap();
        if !decision.allowed {
            return served;
        }
        served += 1;
    }
    panic!(
        "{served} served without a refusal under a quota of {}",
        QUOTA.limit
    );
}

#[tokio::test]
async fn leases_over_redis_serve_one_quota_per_window_then_refuse() {
    let redis = PrivateRedis::start();
    let limits = leased_limits(&redis).await;
    let quota = QUOTA.limit as usize;
    let served = served_until_refused(&limits).await;
    assert!((quota - LEASE..=quota).contains(&served), "{served} served");
}

#[tokio::test]
async fn a_flushed_redis_starts_a_fresh_window_and_never_an_unlimited_one() {
    let redis = PrivateRedis::start();
    let limits = leased_limits(&redis).await;
    let quota = QUOTA.limit as usize;
    // Some of the quota used, and a lease in hand when Redis loses everything.
    for _ in 0..1_003 {
        let decision = limits.acquire("api:client:loss", QUOTA).await.unwrap();
        assert!(decision.allowed);
        tokio::task::yield_now().await;
    }

    redis.flush_all();
    let after = served_until_refused(&limits).await;
    assert!(
        after <= quota + IN_HAND,
        "{after} served after the flush: more than a fresh quota plus the units in hand"
    );
    assert!(after >= quota - LEASE, "the fresh quota is usable: {after}");
}

#[tokio::test]
async fn a_redis_restarted_empty_refuses_while_down_then_grants_one_fresh_quota() {
    let mut redis = PrivateRedis::start();
    let limits = leased_limits(&redis).await;
    let quota = QUOTA.limit as usize;
    served_until_refused(&limits).await;

    redis.stop();
    // Down, with no leased unit in hand: refused, not let through.
    let down = limits.acquire("api:client:loss", QUOTA).await;
    assert!(
        matches!(down, Err(Error::Unavailable { .. })),
        "while Redis is down: {down:?}"
    );

    redis.restart_empty();
    let deadline = Instant::now() + Duration::from_secs(10);
    while limits.acquire("api:client:loss", QUOTA).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "no recovery after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One unit went to the successful probe above.
    let after = served_until_refused(&limits).await + 1;
    assert!(
        (quota - LEASE..=quota + LEASE).contains(&after),
        "{after} served after the restart under a quota of {quota}"
    );
}
