//! The Redis [`RateLimiter`]: a GCRA bucket at `{prefix}:rl:{key}` (the TAT in µs) and a
//! fixed-window counter at `{prefix}:ctr:{key}`, each updated by one Lua script.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::{Quota, RateDecision, RateLimiter};
use redis::Script;

use super::{RedisStore, px, run};
use crate::stores::gcra::{Evaluation, Gcra};

/// The allow-and-store step of GCRA, atomically, on Redis's clock.
///
/// KEYS[1] the bucket; ARGV[1] `cost × T` (µs); ARGV[2] `reserve × T − tolerance` (µs).
/// Returns `{now, stored TAT or -1}` (µs, as strings) so the caller computes the full decision
/// with the same arithmetic as the in-process limiter. Numbers are written with `%d`: Lua would
/// otherwise print a 16-digit µs timestamp in exponent form and lose precision.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = tonumber(redis.call('GET', KEYS[1]) or '-1')
local tat = now
if stored > now then tat = stored end
local new_tat = tat + tonumber(ARGV[1])
if new_tat + tonumber(ARGV[2]) <= now and new_tat > now then
  local ttl_ms = math.ceil((new_tat - now) / 1000)
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ttl_ms))
end
return {string.format('%d', now), string.format('%d', stored)}
",
    )
});

/// Increments a fixed-window counter, starting the window on the first increment only.
///
/// KEYS[1] the counter; ARGV[1] the window (ms). Returns the new value.
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return value
",
    )
});

/// Redis-backed rate limiter.
#[derive(Debug, Clone)]
pub(super) struct RedisRateLimiter {
    store: RedisStore,
}

impl RedisRateLimiter {
    /// Over `store`'s connection.
    pub(super) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn bucket_key(&self, key: &str) -> String {
        self.store.key(&format!("rl:{key}"))
    }

    fn counter_key(&self, key: &str) -> String {
        self.store.key(&format!("ctr:{key}"))
    }

    /// Runs the allow-and-store step of `gcra` on `key`'s bucket and evaluates it with Redis's
    /// clock and the TAT the script saw.
    async fn evaluate(&self, key: &str, gcra: Gcra) -> Result<Evaluation> {
        let mut connection = self.store.connection();
        let mut invocation = ACQUIRE.prepare_invoke();
        invocation
            .key(self.bucket_key(key))
            .arg(gcra.increment_us().to_string())
            .arg(gcra.allow_offset_us().to_string());
        let (now_us, stored_us): (i64, i64) = run(
            "rate_limiter.acquire",
            invocation.invoke_async(&mut connection),
        )
        .await?;
        let stored = (stored_us >= 0).then_some(stored_us);
        Ok(gcra.evaluate(now_us, stored))
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        reserve: u32,
    ) -> Result<RateDecision> {
        Ok(self
            .evaluate(key, Gcra::new(quota, cost, reserve)?)
            .await?
            .decision)
    }

    async fn book(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        reserve: u32,
        max_wait: Duration,
    ) -> Result<Option<Duration>> {
        let evaluation = self
            .evaluate(key, Gcra::booking(quota, cost, reserve, max_wait)?)
            .await?;
        Ok(evaluation.decision.allowed.then_some(evaluation.wait))
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<u64> {
        let mut connection = self.store.connection();
        let mut invocation = INCREMENT.prepare_invoke();
        invocation.key(self.counter_key(key)).arg(px(window));
        run(
            "rate_limiter.increment",
            invocation.invoke_async(&mut connection),
        )
        .await
    }

    async fn count(&self, key: &str) -> Result<u64> {
        let mut connection = self.store.connection();
        let value: Option<u64> = run(
            "rate_limiter.count",
            redis::cmd("GET")
                .arg(self.counter_key(key))
                .query_async(&mut connection),
        )
        .await?;
        Ok(value.unwrap_or(0))
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let mut connection = self.store.connection();
        let command = redis::cmd("DEL")
            .arg(self.bucket_key(key))
            .arg(self.counter_key(key))
            .clone();
        run("rate_limiter.reset", command.exec_async(&mut connection)).await
    }
}
