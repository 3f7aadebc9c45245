//! The in-process [`JobQueue`]: per queue, the jobs by id plus their ids ordered by due time.
//! Jobs are lost when the process ends; durable queues need the Redis store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::Result;
use clinicgate_core::ports::{Job, JobId, JobQueue};

use super::lock;

/// In-process job queue.
#[derive(Default)]
pub(super) struct MemoryJobQueue {
    queues: Mutex<HashMap<String, Queue>>,
}

opaque_debug!(MemoryJobQueue);

#[derive(Debug, Default)]
struct Queue {
    jobs: HashMap<String, Stored>,
    /// (due time in ms since the Unix epoch, id): the earliest due first; ties go to the older
    /// id, as UUIDv7 strings sort by creation time.
    due: BTreeSet<(i64, String)>,
}

#[derive(Debug)]
struct Stored {
    payload: serde_json::Value,
    attempt: u32,
    due_ms: i64,
}

impl Queue {
    fn reschedule(&mut self, id: &str, due_ms: i64) {
        if let Some(stored) = self.jobs.get_mut(id) {
            self.due.remove(&(stored.due_ms, id.to_owned()));
            stored.due_ms = due_ms;
            self.due.insert((due_ms, id.to_owned()));
        }
    }
}

impl MemoryJobQueue {
    /// No queues.
    pub(super) fn new() -> Self {
        Self::default()
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

#[async_trait]
impl JobQueue for MemoryJobQueue {
    async fn enqueue(
        &self,
        queue: &str,
        payload: &serde_json::Value,
        run_at: Option<DateTime<Utc>>,
    ) -> Result<JobId> {
        let id = uuid::Uuid::now_v7().to_string();
        let due_ms = millis(run_at.unwrap_or_else(Utc::now));
        let mut queues = lock(&self.queues);
        let entry = queues.entry(queue.to_owned()).or_default();
        entry.jobs.insert(
            id.clone(),
            Stored {
                payload: payload.clone(),
                attempt: 0,
                due_ms,
            },
        );
        entry.due.insert((due_ms, id.clone()));
        Ok(JobId(id))
    }

    async fn reserve(&self, queue: &str, lease: Duration) -> Result<Option<Job>> {
        let now_ms = millis(Utc::now());
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut queues = lock(&self.queues);
        let Some(entry) = queues.get_mut(queue) else {
            return Ok(None);
        };
        let Some((_, id)) = entry
            .due
            .first()
            .filter(|(due_ms, _)| *due_ms <= now_ms)
            .cloned()
        else {
            return Ok(None);
        };
        // Leased, not removed: if the worker never completes or retries it, it is due again when
        // the lease ends (at-least-once).
        entry.reschedule(&id, now_ms.saturating_add(lease_ms));
        let Some(stored) = entry.jobs.get_mut(&id) else {
            return Ok(None);
        };
        stored.attempt = stored.attempt.saturating_add(1);
        Ok(Some(Job {
            id: JobId(id),
            queue: queue.to_owned(),
            payload: stored.payload.clone(),
            attempt: stored.attempt,
        }))
    }

    async fn complete(&self, job: &Job) -> Result<()> {
        let mut queues = lock(&self.queues);
        if let Some(entry) = queues.get_mut(&job.queue)
            && let Some(stored) = entry.jobs.remove(&job.id.0)
        {
            entry.due.remove(&(stored.due_ms, job.id.0.clone()));
        }
        Ok(())
    }

    async fn retry(&self, job: &Job, run_at: DateTime<Utc>) -> Result<()> {
        if let Some(entry) = lock(&self.queues).get_mut(&job.queue) {
            entry.reschedule(&job.id.0, millis(run_at));
        }
        Ok(())
    }

    async fn len(&self, queue: &str) -> Result<u64> {
        let queues = lock(&self.queues);
        Ok(queues.get(queue).map_or(0, |entry| {
            u64::try_from(entry.jobs.len()).unwrap_or(u64::MAX)
        }))
    }
}
