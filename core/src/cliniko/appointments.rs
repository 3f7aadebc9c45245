//! Individual appointments: reading, booking, changing and cancelling. Patient data: `Debug`
//! shows ids only.
//!
//! Cliniko does not stop double bookings or bookings outside availability; callers check
//! `appointment_conflicts` after booking. It has no idempotency keys, so writes are never retried.

use std::fmt;

use chrono::{DateTime, Utc};

use super::ClinikoId;

/// An individual appointment as Cliniko holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Appointment {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    pub ends_at: Option<DateTime<Utc>>,
    /// The patient's name as Cliniko shows it.
    pub patient_name: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// The patient.
    pub patient_id: Option<ClinikoId>,
    /// The practitioner.
    pub practitioner_id: Option<ClinikoId>,
    /// The business (location).
    pub business_id: Option<ClinikoId>,
    /// The appointment type.
    pub appointment_type_id: Option<ClinikoId>,
    /// When cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Cancellation reason code (see [`CancellationReason`]).
    pub cancellation_reason: Option<i64>,
    /// Cancellation reason as text.
    pub cancellation_reason_description: Option<String>,
    /// Cancellation note.
    pub cancellation_note: Option<String>,
    /// Marked as did-not-arrive.
    pub did_not_arrive: Option<bool>,
    /// Marked as arrived.
    pub patient_arrived: Option<bool>,
    /// The practitioner's video link (present even when the type has no telehealth).
    pub telehealth_url: Option<String>,
    /// When archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Appointment {
    /// An appointment known only by its id and start: every other field absent.
    pub fn new(id: ClinikoId, starts_at: DateTime<Utc>) -> Self {
        Self {
            id,
            starts_at,
            ends_at: None,
            patient_name: None,
            notes: None,
            patient_id: None,
            practitioner_id: None,
            business_id: None,
            appointment_type_id: None,
            cancelled_at: None,
            cancellation_reason: None,
            cancellation_reason_description: None,
            cancellation_note: None,
            did_not_arrive: None,
            patient_arrived: None,
            telehealth_url: None,
            archived_at: None,
            deleted_at: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// Whether the appointment still takes place (not cancelled, archived or deleted).
    pub fn is_active(&self) -> bool {
        self.cancelled_at.is_none() && self.archived_at.is_none() && self.deleted_at.is_none()
    }
}

impl fmt::Debug for Appointment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appointment")
            .field("id", &self.id)
            .field("starts_at", &self.starts_at)
            .finish_non_exhaustive()
    }
}

/// A booking to create. All four ids are required by Cliniko; `ends_at` defaults to the start
/// plus the appointment type's duration.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAppointment {
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC); `None` lets Cliniko use the type's duration.
    pub ends_at: Option<DateTime<Utc>>,
    /// The patient.
    pub patient_id: ClinikoId,
    /// The practitioner.
    pub practitioner_id: ClinikoId,
    /// The appointment type.
    pub appointment_type_id: ClinikoId,
    /// The business.
    pub business_id: ClinikoId,
    /// Notes.
    pub notes: Option<String>,
}

impl fmt::Debug for NewAppointment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAppointment")
            .field("starts_at", &self.starts_at)
            .field("practitioner_id", &self.practitioner_id)
            .finish_non_exhaustive()
    }
}

/// Changes to an appointment; `None` leaves a field alone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AppointmentPatch {
    /// New start (UTC).
    pub starts_at: Option<DateTime<Utc>>,
    /// New end (UTC).
    pub ends_at: Option<DateTime<Utc>>,
    /// Another practitioner.
    pub practitioner_id: Option<ClinikoId>,
    /// Another appointment type.
    pub appointment_type_id: Option<ClinikoId>,
    /// Another business.
    pub business_id: Option<ClinikoId>,
    /// Notes.
    pub notes: Option<String>,
    /// Arrived.
    pub patient_arrived: Option<bool>,
    /// Did not arrive.
    pub did_not_arrive: Option<bool>,
}

impl fmt::Debug for AppointmentPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppointmentPatch")
            .field("starts_at", &self.starts_at)
            .finish_non_exhaustive()
    }
}

/// Why an appointment is cancelled: Cliniko's fixed reason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancellationReason {
    /// 10.
    FeelingBetter,
    /// 20.
    ConditionWorse,
    /// 30.
    Sick,
    /// 31.
    Covid19Related,
    /// 40.
    Away,
    /// 50.
    Other,
    /// 60.
    Work,
}

impl CancellationReason {
    /// Every reason.
    pub const ALL: [Self; 7] = [
        Self::FeelingBetter,
        Self::ConditionWorse,
        Self::Sick,
        Self::Covid19Related,
        Self::Away,
        Self::Other,
        Self::Work,
    ];

    /// Cliniko's code.
    pub const fn code(self) -> u8 {
        match self {
            Self::FeelingBetter => 10,
            Self::ConditionWorse => 20,
            Self::Sick => 30,
            Self::Covid19Related => 31,
            Self::Away => 40,
            Self::Other => 50,
            Self::Work => 60,
        }
    }

    /// The reason for a code.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| i64::from(reason.code()) == code)
    }

    /// Cliniko's wording.
    pub const fn description(self) -> &'static str {
        match self {
            Self::FeelingBetter => "Feeling Better",
            Self::ConditionWorse => "Condition Worse",
            Self::Sick => "Sick",
            Self::Covid19Related => "COVID-19 related",
            Self::Away => "Away",
            Self::Other => "Other",
            Self::Work => "Work",
        }
    }
}

/// A cancellation: a reason (required by Cliniko) and an optional note.
#[derive(Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// Why.
    pub reason: CancellationReason,
    /// Free text.
    pub note: Option<String>,
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cancellation_reason_goes_back_and_forth_through_its_code() {
        for reason in CancellationReason::ALL {
            assert_eq!(
                CancellationReason::from_code(reason.code().into()),
                Some(reason)
            );
        }
        assert_eq!(CancellationReason::from_code(11), None);
    }

    #[test]
    fn an_appointment_takes_place_until_cancelled_archived_or_deleted() {
        let at: DateTime<Utc> = "2030-05-21T08:45:00Z".parse().unwrap();
        let appointment = Appointment::new(ClinikoId::parse("9").unwrap(), at);
        assert!(appointment.is_active());
        for gone in [
            Appointment {
                cancelled_at: Some(at),
                ..appointment.clone()
            },
            Appointment {
                archived_at: Some(at),
                ..appointment.clone()
            },
            Appointment {
                deleted_at: Some(at),
                ..appointment.clone()
            },
        ] {
            assert!(!gone.is_active());
        }
    }
}
