//! How the Cliniko client is configured: where Cliniko is, how ClinicGate identifies itself, how
//! long a call may take, the shared per-key budget, retries and the reference-data cache.
//!
//! The api crate fills these from `[cliniko]` in the configuration; tests build them directly
//! (with short periods) through [`ClinikoClientConfig::new`].

use std::time::Duration;

use clinicgate_core::ports::Quota;
use clinicgate_core::{Error, FieldError, Result};

/// Everything the HTTP Cliniko client needs besides the shared-state stores.
#[derive(Debug, Clone)]
pub struct ClinikoClientConfig {
    /// Base URL with a `{shard}` placeholder, e.g. `https://api.{shard}.cliniko.com/v1`. Only a
    /// validated [`clinicgate_core::cliniko::Shard`] is ever substituted into it.
    pub base_url: String,
    /// `Name (contact e-mail)`, sent as `User-Agent` (Cliniko blocks clients it cannot contact).
    pub user_agent: String,
    /// How long one Cliniko call may take, connection to last byte.
    pub timeout: Duration,
    /// The per-key budget shared by every instance.
    pub budget: BudgetConfig,
    /// Retries of idempotent calls.
    pub retry: RetryConfig,
    /// How long reference data (practitioners, businesses, appointment types, settings) is cached.
    pub cache_ttl: Duration,
}

impl ClinikoClientConfig {
    /// The documented defaults (190 calls/minute per key, 10 s timeout, 5 min cache) for `base_url`
    /// and `user_agent`.
    pub fn new(base_url: impl Into<String>, user_agent: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            user_agent: user_agent.into(),
            timeout: Duration::from_secs(10),
            budget: BudgetConfig::default(),
            retry: RetryConfig::default(),
            cache_ttl: Duration::from_secs(300),
        }
    }

    /// Checks the values that code (not only configuration files) can get wrong.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each offending field.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: &str| {
            problems.push(FieldError::new(field, "invalid", message));
        };
        let sample = self.base_url.replace("{shard}", "au1");
        match url::Url::parse(&sample) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => problem(
                "base_url",
                "must be an http(s) URL such as https://api.{shard}.cliniko.com/v1",
            ),
        }
        if self.user_agent.trim().is_empty() {
            problem("user_agent", "must be \"Name (contact e-mail)\"");
        }
        if self.timeout.is_zero() {
            problem("timeout", "must be positive");
        }
        self.budget.check(&mut problem);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(problems))
        }
    }
}

/// One rate budget per Cliniko key, shared by every instance, with priority lanes.
///
/// Cliniko allows 200 calls per minute per user. The budget grants `limit` calls per `period`
/// sustained, plus bursts of up to `burst` after a quiet spell; in any window of one `period` at
/// most `limit + burst` calls are made, so the defaults (190 + 5) stay under Cliniko's 200 even
/// with clock skew between our store and Cliniko.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetConfig {
    /// Sustained calls per `period` per key.
    pub limit: u32,
    /// The period `limit` applies to (a minute, except in tests).
    pub period: Duration,
    /// Calls that may go at once after a quiet spell (the bucket's size). Lane reserves are taken
    /// from it, so it must exceed `background_reserve`.
    pub burst: u32,
    /// Units the `api` lane leaves in the bucket for interactive callers.
    pub api_reserve: u32,
    /// Units the `background` lane leaves in the bucket for interactive and api callers.
    pub background_reserve: u32,
    /// How long an interactive call may wait for budget (or for a 429 pause to end).
    pub interactive_wait: Duration,
    /// How long a background call may wait before giving up with `RateLimited`.
    pub background_wait: Duration,
    /// How long to pause a key after a Cliniko 429 that says neither `X-RateLimit-Reset` nor
    /// `Retry-After`.
    pub default_pause: Duration,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            limit: 190,
            period: Duration::from_secs(60),
            burst: 5,
            api_reserve: 1,
            // Background runs only when the bucket is nearly full, so under a stream of api
            // calls (which fail fast rather than queue) it does not take their refills.
            background_reserve: 3,
            interactive_wait: Duration::from_secs(2),
            background_wait: Duration::from_secs(300),
            default_pause: Duration::from_secs(10),
        }
    }
}

impl BudgetConfig {
    /// The rate-limiter quota that implements this budget: a bucket of `burst` units refilled one
    /// unit every `period / limit`.
    ///
    /// The refill interval is rounded *up* to whole microseconds (the limiter's resolution), so
    /// the sustained rate is never above `limit` per `period`, however the division rounds.
    pub(crate) fn quota(&self) -> Quota {
        let period_us = u64::try_from(self.period.as_micros()).unwrap_or(u64::MAX);
        let emission_us = period_us.div_ceil(u64::from(self.limit.max(1)));
        Quota {
            limit: self.burst.max(1),
            period: Duration::from_micros(emission_us.saturating_mul(u64::from(self.burst.max(1)))),
        }
    }

    fn check(&self, problem: &mut impl FnMut(&str, &str)) {
        if self.limit == 0 {
            problem("budget.limit", "must be at least 1");
        }
        if self.period.is_zero() {
            problem("budget.period", "must be positive");
        }
        if self.burst == 0 {
            problem("budget.burst", "must be at least 1");
        }
        if self.api_reserve > self.background_reserve {
            problem(
                "budget.api_reserve",
                "must not exceed background_reserve (api has priority over background)",
            );
        }
        if self.background_reserve >= self.burst {
            problem(
                "budget.background_reserve",
                "must be below burst, or background calls could never run",
            );
        }
    }
}

/// Retries of idempotent calls (GET) on connection failures, 502/503/504 and 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// The first backoff; each retry doubles it, with full jitter.
    pub base_delay: Duration,
    /// The longest backoff between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_refills_one_call_every_period_over_limit_rounded_up() {
        let quota = BudgetConfig::default().quota();
        assert_eq!(quota.limit, 5);
        // 60 s / 190 = 315 789.47… µs, rounded up to 315 790 µs per call.
        assert_eq!(quota.period, Duration::from_micros(315_790 * 5));
    }

    #[test]
    fn reserves_that_would_starve_a_lane_are_refused() {
        let config = ClinikoClientConfig {
            budget: BudgetConfig {
                burst: 2,
                background_reserve: 2,
                api_reserve: 3,
                ..BudgetConfig::default()
            },
            ..ClinikoClientConfig::new("https://api.{shard}.cliniko.com/v1", "A (a@b.co)")
        };
        let Err(Error::Validation(fields)) = config.validate() else {
            panic!("expected a validation error");
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["budget.api_reserve", "budget.background_reserve"]);
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused() {
        let config = ClinikoClientConfig::new("ftp://x/{shard}", "A (a@b.co)");
        assert!(config.validate().is_err());
        assert!(
            ClinikoClientConfig::new("http://127.0.0.1:9/{shard}/v1", "A (a@b.co)")
                .validate()
                .is_ok()
        );
    }
}
