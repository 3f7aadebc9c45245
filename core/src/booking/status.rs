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
    use serde_json::json;

    use super::*;

    fn appointment(extra: serde_json::Value) -> Appointment {
        let mut base = json!({"id": "1", "starts_at": "2030-05-21T08:00:00Z",
            "ends_at": "2030-05-21T08:30:00Z"});
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn each_status_follows_from_clinikos_fields() {
        let before: DateTime<Utc> = "2030-05-21T08:10:00Z".parse().unwrap();
        let after: DateTime<Utc> = "2030-05-21T09:00:00Z".parse().unwrap();
        let status = |extra, now| AppointmentStatus::of(&appointment(extra), now);
        assert_eq!(status(json!({}), before), AppointmentStatus::Booked);
        assert_eq!(status(json!({}), after), AppointmentStatus::Booked);
        assert_eq!(
            status(json!({"cancelled_at": "2030-05-20T00:00:00Z"}), before),
            AppointmentStatus::Cancelled
        );
        assert_eq!(
            status(
                json!({"archived_at": "2030-05-20T00:00:00Z", "patient_arrived": true}),
                after
            ),
            AppointmentStatus::Cancelled
        );
        assert_eq!(
            status(json!({"did_not_arrive": true}), after),
            AppointmentStatus::DidNotArrive
        );
        assert_eq!(
            status(json!({"patient_arrived": true}), before),
            AppointmentStatus::Arrived
        );
        assert_eq!(
            status(json!({"patient_arrived": true}), after),
            AppointmentStatus::Completed
        );
    }
}
