//! The `[public_api]` settings: slot search range, directory memo, booking claims and
//! idempotency records. Read and validated with the rest of the configuration (`crate::config`).

use std::time::Duration;

use clinicgate_core::booking::BookingPolicy;
use clinicgate_core::cliniko::MAX_AVAILABILITY_DAYS;
use clinicgate_core::idempotency::IdempotencyPolicy;
use serde::Deserialize;

use super::ConfigProblem;

/// `[public_api]`.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicApiSettings {
    /// The longest `GET /api/public/available-slots` range, in days.
    pub max_slot_days: u32,
    /// Milliseconds an instance reuses a decoded directory before reading the shared cache again.
    pub directory_memo_ms: u64,
    /// Seconds a slot claim lives (booking in progress, then settled).
    pub booking_claim_secs: u64,
    /// Hours a finished write is replayed for its `Idempotency-Key`.
    pub idempotency_ttl_hours: u64,
    /// Seconds a running write holds its key before another instance may take it over.
    pub idempotency_lease_secs: u64,
    /// Milliseconds a concurrent duplicate waits for the first request before 409.
    pub idempotency_wait_ms: u64,
    /// Seconds a FHIR searchset's `next`/`previous` cursor stays usable.
    pub fhir_cursor_secs: u64,
}

impl PublicApiSettings {
    /// The directory memo's lifetime.
    pub fn directory_memo(&self) -> Duration {
        Duration::from_millis(self.directory_memo_ms)
    }

    /// The booking service's limits.
    pub fn booking_policy(&self) -> BookingPolicy {
        BookingPolicy {
            max_slot_days: self.max_slot_days,
            claim_ttl: Duration::from_secs(self.booking_claim_secs),
        }
    }

    /// How long a FHIR paging cursor stays usable.
    pub fn fhir_cursor_lifetime(&self) -> Duration {
        Duration::from_secs(self.fhir_cursor_secs)
    }

    /// The idempotency service's policy.
    pub fn idempotency_policy(&self) -> IdempotencyPolicy {
        IdempotencyPolicy {
            ttl: Duration::from_secs(self.idempotency_ttl_hours * 3600),
            lease: Duration::from_secs(self.idempotency_lease_secs),
            wait: Duration::from_millis(self.idempotency_wait_ms),
        }
    }

    /// What is wrong with these settings.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: String| {
            if !ok {
                problems.push(ConfigProblem {
                    key: format!("CLINICGATE_PUBLIC_API__{key}"),
                    message,
                });
            }
        };
        check(
            (1..=MAX_AVAILABILITY_DAYS).contains(&i64::from(self.max_slot_days)),
            "MAX_SLOT_DAYS",
            format!("must be between 1 and {MAX_AVAILABILITY_DAYS}"),
        );
        check(
            self.directory_memo_ms <= 60_000,
            "DIRECTORY_MEMO_MS",
            "must be at most 60000 (a minute); it delays changes made in Cliniko".to_owned(),
        );
        check(
            self.booking_claim_secs >= 10,
            "BOOKING_CLAIM_SECS",
            "must be at least 10, longer than a booking takes".to_owned(),
        );
        check(
            self.idempotency_ttl_hours >= 1,
            "IDEMPOTENCY_TTL_HOURS",
            "must be at least 1".to_owned(),
        );
        check(
            self.idempotency_lease_secs >= 10,
            "IDEMPOTENCY_LEASE_SECS",
            "must be at least 10, longer than a booking takes".to_owned(),
        );
        check(
            (1..=86_400).contains(&self.fhir_cursor_secs),
            "FHIR_CURSOR_SECS",
            "must be between 1 and 86400 (a day)".to_owned(),
        );
        problems
    }
}
