//! ClinicGate's events: what changed in a clinic's Cliniko or through ClinicGate, which every
//! outbound kind (webhooks, FHIR push, partner sync, notifications) subscribes to.

mod types;

pub use types::EventType;
