use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

/// One filling of a [`RevocationSet`]: the set is known to hold every revocation only within the
/// generation that a completed refill made current. Opaque; compared and used as part of keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Generation(String);

impl Generation {
    /// A generation named `name` (an identifier the store made: ASCII letters and digits).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// Its name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Ids of revoked tokens, remembered only as long as the token could still be presented.
///
/// A fast lookup in front of the database of record, which may lose its contents at any moment
/// (a Redis restarted without persistence, `FLUSHALL`, eviction). The loss must be *detectable*:
/// an empty set cannot be told from "nothing revoked". So the set is filled in generations. A
/// refill copies every unexpired revocation from the database into a new generation and then
/// makes it current; losing the store loses the current generation with everything else, and
/// [`generation`](Self::generation) answers `None` until the next refill completes. Callers read
/// the database meanwhile.
#[async_trait]
pub trait RevocationSet: Send + Sync + std::fmt::Debug {
    /// The current generation, or `None` when the set is not known to hold every revocation
    /// (never filled, lost, or [`invalidate`](Self::invalidate)d).
    async fn generation(&self) -> Result<Option<Generation>>;

    /// Marks `token_id` revoked for `ttl`, in the current generation and in a refill under way
    /// (which may have read the database before this revocation was written there). With
    /// neither, nothing is written: the next refill reads the database, where callers record the
    /// revocation first. Revoking twice is fine.
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<()>;

    /// Whether `token_id` is revoked in `generation`.
    async fn is_revoked(&self, generation: &Generation, token_id: &str) -> Result<bool>;

    /// Starts a refill under a new generation, or `None` when one is already under way (on any
    /// instance). A refill not completed within a minute is abandoned.
    async fn begin_refill(&self) -> Result<Option<Generation>>;

    /// Adds `(token id, ttl)` entries to the refill `generation`. `false` when that refill was
    /// lost (the store was emptied, or the refill abandoned): start again.
    async fn refill(&self, generation: &Generation, entries: &[(String, Duration)])
    -> Result<bool>;

    /// Makes the refill `generation` current. `false` when that refill was lost.
    async fn complete_refill(&self, generation: &Generation) -> Result<bool>;

    /// Forgets the current generation: every instance reads the database until a refill
    /// completes. Used when a revocation or a client change could not be written here.
    async fn invalidate(&self) -> Result<()>;
}
