//! What the Cliniko client reports about each clinic's use of Cliniko: Prometheus series (via the
//! `metrics` facade; the api installs the recorder), per-minute counters in the shared
//! rate-limit store, so `usage` shows the same numbers on every instance, and — when wired — the
//! clinic's durable usage counters (`clinicgate_core::usage`), by lane and API client.
//!
//! Labels are the tenant id, the lane and a fixed outcome word: never a key, a URL or an id that
//! could identify a patient.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clinicgate_core::Result;
use clinicgate_core::cliniko::Lane;
use clinicgate_core::ids::TenantId;
use clinicgate_core::ports::RateLimiter;
use clinicgate_core::tokens::ClientId;
use clinicgate_core::usage::UsageRecorder;

/// Calls sent to Cliniko, by `tenant`, `lane` and `outcome`.
pub(crate) const REQUESTS_TOTAL: &str = "cliniko_requests_total";
/// Calls refused by our own budget (never sent), by `tenant` and `lane`.
pub(crate) const BUDGET_REFUSALS_TOTAL: &str = "cliniko_budget_refusals_total";
/// Cliniko 429 answers that paused a key, by `tenant`.
pub(crate) const PAUSES_TOTAL: &str = "cliniko_rate_limit_pauses_total";
/// Reference-data cache lookups, by `tenant` and `result` (`hit`/`miss`).
pub(crate) const CACHE_LOOKUPS_TOTAL: &str = "cliniko_cache_lookups_total";
/// Time from asking for budget to Cliniko's answer, by `lane`.
pub(crate) const REQUEST_DURATION: &str = "cliniko_request_duration_seconds";

/// The shared per-minute counters live a little longer than the minute after theirs, so "last
/// minute" can still be read.
const COUNTER_WINDOW: Duration = Duration::from_secs(150);

/// Records usage; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Telemetry {
    limiter: Arc<dyn RateLimiter>,
    /// The clinics' durable usage counters, when the application wired them.
    usage: Option<UsageRecorder>,
}

/// Whether a call was sent or refused by the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// Sent to Cliniko (whatever it answered).
    Sent,
    /// Refused by our budget, never sent.
    Refused,
}

impl Counted {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Refused => "refused",
        }
    }
}

impl Telemetry {
    /// Counters over `limiter`'s shared fixed-window counters.
    pub(crate) fn new(limiter: Arc<dyn RateLimiter>) -> Self {
        Self {
            limiter,
            usage: None,
        }
    }

    /// These counters, also counting every call sent in `usage`.
    pub(crate) fn with_usage(self, usage: UsageRecorder) -> Self {
        Self {
            usage: Some(usage),
            ..self
        }
    }

    /// A call went to Cliniko (for `client`, when an API client caused it) and ended with
    /// `outcome`.
    pub(crate) fn sent(
        &self,
        tenant: &TenantId,
        client: Option<&ClientId>,
        lane: Lane,
        outcome: &'static str,
        took: Duration,
    ) {
        if let Some(usage) = &self.usage {
            usage.cliniko_call(*tenant, client.cloned(), lane);
        }
        metrics::counter!(REQUESTS_TOTAL, "tenant" => tenant.to_string(), "lane" => lane.as_str(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!(REQUEST_DURATION, "lane" => lane.as_str()).record(took.as_secs_f64());
        self.count_shared(tenant, lane, Counted::Sent);
    }

    /// Our budget refused a call.
    pub(crate) fn refused(&self, tenant: &TenantId, lane: Lane) {
        metrics::counter!(BUDGET_REFUSALS_TOTAL, "tenant" => tenant.to_string(), "lane" => lane.as_str())
            .increment(1);
        self.count_shared(tenant, lane, Counted::Refused);
    }

    /// Cliniko answered 429 and the key was paused.
    pub(crate) fn paused(&self, tenant: &TenantId) {
        metrics::counter!(PAUSES_TOTAL, "tenant" => tenant.to_string()).increment(1);
    }

    /// A reference-data lookup hit or missed the cache.
    pub(crate) fn cache_lookup(&self, tenant: &TenantId, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        metrics::counter!(CACHE_LOOKUPS_TOTAL, "tenant" => tenant.to_string(), "result" => result)
            .increment(1);
    }

    /// The shared count of `counted` calls of `tenant` on `lane` in the minute `minutes_ago`
    /// minutes before this one.
    pub(crate) async fn shared_count(
        &self,
        tenant: &TenantId,
        lane: Lane,
        counted: Counted,
        minutes_ago: u64,
    ) -> Result<u64> {
        let minute = current_minute().saturating_sub(minutes_ago);
        self.limiter
            .count(&counter_key(tenant, lane, counted, minute))
            .await
    }

    /// Adds one to this minute's shared counter without delaying the call: usage display is
    /// allowed to miss a count when the store hiccups, the call itself is not.
    fn count_shared(&self, tenant: &TenantId, lane: Lane, counted: Counted) {
        let limiter = Arc::clone(&self.limiter);
        let key = counter_key(tenant, lane, counted, current_minute());
        tokio::spawn(async move {
            if let Err(err) = limiter.increment(&key, COUNTER_WINDOW).await {
                tracing::debug!(error = %err, "could not count a Cliniko call for usage display; carrying on");
            }
        });
    }
}

fn counter_key(tenant: &TenantId, lane: Lane, counted: Counted, minute: u64) -> String {
    format!(
        "cliniko:usage:{tenant}:{}:{}:{minute}",
        lane.as_str(),
        counted.as_str()
    )
}

fn current_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 60)
}
