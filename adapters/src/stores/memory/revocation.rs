//! The in-process [`RevocationSet`]: a moka set of token ids, each for its own TTL.

use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::RevocationSet;

use super::{Timed, TimedExpiry};
use crate::stores::at_least_1ms;

/// In-process revocation set.
#[derive(Clone)]
pub(super) struct MemoryRevocationSet {
    // Deliberately unbounded: evicting an entry early would silently un-revoke a token. Entries
    // are small and leave when their token would have expired anyway.
    revoked: moka::future::Cache<String, Timed<()>>,
}

opaque_debug!(MemoryRevocationSet);

impl MemoryRevocationSet {
    /// An empty set.
    pub(super) fn new() -> Self {
        Self {
            revoked: moka::future::Cache::builder()
                .expire_after(TimedExpiry)
                .build(),
        }
    }
}

#[async_trait]
impl RevocationSet for MemoryRevocationSet {
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<()> {
        self.revoked
            .insert(
                token_id.to_owned(),
                Timed {
                    value: (),
                    ttl: at_least_1ms(ttl),
                },
            )
            .await;
        Ok(())
    }

    async fn is_revoked(&self, token_id: &str) -> Result<bool> {
        Ok(self.revoked.get(token_id).await.is_some())
    }
}
