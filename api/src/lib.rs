//! ClinicGate's HTTP service: configuration, start-up wiring, routes, OpenAPI and the CLI.
//!
//! Depends on `clinicgate-core` for domain rules and on `clinicgate-adapters` for infrastructure;
//! [`startup`] is the only module that wires the two together.

pub mod audit;
pub mod auth;
pub mod calendar_feeds;
pub mod cli;
pub mod clients;
pub mod clinic_settings;
pub mod clinics;
pub mod cliniko_key;
pub mod config;
pub mod dashboard;
#[cfg(feature = "cliniko-sandbox")]
pub mod demo;
pub mod events;
pub mod fhir;
pub mod fhir_destinations;
pub mod http;
pub mod login;
pub mod mfa;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod patients;
pub mod polling;
pub mod public;
pub mod routes;
pub mod sessions;
pub mod signup;
pub mod sso;
pub mod startup;
pub mod state;
pub mod suspensions;
pub mod telemetry;
pub mod usage;
pub mod users;
pub mod webhooks;

#[cfg(test)]
mod layering;
