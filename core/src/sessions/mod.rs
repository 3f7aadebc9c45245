//! Browser sessions for clinic staff: opaque tokens, login with throttling, and resuming a session
//! into a [`crate::tenancy::TenantContext`] on each request.

mod service;
mod throttle;
mod token;

pub use service::{LoginAttempt, NewSession, Session, SessionPolicy, SessionService};
pub use throttle::{LoginThrottle, ThrottleKeys, ThrottlePolicy};
pub use token::SessionToken;
