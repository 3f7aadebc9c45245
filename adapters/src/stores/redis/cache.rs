//! The Redis [`Cache`]: plain strings under `{prefix}:cache:{key}` with `PX` expiry. Reads are
//! tracked: answered here until Redis reports that the key changed.

use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::Cache;

use super::{RedisStore, px, run};

/// Redis-backed byte cache.
#[derive(Debug, Clone)]
pub(super) struct RedisCache {
    store: RedisStore,
}

impl RedisCache {
    /// Over `store`'s connection.
    pub(super) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn key(&self, key: &str) -> String {
        self.store.key(&format!("cache:{key}"))
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.store.tracked.get(&self.key(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let mut connection = self.store.connection();
        let key = self.key(key);
        let command = set_command(&key, value, None, ttl);
        run("cache.set", command.exec_async(&mut connection)).await?;
        self.store.tracked.forget(&key);
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool> {
        let mut connection = self.store.connection();
        let key = self.key(key);
        let command = set_command(&key, value, Some("NX"), ttl);
        // `SET NX` replies OK when it stored the value and nil when the key already existed.
        let reply: redis::Value =
            run("cache.set_if_absent", command.query_async(&mut connection)).await?;
        self.store.tracked.forget(&key);
        Ok(!matches!(reply, redis::Value::Nil))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.store
            .delete_tracked("cache.delete", &self.key(key))
            .await
    }
}

/// `SET key value [condition] PX ttl`: both writes go through it so that they expire alike.
fn set_command(key: &str, value: &[u8], condition: Option<&str>, ttl: Duration) -> redis::Cmd {
    let mut command = redis::cmd("SET");
    command.arg(key).arg(value);
    if let Some(condition) = condition {
        command.arg(condition);
    }
    command.arg("PX").arg(px(ttl));
    command
}
