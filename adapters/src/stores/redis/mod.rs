//! Redis implementations of the shared-state ports, for any number of ClinicGate instances.
//!
//! All four stores share one [`ConnectionManager`] (a multiplexed connection that reconnects by
//! itself) and prefix every key with `"{key_prefix}:"`. Cache reads and revocation checks go through [`tracked`] reads, which
//! answer from this process until Redis reports a change. Each multi-step operation is one Lua script,
//! so it is atomic however many instances call it at once, and scripts read the clock with
//! `TIME`, so instances with drifting clocks still agree.
//!
//! Scripts touch only keys derived from their `KEYS` within the same prefix; ClinicGate runs
//! against a single Redis (not a cluster), where that is allowed.

mod cache;
mod rate_limit;
mod revocation;
mod sessions;
mod tracked;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use clinicgate_core::ports::SharedState;
use clinicgate_core::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

use super::unavailable;
pub use tracked::{TrackedReadStats, connection_name as tracking_connection_name};

/// How long one connection attempt, or one reply, may take before the call fails. Short, so a
/// dead Redis turns into a quick `Unavailable` rather than requests that hang.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The most any one call may take in total, reconnection attempts included.
const CALL_DEADLINE: Duration = Duration::from_secs(3);

/// The connection and key prefix every Redis store shares. Cheap to clone.
#[derive(Clone)]
pub(super) struct RedisStore {
    /// Reads of hot, rarely written keys, kept here until Redis says they changed.
    tracked: Arc<tracked::TrackedReads>,
    connection: ConnectionManager,
    prefix: Arc<str>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its client holds the URL, which may carry a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The four stores over one Redis connection.
pub(super) fn shared_state(store: &RedisStore) -> SharedState {
    SharedState {
        cache: Arc::new(cache::RedisCache::new(store.clone())),
        rate_limiter: Arc::new(rate_limit::RedisRateLimiter::new(store.clone())),
        revocations: Arc::new(revocation::RedisRevocationSet::new(store.clone())),
        sessions: Arc::new(sessions::RedisSessionStore::new(store.clone())),
    }
}

impl RedisStore {
    /// Connects to Redis and checks that it answers.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the URL does not parse or Redis cannot be reached in time.
    pub(super) async fn connect(url: &SecretString, key_prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url.expose_secret()).map_err(|err| {
            // The parse error may quote the URL; its kind is enough to fix the configuration.
            tracing::warn!(kind = ?err.kind(), "the configured Redis URL is not valid");
            unavailable()
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(IO_TIMEOUT))
            .set_response_timeout(Some(IO_TIMEOUT))
            // Few, quick reconnection attempts: callers waiting on a reconnect should fail within
            // CALL_DEADLINE, and the next call starts a fresh attempt anyway.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = run(
            "connect",
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await?;
        let tracked = tracked::TrackedReads::new(&client, key_prefix).map_err(|err| {
            tracing::warn!(kind = ?err.kind(), "the configured Redis URL is not valid");
            unavailable()
        })?;
        let store = Self {
            tracked: Arc::new(tracked),
            connection,
            prefix: Arc::from(key_prefix),
        };
        store.ping().await?;
        Ok(store)
    }

    /// `PING`s Redis.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis does not answer in time.
    pub(super) async fn ping(&self) -> Result<()> {
        let mut connection = self.connection.clone();
        let reply: String = run("ping", redis::cmd("PING").query_async(&mut connection)).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(Error::internal(format!("unexpected PING reply {reply:?}")))
        }
    }

    /// How tracked reads were answered so far.
    pub(super) fn tracked_stats(&self) -> TrackedReadStats {
        self.tracked.stats()
    }

    /// `"{prefix}:{name}"`.
    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// `DEL`s `key` (already prefixed) and forgets any tracked read of it, so this instance does
    /// not go on answering from its copy of what it just removed.
    async fn delete_tracked(&self, op: &'static str, key: &str) -> Result<()> {
        let mut connection = self.connection();
        run(op, redis::cmd("DEL").arg(key).exec_async(&mut connection)).await?;
        self.tracked.forget(key);
        Ok(())
    }

    /// A handle to the shared multiplexed connection for one call. (Per-worker connections were
    /// tried and removed: once hot reads were tracked, no request on the hot path waits for
    /// Redis, and they made no measurable difference; see `docs/architecture.md`.)
    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// Awaits one Redis call within [`CALL_DEADLINE`] and maps its failure: a reply of an unexpected
/// shape is a bug here (`Internal`); anything else means Redis is not usable right now
/// (`Unavailable`), logged once with the operation's name (never keys' values).
async fn run<T>(op: &'static str, call: impl Future<Output = redis::RedisResult<T>>) -> Result<T> {
    match tokio::time::timeout(CALL_DEADLINE, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err))
            if matches!(
                err.kind(),
                redis::ErrorKind::UnexpectedReturnType | redis::ErrorKind::Parse
            ) =>
        {
            Err(Error::internal(err))
        }
        Ok(Err(err)) => {
            tracing::warn!(op, error = %err, "shared store (Redis) call failed");
            Err(unavailable())
        }
        Err(_elapsed) => {
            tracing::warn!(op, deadline = ?CALL_DEADLINE, "shared store (Redis) call timed out");
            Err(unavailable())
        }
    }
}

/// The longest expiry sent to Redis, ms (≈ 35,000 years): Redis refuses an expiry whose absolute
/// time overflows, and nothing here legitimately lives that long.
const MAX_PX: u64 = 1 << 50;

/// A duration as whole milliseconds for `PX`/`PEXPIRE`, rounded up and at least 1 (Redis refuses
/// 0, and rounding down could end an entry early).
fn px(ttl: Duration) -> u64 {
    let ms = ttl.as_micros().div_ceil(1000).max(1);
    u64::try_from(ms).unwrap_or(u64::MAX).min(MAX_PX)
}
