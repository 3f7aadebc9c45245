//! Revoked tokens, durably. The database is the record; the shared [`RevocationSet`] in front of
//! it (with a TTL equal to each token's remaining lifetime) is what validation reads when Redis is
//! configured, so no request needs a database query.
//!
//! [`RevocationSet`]: crate::ports::RevocationSet

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::ClientId;
use crate::Result;
use crate::ids::TenantId;

/// One revoked token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// Its clinic.
    pub tenant_id: TenantId,
    /// Its client.
    pub client_id: ClientId,
    /// When it would have expired anyway (the row is useless afterwards).
    pub expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
}

/// Storage of revoked tokens.
#[async_trait]
pub trait RevocationRepository: Send + Sync + std::fmt::Debug {
    /// Records a revocation; recording the same `jti` again is fine.
    async fn insert(&self, revoked: &RevokedToken) -> Result<()>;
    /// Whether `jti` is revoked.
    async fn is_revoked(&self, jti: &str) -> Result<bool>;
    /// Revocations of tokens that have not expired by `now`.
    async fn unexpired(&self, now: DateTime<Utc>) -> Result<Vec<RevokedToken>>;
    /// Forgets revocations of tokens that expired before `before`; how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;
}
