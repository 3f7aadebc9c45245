//! Shared-state ports: everything that must be shared between ClinicGate instances when several run
//! behind a load balancer. Each has a Redis implementation and an in-process one (chosen when no
//! Redis is configured), both in `clinicgate-adapters`, held to the same contract tests.
//!
//! Every method can fail with [`crate::Error::Unavailable`] when the backing store is down; callers
//! decide whether to fail closed (rate limits, revocation) or carry on.

mod cache;
mod rate_limit;
mod revocation;
mod sessions;

use std::sync::Arc;

pub use cache::Cache;
pub use rate_limit::{Quota, RateDecision, RateLimiter};
pub use revocation::{Generation, RevocationSet};
pub use sessions::{SessionKey, SessionRecord, SessionStore};

/// The set of shared-state stores one ClinicGate process uses, all backed by the same store.
#[derive(Debug, Clone)]
pub struct SharedState {
    /// TTL'd cache of reference data.
    pub cache: Arc<dyn Cache>,
    /// Rate-limit counters and token buckets.
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Revoked token ids.
    pub revocations: Arc<dyn RevocationSet>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionStore>,
}
