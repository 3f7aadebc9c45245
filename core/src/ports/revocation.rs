use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// Ids of revoked tokens, remembered only as long as the token could still be presented.
///
/// This is a fast lookup in front of the database of record: a token is revoked for `ttl` (its
/// remaining lifetime), after which it is expired anyway.
#[async_trait]
pub trait RevocationSet: Send + Sync + std::fmt::Debug {
    /// Marks `token_id` revoked for `ttl`. Revoking twice is fine.
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<()>;
    /// Whether `token_id` is revoked.
    async fn is_revoked(&self, token_id: &str) -> Result<bool>;
}
