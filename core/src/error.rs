//! The one error type every service and port returns. It carries no HTTP: the api crate maps each
//! variant to a status and a stable problem `code` in exactly one place.

use std::panic::Location;
use std::time::Duration;

/// A boxed cause for [`Error::Internal`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for results in ClinicGate's core and adapters.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One invalid input field, reported back to the caller so they can fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as the caller sent it (`subdomain`, `patient.date_of_birth`).
    pub field: String,
    /// A stable machine-readable reason (`too_long`, `reserved`, `invalid_characters`).
    pub code: &'static str,
    /// A sentence that says what is wrong and how to fix it.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// Everything that can go wrong in ClinicGate, in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist *for this caller*; another tenant's resource is also `NotFound`.
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for (`clinic`, `patient`).
        resource: &'static str,
    },
    /// The request conflicts with the current state (a duplicate, a taken slot).
    #[error("conflict ({code}): {detail}")]
    Conflict {
        /// Stable snake_case code (`subdomain_taken`).
        code: &'static str,
        /// Human explanation safe to show the caller.
        detail: String,
    },
    /// The input is well-formed but breaks a rule; one entry per offending field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The caller did not prove who they are.
    #[error("authentication required")]
    Unauthenticated,
    /// The caller is known but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The caller (or the upstream budget it draws on) must wait.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// How long until a retry can succeed.
        retry_after: Duration,
    },
    /// A dependency ClinicGate needs (database, shared store) is not reachable right now.
    #[error("{dependency} unavailable")]
    Unavailable {
        /// Which dependency (`database`, `shared store`).
        dependency: &'static str,
    },
    /// An upstream system (Cliniko, a partner) failed or refused us.
    #[error("{service} failed: {failure}")]
    Upstream {
        /// Which upstream (`cliniko`).
        service: &'static str,
        /// How it failed.
        failure: UpstreamFailure,
    },
    /// A bug or an unexpected failure; the cause is logged, never shown.
    #[error("internal error at {location}")]
    Internal {
        /// The underlying cause.
        #[source]
        source: BoxError,
        /// Where the error was raised, for the log line.
        location: &'static Location<'static>,
    },
}

/// How an upstream call failed, in terms the caller can act on. Upstream 404, 422 and 429 are not
/// here: they become [`Error::NotFound`], [`Error::Validation`] and [`Error::RateLimited`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamFailure {
    /// Our credentials were refused (Cliniko 401: the key was revoked or points at another shard).
    #[error("credentials rejected")]
    Unauthorized,
    /// The credentials' user may not do this (Cliniko 403).
    #[error("permission denied")]
    Forbidden,
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// Could not connect.
    #[error("unreachable")]
    Unreachable,
    /// A 5xx answer (the status code).
    #[error("server error {0}")]
    ServerError(u16),
    /// An answer we could not understand (not JSON, wrong shape, unexpected status).
    #[error("unexpected response: {0}")]
    BadResponse(String),
}

impl Error {
    /// Wraps an unexpected failure, remembering where it happened.
    #[track_caller]
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::Internal {
            source: source.into(),
            location: Location::caller(),
        }
    }

    /// A single-field validation error.
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }
}
