//! The Redis [`RevocationSet`], filled in generations so that its loss is detectable.
//!
//! Keys (all under the store's prefix):
//! - `revocations:generation` — the current generation's name, no expiry. Gone after a
//!   `FLUSHALL`, a restart without persistence or an eviction: checks then see `None` and read the
//!   database until a refill completes.
//! - `revocations:refill` — the generation a refill is filling, expiring after [`REFILL_LEASE`].
//! - `revoked:{generation}:{token id}` — one key per revoked token, living as long as the token
//!   could still be presented. An old generation's keys are never read again and leave with their
//!   TTL.
//!
//! Reads of the generation and of revoked keys are tracked: answered here until Redis reports that
//! the key changed (a flush reports every key), so a check costs no round trip in the common case.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::{Generation, RevocationSet};
use rand::Rng as _;
use redis::Script;

use super::{RedisStore, px, run};

/// How long a refill may take before another instance may start one.
const REFILL_LEASE: Duration = Duration::from_secs(60);

/// Writes a revocation into the current generation and into a refill under way.
///
/// KEYS[1] the generation key, KEYS[2] the refill key; ARGV[1] the revoked keys' prefix
/// (`{prefix}:revoked:`), ARGV[2] the token id, ARGV[3] the TTL (ms). The revoked keys are derived
/// from the keys' values, which is allowed on the single Redis ClinicGate uses (not a cluster).
/// Returns the generations written to.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local written = {}
local current = redis.call('GET', KEYS[1])
local refill = redis.call('GET', KEYS[2])
if current then
  redis.call('SET', ARGV[1] .. current .. ':' .. ARGV[2], '1', 'PX', ARGV[3])
  table.insert(written, current)
end
if refill and refill ~= current then
  redis.call('SET', ARGV[1] .. refill .. ':' .. ARGV[2], '1', 'PX', ARGV[3])
  table.insert(written, refill)
end
return written
",
    )
});

/// Adds entries to a refill, if it is still the one under way.
///
/// KEYS[1] the refill key; ARGV[1] the refill's generation, ARGV[2] the revoked keys' prefix, then
/// pairs of token id and TTL (ms). Returns 1, or 0 when the refill was lost.
static REFILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do
  redis.call('SET', ARGV[2] .. ARGV[1] .. ':' .. ARGV[i], '1', 'PX', ARGV[i + 1])
end
return 1
",
    )
});

/// Makes a refill current, if it is still the one under way.
///
/// KEYS[1] the generation key, KEYS[2] the refill key; ARGV[1] the refill's generation.
/// Returns 1, or 0 when the refill was lost.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
",
    )
});

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

    fn generation_key(&self) -> String {
        self.store.key("revocations:generation")
    }

    fn refill_key(&self) -> String {
        self.store.key("revocations:refill")
    }

    /// `{prefix}:revoked:`, to which `{generation}:{token id}` is appended.
    fn revoked_prefix(&self) -> String {
        self.store.key("revoked:")
    }

    fn revoked_key(&self, generation: &str, token_id: &str) -> String {
        format!("{}{generation}:{token_id}", self.revoked_prefix())
    }
}

/// A new generation's name: 96 random bits, hex.
fn new_generation() -> Generation {
    let bytes: [u8; 12] = rand::rng().random();
    Generation::new(hex::encode(bytes))
}

#[async_trait]
impl RevocationSet for RedisRevocationSet {
    async fn generation(&self) -> Result<Option<Generation>> {
        let raw = self.store.tracked.get(&self.generation_key()).await?;
        Ok(raw
            .and_then(|raw| String::from_utf8(raw).ok())
            .map(Generation::new))
    }

    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<()> {
        let mut connection = self.store.connection();
        let mut invocation = REVOKE.prepare_invoke();
        invocation
            .key(self.generation_key())
            .key(self.refill_key())
            .arg(self.revoked_prefix())
            .arg(token_id)
            .arg(px(ttl));
        let written: Vec<String> = run(
            "revocations.revoke",
            invocation.invoke_async(&mut connection),
        )
        .await?;
        for generation in &written {
            self.store
                .tracked
                .forget(&self.revoked_key(generation, token_id));
        }
        Ok(())
    }

    async fn is_revoked(&self, generation: &Generation, token_id: &str) -> Result<bool> {
        let key = self.revoked_key(generation.as_str(), token_id);
        Ok(self.store.tracked.get(&key).await?.is_some())
    }

    async fn begin_refill(&self) -> Result<Option<Generation>> {
        let mut connection = self.store.connection();
        let generation = new_generation();
        let command = redis::cmd("SET")
            .arg(self.refill_key())
            .arg(generation.as_str())
            .arg("NX")
            .arg("PX")
            .arg(px(REFILL_LEASE))
            .clone();
        // `SET NX` replies OK when it stored the value and nil when a refill is under way.
        let reply: redis::Value = run(
            "revocations.begin_refill",
            command.query_async(&mut connection),
        )
        .await?;
        Ok((!matches!(reply, redis::Value::Nil)).then_some(generation))
    }

    async fn refill(
        &self,
        generation: &Generation,
        entries: &[(String, Duration)],
    ) -> Result<bool> {
        let mut connection = self.store.connection();
        let mut invocation = REFILL.prepare_invoke();
        invocation
            .key(self.refill_key())
            .arg(generation.as_str())
            .arg(self.revoked_prefix());
        for (token_id, ttl) in entries {
            invocation.arg(token_id).arg(px(*ttl));
        }
        let kept: i64 = run(
            "revocations.refill",
            invocation.invoke_async(&mut connection),
        )
        .await?;
        Ok(kept == 1)
    }

    async fn complete_refill(&self, generation: &Generation) -> Result<bool> {
        let mut connection = self.store.connection();
        let mut invocation = COMPLETE.prepare_invoke();
        invocation
            .key(self.generation_key())
            .key(self.refill_key())
            .arg(generation.as_str());
        let completed: i64 = run(
            "revocations.complete_refill",
            invocation.invoke_async(&mut connection),
        )
        .await?;
        self.store.tracked.forget(&self.generation_key());
        Ok(completed == 1)
    }

    async fn invalidate(&self) -> Result<()> {
        self.store
            .delete_tracked("revocations.invalidate", &self.generation_key())
            .await
    }
}
