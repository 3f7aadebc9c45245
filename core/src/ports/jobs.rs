use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;

/// A job's id, unique within its queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

/// A reserved job, handed to exactly one worker until its lease ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The queue it came from.
    pub queue: String,
    /// What the worker needs to do it (never PHI beyond ids).
    pub payload: serde_json::Value,
    /// How many times it has been handed out, this time included (1 on the first run).
    pub attempt: u32,
}

/// A durable-enough work queue shared by every instance, with at-least-once delivery: a reserved
/// job that is neither completed nor retried before its lease ends is handed out again.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Adds a job, due now or at `run_at`.
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<JobId>;
    /// Hands out the earliest due job of `queue` for `lease`, or `None` when nothing is due.
    async fn reserve(&self, queue: &str, lease: Duration) -> Result<Option<Job>>;
    /// Removes a finished job.
    async fn complete(&self, job: &Job) -> Result<()>;
    /// Puts a job back to run again at `run_at` (after a failure).
    async fn retry(&self, job: &Job, run_at: DateTime<Utc>) -> Result<()>;
    /// How many jobs are in `queue` (due, scheduled or leased).
    async fn len(&self, queue: &str) -> Result<u64>;
}
