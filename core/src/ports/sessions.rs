use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::ids::{TenantId, UserId};

/// The storage key of a browser session: a digest of the secret cookie value, never the value
/// itself, so a dump of the store holds no usable session.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    /// Wraps an already-derived key (lowercase hex digest).
    pub fn from_digest(hex_digest: String) -> Self {
        Self(hex_digest)
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a prefix: enough to correlate in a debug log, useless to an attacker.
        write!(f, "SessionKey({}…)", self.0.get(..8).unwrap_or(""))
    }
}

/// What a browser session stands for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// The clinic whose host issued the session; it is refused on any other clinic's host.
    pub tenant_id: TenantId,
    /// The staff member logged in.
    pub user_id: UserId,
    /// When the user logged in.
    pub created_at: DateTime<Utc>,
    /// The absolute end of the session, however active it is.
    pub expires_at: DateTime<Utc>,
}

/// Server-side browser sessions, shared by every instance.
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores a session that lapses after `idle_ttl` without use (and never outlives `expires_at`).
    async fn insert(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        idle_ttl: Duration,
    ) -> Result<()>;
    /// The live session under `key`, its idle timer restarted; `None` if absent, idle-expired or
    /// past its absolute expiry.
    async fn get_and_touch(
        &self,
        key: &SessionKey,
        idle_ttl: Duration,
    ) -> Result<Option<SessionRecord>>;
    /// Ends one session (absent is fine).
    async fn remove(&self, key: &SessionKey) -> Result<()>;
    /// Ends every session of `user_id` (when the user is deactivated); returns how many ended.
    async fn remove_all_for_user(&self, user_id: UserId) -> Result<u64>;
}
