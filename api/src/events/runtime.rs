//! The event engine's background work on this instance: the delivery worker, the retention sweep,
//! and the queue's gauges for `/metrics`. Each task stops when the shutdown token is cancelled;
//! the worker first finishes the attempts in flight so they are recorded rather than repeated.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use clinicgate_core::delivery::{DeliveryQueue, DeliveryWorker};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Events forgotten per statement of a retention sweep, so one sweep never holds a long lock.
const PRUNE_CHUNK: u64 = 1000;

/// How often the queue's gauges are refreshed.
const STATS_EVERY: Duration = Duration::from_secs(15);

/// Prometheus: deliveries pending across clinics.
const PENDING_GAUGE: &str = "delivery_queue_pending";
/// Prometheus: the age of the oldest pending delivery, in seconds (0 when none is pending).
const OLDEST_GAUGE: &str = "delivery_oldest_pending_age_seconds";

/// The running tasks.
#[derive(Debug)]
pub struct EventTasks {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl EventTasks {
    /// Waits for every task to stop (after the shutdown token was cancelled).
    pub async fn finish(self) {
        for (name, task) in self.tasks {
            if let Err(err) = task.await {
                tracing::warn!(task = name, error = %err, "event task ended abnormally");
            }
        }
    }
}

/// Starts the event engine's tasks: `worker` (when this instance delivers), the retention sweep
/// and the queue gauges.
pub fn spawn_event_tasks(
    state: &AppState,
    worker: Option<DeliveryWorker>,
    shutdown: &CancellationToken,
) -> EventTasks {
    let mut tasks = Vec::new();
    if let Some(worker) = worker {
        let wake = state.delivery_wake.clone();
        let stop = shutdown.clone();
        tasks.push((
            "delivery worker",
            tokio::spawn(async move { deliver(worker, wake, stop).await }),
        ));
    }
    tasks.push((
        "retention sweep",
        tokio::spawn(sweep(
            state.delivery_queue.clone(),
            state.settings.events.prune_interval(),
            shutdown.clone(),
        )),
    ));
    tasks.push((
        "queue gauges",
        tokio::spawn(gauges(state.delivery_queue.clone(), shutdown.clone())),
    ));
    EventTasks { tasks }
}

async fn deliver(worker: DeliveryWorker, wake: Arc<Notify>, stop: CancellationToken) {
    worker.run(&wake, stop.cancelled()).await;
}

/// Forgets events past their retention, a chunk at a time, every `every`.
async fn sweep(queue: Arc<dyn DeliveryQueue>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match queue.prune(Utc::now(), PRUNE_CHUNK).await {
                Ok(forgotten) if forgotten == PRUNE_CHUNK && !shutdown.is_cancelled() => {}
                Ok(forgotten) => {
                    if forgotten > 0 {
                        tracing::debug!(forgotten, "events past their retention forgotten");
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the retention sweep failed; trying again at the next one");
                    break;
                }
            }
        }
    }
}

/// Keeps the queue's depth and the age of its oldest pending delivery on `/metrics`.
async fn gauges(queue: Arc<dyn DeliveryQueue>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(STATS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match queue.stats().await {
            Ok(stats) => {
                #[allow(clippy::cast_precision_loss, reason = "a gauge is a float")]
                let pending = stats.pending as f64;
                let oldest = stats.oldest_pending.map_or(0.0, |at| {
                    (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
                });
                metrics::gauge!(PENDING_GAUGE).set(pending);
                metrics::gauge!(OLDEST_GAUGE).set(oldest);
            }
            Err(err) => {
                tracing::warn!(error = %err, "the delivery queue's depth could not be read")
            }
        }
    }
}
