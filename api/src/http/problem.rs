//! One error shape for every JSON error: `application/problem+json` (RFC 9457) with a stable
//! snake_case `code`, a human `detail`, field `errors` for validation, and the request id.
//!
//! Core errors are mapped to HTTP here and nowhere else. 5xx bodies never carry causes: the cause
//! chain is logged once, here, with where it was raised.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use clinicgate_core::{Error, FieldError, UpstreamFailure};
use serde::Serialize;
use utoipa::ToSchema;

use super::observe::current_request_id;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:clinicgate:problem:validation_failed",
    "title": "Unprocessable Content",
    "status": 422,
    "code": "validation_failed",
    "detail": "the request has invalid fields",
    "errors": [{"field": "subdomain", "code": "reserved", "message": "\"www\" is reserved for ClinicGate itself; choose another name"}],
    "request_id": "01935f0e-7c1a-7cc3-9f0a-3f1e5b0b2a11"
}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:clinicgate:problem:{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine-readable code; switch on this, not on `detail`.
    pub code: String,
    /// What went wrong, for a human.
    pub detail: String,
    /// Per-field problems, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// The request id (also in the `X-Request-Id` header); quote it when reporting a problem.
    pub request_id: String,
}

/// One invalid field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field, as sent.
    pub field: String,
    /// Stable reason code.
    pub code: String,
    /// How to fix it.
    pub message: String,
}

impl From<FieldError> for FieldProblem {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            code: e.code.to_owned(),
            message: e.message,
        }
    }
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<Duration>,
    allow: Option<String>,
    /// Kept only to be logged (5xx) — never rendered.
    cause: Option<Error>,
}

impl ApiError {
    /// A problem with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            allow: None,
            cause: None,
        }
    }

    /// 404 for a path nothing is served at.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "nothing is served at this path",
        )
    }

    /// 405 with the methods the path does accept.
    pub fn method_not_allowed(allow: String) -> Self {
        let detail = format!("this path accepts only {allow}");
        Self {
            allow: Some(allow),
            ..Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", detail)
        }
    }

    /// The same problem with a `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NotFound { resource } => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{resource} not found"),
            ),
            Error::Conflict { code, ref detail } => {
                let detail = detail.clone();
                Self::new(StatusCode::CONFLICT, code, detail)
            }
            Error::Validation(errors) => {
                // One wrong field is said in the detail too, so a script printing only the
                // detail still learns what to fix.
                let detail = match errors.as_slice() {
                    [only] => format!("{}: {}", only.field, only.message),
                    _ => "the request has invalid fields".to_owned(),
                };
                Self {
                    errors,
                    ..Self::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        detail,
                    )
                }
            }
            Error::Unauthenticated => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "authentication is required",
            ),
            Error::Forbidden(ref why) => {
                let detail = why.clone();
                Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            Error::RateLimited { retry_after } => Self {
                retry_after: Some(retry_after),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests; retry after the time in Retry-After",
                )
            },
            Error::Unavailable { .. } => Self {
                retry_after: Some(Duration::from_secs(5)),
                cause: Some(err),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "a service ClinicGate depends on is temporarily unavailable; retry shortly",
                )
            },
            Error::Upstream {
                service,
                ref failure,
            } => {
                let (status, code, detail) = upstream_problem(service, failure);
                Self {
                    cause: Some(err),
                    ..Self::new(status, code, detail)
                }
            }
            Error::Internal { .. } => Self {
                cause: Some(err),
                ..Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "an unexpected error occurred; quote the request id if you report it",
                )
            },
        }
    }
}

/// Status, stable code and explanation for an upstream failure. Cliniko gets its own codes because
/// partners and clinic staff act on them differently from other upstreams.
fn upstream_problem(
    service: &str,
    failure: &UpstreamFailure,
) -> (StatusCode, &'static str, String) {
    // Each failure has a pair of codes: Cliniko's own, and the one for any other upstream.
    let (status, (cliniko_code, upstream_code), detail) = match failure {
        UpstreamFailure::Unauthorized => (
            StatusCode::BAD_GATEWAY,
            ("cliniko_key_rejected", "upstream_unauthorized"),
            format!("{service} rejected this clinic's credentials; the clinic must reconnect it"),
        ),
        UpstreamFailure::Forbidden => (
            StatusCode::BAD_GATEWAY,
            ("cliniko_forbidden", "upstream_forbidden"),
            format!("the {service} user behind this clinic's credentials may not do this"),
        ),
        UpstreamFailure::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            ("cliniko_timeout", "upstream_timeout"),
            format!("{service} did not answer in time; retry shortly"),
        ),
        // Retrying does not fix a connection that cannot be made (a firewall, DNS, a proxy the
        // server needs): say so instead of "retry shortly".
        UpstreamFailure::Unreachable => (
            StatusCode::BAD_GATEWAY,
            ("cliniko_unavailable", "upstream_unavailable"),
            format!(
                "ClinicGate could not connect to {service}; if this persists, the server's network cannot reach it (check its DNS, firewall or proxy)"
            ),
        ),
        UpstreamFailure::ServerError(_) | UpstreamFailure::BadResponse(_) => (
            StatusCode::BAD_GATEWAY,
            ("cliniko_unavailable", "upstream_unavailable"),
            format!("{service} is not answering correctly right now; retry shortly"),
        ),
    };
    let code = if service == "cliniko" {
        cliniko_code
    } else {
        upstream_code
    };
    (status, code, detail)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            log_cause(cause);
        }
        let problem = Problem {
            problem_type: format!("urn:clinicgate:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            code: self.code.to_owned(),
            detail: self.detail.clone(),
            errors: self
                .errors
                .iter()
                .cloned()
                .map(FieldProblem::from)
                .collect(),
            request_id: current_request_id().unwrap_or_default(),
        };
        let mut response = HttpResponse::build(self.status);
        response
            .content_type(PROBLEM_JSON)
            .insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some(after) = self.retry_after {
            // Round up: retrying a fraction of a second early would just fail again.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response.insert_header((header::RETRY_AFTER, secs.max(1)));
        }
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            response.insert_header((header::ALLOW, allow));
        }
        response.json(problem)
    }
}

/// Logs a server-side failure once, with its whole cause chain and where it was raised.
fn log_cause(err: &Error) {
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %err, causes = ?chain, "request failed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn render(err: ApiError) -> (StatusCode, serde_json::Value, HttpResponse) {
        let response = err.error_response();
        let status = response.status();
        let (response, body) = response.into_parts();
        let json = serde_json::from_slice(&to_bytes(body).await.unwrap()).unwrap();
        (status, json, response.set_body(()).map_into_boxed_body())
    }

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let (status, body, _) =
            render(Error::internal("password=hunter2 leaked in a driver message").into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "internal_error");
        assert!(!body.to_string().contains("hunter2"));
    }

    #[actix_web::test]
    async fn validation_errors_list_each_field() {
        let (status, body, _) =
            render(Error::invalid("subdomain", "reserved", "pick another").into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["type"], "urn:clinicgate:problem:validation_failed");
        assert_eq!(body["errors"][0]["field"], "subdomain");
        assert_eq!(body["errors"][0]["code"], "reserved");
    }

    #[actix_web::test]
    async fn rate_limits_round_retry_after_up_to_whole_seconds() {
        let (status, _, response) = render(
            Error::RateLimited {
                retry_after: Duration::from_millis(1200),
            }
            .into(),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "2");
    }
}
