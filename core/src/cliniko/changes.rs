//! Incremental reads: the records of one kind Cliniko changed at or after a time, oldest change
//! first, including the ones it hides by default (cancelled, archived). What the change detector
//! polls.

use chrono::{DateTime, Utc};

use super::{Appointment, DailyAvailability, Patient};

/// A kind of record read incrementally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feed {
    /// Individual appointments, cancelled and archived ones included.
    Appointments,
    /// Patients, archived ones included.
    Patients,
    /// Practitioners' daily availabilities.
    DailyAvailabilities,
}

/// Records of a [`Feed`] changed at or after `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeQuery {
    /// Which records.
    pub feed: Feed,
    /// Changed at or after this Cliniko `updated_at` (seconds); `None`: every record.
    pub since: Option<DateTime<Utc>>,
    /// Appointments only: those starting at or after this (a baseline need not read the past).
    pub starting_from: Option<DateTime<Utc>>,
    /// Stop once about this many records are read (at a page's end); the rest is for the next
    /// read, which starts from the last `updated_at` read.
    pub max_records: usize,
}

/// The records read, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Appointments.
    Appointments(Vec<Appointment>),
    /// Patients.
    Patients(Vec<Patient>),
    /// Daily availabilities.
    DailyAvailabilities(Vec<DailyAvailability>),
}

impl Changed {
    /// How many records were read.
    pub fn len(&self) -> usize {
        match self {
            Self::Appointments(records) => records.len(),
            Self::Patients(records) => records.len(),
            Self::DailyAvailabilities(records) => records.len(),
        }
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What [`super::ClinikoClient::changes`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The records, oldest change first, each once.
    pub records: Changed,
    /// Every matching record was read (`false`: `max_records` stopped the read early).
    pub complete: bool,
}
