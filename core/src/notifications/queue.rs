//! Queue progress from `doctor.queue_updated`: what each waiting patient hears.
//!
//! - Their **place**: the number of waiting patients ahead of them, plus one, in arrival order.
//!   It is sent when it changes: the idempotency key is the appointment × `place:N`, so an event
//!   that leaves a patient's place as it was sends nothing to them.
//! - **The doctor is running late**: the patient being seen started more than the rule's
//!   `late_after_minutes` after their scheduled start. Cliniko records no "seen at", so the
//!   start is taken from the queue itself: the later of the appointment's start and the end of
//!   the last appointment seen before it (the doctor was busy until then). Sent once per
//!   waiting appointment (key `late`).
//!
//! "The doctor has arrived" has no source in Cliniko (it keeps no practitioner check-in), so
//! there is no such message.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::NotificationRuleId;

/// The queue event's data as the sender reads it (the public API's `DoctorQueueOut`).
#[derive(Debug, Deserialize)]
pub(super) struct QueueEvent {
    /// The clinic's time zone.
    pub time_zone: String,
    /// Arrived patients, in arrival order.
    pub entries: Vec<QueueEntryIn>,
}

/// One arrived appointment of the queue event.
#[derive(Debug, Deserialize)]
pub(super) struct QueueEntryIn {
    /// Position in arrival order.
    pub token: u32,
    /// The appointment.
    pub appointment_id: String,
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// Its end.
    pub ends_at: Option<DateTime<Utc>>,
    /// `waiting`, `being_seen` or `seen`.
    pub status: String,
}

/// What one waiting patient hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueProgress {
    /// Their place in the queue, from 1 (next).
    Place(u32),
    /// The doctor is running this many minutes late.
    Late {
        /// Whole minutes.
        minutes: i64,
    },
}

impl QueueProgress {
    /// The idempotency key's progress part (`place:2`, `late`).
    pub fn key(self) -> String {
        match self {
            Self::Place(place) => format!("place:{place}"),
            Self::Late { .. } => "late".to_owned(),
        }
    }
}

/// The idempotency key of one queue message: rule × appointment × progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueKey {
    /// The queue rule.
    pub rule: NotificationRuleId,
    /// Cliniko's id of the waiting appointment.
    pub appointment_id: String,
    /// What it says ([`QueueProgress::key`]).
    pub progress: String,
}

/// The messages `entries` call for, per waiting appointment, in queue order: its place, and
/// then "running late" when the patient being seen started more than `late_after` minutes late.
pub(super) fn progress_of(
    entries: &[QueueEntryIn],
    late_after: u16,
) -> Vec<(String, QueueProgress)> {
    let mut ordered: Vec<&QueueEntryIn> = entries.iter().collect();
    ordered.sort_by_key(|entry| entry.token);
    let late = ordered
        .iter()
        .position(|entry| entry.status == "being_seen")
        .and_then(|at| {
            let seen = ordered[at];
            let free_from = ordered[..at]
                .iter()
                .filter(|entry| entry.status == "seen")
                .filter_map(|entry| entry.ends_at)
                .max();
            let started = free_from.map_or(seen.starts_at, |free| free.max(seen.starts_at));
            let minutes = (started - seen.starts_at).num_minutes();
            (minutes > i64::from(late_after)).then_some(QueueProgress::Late { minutes })
        });
    let mut out = Vec::new();
    for (entry, place) in ordered
        .iter()
        .filter(|entry| entry.status == "waiting")
        .zip(1_u32..)
    {
        out.push((entry.appointment_id.clone(), QueueProgress::Place(place)));
        if let Some(late) = late {
            out.push((entry.appointment_id.clone(), late));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(token: u32, start: &str, end: &str, status: &str) -> QueueEntryIn {
        let at = |t: &str| format!("2030-05-21T{t}:00Z").parse().unwrap();
        QueueEntryIn {
            token,
            appointment_id: format!("10{token}"),
            starts_at: at(start),
            ends_at: Some(at(end)),
            status: status.to_owned(),
        }
    }

    #[test]
    fn waiting_patients_hear_their_place_among_the_waiting() {
        let entries = [
            entry(1, "08:00", "08:30", "seen"),
            entry(2, "09:00", "09:30", "being_seen"),
            entry(4, "10:00", "10:30", "waiting"),
            entry(3, "09:30", "10:00", "waiting"),
        ];
        assert_eq!(
            progress_of(&entries, 15),
            [
                ("103".to_owned(), QueueProgress::Place(1)),
                ("104".to_owned(), QueueProgress::Place(2)),
            ]
        );
    }

    #[test]
    fn a_patient_seen_well_after_their_start_means_the_doctor_runs_late() {
        // Token 1 overran to 09:40: token 2, due at 09:15, started 25 minutes late.
        let entries = [
            entry(1, "09:00", "09:40", "seen"),
            entry(2, "09:15", "09:45", "being_seen"),
            entry(3, "09:45", "10:15", "waiting"),
        ];
        assert_eq!(
            progress_of(&entries, 15),
            [
                ("103".to_owned(), QueueProgress::Place(1)),
                ("103".to_owned(), QueueProgress::Late { minutes: 25 }),
            ]
        );
        assert_eq!(progress_of(&entries, 30).len(), 1, "under the threshold");
        assert_eq!(QueueProgress::Late { minutes: 25 }.key(), "late");
        assert_eq!(QueueProgress::Place(3).key(), "place:3");
    }
}
