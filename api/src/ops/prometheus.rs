//! `/metrics` in the Prometheus text format.

use std::sync::OnceLock;

use actix_web::{HttpResponse, get, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Latency buckets (seconds) for `http_request_duration_seconds`: fine below 10 ms, where the
/// gateway's own overhead lives.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder's handle, installing the recorder on first use. The `metrics` facade
/// has one global recorder per process, so every app in a process (tests start several) shares it.
pub fn recorder_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(LATENCY_BUCKETS) {
                Ok(with_buckets) => with_buckets,
                Err(err) => {
                    tracing::warn!(error = %err, "latency buckets refused; falling back to summaries");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(err) = ::metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %err, "a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Prometheus metrics: request counts and latency by route template and status.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
