//! Contract tests of the shared-state stores. Every test body runs against the backend the
//! environment selects: Redis when `CLINICGATE_TEST_REDIS_URL` is set (each test under a fresh
//! key prefix, its keys deleted afterwards), in-process otherwise. A Redis that was asked for but
//! cannot be reached fails the test; nothing is skipped.
//!
//! Timings use real time with margins of hundreds of milliseconds, so a loaded machine does not
//! turn a late wake-up into a failure.

mod cache;
mod rate_limit;
mod revocation;
mod sessions;
mod sharing;
mod tracked;

use clinicgate_adapters::stores::{SharedStateHandle, StoreConfig, build_shared_state};
use clinicgate_adapters::testing::TEST_REDIS_ENV as REDIS_ENV;

/// The Redis URL the environment asks for, if any.
pub fn redis_url() -> Option<String> {
    std::env::var(REDIS_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A key prefix no other test uses.
pub fn fresh_prefix() -> String {
    format!("cgtest:{}", uuid::Uuid::now_v7())
}

/// Stores on the selected backend, deleting their Redis keys when dropped.
pub struct TestStores {
    pub handle: SharedStateHandle,
    _cleanup: Option<Cleanup>,
}

impl std::ops::Deref for TestStores {
    type Target = clinicgate_core::ports::SharedState;

    fn deref(&self) -> &Self::Target {
        &self.handle.state
    }
}

/// Fresh, empty stores on the backend the environment selects.
pub async fn stores() -> TestStores {
    stores_with_prefix(&fresh_prefix()).await
}

/// Stores on the selected backend under `prefix` (which only Redis uses). Panics when Redis was
/// asked for and cannot be reached.
pub async fn stores_with_prefix(prefix: &str) -> TestStores {
    let url = redis_url();
    let config = StoreConfig {
        redis_url: url.clone().map(Into::into),
        key_prefix: prefix.to_owned(),
    };
    let handle = build_shared_state(&config).await.unwrap_or_else(|err| {
        panic!(
            "{REDIS_ENV} is set but Redis cannot be used ({err}); start Redis or unset {REDIS_ENV}"
        )
    });
    let expected = if url.is_some() { "redis" } else { "in-process" };
    assert_eq!(handle.probe.backend(), expected);
    TestStores {
        handle,
        _cleanup: url.map(|url| Cleanup {
            url,
            prefix: prefix.to_owned(),
        }),
    }
}

/// Deletes every key under a test's prefix, so test runs leave the shared Redis as they found it.
/// Synchronous, because `Drop` cannot await; it runs also when the test fails.
struct Cleanup {
    url: String,
    prefix: String,
}

impl TestStores {
    /// Deletes every key of these stores, as a Redis restarted without persistence (or a
    /// `FLUSHALL`) would, without touching other tests' keys. `false` on the in-process backend,
    /// which cannot lose its data without its process.
    pub fn lose_everything(&self) -> bool {
        self._cleanup.as_ref().is_some_and(|cleanup| {
            delete_prefix(&cleanup.url, &cleanup.prefix);
            true
        })
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        delete_prefix(&self.url, &self.prefix);
    }
}

/// Deletes every key under `prefix` in the Redis at `url`.
fn delete_prefix(url: &str, prefix: &str) {
    let Ok(mut connection) = redis::Client::open(url).and_then(|client| client.get_connection())
    else {
        return;
    };
    let pattern = format!("{prefix}:*");
    let mut cursor = 0_u64;
    loop {
        let Ok((next, keys)) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query::<(u64, Vec<String>)>(&mut connection)
        else {
            return;
        };
        if !keys.is_empty() && redis::cmd("DEL").arg(&keys).exec(&mut connection).is_err() {
            return;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}
