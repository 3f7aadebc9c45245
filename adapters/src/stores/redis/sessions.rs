//! The Redis [`SessionStore`].
//!
//! A session is a hash at `{prefix}:sess:{digest}` with fields `r` (the record as JSON), `x` (its
//! absolute expiry, ms since the Unix epoch) and `u` (the user id); its key expiry is the idle
//! timeout capped by `x`, so Redis itself ends it on whichever comes first. A set
//! `{prefix}:sess:user:{user_id}` lists the user's session keys, for ending them all at once; it
//! expires after the latest absolute expiry of its sessions.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::ids::UserId;
use clinicgate_core::ports::{SessionKey, SessionRecord, SessionStore};
use clinicgate_core::{Error, Result};
use redis::Script;

use super::{RedisStore, px, run};

/// Stores a session and indexes it under its user.
///
/// KEYS[1] the session, KEYS[2] the user's index; ARGV[1] the record JSON, ARGV[2] the absolute
/// expiry (ms), ARGV[3] the idle TTL (ms), ARGV[4] the user id. Returns 1 if stored, 0 if the
/// absolute expiry had already passed.
static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = tonumber(ARGV[2]) - now
local ttl = math.min(tonumber(ARGV[3]), left)
if ttl <= 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'r', ARGV[1], 'x', ARGV[2], 'u', ARGV[4])
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
-- Forget sessions that lapsed on their own, so the index stays the size of the live ones.
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', member) == 0 then redis.call('SREM', KEYS[2], member) end
end
redis.call('SADD', KEYS[2], KEYS[1])
if redis.call('PTTL', KEYS[2]) < left then
  redis.call('PEXPIRE', KEYS[2], string.format('%d', left))
end
return 1
",
    )
});

/// Reads a session and restarts its idle expiry (capped by its absolute expiry).
///
/// KEYS[1] the session; ARGV[1] the idle TTL (ms). Returns the record JSON, or nil.
static GET_AND_TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local fields = redis.call('HMGET', KEYS[1], 'r', 'x')
if not fields[1] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = math.min(tonumber(ARGV[1]), tonumber(fields[2]) - now)
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return fields[1]
",
    )
});

/// Ends one session and drops it from its user's index.
///
/// KEYS[1] the session; ARGV[1] the index key prefix (`{prefix}:sess:user:`).
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local user = redis.call('HGET', KEYS[1], 'u')
if user then redis.call('SREM', ARGV[1] .. user, KEYS[1]) end
return redis.call('DEL', KEYS[1])
",
    )
});

/// Ends every session in a user's index. KEYS[1] the index. Returns how many were still live
/// (`DEL` counts only keys that had not expired).
static REMOVE_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ended = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  ended = ended + redis.call('DEL', member)
end
redis.call('DEL', KEYS[1])
return ended
",
    )
});

/// Redis-backed session store.
#[derive(Debug, Clone)]
pub(super) struct RedisSessionStore {
    store: RedisStore,
}

impl RedisSessionStore {
    /// Over `store`'s connection.
    pub(super) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn session_key(&self, key: &SessionKey) -> String {
        self.store.key(&format!("sess:{}", key.as_str()))
    }

    fn index_prefix(&self) -> String {
        self.store.key("sess:user:")
    }

    fn index_key(&self, user_id: UserId) -> String {
        format!("{}{user_id}", self.index_prefix())
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn insert(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        idle_ttl: Duration,
    ) -> Result<()> {
        let json = serde_json::to_string(record).map_err(Error::internal)?;
        let mut connection = self.store.connection();
        let mut invocation = INSERT.prepare_invoke();
        invocation
            .key(self.session_key(key))
            .key(self.index_key(record.user_id))
            .arg(json)
            .arg(record.expires_at.timestamp_millis())
            .arg(px(idle_ttl))
            .arg(record.user_id.to_string());
        let _stored: u8 = run("sessions.insert", invocation.invoke_async(&mut connection)).await?;
        Ok(())
    }

    async fn get_and_touch(
        &self,
        key: &SessionKey,
        idle_ttl: Duration,
    ) -> Result<Option<SessionRecord>> {
        let mut connection = self.store.connection();
        let mut invocation = GET_AND_TOUCH.prepare_invoke();
        invocation.key(self.session_key(key)).arg(px(idle_ttl));
        let json: Option<String> = run(
            "sessions.get_and_touch",
            invocation.invoke_async(&mut connection),
        )
        .await?;
        json.map(|json| serde_json::from_str(&json).map_err(Error::internal))
            .transpose()
    }

    async fn remove(&self, key: &SessionKey) -> Result<()> {
        let mut connection = self.store.connection();
        let mut invocation = REMOVE.prepare_invoke();
        invocation
            .key(self.session_key(key))
            .arg(self.index_prefix());
        let _removed: u8 = run("sessions.remove", invocation.invoke_async(&mut connection)).await?;
        Ok(())
    }

    async fn remove_all_for_user(&self, user_id: UserId) -> Result<u64> {
        let mut connection = self.store.connection();
        let mut invocation = REMOVE_ALL.prepare_invoke();
        invocation.key(self.index_key(user_id));
        run(
            "sessions.remove_all_for_user",
            invocation.invoke_async(&mut connection),
        )
        .await
    }
}
