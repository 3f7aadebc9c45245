//! Request ids, the request span, the access log line and HTTP metrics, in one middleware so each
//! request is observed exactly once.
//!
//! Written by hand (not tracing-actix-web) because we need three things together: accepting a
//! caller's `X-Request-Id`, labelling metrics by *route template* (never the raw path, which could
//! carry identifiers and would explode label cardinality), and making the id available to error
//! rendering through a task-local.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::HttpMessage as _;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web;
use clinicgate_core::ids::TenantId;
use clinicgate_core::tokens::ClientId;
use tracing::Instrument as _;

use crate::state::AppState;

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

/// Who made a request, when it was an API client: put on the request by the public API's
/// extractor, read here for the request line and the per-client metrics.
#[derive(Debug, Clone)]
pub struct ApiClientLabels {
    /// The clinic (tenant id).
    pub tenant: String,
    /// The API client id.
    pub client: String,
}

/// The middleware: assigns the request id, serves the request inside its span, then logs one line
/// and records `http_requests_total` and `http_request_duration_seconds` (and, for API clients,
/// `api_client_requests_total` / `api_client_request_duration_seconds` by clinic and client, and
/// the clinic's durable usage counters).
///
/// The span carries only the request id, so lines logged while serving can be joined to the
/// request line; the request line itself is logged outside the span with every field of its own.
/// (Formatting span fields as JSON, and re-formatting them when a field is recorded later, cost
/// about a fifth of a public API call.)
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
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = request_id.as_str());
    let started = Instant::now();

    // Handler and extractor errors arrive here already rendered (inside this scope, so problem
    // bodies carry the id); only a failing middleware yields `Err`, which actix renders later.
    let result = REQUEST_ID
        .scope(request_id.clone(), next.call(req))
        .instrument(span)
        .await;

    let elapsed = started.elapsed();
    let (status, route, caller, state) = match &result {
        Ok(response) => {
            let request = response.request();
            (
                response.status(),
                // The route template (`/api/public/doctors/{id}`), never the concrete path.
                request.match_pattern(),
                request.extensions().get::<ApiClientLabels>().cloned(),
                request.app_data::<web::Data<AppState>>().cloned(),
            )
        }
        Err(err) => (err.as_response_error().status_code(), None, None, None),
    };
    let route = route.as_deref().unwrap_or("unmatched");
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    record_metrics(&method, route, status, elapsed, caller.as_ref());
    if let (Some(caller), Some(state)) = (&caller, &state) {
        count_usage(state, caller, status);
    }
    match &caller {
        Some(caller) => tracing::info!(
            request_id = request_id.as_str(),
            method = method.as_str(),
            route,
            status = status.as_u16(),
            latency_ms,
            tenant_id = caller.tenant.as_str(),
            client_id = caller.client.as_str(),
            "request served"
        ),
        None => tracing::info!(
            request_id = request_id.as_str(),
            method = method.as_str(),
            route,
            status = status.as_u16(),
            latency_ms,
            "request served"
        ),
    }
    let mut response = result?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// Counts an API client's request in the clinic's usage counters (in memory; flushed every few
/// seconds).
fn count_usage(state: &AppState, caller: &ApiClientLabels, status: StatusCode) {
    // The labels were written from a verified token, so they parse.
    if let (Ok(tenant), Some(client)) = (
        caller.tenant.parse::<TenantId>(),
        ClientId::parse(&caller.client),
    ) {
        state
            .usage_recorder
            .request(tenant, client, status.as_u16());
    }
}

/// The request's metrics, labelled by route template (bounded) and, for API clients, by clinic
/// and client.
fn record_metrics(
    method: &Method,
    route: &str,
    status: StatusCode,
    elapsed: Duration,
    caller: Option<&ApiClientLabels>,
) {
    let seconds = elapsed.as_secs_f64();
    HANDLES.with_borrow_mut(|handles| {
        let key = SeriesKey {
            method: method.clone(),
            route: route.into(),
            status: status.as_u16(),
            caller: caller.map(|c| (c.tenant.as_str().into(), c.client.as_str().into())),
        };
        if handles.len() >= HANDLE_CAPACITY {
            handles.clear();
        }
        let series = handles
            .entry(key)
            .or_insert_with(|| Series::register(method, route, status, caller));
        series.requests.increment(1);
        series.duration.record(seconds);
        if let Some((requests, duration)) = &series.api_client {
            requests.increment(1);
            duration.record(seconds);
        }
    });
}

/// What tells one set of series from another.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SeriesKey {
    method: Method,
    route: Box<str>,
    status: u16,
    caller: Option<(Box<str>, Box<str>)>,
}

/// The registered handles of one label set.
struct Series {
    requests: metrics::Counter,
    duration: metrics::Histogram,
    api_client: Option<(metrics::Counter, metrics::Histogram)>,
}

impl Series {
    fn register(
        method: &Method,
        route: &str,
        status: StatusCode,
        caller: Option<&ApiClientLabels>,
    ) -> Self {
        let labels = [
            ("method", method.as_str().to_owned()),
            ("route", route.to_owned()),
            ("status", status.as_str().to_owned()),
        ];
        Self {
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
            api_client: caller.map(|caller| {
                let [method, route, status] = labels.clone();
                (
                    metrics::counter!(
                        "api_client_requests_total",
                        "clinic" => caller.tenant.clone(),
                        "client" => caller.client.clone(),
                        method.0 => method.1,
                        route.0 => route.1,
                        status.0 => status.1
                    ),
                    metrics::histogram!("api_client_request_duration_seconds", &labels),
                )
            }),
        }
    }
}

/// Most label sets one thread keeps handles for; beyond it the cache starts over (the series
/// themselves stay registered).
const HANDLE_CAPACITY: usize = 4096;

thread_local! {
    /// Handles by label set. Looking a series up in the recorder builds its key (several
    /// allocations) and takes a lock on every request; each HTTP worker keeps its own handles.
    static HANDLES: RefCell<HashMap<SeriesKey, Series>> = RefCell::new(HashMap::new());
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
