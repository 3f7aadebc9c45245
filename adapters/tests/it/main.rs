//! Integration tests of the adapters, on the backends chosen by `CLINICGATE_TEST_DATABASE_URL`
//! and `CLINICGATE_TEST_REDIS_URL` (SQLite and in-process when unset).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is exactly what a test reports"
)]

mod backends;
mod clinics;
mod cliniko;
mod deliveries;
mod delivery_history;
mod outbound;
mod polling;
mod public_api;
mod secrets;
mod stores;
mod tenancy;
mod tokens;
mod usage;
mod users;
mod webhook_endpoints;
mod webhook_sender;
