//! Individual appointments: reading, booking, changing and cancelling. Patient data: `Debug`
//! shows ids only.
//!
//! Cliniko does not stop double bookings or bookings outside availability; callers check
//! `appointment_conflicts` after booking. It has no idempotency keys, so writes are never retried.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ClinikoId, wire};

/// An individual appointment as Cliniko returns it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Appointment {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Start (UTC).
    #[serde(deserialize_with = "wire::required_datetime")]
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    #[serde(default, deserialize_with = "wire::datetime")]
    pub ends_at: Option<DateTime<Utc>>,
    /// The patient's name as Cliniko shows it.
    #[serde(default, deserialize_with = "wire::text")]
    pub patient_name: Option<String>,
    /// Notes.
    #[serde(default, deserialize_with = "wire::text")]
    pub notes: Option<String>,
    /// The patient.
    #[serde(rename = "patient", default, deserialize_with = "wire::link_id")]
    pub patient_id: Option<ClinikoId>,
    /// The practitioner.
    #[serde(rename = "practitioner", default, deserialize_with = "wire::link_id")]
    pub practitioner_id: Option<ClinikoId>,
    /// The business (location).
    #[serde(rename = "business", default, deserialize_with = "wire::link_id")]
    pub business_id: Option<ClinikoId>,
    /// The appointment type.
    #[serde(
        rename = "appointment_type",
        default,
        deserialize_with = "wire::link_id"
    )]
    pub appointment_type_id: Option<ClinikoId>,
    /// When cancelled.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Cancellation reason code (see [`CancellationReason`]).
    #[serde(default)]
    pub cancellation_reason: Option<i64>,
    /// Cancellation reason as text.
    #[serde(default, deserialize_with = "wire::text")]
    pub cancellation_reason_description: Option<String>,
    /// Cancellation note.
    #[serde(default, deserialize_with = "wire::text")]
    pub cancellation_note: Option<String>,
    /// Marked as did-not-arrive.
    #[serde(default, deserialize_with = "wire::flag")]
    pub did_not_arrive: Option<bool>,
    /// Marked as arrived.
    #[serde(default, deserialize_with = "wire::flag")]
    pub patient_arrived: Option<bool>,
    /// The practitioner's video link (present even when the type has no telehealth).
    #[serde(default, deserialize_with = "wire::text")]
    pub telehealth_url: Option<String>,
    /// When archived.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub archived_at: Option<DateTime<Utc>>,
    /// When deleted.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Appointment {
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
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct NewAppointment {
    /// Start (UTC).
    #[serde(serialize_with = "wire::write_datetime")]
    pub starts_at: DateTime<Utc>,
    /// End (UTC); `None` lets Cliniko use the type's duration.
    #[serde(
        serialize_with = "wire::write_optional_datetime",
        skip_serializing_if = "Option::is_none"
    )]
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
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppointmentPatch {
    /// New start (UTC).
    #[serde(
        serialize_with = "wire::write_optional_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub starts_at: Option<DateTime<Utc>>,
    /// New end (UTC).
    #[serde(
        serialize_with = "wire::write_optional_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub ends_at: Option<DateTime<Utc>>,
    /// Another practitioner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub practitioner_id: Option<ClinikoId>,
    /// Another appointment type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointment_type_id: Option<ClinikoId>,
    /// Another business.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_id: Option<ClinikoId>,
    /// Notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_arrived: Option<bool>,
    /// Did not arrive.
    #[serde(skip_serializing_if = "Option::is_none")]
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

impl Serialize for Cancellation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("cancellation_reason", &self.reason.code())?;
        if let Some(note) = &self.note {
            map.serialize_entry("cancellation_note", note)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ClinikoId {
        ClinikoId::parse(raw).unwrap()
    }

    #[test]
    fn a_new_appointment_sends_string_ids_and_second_precision_utc() {
        let new = NewAppointment {
            starts_at: "2030-05-21T08:45:00.123Z".parse().unwrap(),
            ends_at: None,
            patient_id: id("1665207670417663701"),
            practitioner_id: id("2"),
            appointment_type_id: id("3"),
            business_id: id("4"),
            notes: None,
        };
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            serde_json::json!({
                "starts_at": "2030-05-21T08:45:00Z",
                "patient_id": "1665207670417663701",
                "practitioner_id": "2", "appointment_type_id": "3", "business_id": "4"
            })
        );
    }

    #[test]
    fn a_cancellation_sends_the_numeric_reason_code() {
        let cancellation = Cancellation {
            reason: CancellationReason::Covid19Related,
            note: Some("isolating".into()),
        };
        assert_eq!(
            serde_json::to_value(&cancellation).unwrap(),
            serde_json::json!({"cancellation_reason": 31, "cancellation_note": "isolating"})
        );
        for reason in CancellationReason::ALL {
            assert_eq!(
                CancellationReason::from_code(reason.code().into()),
                Some(reason)
            );
        }
    }

    #[test]
    fn an_appointment_reads_its_related_records_from_links() {
        let appointment: Appointment = serde_json::from_str(
            r#"{"id": "9", "starts_at": "2030-05-21T08:45:00Z", "ends_at": "2030-05-21T09:15:00Z",
                "cancelled_at": "", "repeat_rule": {},
                "patient": {"links": {"self": "https://api.uk1.cliniko.com/v1/patients/11"}},
                "practitioner": {"links": {"self": "https://api.uk1.cliniko.com/v1/practitioners/12"}},
                "business": {"links": {"self": "https://api.uk1.cliniko.com/v1/businesses/13"}},
                "appointment_type": {"links": {"self": "https://api.uk1.cliniko.com/v1/appointment_types/14"}}}"#,
        )
        .unwrap();
        assert_eq!(appointment.patient_id, Some(id("11")));
        assert_eq!(appointment.appointment_type_id, Some(id("14")));
        assert!(appointment.is_active());
    }
}
