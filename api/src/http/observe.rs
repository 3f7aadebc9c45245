//! Request ids, the request span, the access log line and HTTP metrics, in one middleware so each
//! request is observed exactly once.
//!
//! Written by hand (not tracing-actix-web) because we need three things together: accepting a
//! caller's `X-Request-Id`, labelling metrics by *route template* (never the raw path, which could
//! carry identifiers and would explode label cardinality), and making the id available to error
//! rendering through a task-local.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;

/// The request-id header, read from callers and echoed on every response.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, if called while serving one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A caller's id is reused only when it is short and plain, so it cannot inject into logs.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The middleware: assigns the request id, serves the request inside its span, then logs one line
/// and records `http_requests_total` and `http_request_duration_seconds`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    // The route template (`/api/public/doctors/{id}`), never the concrete path.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    // `tenant_id` and `client_id` are filled in by authentication (API clients), so the one
    // line logged per request says who made it.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        tenant_id = tracing::field::Empty,
        client_id = tracing::field::Empty,
    );
    let started = Instant::now();

    // Handler and extractor errors arrive here already rendered (inside this scope, so problem
    // bodies carry the id); only a failing middleware yields `Err`, which actix renders later.
    let result = REQUEST_ID
        .scope(request_id.clone(), next.call(req))
        .instrument(span.clone())
        .await;

    let elapsed = started.elapsed();
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    let labels = [
        ("method", method),
        ("route", route),
        ("status", status.as_str().to_owned()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request served"
        );
    });
    let mut response = result?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_accepted_from_callers() {
        assert!(acceptable("abc-123_X.y:z"));
        assert!(!acceptable(""));
        assert!(!acceptable(&"a".repeat(129)));
        assert!(!acceptable("evil\nline"));
        assert!(!acceptable("<script>"));
    }
}
