//! Browser tests: headless Debian Chromium driven through chromedriver (WebDriver), against a
//! real ClinicGate on port 0.
//!
//! They need Debian's `chromium` and `chromium-driver`. With `CLINICGATE_BROWSER_TESTS=1` (as CI
//! sets) a missing browser fails the run; without it, a machine lacking chromedriver prints that
//! the browser tests were not run and passes, so `cargo test` works on a fresh machine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is exactly what a test reports"
)]

#[path = "../common/mod.rs"]
mod common;

mod browser;
mod cleanup;
mod clients;
mod dashboard;
mod docs;
mod fhir;
mod notifications;
mod onboarding;
mod partners;
mod patients;
mod sandbox;
mod sign_in;
mod two_step;
mod webhooks;
