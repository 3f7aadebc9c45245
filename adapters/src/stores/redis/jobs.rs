//! The Redis [`JobQueue`].
//!
//! Per queue: a hash `{prefix}:jobs:{queue}:data` (id → payload JSON), a hash
//! `{prefix}:jobs:{queue}:attempts` (id → times handed out) and a sorted set
//! `{prefix}:jobs:{queue}:due` (id → due time, ms since the Unix epoch). Reserving re-scores the
//! job to the end of its lease instead of removing it, so a job whose worker dies is handed out
//! again (at-least-once). Equal due times go to the older id, as UUIDv7 strings sort by creation.
//!
//! The attempt count lives apart from the payload so that Lua never decodes and re-encodes the
//! payload: cjson would turn `[]` into `{}` and round large integers.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::ports::{Job, JobId, JobQueue};
use clinicgate_core::{Error, Result};
use redis::Script;

use super::{RedisStore, run};

/// Adds a job. KEYS data, attempts, due; ARGV[1] id, ARGV[2] payload JSON, ARGV[3] due time (ms)
/// or "" for now on Redis's clock.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local due = ARGV[3]
if due == '' then
  local t = redis.call('TIME')
  due = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], due, ARGV[1])
return 1
",
    )
});

/// Leases the earliest due job. KEYS data, attempts, due; ARGV[1] the lease (ms).
/// Returns `{id, payload JSON, attempt}` or nil.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = string.format('%d', now + tonumber(ARGV[1]))
while true do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('%d', now), 'LIMIT', 0, 1)
  if #ids == 0 then return false end
  local id = ids[1]
  local payload = redis.call('HGET', KEYS[1], id)
  if payload then
    local attempt = redis.call('HINCRBY', KEYS[2], id, 1)
    redis.call('ZADD', KEYS[3], until_ms, id)
    return {id, payload, attempt}
  end
  -- A due id without a payload cannot run: drop it rather than hand out an empty job.
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[2], id)
end
",
    )
});

/// Redis-backed job queue.
#[derive(Debug, Clone)]
pub(super) struct RedisJobQueue {
    store: RedisStore,
}

/// The three keys of one queue, in the order the scripts take them.
struct QueueKeys {
    data: String,
    attempts: String,
    due: String,
}

impl RedisJobQueue {
    /// Over `store`'s connection.
    pub(super) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    fn keys(&self, queue: &str) -> QueueKeys {
        QueueKeys {
            data: self.store.key(&format!("jobs:{queue}:data")),
            attempts: self.store.key(&format!("jobs:{queue}:attempts")),
            due: self.store.key(&format!("jobs:{queue}:due")),
        }
    }
}

#[async_trait]
impl JobQueue for RedisJobQueue {
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<JobId> {
        let id = uuid::Uuid::now_v7().to_string();
        let json = serde_json::to_string(payload).map_err(Error::internal)?;
        let due = run_at
            .map(|at| at.timestamp_millis().to_string())
            .unwrap_or_default();
        let keys = self.keys(queue);
        let mut connection = self.store.connection();
        let mut invocation = ENQUEUE.prepare_invoke();
        invocation
            .key(keys.data)
            .key(keys.attempts)
            .key(keys.due)
            .arg(&id)
            .arg(json)
            .arg(due);
        let _added: u8 = run("jobs.enqueue", invocation.invoke_async(&mut connection)).await?;
        Ok(JobId(id))
    }

    async fn reserve(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        let keys = self.keys(queue);
        let lease_ms = u64::try_from(lease.as_millis())
            .unwrap_or(u64::MAX)
            .min(super::MAX_PX);
        let mut connection = self.store.connection();
        let mut invocation = RESERVE.prepare_invoke();
        invocation
            .key(keys.data)
            .key(keys.attempts)
            .key(keys.due)
            .arg(lease_ms);
        let reserved: Option<(String, String, u32)> =
            run("jobs.reserve", invocation.invoke_async(&mut connection)).await?;
        let Some((id, json, attempt)) = reserved else {
            return Ok(None);
        };
        let payload = serde_json::from_str(&json).map_err(Error::internal)?;
        Ok(Some(Job {
            id: JobId(id),
            queue: queue.to_owned(),
            payload,
            attempt,
        }))
    }

    async fn complete(&self, job: &Job) -> Result<()> {
        let keys = self.keys(&job.queue);
        let id = &job.id.0;
        let mut connection = self.store.connection();
        let pipeline = redis::pipe()
            .atomic()
            .cmd("HDEL")
            .arg(keys.data)
            .arg(id)
            .cmd("HDEL")
            .arg(keys.attempts)
            .arg(id)
            .cmd("ZREM")
            .arg(keys.due)
            .arg(id)
            .clone();
        run("jobs.complete", pipeline.exec_async(&mut connection)).await
    }

    async fn retry(&self, job: &Job, run_at: DateTime<Utc>) -> Result<()> {
        let keys = self.keys(&job.queue);
        let mut connection = self.store.connection();
        // XX: a job completed meanwhile (by a worker that outlived its lease) stays completed.
        let command = redis::cmd("ZADD")
            .arg(keys.due)
            .arg("XX")
            .arg(run_at.timestamp_millis())
            .arg(&job.id.0)
            .clone();
        run("jobs.retry", command.exec_async(&mut connection)).await
    }

    async fn len(&self, queue: &str) -> Result<u64> {
        let mut connection = self.store.connection();
        run(
            "jobs.len",
            redis::cmd("ZCARD")
                .arg(self.keys(queue).due)
                .query_async(&mut connection),
        )
        .await
    }
}
