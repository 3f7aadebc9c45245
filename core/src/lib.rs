//! ClinicGate's domain: validated newtypes, services and the ports (traits) that adapters implement.
//!
//! This crate must not depend on an HTTP framework, an ORM, Redis or an HTTP client: those live in
//! `clinicgate-adapters` (which implements the ports) and `clinicgate-api` (which wires them).
//! Pure computation (hashing, encoding) is fine here.

pub mod booking;
pub mod calendar_feeds;
pub mod clinic_settings;
pub mod clinics;
pub mod cliniko;
pub mod cliniko_key;
pub mod clock;
pub mod crypto;
pub mod dashboard;
pub mod delivery;
pub mod directory;
pub mod error;
pub mod events;
pub mod fhir;
pub mod fhir_push;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod link_tokens;
pub mod mfa;
pub mod notifications;
pub mod outbound;
pub mod partner_links;
pub mod patient_sync;
pub mod patients;
pub mod polling;
pub mod ports;
pub mod secrets;
pub mod sessions;
pub mod sso;
pub mod suspensions;
pub mod tenancy;
pub mod tokens;
pub mod usage;
pub mod users;
pub mod webhooks;

pub use error::{Error, FieldError, Result, UpstreamFailure};
