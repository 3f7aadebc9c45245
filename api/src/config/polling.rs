//! The `[polling]` settings: how this instance detects changes made directly in clinics'
//! Cliniko (the change detector). Read and validated with the rest of the configuration
//! (`crate::config`).

use std::time::Duration;

use clinicgate_core::polling::PollSettings;
use serde::Deserialize;

use super::ConfigProblem;

/// `[polling]`.
#[derive(Debug, Clone, Deserialize)]
pub struct PollingSettings {
    /// Whether this instance polls (any number may: one at a time polls each clinic).
    pub enabled: bool,
    /// Clinics polled at once by this instance.
    pub concurrency: u32,
    /// Seconds each read starts before the last `updated_at` read.
    pub overlap_secs: u64,
    /// Milliseconds to the next poll of a clinic where something changed.
    pub busy_interval_ms: u64,
    /// Seconds to the next poll of a quiet clinic.
    pub idle_interval_secs: u64,
    /// Seconds between reads of practitioners' working hours.
    pub hours_interval_secs: u64,
    /// The longest wait after failed polls, in seconds.
    pub max_backoff_secs: u64,
    /// Records read per resource per poll, at most.
    pub batch_records: usize,
    /// Seconds a claim holds a clinic before another instance may take it over.
    pub lease_secs: u64,
    /// Hours before a clinic's connection from which its appointments are read as the baseline.
    pub baseline_past_hours: u64,
    /// Seconds between refreshes of the list of connected clinics.
    pub schedule_interval_secs: u64,
    /// Milliseconds between looks for due clinics.
    pub tick_ms: u64,
}

impl PollingSettings {
    /// The change detector's settings.
    pub fn detector(&self) -> PollSettings {
        PollSettings {
            overlap: Duration::from_secs(self.overlap_secs),
            busy_interval: Duration::from_millis(self.busy_interval_ms),
            idle_interval: Duration::from_secs(self.idle_interval_secs),
            hours_interval: Duration::from_secs(self.hours_interval_secs),
            max_backoff: Duration::from_secs(self.max_backoff_secs),
            batch_records: self.batch_records,
            lease: Duration::from_secs(self.lease_secs),
            baseline_past: Duration::from_secs(self.baseline_past_hours * 3600),
        }
    }

    /// Between refreshes of the connected clinics.
    pub fn schedule_interval(&self) -> Duration {
        Duration::from_secs(self.schedule_interval_secs)
    }

    /// Between looks for due clinics.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    /// What is wrong with these settings.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    key: format!("CLINICGATE_POLLING__{key}"),
                    message: message.to_owned(),
                });
            }
        };
        check(
            (1..=256).contains(&self.concurrency),
            "CONCURRENCY",
            "must be between 1 and 256",
        );
        check(
            (1..=300).contains(&self.overlap_secs),
            "OVERLAP_SECS",
            "must be between 1 and 300: Cliniko's timestamps have one-second resolution, so \
             at least one second is read again",
        );
        check(
            (100..=60_000).contains(&self.busy_interval_ms),
            "BUSY_INTERVAL_MS",
            "must be between 100 and 60000",
        );
        check(
            self.idle_interval_secs >= 1
                && self.idle_interval_secs * 1000 >= self.busy_interval_ms
                && self.idle_interval_secs <= 3600,
            "IDLE_INTERVAL_SECS",
            "must be between 1 and 3600, and no shorter than busy_interval_ms",
        );
        check(
            (1..=86_400).contains(&self.hours_interval_secs),
            "HOURS_INTERVAL_SECS",
            "must be between 1 and 86400",
        );
        check(
            self.max_backoff_secs * 1000 >= self.busy_interval_ms && self.max_backoff_secs <= 3600,
            "MAX_BACKOFF_SECS",
            "must be at most 3600 and no shorter than busy_interval_ms",
        );
        check(
            (100..=10_000).contains(&self.batch_records),
            "BATCH_RECORDS",
            "must be between 100 and 10000 (Cliniko pages hold 100)",
        );
        check(
            (10..=600).contains(&self.lease_secs),
            "LEASE_SECS",
            "must be between 10 and 600; a poll is abandoned after three quarters of it",
        );
        check(
            self.baseline_past_hours <= 24 * 31,
            "BASELINE_PAST_HOURS",
            "must be at most 744 (31 days)",
        );
        check(
            (1..=3600).contains(&self.schedule_interval_secs),
            "SCHEDULE_INTERVAL_SECS",
            "must be between 1 and 3600",
        );
        check(
            (10..=10_000).contains(&self.tick_ms),
            "TICK_MS",
            "must be between 10 and 10000",
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;
    use crate::config::Settings;

    #[test]
    fn the_documented_defaults_poll_every_ten_seconds_when_idle_and_two_when_busy() {
        let settings = Settings::from_figment(&Settings::defaults()).unwrap();
        let detector = settings.polling.detector();
        assert!(settings.polling.enabled);
        assert_eq!(detector.idle_interval, Duration::from_secs(10));
        assert_eq!(detector.busy_interval, Duration::from_secs(2));
        assert_eq!(detector.overlap, Duration::from_secs(5));
        assert!(detector.poll_timeout() < detector.lease);
    }

    #[test]
    fn nonsense_is_refused_naming_the_variable() {
        let figment = Settings::defaults()
            .merge(Serialized::default("polling.overlap_secs", 0))
            .merge(Serialized::default("polling.busy_interval_ms", 20_000))
            .merge(Serialized::default("polling.idle_interval_secs", 5))
            .merge(Serialized::default("polling.batch_records", 10));
        let err = Settings::from_figment(&figment).unwrap_err();
        let keys: Vec<String> = err.0.into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "CLINICGATE_POLLING__OVERLAP_SECS",
                "CLINICGATE_POLLING__IDLE_INTERVAL_SECS",
                "CLINICGATE_POLLING__BATCH_RECORDS",
            ]
        );
    }
}
