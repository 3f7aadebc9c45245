//! Operator endpoints: liveness, readiness and Prometheus metrics.

mod health;
mod prometheus;

pub use health::{Health, Readiness, healthz, readyz};
pub use prometheus::{metrics, recorder_handle};
