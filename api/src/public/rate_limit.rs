//! Rate-limit headers in the IETF draft's syntax (draft-ietf-httpapi-ratelimit-headers-10):
//! `RateLimit-Policy: "client";q=600;w=60` names the client's quota and window, and
//! `RateLimit: "client";r=599;t=60` says what remains now and in how many seconds all of the
//! quota is available again. Sent on every authenticated public API response, and with
//! `Retry-After` on 429.
//!
//! They are what is enforced, not a gloss on it: the limit is a sliding window
//! (`TokenService::admit`), so no `w`-second span ever serves more than `q`, on any number of
//! instances — a token bucket announced the same way would serve up to `2q − 1` in one `w`.

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use clinicgate_core::ports::RateDecision;

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The policy's name in both headers.
const POLICY: &str = "client";

/// What a client's limit decided for one request, and the window its quota counts over.
#[derive(Debug, Clone, Copy)]
pub struct ClientRate {
    /// The limiter's decision.
    pub decision: RateDecision,
    /// The policy's window (`w`).
    pub window: Duration,
}

/// Whole seconds, rounded up (a client waiting a fraction too little would be refused again).
fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

impl ClientRate {
    /// The two headers.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 2] {
        let policy = format!(
            "\"{POLICY}\";q={};w={}",
            self.decision.limit,
            ceil_secs(self.window)
        );
        let state = format!(
            "\"{POLICY}\";r={};t={}",
            self.decision.remaining,
            ceil_secs(self.decision.reset_after)
        );
        [
            (
                RATELIMIT_POLICY,
                HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("")),
            ),
            (
                RATELIMIT,
                HeaderValue::from_str(&state).unwrap_or(HeaderValue::from_static("")),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_drafts_structured_field_syntax() {
        let decision = RateDecision {
            allowed: false,
            limit: 600,
            remaining: 0,
            retry_after: Duration::from_millis(100),
            reset_after: Duration::from_millis(59_900),
        };
        let rate = ClientRate {
            decision,
            window: Duration::from_secs(60),
        };
        let [(policy_name, policy), (state_name, state)] = rate.headers();
        assert_eq!(policy_name.as_str(), "ratelimit-policy");
        assert_eq!(policy, "\"client\";q=600;w=60");
        assert_eq!(state_name.as_str(), "ratelimit");
        assert_eq!(state, "\"client\";r=0;t=60");
    }
}
