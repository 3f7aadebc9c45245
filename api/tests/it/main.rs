//! Integration tests through the real HTTP surface, on the backends selected by
//! `CLINICGATE_TEST_DATABASE_URL` / `CLINICGATE_TEST_REDIS_URL` (SQLite + in-process when unset).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed expectation is exactly what a test reports"
)]

#[path = "../common/mod.rs"]
mod common;

mod binary;
mod calendar_feeds;
mod cliniko;
mod cliniko_key;
mod dashboard;
mod error_bodies;
mod errors;
mod faults;
mod fhir;
mod fhir_push;
mod health;
mod identity;
mod mfa;
mod mfa_required;
mod notifications;
mod openapi;
mod pages;
mod password_mail;
mod patient_sync;
mod patients;
mod polling;
mod public_api;
mod rotation;
mod secrets_at_rest;
mod sessions;
mod shared_store;
mod signup;
mod sso;
mod staff;
mod suspensions;
mod tenancy;
mod tokens;
mod usage;
mod webhooks;
