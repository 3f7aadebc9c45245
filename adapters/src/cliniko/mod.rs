//! The Cliniko adapter: [`HttpClinikoClient`] implements `clinicgate_core::cliniko::ClinikoClient`
//! over Cliniko's REST API (facts from `shared/reference/cliniko-api.md`).
//!
//! - [`transport`]: headers, timeouts, retries, error mapping, pagination;
//! - [`budget`]: one shared rate budget per key with priority lanes, and the shared 429 pause;
//! - [`telemetry`]: per-clinic usage in `/metrics` and in shared per-minute counters;
//! - [`reference_cache`]: reference data cached per clinic, single-flight across instances;
//! - [`availability`]: cutting long ranges into Cliniko's 7-day windows in the business's zone;
//! - [`changes`]: incremental reads by `updated_at` for the change detector;
//! - [`wire`]: Cliniko's JSON, read into core's domain types and written from them.
//!
//! The Cliniko look-alike server the tests run against is a crate of its own,
//! `clinicgate-cliniko-sandbox` (`adapters/cliniko-sandbox/`), so no actix-web is built into the
//! adapters.
//!
//! It holds no state of its own that another instance needs: budgets, pauses and cached reference
//! data live in the shared-state ports.

mod availability;
mod budget;
mod changes;
mod client;
mod config;
mod key_id;
mod prepaid;
mod reference_cache;
mod responses;
mod telemetry;
mod transport;
mod wire;

pub use client::HttpClinikoClient;
pub use config::{BudgetConfig, ClinikoClientConfig, RetryConfig};
