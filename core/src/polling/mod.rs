//! Change detection over Cliniko: the rules that turn a new version of a record into events,
//! given what ClinicGate kept of the last version (pure functions), and the [`ChangeDetector`]
//! that polls clinics' Cliniko and commits what the rules say, through the [`PollStore`] port.
//!
//! - [`appointments`]: `appointment.*`, and which doctors' bookable time and queues a change
//!   touches;
//! - [`patients`]: `patient.*` (only fields a subscriber sees count);
//! - [`hours`]: doctors' working hours, which touch their bookable time;
//! - [`availability`]: `doctor.availability_changed`, coalesced per doctor per minute;
//! - [`queue`]: `doctor.queue_updated`, a doctor's day rebuilt from arrival flags;
//! - [`fingerprint`]: keyed hashes of what a subscriber sees, so no patient data is kept to
//!   diff;
//! - [`phones`]: keyed hashes of patients' numbers, so FHIR can search patients by phone;
//! - [`store`]: the port the database implements (schedule and leases, cursors, snapshots,
//!   marks, and the one transaction a poll commits).
//!
//! The first sight of a record is [`Prior::New`] (an event), [`Prior::Adopted`] (the baseline:
//! silent) or [`Prior::Unseen`] (an old record the baseline did not read, changed since: an
//! update).

pub mod appointments;
pub mod availability;
mod detector;
pub mod fingerprint;
pub mod hours;
mod own_writes;
pub mod patients;
pub mod phones;
mod prior;
pub mod queue;
pub mod store;

/// Clinics' time zones, for the FHIR backfill's appointment events (as the poller's).
pub(crate) use detector::zones::Zones;
pub use detector::{ChangeDetector, PollOutcome, PollSettings};
pub use fingerprint::{Fingerprint, Fingerprints};
pub use phones::{PhoneIndex, PhoneLookup};
pub use prior::Prior;
pub use store::{
    Committed, Cursor, Expect, Mark, MarkKind, PollClaim, PollCommit, PollLease, PollStore,
    Release, Resource, Snapshot,
};
