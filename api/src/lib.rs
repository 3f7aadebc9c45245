//! ClinicGate's HTTP service: configuration, start-up wiring, routes, OpenAPI and the CLI.
//!
//! Depends on `clinicgate-core` for domain rules and on `clinicgate-adapters` for infrastructure;
//! [`startup`] is the only module that wires the two together.

pub mod cli;
pub mod config;
pub mod http;
pub mod openapi;
pub mod ops;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
