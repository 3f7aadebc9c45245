use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// A byte cache with a time-to-live per entry, shared by every instance.
///
/// Keys are namespaced by the implementation (a key prefix in Redis); callers namespace further by
/// tenant, e.g. `cliniko:{tenant}:practitioners`. Patient data never goes in here.
#[async_trait]
pub trait Cache: Send + Sync + std::fmt::Debug {
    /// The value, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` for `ttl` (a zero `ttl` is treated as one millisecond), replacing any value.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()>;
    /// Stores `value` for `ttl` only when `key` is absent; returns whether it was stored.
    /// Used as a short lock (single-flight, booking guard).
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool>;
    /// Removes `key` (absent keys are fine).
    async fn delete(&self, key: &str) -> Result<()>;
}
