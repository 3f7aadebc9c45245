//! The shared-state ports of `clinicgate-core` (cache, rate limits, revocations, sessions),
//! implemented twice: over Redis, so that every instance behind a load balancer sees the same
//! state, and in-process, for a single instance with no Redis to run.
//!
//! [`build_shared_state`] is the one entry point; which backend it builds depends only on whether a
//! Redis URL is configured. Both backends are held to the same contract tests
//! (`tests/it/stores/`), so callers never need to know which one they got.
//!
//! This module knows nothing of HTTP or the database.

mod gcra;
mod memory;
mod redis;
mod window;

use std::fmt;
use std::time::Duration;

use clinicgate_core::Error;
use clinicgate_core::ports::SharedState;

pub use self::redis::{TrackedReadStats, tracking_connection_name};

/// The `dependency` every shared-store failure reports, so the api shows one stable name.
const DEPENDENCY: &str = "shared store";

/// How to build the shared-state stores.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Redis to share state through (`redis://[:password@]host:port/db`); `None` keeps every store
    /// in this process, which is only correct when a single instance runs.
    pub redis_url: Option<secrecy::SecretString>,
    /// Prepended as `"{key_prefix}:"` to every Redis key, so several deployments (or test runs) can
    /// share one Redis without seeing each other's keys. Ignored in-process.
    pub key_prefix: String,
}

/// The stores plus a probe for readiness checks.
#[derive(Debug, Clone)]
pub struct SharedStateHandle {
    /// The five stores, all over the same backend.
    pub state: SharedState,
    /// Reports which backend is in use and whether it answers.
    pub probe: StoreProbe,
}

/// Builds the shared-state stores: over Redis when `config.redis_url` is set (one connection
/// manager shared by all five stores), in-process otherwise.
///
/// # Errors
/// [`Error::Unavailable`] when Redis is configured but cannot be reached (or its URL cannot be
/// parsed); the URL itself is never logged or returned, as it may hold a password.
pub async fn build_shared_state(
    config: &StoreConfig,
) -> clinicgate_core::Result<SharedStateHandle> {
    match &config.redis_url {
        None => Ok(SharedStateHandle {
            state: memory::shared_state(),
            probe: StoreProbe {
                inner: ProbeInner::InProcess,
            },
        }),
        Some(url) => {
            let store = redis::RedisStore::connect(url, &config.key_prefix).await?;
            Ok(SharedStateHandle {
                state: redis::shared_state(&store),
                probe: StoreProbe {
                    inner: ProbeInner::Redis(store),
                },
            })
        }
    }
}

/// Tells readiness checks which backend holds the shared state and whether it answers.
#[derive(Debug, Clone)]
pub struct StoreProbe {
    inner: ProbeInner,
}

#[derive(Clone)]
enum ProbeInner {
    InProcess,
    Redis(redis::RedisStore),
}

impl fmt::Debug for ProbeInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InProcess => f.write_str("InProcess"),
            // RedisStore's own Debug shows the key prefix only, never the URL.
            Self::Redis(store) => f.debug_tuple("Redis").field(store).finish(),
        }
    }
}

impl StoreProbe {
    /// `"redis"` or `"in-process"`.
    pub fn backend(&self) -> &'static str {
        match self.inner {
            ProbeInner::InProcess => "in-process",
            ProbeInner::Redis(_) => "redis",
        }
    }

    /// How reads of hot keys (revocations, cached state) were answered so far: from this process
    /// or by Redis. `None` in-process, where every read is local.
    pub fn tracked_reads(&self) -> Option<TrackedReadStats> {
        match &self.inner {
            ProbeInner::InProcess => None,
            ProbeInner::Redis(store) => Some(store.tracked_stats()),
        }
    }

    /// Checks that the backend answers (a Redis `PING`; always fine in-process).
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis does not answer in time.
    pub async fn ping(&self) -> clinicgate_core::Result<()> {
        match &self.inner {
            ProbeInner::InProcess => Ok(()),
            ProbeInner::Redis(store) => store.ping().await,
        }
    }
}

/// The error every backend failure becomes: callers decide whether to fail open or closed.
fn unavailable() -> Error {
    Error::Unavailable {
        dependency: DEPENDENCY,
    }
}

/// A zero TTL means "as short as possible", never "forever" (Redis refuses `PX 0`, and a zero
/// expiry would read as no expiry in some caches).
fn at_least_1ms(ttl: Duration) -> Duration {
    ttl.max(Duration::from_millis(1))
}
