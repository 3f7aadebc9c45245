//! The in-process [`Cache`]: a moka cache bounded by bytes, each entry with its own TTL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::Cache;

use super::{Timed, TimedExpiry};
use crate::stores::at_least_1ms;

/// Upper bound on the cached bytes (keys + values). The cache holds reference data that can be
/// fetched again, so evicting under pressure is better than growing without bound.
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// In-process byte cache.
#[derive(Clone)]
pub(super) struct MemoryCache {
    entries: moka::future::Cache<String, Timed<Arc<[u8]>>>,
    /// Serialises `set_if_absent`. moka's `entry().or_insert()` coalesces concurrent inserts of
    /// an absent key only on a best-effort basis (two winners were seen under load), and this is
    /// the primitive behind locks such as the booking guard, so it must be exact.
    insert_if_absent: Arc<tokio::sync::Mutex<()>>,
}

opaque_debug!(MemoryCache);

impl MemoryCache {
    /// An empty cache.
    pub(super) fn new() -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(MAX_BYTES)
            .weigher(|key: &String, entry: &Timed<Arc<[u8]>>| {
                u32::try_from(key.len().saturating_add(entry.value.len())).unwrap_or(u32::MAX)
            })
            .expire_after(TimedExpiry)
            .build();
        Self {
            entries,
            insert_if_absent: Arc::new(tokio::sync::Mutex::new(())),
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .entries
            .get(key)
            .await
            .map(|entry| entry.value.to_vec()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let entry = Timed {
            value: Arc::from(value),
            ttl: at_least_1ms(ttl),
        };
        self.entries.insert(key.to_owned(), entry).await;
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let entry = Timed {
            value: Arc::from(value),
            ttl: at_least_1ms(ttl),
        };
        let _exclusive = self.insert_if_absent.lock().await;
        if self.entries.contains_key(key) {
            return Ok(false);
        }
        self.entries.insert(key.to_owned(), entry).await;
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.entries.invalidate(key).await;
        Ok(())
    }
}
