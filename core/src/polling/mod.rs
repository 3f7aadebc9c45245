//! Change detection over Cliniko: the rules that turn a new version of a record into events,
//! given what ClinicGate kept of the last version. These are pure functions: fetching versions
//! and storing what is kept is the poller's job.
//!
//! - [`appointments`]: `appointment.*`, and which doctors' bookable time and queues a change
//!   touches;
//! - [`patients`]: `patient.*` (only fields a subscriber sees count);
//! - [`hours`]: doctors' working hours, which touch their bookable time;
//! - [`availability`]: `doctor.availability_changed`, coalesced per doctor per minute;
//! - [`queue`]: `doctor.queue_updated`, a doctor's day rebuilt from arrival flags;
//! - [`fingerprint`]: keyed hashes of what a subscriber sees, so no patient data is kept to
//!   diff.
//!
//! The first sight of a record is [`Prior::New`] (an event) or [`Prior::Adopted`] (the baseline:
//! silent).

pub mod appointments;
pub mod availability;
pub mod fingerprint;
pub mod hours;
pub mod patients;
mod prior;
pub mod queue;

pub use fingerprint::{Fingerprint, Fingerprints};
pub use prior::Prior;
