//! An appointment's status as the public API reports it, derived from Cliniko's fields (Cliniko
//! has no status field of its own).

use chrono::{DateTime, Utc};

use crate::cliniko::Appointment;

/// Where an appointment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppointmentStatus {
    /// Booked and not yet attended.
    Booked,
    /// Cancelled (or archived/deleted in Cliniko, which also takes it off the calendar).
    Cancelled,
    /// The patient has arrived and the appointment has not ended yet.
    Arrived,
    /// The practitioner marked the patient as not having come.
    DidNotArrive,
    /// The patient arrived and the appointment has ended.
    Completed,
}

impl AppointmentStatus {
    /// The derivation, first match wins:
    /// 1. `cancelled_at`, `archived_at` or `deleted_at` set → `cancelled`;
    /// 2. `did_not_arrive` → `did_not_arrive`;
    /// 3. `patient_arrived` → `completed` once `ends_at` (else `starts_at`) has passed, else
    ///    `arrived`;
    /// 4. otherwise `booked` (also after its time: Cliniko only knows what staff mark).
    pub fn of(appointment: &Appointment, now: DateTime<Utc>) -> Self {
        if !appointment.is_active() {
            Self::Cancelled
        } else if appointment.did_not_arrive == Some(true) {
            Self::DidNotArrive
        } else if appointment.patient_arrived == Some(true) {
            let end = appointment.ends_at.unwrap_or(appointment.starts_at);
            if end <= now {
                Self::Completed
            } else {
                Self::Arrived
            }
        } else {
            Self::Booked
        }
    }

    /// The API's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Cancelled => "cancelled",
            Self::Arrived => "arrived",
            Self::DidNotArrive => "did_not_arrive",
            Self::Completed => "completed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cliniko::ClinikoId;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn appointment() -> Appointment {
        Appointment {
            ends_at: Some(at("2030-05-21T08:30:00Z")),
            ..Appointment::new(ClinikoId::parse("1").unwrap(), at("2030-05-21T08:00:00Z"))
        }
    }

    #[test]
    fn each_status_follows_from_clinikos_fields() {
        let before = at("2030-05-21T08:10:00Z");
        let after = at("2030-05-21T09:00:00Z");
        let status = |appointment: Appointment, now| AppointmentStatus::of(&appointment, now);
        assert_eq!(status(appointment(), before), AppointmentStatus::Booked);
        assert_eq!(status(appointment(), after), AppointmentStatus::Booked);
        let cancelled = Appointment {
            cancelled_at: Some(at("2030-05-20T00:00:00Z")),
            ..appointment()
        };
        assert_eq!(status(cancelled, before), AppointmentStatus::Cancelled);
        let archived = Appointment {
            archived_at: Some(at("2030-05-20T00:00:00Z")),
            patient_arrived: Some(true),
            ..appointment()
        };
        assert_eq!(status(archived, after), AppointmentStatus::Cancelled);
        let missed = Appointment {
            did_not_arrive: Some(true),
            ..appointment()
        };
        assert_eq!(status(missed, after), AppointmentStatus::DidNotArrive);
        let arrived = Appointment {
            patient_arrived: Some(true),
            ..appointment()
        };
        assert_eq!(status(arrived.clone(), before), AppointmentStatus::Arrived);
        assert_eq!(status(arrived, after), AppointmentStatus::Completed);
    }
}
