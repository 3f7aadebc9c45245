//! The Redis [`RevocationSet`]: one key per revoked token id, `{prefix}:revoked:{id}`, living as
//! long as the token could still be presented. Checks are tracked reads: answered here until Redis
//! reports that the key was written.

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
        let key = self.key(token_id);
        let command = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(px(ttl))
            .clone();
        run("revocations.revoke", command.exec_async(&mut connection)).await?;
        self.store.tracked.forget(&key);
        Ok(())
    }

    async fn is_revoked(&self, token_id: &str) -> Result<bool> {
        Ok(self.store.tracked.get(&self.key(token_id)).await?.is_some())
    }
}
