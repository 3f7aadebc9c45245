//! The `[tokens]` settings: access-token lifetime, signing-key rotation, client secrets, API rate
//! limits. Read and validated with the rest of the configuration (`crate::config`).

use std::time::Duration;

use clinicgate_core::sessions::ThrottlePolicy;
use clinicgate_core::tokens::{KeyPolicy, MAX_RATE_LIMIT_PER_MINUTE};
use serde::Deserialize;

use super::ConfigProblem;

/// Least time between two key reloads caused by tokens naming an unknown key.
const UNKNOWN_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// `[tokens]`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSettings {
    /// Access-token lifetime in seconds.
    pub ttl_secs: u64,
    /// Clock skew tolerated on `exp`/`nbf`, seconds.
    pub leeway_secs: u64,
    /// The `aud` claim.
    pub audience: String,
    /// Hours between scheduled signing-key rotations; 0 = only on demand.
    pub signing_key_rotation_hours: u64,
    /// Seconds a new signing key is published before it signs.
    pub signing_key_activation_secs: u64,
    /// Seconds partners may cache the JWKS.
    pub jwks_max_age_secs: u64,
    /// Seconds between key maintenance runs (reload, scheduled rotation, clean-up).
    pub key_check_secs: u64,
    /// Hours a rotated client secret keeps working.
    pub secret_grace_hours: u64,
    /// Requests per minute of clients without their own limit.
    pub default_rate_limit_per_minute: u32,
    /// Seconds of the window the clients' limits count over (60: the limits are per minute).
    pub rate_limit_window_secs: u64,
    /// Seconds a client's state is cached in the shared store (Redis only).
    pub client_cache_ttl_secs: u64,
    /// Failed client authentications allowed per client id in one window.
    pub max_failed_auth_per_client: u64,
    /// Failed client authentications allowed per client address in one window.
    pub max_failed_auth_per_ip: u64,
    /// Seconds failed client authentications are remembered.
    pub failed_auth_window_secs: u64,
}

impl TokenSettings {
    /// The window API clients' limits count over.
    pub fn rate_limit_window(&self) -> Duration {
        Duration::from_secs(self.rate_limit_window_secs)
    }

    /// Access-token lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs)
    }

    /// Clock-skew leeway.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.leeway_secs)
    }

    /// The signing keys' life cycle.
    pub fn key_policy(&self) -> KeyPolicy {
        KeyPolicy {
            rotation_period: (self.signing_key_rotation_hours > 0)
                .then(|| Duration::from_secs(self.signing_key_rotation_hours * 3600)),
            activation_delay: Duration::from_secs(self.signing_key_activation_secs),
            verification_tail: self.ttl() + self.leeway(),
            unknown_key_reload_interval: UNKNOWN_KEY_RELOAD_INTERVAL,
        }
    }

    /// How long a rotated secret keeps working.
    pub fn secret_grace(&self) -> Duration {
        Duration::from_secs(self.secret_grace_hours * 3600)
    }

    /// Interval of the key maintenance task.
    pub fn key_check_interval(&self) -> Duration {
        Duration::from_secs(self.key_check_secs)
    }

    /// How long a client's state is cached.
    pub fn client_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.client_cache_ttl_secs)
    }

    /// Throttling of failed client authentications (the login throttle's rules).
    pub fn throttle_policy(&self) -> ThrottlePolicy {
        ThrottlePolicy {
            max_failures_per_account: self.max_failed_auth_per_client,
            max_failures_per_ip: self.max_failed_auth_per_ip,
            window: Duration::from_secs(self.failed_auth_window_secs),
            delay_step: Duration::from_millis(250),
        }
    }

    /// Every problem with these settings.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    key: format!("CLINICGATE_TOKENS__{}", key.to_ascii_uppercase()),
                    message: message.to_owned(),
                });
            }
        };
        check(
            (1..=86_400).contains(&self.ttl_secs),
            "ttl_secs",
            "must be 1 to 86400 seconds (15 minutes, 900, is the usual choice)",
        );
        check(
            self.leeway_secs <= 300,
            "leeway_secs",
            "must be at most 300 seconds",
        );
        check(
            !self.audience.trim().is_empty(),
            "audience",
            "must not be empty",
        );
        check(
            self.key_check_secs >= 1,
            "key_check_secs",
            "must be at least 1",
        );
        check(
            (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&self.default_rate_limit_per_minute),
            "default_rate_limit_per_minute",
            "must be 1 to 10000000",
        );
        check(
            (1..=3_600).contains(&self.rate_limit_window_secs),
            "rate_limit_window_secs",
            "must be 1 to 3600 seconds (60 makes the limits per minute, as they are named)",
        );
        check(
            self.client_cache_ttl_secs >= 1,
            "client_cache_ttl_secs",
            "must be at least 1",
        );
        check(
            self.max_failed_auth_per_client >= 1
                && self.max_failed_auth_per_ip >= 1
                && self.failed_auth_window_secs >= 1,
            "max_failed_auth_per_client",
            "client authentication limits and their window must each be at least 1",
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn the_defaults_publish_new_keys_longer_than_partners_cache_the_jwks() {
        let settings = Settings::from_figment(&Settings::defaults()).unwrap();
        let tokens = &settings.tokens;
        assert_eq!(tokens.ttl(), Duration::from_secs(900));
        let policy = tokens.key_policy();
        assert_eq!(policy.rotation_period, Some(Duration::from_secs(24 * 3600)));
        assert!(
            policy.activation_delay
                >= Duration::from_secs(tokens.jwks_max_age_secs) + tokens.key_check_interval()
        );
        assert_eq!(policy.verification_tail, Duration::from_secs(930));
        assert_eq!(tokens.secret_grace(), Duration::from_secs(24 * 3600));
        assert_eq!(tokens.rate_limit_window(), Duration::from_secs(60));
        assert!(tokens.problems().is_empty());
    }

    #[test]
    fn out_of_range_token_settings_are_reported_with_their_variable() {
        let settings = Settings::from_figment(&Settings::defaults()).unwrap();
        let bad = TokenSettings {
            ttl_secs: 0,
            default_rate_limit_per_minute: 0,
            rate_limit_window_secs: 0,
            ..settings.tokens
        };
        let keys: Vec<_> = bad.problems().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "CLINICGATE_TOKENS__TTL_SECS",
                "CLINICGATE_TOKENS__DEFAULT_RATE_LIMIT_PER_MINUTE",
                "CLINICGATE_TOKENS__RATE_LIMIT_WINDOW_SECS"
            ]
        );
    }
}
