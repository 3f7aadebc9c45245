//! Appointments: which events a new version of an appointment means, given what was kept of the
//! last one.
//!
//! What is kept ([`AppointmentState`]) holds no patient data: times, doctor, clinic, type and the
//! status flags in plain, and the patient and notes only as a fingerprint ([`content`]). The
//! rules, in the order events are emitted:
//!
//! 1. a new appointment → `appointment.created` (then whatever else its first version shows);
//! 2. cancelled, archived or deleted → `appointment.cancelled`, and nothing else;
//! 3. time, end, doctor, clinic or type changed, or the patient or notes (the fingerprint) →
//!    `appointment.updated` (a reinstated appointment too);
//! 4. marked as not arrived → `appointment.did_not_arrive`; marked arrived →
//!    `appointment.patient_arrived` (not-arrived wins when both flags are set, as in
//!    [`crate::booking::AppointmentStatus`]);
//! 5. arrived and ended → `appointment.completed`, once ([`complete_if_due`] also fires it when
//!    only time passes).
//!
//! Anything else (reminder flags, invoice status, `updated_at` alone) emits nothing. Each
//! version also says which doctors' bookable time it touched (a booking, cancellation or move
//! within the availability horizon) and which doctors' queues (an arrived appointment that came,
//! went or moved).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::Prior;
use super::fingerprint::{Fingerprint, Fingerprints};
use crate::Result;
use crate::cliniko::{Appointment, ClinikoId};
use crate::events::EventType;

/// How far ahead a booking or cancellation changes a doctor's bookable slots
/// (`doctor.availability_changed` speaks of the next 14 days).
pub const AVAILABILITY_HORIZON: Duration = Duration::days(14);

/// What the poller keeps of an appointment between polls (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentState {
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// The doctor (Cliniko practitioner).
    pub doctor_id: Option<ClinikoId>,
    /// The clinic (Cliniko business).
    pub clinic_id: Option<ClinikoId>,
    /// The appointment type.
    pub appointment_type_id: Option<ClinikoId>,
    /// Not cancelled, archived or deleted.
    pub active: bool,
    /// Marked arrived.
    pub arrived: bool,
    /// Marked as not arrived.
    pub did_not_arrive: bool,
    /// When the arrival was first seen (Cliniko's `updated_at` of that version): Cliniko keeps a
    /// flag, not a time, and this orders the doctor's queue.
    pub arrived_at: Option<DateTime<Utc>>,
    /// `appointment.completed` was emitted (or the appointment was already over when adopted).
    pub completed: bool,
}

impl AppointmentState {
    fn of(appointment: &Appointment) -> Self {
        Self {
            starts_at: appointment.starts_at,
            ends_at: appointment.ends_at,
            doctor_id: appointment.practitioner_id.clone(),
            clinic_id: appointment.business_id.clone(),
            appointment_type_id: appointment.appointment_type_id.clone(),
            active: appointment.is_active(),
            arrived: appointment.patient_arrived == Some(true),
            did_not_arrive: appointment.did_not_arrive == Some(true),
            arrived_at: None,
            completed: false,
        }
    }

    /// In its doctor's queue: active, arrived, and not marked as not arrived.
    pub fn in_queue(&self) -> bool {
        self.active && self.arrived && !self.did_not_arrive
    }

    /// When it ends (its start when Cliniko gave no end).
    pub fn end(&self) -> DateTime<Utc> {
        self.ends_at.unwrap_or(self.starts_at)
    }

    /// When [`complete_if_due`] must look at it again: the end of an arrived appointment not yet
    /// completed.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        (self.in_queue() && !self.completed).then(|| self.end())
    }

    fn schedule(&self) -> impl PartialEq + '_ {
        (
            self.starts_at,
            self.ends_at,
            &self.doctor_id,
            &self.clinic_id,
            &self.appointment_type_id,
        )
    }

    /// Whether its time lies in the doctor's bookable window from `now`.
    fn in_window(&self, now: DateTime<Utc>) -> bool {
        self.end() > now && self.starts_at < now + AVAILABILITY_HORIZON
    }
}

/// The fingerprint of what an appointment's kept state leaves out but a subscriber sees: its
/// patient and its notes.
///
/// # Errors
/// `Internal` when it cannot be serialised.
pub fn content(fingerprints: &Fingerprints, appointment: &Appointment) -> Result<Fingerprint> {
    fingerprints.of(
        "appointment",
        &(&appointment.patient_id, &appointment.notes),
    )
}

/// A doctor's queue an appointment belongs (or belonged) to: the caller turns the start into the
/// clinic's local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTouch {
    /// The doctor.
    pub doctor_id: ClinikoId,
    /// The clinic, whose time zone says what day it is.
    pub clinic_id: Option<ClinikoId>,
    /// The appointment's start.
    pub starts_at: DateTime<Utc>,
}

/// What a version of an appointment means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentOutcome {
    /// The events, in order.
    pub events: Vec<EventType>,
    /// What to keep now.
    pub state: AppointmentState,
    /// Doctors whose bookable time changed.
    pub availability: Vec<ClinikoId>,
    /// Queues whose members changed.
    pub queues: Vec<QueueTouch>,
}

/// The events `after` means, given what was kept (`prior`: its state and content fingerprint),
/// its content fingerprint now, and the time.
pub fn diff(
    prior: Prior<'_, (AppointmentState, Fingerprint)>,
    after: &Appointment,
    content_now: Fingerprint,
    now: DateTime<Utc>,
) -> AppointmentOutcome {
    let mut state = AppointmentState::of(after);
    let seen_at = after.updated_at.unwrap_or(now);
    let (before, content_before, mut events) = match prior {
        Prior::Adopted | Prior::Unseen => {
            // Recorded as it is, and an appointment already over stays quiet: only an old
            // appointment changed since watching began (notes added, marked as not arrived
            // days later) says it was updated; what changed is unknown. Such an appointment
            // lies before the baseline's window, so no bookable time or queue moves with it.
            let events = if matches!(prior, Prior::Unseen) && state.active {
                vec![EventType::AppointmentUpdated]
            } else {
                Vec::new()
            };
            state.arrived_at = state.arrived.then_some(seen_at);
            state.completed = state.in_queue() && state.end() <= now;
            return AppointmentOutcome {
                events,
                state,
                availability: Vec::new(),
                queues: Vec::new(),
            };
        }
        Prior::Known((before, content)) => (before.clone(), *content, Vec::new()),
        // A new appointment is diffed against itself as booked, unmarked, so what its first
        // version already shows (cancelled, arrived) follows the creation.
        Prior::New => (
            AppointmentState {
                active: true,
                arrived: false,
                did_not_arrive: false,
                ..state.clone()
            },
            content_now,
            vec![EventType::AppointmentCreated],
        ),
    };
    let created = !events.is_empty();
    state.arrived_at = match (before.arrived, state.arrived) {
        (true, true) => before.arrived_at.or(Some(seen_at)),
        (false, true) => Some(seen_at),
        (_, false) => None,
    };
    state.completed = before.completed && state.in_queue();
    let moved = before.schedule() != state.schedule();

    if before.active && !state.active {
        events.push(EventType::AppointmentCancelled);
    } else if state.active {
        if !before.active || moved || content_before != content_now {
            events.push(EventType::AppointmentUpdated);
        }
        if state.did_not_arrive {
            if !before.did_not_arrive {
                events.push(EventType::AppointmentDidNotArrive);
            }
        } else if state.arrived && (!before.arrived || before.did_not_arrive) {
            events.push(EventType::AppointmentPatientArrived);
        }
        if state.in_queue() && !state.completed && state.end() <= now {
            events.push(EventType::AppointmentCompleted);
            state.completed = true;
        }
    }

    // A booking, cancellation or move changes the doctors' bookable time.
    let mut availability = Vec::new();
    let booked_or_freed = created || before.active != state.active || (state.active && moved);
    if booked_or_freed {
        for side in [&before, &state] {
            if (created || side.active || before.active)
                && side.in_window(now)
                && let Some(doctor) = &side.doctor_id
                && !availability.contains(doctor)
            {
                availability.push(doctor.clone());
            }
        }
    }
    if created && !state.active {
        // Booked and cancelled between two polls: nothing was ever taken.
        availability.clear();
    }

    let mut queues = Vec::new();
    if before.in_queue() != state.in_queue() || (state.in_queue() && moved) {
        for side in [&before, &state].into_iter().filter(|s| s.in_queue()) {
            if let Some(doctor) = &side.doctor_id {
                let touch = QueueTouch {
                    doctor_id: doctor.clone(),
                    clinic_id: side.clinic_id.clone(),
                    starts_at: side.starts_at,
                };
                if !queues.contains(&touch) {
                    queues.push(touch);
                }
            }
        }
    }

    AppointmentOutcome {
        events,
        state,
        availability,
        queues,
    }
}

/// Completes an arrived appointment whose end has passed, when only time has (no new version
/// from Cliniko): the new state to keep, if `appointment.completed` is due now.
pub fn complete_if_due(state: &AppointmentState, now: DateTime<Utc>) -> Option<AppointmentState> {
    (state.in_queue() && !state.completed && state.end() <= now).then(|| AppointmentState {
        completed: true,
        ..state.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::polling::fingerprint::test_fingerprints;
    use EventType::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn id(n: &str) -> ClinikoId {
        ClinikoId::parse(n).unwrap()
    }

    /// Now: an hour before the appointment.
    fn now() -> DateTime<Utc> {
        at("2030-05-21T08:00:00Z")
    }

    fn booked() -> Appointment {
        Appointment {
            ends_at: Some(at("2030-05-21T09:30:00Z")),
            practitioner_id: Some(id("11")),
            business_id: Some(id("21")),
            appointment_type_id: Some(id("31")),
            patient_id: Some(id("41")),
            notes: Some("Knee".into()),
            did_not_arrive: Some(false),
            patient_arrived: Some(false),
            created_at: Some(at("2030-05-01T00:00:00Z")),
            updated_at: Some(at("2030-05-01T00:00:00Z")),
            ..Appointment::new(id("1"), at("2030-05-21T09:00:00Z"))
        }
    }

    struct Kept(AppointmentState, Fingerprint);

    /// Keeps what the poller would after seeing `appointment` first (adopted).
    fn kept(appointment: &Appointment) -> Kept {
        let outcome = diff(Prior::Adopted, appointment, fp(appointment), now());
        Kept(outcome.state, fp(appointment))
    }

    fn fp(appointment: &Appointment) -> Fingerprint {
        content(&test_fingerprints(), appointment).unwrap()
    }

    fn next(before: &Kept, after: &Appointment, now: DateTime<Utc>) -> AppointmentOutcome {
        diff(
            Prior::Known(&(before.0.clone(), before.1)),
            after,
            fp(after),
            now,
        )
    }

    #[test]
    fn a_new_booking_is_created_and_takes_the_doctors_time() {
        let outcome = diff(Prior::New, &booked(), fp(&booked()), now());
        assert_eq!(outcome.events, [AppointmentCreated]);
        assert_eq!(outcome.availability, [id("11")]);
        assert!(outcome.queues.is_empty());
        let far = Appointment {
            ends_at: None,
            practitioner_id: Some(id("11")),
            ..Appointment::new(id("2"), now() + Duration::days(20))
        };
        let far_outcome = diff(Prior::New, &far, fp(&far), now());
        assert_eq!(far_outcome.events, [AppointmentCreated]);
        assert!(
            far_outcome.availability.is_empty(),
            "beyond the 14-day horizon"
        );
    }

    #[test]
    fn adopting_or_an_update_that_changes_nothing_visible_emits_nothing() {
        let adopted = diff(Prior::Adopted, &booked(), fp(&booked()), now());
        assert!(adopted.events.is_empty() && adopted.availability.is_empty());
        let before = kept(&booked());
        let touched = Appointment {
            updated_at: Some(at("2030-05-20T10:00:00Z")),
            telehealth_url: Some("https://x".into()),
            patient_name: Some("Renamed in Cliniko".into()),
            ..booked()
        };
        let outcome = next(&before, &touched, now());
        assert!(outcome.events.is_empty(), "{:?}", outcome.events);
        assert!(outcome.availability.is_empty() && outcome.queues.is_empty());
        assert_eq!(outcome.state, before.0);
    }

    #[test]
    fn a_change_of_time_doctor_type_or_notes_is_an_update() {
        let before = kept(&booked());
        let moved = Appointment {
            starts_at: at("2030-05-22T09:00:00Z"),
            ends_at: Some(at("2030-05-22T09:30:00Z")),
            ..booked()
        };
        let outcome = next(&before, &moved, now());
        assert_eq!(outcome.events, [AppointmentUpdated]);
        assert_eq!(outcome.availability, [id("11")]);
        let other_doctor = Appointment {
            practitioner_id: Some(id("12")),
            ..booked()
        };
        let outcome = next(&before, &other_doctor, now());
        assert_eq!(outcome.events, [AppointmentUpdated]);
        assert_eq!(outcome.availability, [id("11"), id("12")]);
        for changed in [
            Appointment {
                appointment_type_id: Some(id("32")),
                ..booked()
            },
            Appointment {
                notes: Some("Shoulder".into()),
                ..booked()
            },
        ] {
            assert_eq!(next(&before, &changed, now()).events, [AppointmentUpdated]);
        }
        let notes_only = next(
            &before,
            &Appointment {
                notes: Some("Shoulder".into()),
                ..booked()
            },
            now(),
        );
        assert!(
            notes_only.availability.is_empty(),
            "notes do not change slots"
        );
    }

    #[test]
    fn a_cancellation_is_only_a_cancellation_and_frees_the_time() {
        let before = kept(&booked());
        let cancelled = Appointment {
            cancelled_at: Some(now()),
            cancellation_reason: Some(50),
            notes: Some("changed while cancelling".into()),
            ..booked()
        };
        let outcome = next(&before, &cancelled, now());
        assert_eq!(outcome.events, [AppointmentCancelled]);
        assert_eq!(outcome.availability, [id("11")]);
        assert!(!outcome.state.active);
        let archived = Appointment {
            archived_at: Some(now()),
            ..booked()
        };
        assert_eq!(
            next(&before, &archived, now()).events,
            [AppointmentCancelled]
        );
        let again = Kept(outcome.state.clone(), fp(&cancelled));
        assert!(next(&again, &cancelled, now()).events.is_empty());
    }

    #[test]
    fn arrival_and_no_show_marks_are_their_own_events_and_arrivals_join_the_queue() {
        let before = kept(&booked());
        let arrived = Appointment {
            patient_arrived: Some(true),
            updated_at: Some(at("2030-05-21T08:55:00Z")),
            ..booked()
        };
        let outcome = next(&before, &arrived, now());
        assert_eq!(outcome.events, [AppointmentPatientArrived]);
        assert_eq!(
            outcome.state.arrived_at,
            Some(at("2030-05-21T08:55:00Z")),
            "ordered by when Cliniko recorded it"
        );
        assert!(outcome.availability.is_empty());
        assert_eq!(
            outcome.queues,
            [QueueTouch {
                doctor_id: id("11"),
                clinic_id: Some(id("21")),
                starts_at: at("2030-05-21T09:00:00Z")
            }]
        );
        assert_eq!(outcome.state.due_at(), Some(at("2030-05-21T09:30:00Z")));

        let missed = Appointment {
            did_not_arrive: Some(true),
            ..booked()
        };
        let outcome = next(&before, &missed, now());
        assert_eq!(outcome.events, [AppointmentDidNotArrive]);
        assert!(outcome.queues.is_empty());
        let both = Appointment {
            did_not_arrive: Some(true),
            patient_arrived: Some(true),
            ..booked()
        };
        assert_eq!(
            next(&before, &both, now()).events,
            [AppointmentDidNotArrive]
        );
    }

    #[test]
    fn an_arrived_appointment_completes_once_when_it_ends() {
        let before = kept(&booked());
        let arrived = Appointment {
            patient_arrived: Some(true),
            ..booked()
        };
        let outcome = next(&before, &arrived, now());
        assert!(!outcome.state.completed);
        assert_eq!(complete_if_due(&outcome.state, now()), None);
        let after_end = at("2030-05-21T09:30:00Z");
        let done = complete_if_due(&outcome.state, after_end).unwrap();
        assert!(done.completed && done.due_at().is_none());
        assert_eq!(complete_if_due(&done, after_end), None);

        // Marked arrived after it ended: arrived, then completed, in one poll.
        let late = next(&before, &arrived, at("2030-05-21T10:00:00Z"));
        assert_eq!(
            late.events,
            [AppointmentPatientArrived, AppointmentCompleted]
        );
        let kept_late = Kept(late.state, fp(&arrived));
        assert!(
            next(&kept_late, &arrived, at("2030-05-21T11:00:00Z"))
                .events
                .is_empty()
        );
    }

    #[test]
    fn an_appointment_booked_and_cancelled_between_polls_is_created_then_cancelled() {
        let gone = Appointment {
            cancelled_at: Some(now()),
            ..booked()
        };
        let outcome = diff(Prior::New, &gone, fp(&gone), now());
        assert_eq!(outcome.events, [AppointmentCreated, AppointmentCancelled]);
        assert!(outcome.availability.is_empty());
        let walked_in = Appointment {
            patient_arrived: Some(true),
            ..booked()
        };
        let outcome = diff(Prior::New, &walked_in, fp(&walked_in), now());
        assert_eq!(
            outcome.events,
            [AppointmentCreated, AppointmentPatientArrived]
        );
        assert_eq!(outcome.queues.len(), 1);
    }

    #[test]
    fn moving_an_arrived_appointment_touches_both_queues() {
        let arrived = Appointment {
            patient_arrived: Some(true),
            ..booked()
        };
        let before = kept(&arrived);
        let other_doctor = Appointment {
            practitioner_id: Some(id("12")),
            ..arrived
        };
        let outcome = next(&before, &other_doctor, now());
        assert_eq!(outcome.events, [AppointmentUpdated]);
        let doctors: Vec<_> = outcome.queues.iter().map(|q| q.doctor_id.clone()).collect();
        assert_eq!(doctors, [id("11"), id("12")]);
        assert_eq!(
            outcome.state.arrived_at, before.0.arrived_at,
            "still arrived since then"
        );
    }

    #[test]
    fn an_old_appointment_first_seen_changed_is_an_update_and_nothing_else() {
        let past = Appointment {
            did_not_arrive: Some(true),
            ..booked()
        };
        let later = at("2030-05-25T00:00:00Z");
        let outcome = diff(Prior::Unseen, &past, fp(&past), later);
        assert_eq!(outcome.events, [AppointmentUpdated]);
        assert!(outcome.availability.is_empty() && outcome.queues.is_empty());
        let cancelled = Appointment {
            cancelled_at: Some(at("2030-05-24T00:00:00Z")),
            ..booked()
        };
        assert!(
            diff(Prior::Unseen, &cancelled, fp(&cancelled), later)
                .events
                .is_empty()
        );
    }

    #[test]
    fn an_adopted_appointment_that_is_already_over_never_completes() {
        let past = Appointment {
            patient_arrived: Some(true),
            ..booked()
        };
        let outcome = diff(Prior::Adopted, &past, fp(&past), at("2030-05-22T00:00:00Z"));
        assert!(outcome.events.is_empty());
        assert!(outcome.state.completed);
        assert_eq!(
            complete_if_due(&outcome.state, at("2030-05-23T00:00:00Z")),
            None
        );
    }
}
