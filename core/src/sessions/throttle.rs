//! Login throttling through the shared [`RateLimiter`] counters, so every instance sees the same
//! failures: failed logins are counted per account (clinic + e-mail) and per client IP in a
//! fixed window. From half of a limit on, each attempt is delayed a little more; at the limit,
//! attempts are refused with `RateLimited` until the window ends. A successful login clears the
//! account's counter. The IP counter is not cleared by a success, or one valid account would let
//! an attacker keep resetting the counter of the address they guess other accounts from.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::crypto::hex;
use crate::ids::{TenantId, UserId};
use crate::ports::RateLimiter;
use crate::users::Email;
use crate::{Error, Result};

/// The longest delay added to one attempt.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Limits on failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures per account allowed in one window.
    pub max_failures_per_account: u64,
    /// Failures per client IP allowed in one window.
    pub max_failures_per_ip: u64,
    /// How long failures are remembered (the window starts at the first failure).
    pub window: Duration,
    /// Added delay per failure beyond half a limit.
    pub delay_step: Duration,
}

/// The counters one login attempt touches.
#[derive(Debug, Clone)]
pub struct ThrottleKeys {
    account: String,
    ip: String,
}

impl ThrottleKeys {
    /// Keys for an attempt on `email` in `tenant` from `ip`. The e-mail is hashed so no address
    /// ends up in the shared store's key space.
    pub fn new(tenant: TenantId, email: &str, ip: IpAddr) -> Self {
        Self::per_account("login", tenant, email, ip)
    }

    /// Keys for "forgot password" requests for `email` in `tenant` from `ip`: counted apart
    /// from failed logins (a request is not a failure), with the same hashing of the address.
    pub fn password_reset(tenant: TenantId, email: &str, ip: IpAddr) -> Self {
        Self::per_account("password-reset", tenant, email, ip)
    }

    fn per_account(prefix: &str, tenant: TenantId, email: &str, ip: IpAddr) -> Self {
        let normalised = Email::parse(email)
            .map_or_else(|_| email.trim().to_lowercase(), |e| e.as_str().to_owned());
        let digest = hex(&Sha256::digest(normalised.as_bytes())[..16]);
        Self {
            account: format!("{prefix}:account:{tenant}:{digest}"),
            ip: format!("{prefix}:ip:{}", ip_bucket(ip)),
        }
    }

    /// The per-account counter's key.
    pub fn account_key(&self) -> &str {
        &self.account
    }

    /// The per-address counter's key.
    pub fn ip_key(&self) -> &str {
        &self.ip
    }
}

impl ThrottleKeys {
    /// Keys for an API client authentication (`POST /api/auth/token`) of `client_id` from `ip`:
    /// the same throttle guards client secrets as passwords, under its own counters.
    pub fn api_client(client_id: &str, ip: IpAddr) -> Self {
        let digest = hex(&Sha256::digest(client_id.as_bytes())[..16]);
        Self {
            account: format!("client-auth:client:{digest}"),
            ip: format!("client-auth:ip:{}", ip_bucket(ip)),
        }
    }
}

impl ThrottleKeys {
    /// Keys for MFA codes of `user` of `tenant` from `ip`: counted per user (the password is
    /// already known to whoever is here), apart from password failures.
    pub fn mfa(tenant: TenantId, user: UserId, ip: IpAddr) -> Self {
        Self {
            account: format!("mfa:user:{tenant}:{user}"),
            ip: format!("mfa:ip:{}", ip_bucket(ip)),
        }
    }
}

/// The address an attacker cannot trivially change: an IPv6 client usually owns a whole /64, so
/// it is counted per /64 (IPv4-mapped IPv6 counts as the IPv4 address).
fn ip_bucket(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Counts failed logins and decides whether the next attempt may proceed.
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    limiter: Arc<dyn RateLimiter>,
    policy: ThrottlePolicy,
}

/// The delay for `failures` against `limit`: none below half the limit, then one step more per
/// failure, capped.
fn delay_for(failures: u64, limit: u64, step: Duration) -> Duration {
    let threshold = limit / 2;
    if failures < threshold.max(1) {
        return Duration::ZERO;
    }
    let steps = u32::try_from(failures - threshold + 1).unwrap_or(u32::MAX);
    step.saturating_mul(steps).min(MAX_DELAY)
}

impl LoginThrottle {
    /// A throttle over `limiter`.
    pub fn new(limiter: Arc<dyn RateLimiter>, policy: ThrottlePolicy) -> Self {
        Self { limiter, policy }
    }

    /// Before verifying a password: how long to make this attempt wait.
    ///
    /// # Errors
    /// `RateLimited` (with the window as `retry_after`) once either counter has reached its
    /// limit; `Unavailable` when the shared store is down (logins fail closed).
    pub async fn admit(&self, keys: &ThrottleKeys) -> Result<Duration> {
        let account = self.limiter.count(&keys.account).await?;
        let ip = self.limiter.count(&keys.ip).await?;
        let policy = self.policy;
        if account >= policy.max_failures_per_account || ip >= policy.max_failures_per_ip {
            return Err(Error::RateLimited {
                retry_after: policy.window,
            });
        }
        Ok(
            delay_for(account, policy.max_failures_per_account, policy.delay_step).max(delay_for(
                ip,
                policy.max_failures_per_ip,
                policy.delay_step,
            )),
        )
    }

    /// Counts a failed attempt against both the account and the IP.
    pub async fn failed(&self, keys: &ThrottleKeys) -> Result<()> {
        self.limiter
            .increment(&keys.account, self.policy.window)
            .await?;
        self.limiter.increment(&keys.ip, self.policy.window).await?;
        Ok(())
    }

    /// Clears the account's failures after a successful login.
    pub async fn succeeded(&self, keys: &ThrottleKeys) -> Result<()> {
        self.limiter.reset(&keys.account).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_slow_down_from_half_the_limit_and_the_delay_is_capped() {
        let step = Duration::from_millis(200);
        assert_eq!(delay_for(0, 6, step), Duration::ZERO);
        assert_eq!(delay_for(2, 6, step), Duration::ZERO);
        assert_eq!(delay_for(3, 6, step), Duration::from_millis(200));
        assert_eq!(delay_for(5, 6, step), Duration::from_millis(600));
        assert_eq!(delay_for(1999, 2000, step), MAX_DELAY);
    }

    #[test]
    fn account_keys_hold_no_email_and_differ_by_clinic() {
        let ip = "203.0.113.9".parse().unwrap();
        let tenant = TenantId::new();
        let a = ThrottleKeys::new(tenant, "Jane@Clinic.com", ip);
        assert!(!a.account.contains("jane"));
        assert_eq!(
            a.account,
            ThrottleKeys::new(tenant, " jane@clinic.com", ip).account
        );
        assert_ne!(
            a.account,
            ThrottleKeys::new(TenantId::new(), "jane@clinic.com", ip).account
        );
        assert_eq!(a.ip, "login:ip:203.0.113.9");
    }

    #[test]
    fn ipv6_clients_are_counted_per_slash_64() {
        let key = |ip: &str| ThrottleKeys::new(TenantId::new(), "a@b.co", ip.parse().unwrap()).ip;
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_eq!(key("2001:db8:1:2::1"), "login:ip:2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.7"), "login:ip:192.0.2.7");
    }
}
