//! The Redis [`RevocationSet`]: one key per revoked token id, `{prefix}:revoked:{id}`, living as
//! long as the token could still be presented.

use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::RevocationSet;

use super::{RedisStore, px, run};

/// Redis-backed revocation set.
#[derive(Debug, Clone)]
pub(super) struct RedisRevocationSet {
    store: RedisStore,
}

impl RedisRevocationSet {
    /// Over `store`'s connection.
    pub(super) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn key(&self, token_id: &str) -> String {
        self.store.key(&format!("revoked:{token_id}"))
    }
}

#[async_trait]
impl RevocationSet for RedisRevocationSet {
    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<()> {
        let mut connection = self.store.connection();
        let command = redis::cmd("SET")
            .arg(self.key(token_id))
            .arg(1)
            .arg("PX")
            .arg(px(ttl))
            .clone();
        run("revocations.revoke", command.exec_async(&mut connection)).await
    }

    async fn is_revoked(&self, token_id: &str) -> Result<bool> {
        let mut connection = self.store.connection();
        let present: u64 = run(
            "revocations.is_revoked",
            redis::cmd("EXISTS")
                .arg(self.key(token_id))
                .query_async(&mut connection),
        )
        .await?;
        Ok(present > 0)
    }
}
