//! Faults injected under a running ClinicGate, observed through its HTTP surface: the database
//! going away and coming back, and one of two instances killed under load. Each test prints the
//! figures it measured (`eprintln!`, shown with `--nocapture`) for `docs/operations.md`.

mod database;
mod instances;

use std::time::Duration;

/// How long any single request may take while a fault is on: an answer that needs longer is a
/// hang as far as a caller behind a load balancer is concerned.
const REQUEST_BOUND: Duration = Duration::from_secs(6);

/// Whether `response` is an RFC 9457 problem that tells the caller when to retry: the shape
/// every 503 must have.
fn is_retryable_problem(response: &reqwest::Response) -> bool {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    response.status() == 503
        && header("content-type").starts_with("application/problem+json")
        && header("retry-after").parse::<u64>().is_ok()
}
