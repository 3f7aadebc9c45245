//! The Redis [`RateLimiter`]: a GCRA bucket at `{prefix}:rl:{key}` (the TAT in µs), a sliding
//! window at `{prefix}:rw:{key}` (a hash of sub-window index → units) and a fixed-window counter
//! at `{prefix}:ctr:{key}`, each updated by one Lua script.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::{Quota, RateDecision, RateLimiter};
use redis::Script;

use super::{RedisStore, px, run};
use crate::stores::gcra::{Evaluation, Gcra};
use crate::stores::window::SlidingWindow;

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

/// The allow-and-store step of the sliding window, atomically, on Redis's clock.
///
/// KEYS[1] the window; ARGV window, sub-window and hold (µs), limit, cost. Drops lapsed
/// sub-windows, grants when the counted units plus the cost stay within the limit, and adds the
/// cost to the sub-window holding `now + hold`. Returns `{now, {index, units, …}}` as seen
/// before the grant, so the caller computes the decision with the in-process arithmetic.
/// Indices are computed with `%` rather than `math.floor` of a quotient: exact on doubles.
static TAKE_IN_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local slot = tonumber(ARGV[2])
local hold = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local fields = redis.call('HGETALL', KEYS[1])
local seen = {}
local lapsed = {}
local used = 0
for i = 1, #fields, 2 do
  if (tonumber(fields[i]) + 1) * slot + window > now then
    used = used + tonumber(fields[i + 1])
    seen[#seen + 1] = fields[i]
    seen[#seen + 1] = fields[i + 1]
  else
    lapsed[#lapsed + 1] = fields[i]
  end
end
if #lapsed > 0 then redis.call('HDEL', KEYS[1], unpack(lapsed)) end
if cost > 0 and used + cost <= limit then
  local at = now + hold
  redis.call('HINCRBY', KEYS[1], string.format('%d', (at - at % slot) / slot), cost)
  local ttl_ms = math.ceil((hold + slot + window) / 1000) + 1
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl_ms))
end
return {string.format('%d', now), seen}
",
    )
});

/// Gives units back to a GCRA bucket, atomically, on Redis's clock: the TAT moves back by
/// `units × T`, and a bucket that would be more than full is deleted (full). The same step as
/// `Gcra::refunded`.
///
/// KEYS[1] the bucket; ARGV[1] `units × T` (µs). Returns 1 when the bucket held a TAT.
static REFUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = tonumber(redis.call('GET', KEYS[1]) or '-1')
if stored < 0 then return 0 end
local tat = stored - tonumber(ARGV[1])
if tat > now then
  local ttl_ms = math.ceil((tat - now) / 1000)
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', ttl_ms))
else
  redis.call('DEL', KEYS[1])
end
return 1
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

    fn window_key(&self, key: &str) -> String {
        self.store.key(&format!("rw:{key}"))
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

    async fn refund(&self, key: &str, quota: Quota, units: u32) -> Result<()> {
        let gcra = Gcra::new(quota, units, 0)?;
        let mut connection = self.store.connection();
        let mut invocation = REFUND.prepare_invoke();
        invocation
            .key(self.bucket_key(key))
            .arg(gcra.increment_us().to_string());
        run(
            "rate_limiter.refund",
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    async fn take_in_window(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        hold: Duration,
    ) -> Result<RateDecision> {
        let window = SlidingWindow::new(quota, cost, hold)?;
        let mut connection = self.store.connection();
        let mut invocation = TAKE_IN_WINDOW.prepare_invoke();
        invocation.key(self.window_key(key));
        for arg in window.script_args() {
            invocation.arg(arg);
        }
        let (now_us, seen): (i64, Vec<i64>) = run(
            "rate_limiter.take_in_window",
            invocation.invoke_async(&mut connection),
        )
        .await?;
        let stored: Vec<(i64, u64)> = seen
            .chunks_exact(2)
            .map(|pair| (pair[0], u64::try_from(pair[1]).unwrap_or(0)))
            .collect();
        Ok(window.evaluate(now_us, &stored).decision)
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
            .arg(self.window_key(key))
            .arg(self.counter_key(key))
            .clone();
        run("rate_limiter.reset", command.exec_async(&mut connection)).await
    }
}
