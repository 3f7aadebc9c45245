//! The `[events]` settings: how long events are kept and how this instance delivers them. Read
//! and validated with the rest of the configuration (`crate::config`).

use std::time::Duration;

use clinicgate_core::delivery::WorkerSettings;
use serde::Deserialize;

use super::ConfigProblem;

/// The longest retention accepted: a year of events is already more than recovery needs.
const MAX_RETENTION_DAYS: u64 = 365;

/// How much longer than the request timeout a claim must hold.
const LEASE_MARGIN_SECS: u64 = 5;

/// `[events]`.
#[derive(Debug, Clone, Deserialize)]
pub struct EventSettings {
    /// Days an event is kept for resends and recovery.
    pub retention_days: u64,
    /// Whether this instance delivers (false: it only publishes; another instance delivers).
    pub deliver: bool,
    /// Deliveries claimed per query.
    pub delivery_batch: u32,
    /// Deliveries in flight at once on this instance.
    pub delivery_concurrency: u32,
    /// Milliseconds between looks at the queue when nothing woke the worker.
    pub delivery_poll_ms: u64,
    /// Seconds a receiver may take to answer one message.
    pub delivery_timeout_secs: u64,
    /// Seconds a claimed delivery is held before another instance may take it over.
    pub delivery_lease_secs: u64,
    /// Seconds between sweeps that forget events past their retention.
    pub prune_interval_secs: u64,
}

impl EventSettings {
    /// The retention.
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_days * 24 * 3600)
    }

    /// The delivery worker's settings.
    pub fn worker(&self) -> WorkerSettings {
        WorkerSettings {
            lease: Duration::from_secs(self.delivery_lease_secs),
            batch: self.delivery_batch,
            concurrency: self.delivery_concurrency,
            poll: Duration::from_millis(self.delivery_poll_ms),
        }
    }

    /// The longest a receiver may take to answer.
    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_secs(self.delivery_timeout_secs)
    }

    /// The time between retention sweeps.
    pub fn prune_interval(&self) -> Duration {
        Duration::from_secs(self.prune_interval_secs)
    }

    /// What is wrong with these settings.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    key: format!("CLINICGATE_EVENTS__{key}"),
                    message: message.to_owned(),
                });
            }
        };
        check(
            (1..=MAX_RETENTION_DAYS).contains(&self.retention_days),
            "RETENTION_DAYS",
            "must be between 1 and 365",
        );
        check(
            self.delivery_batch >= 1,
            "DELIVERY_BATCH",
            "must be at least 1",
        );
        check(
            self.delivery_concurrency >= self.delivery_batch,
            "DELIVERY_CONCURRENCY",
            "must be at least delivery_batch",
        );
        check(
            (10..=60_000).contains(&self.delivery_poll_ms),
            "DELIVERY_POLL_MS",
            "must be between 10 and 60000",
        );
        check(
            (1..=60).contains(&self.delivery_timeout_secs),
            "DELIVERY_TIMEOUT_SECS",
            "must be between 1 and 60",
        );
        // A claim must outlast the slowest attempt with room to record it, or a slow attempt
        // would be taken over and sent twice.
        check(
            self.delivery_lease_secs >= self.delivery_timeout_secs + LEASE_MARGIN_SECS,
            "DELIVERY_LEASE_SECS",
            "must be at least delivery_timeout_secs + 5",
        );
        check(
            self.prune_interval_secs >= 1,
            "PRUNE_INTERVAL_SECS",
            "must be at least 1",
        );
        problems
    }
}
