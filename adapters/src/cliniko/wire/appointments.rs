//! Individual appointments and free times as Cliniko writes them, and the bookings, changes and
//! cancellations sent to it.

use chrono::{DateTime, Utc};
use clinicgate_core::cliniko::{
    Appointment, AppointmentPatch, AvailableTime, Cancellation, ClinikoId, NewAppointment,
};
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};

use super::{
    ToWire, datetime, flag, link_id, required_datetime, text, through_mirror, write_datetime,
    write_optional_datetime,
};

#[derive(Deserialize)]
#[serde(remote = "Appointment")]
struct AppointmentDef {
    id: ClinikoId,
    #[serde(deserialize_with = "required_datetime")]
    starts_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "datetime")]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "text")]
    patient_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    notes: Option<String>,
    #[serde(rename = "patient", default, deserialize_with = "link_id")]
    patient_id: Option<ClinikoId>,
    #[serde(rename = "practitioner", default, deserialize_with = "link_id")]
    practitioner_id: Option<ClinikoId>,
    #[serde(rename = "business", default, deserialize_with = "link_id")]
    business_id: Option<ClinikoId>,
    #[serde(rename = "appointment_type", default, deserialize_with = "link_id")]
    appointment_type_id: Option<ClinikoId>,
    #[serde(default, deserialize_with = "datetime")]
    cancelled_at: Option<DateTime<Utc>>,
    #[serde(default)]
    cancellation_reason: Option<i64>,
    #[serde(default, deserialize_with = "text")]
    cancellation_reason_description: Option<String>,
    #[serde(default, deserialize_with = "text")]
    cancellation_note: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    did_not_arrive: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    patient_arrived: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    telehealth_url: Option<String>,
    #[serde(default, deserialize_with = "datetime")]
    archived_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    deleted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
}
through_mirror!(from Appointment => AppointmentDef);

/// `POST /individual_appointments`: ids as strings, times in whole seconds.
#[derive(Serialize)]
#[serde(remote = "NewAppointment")]
struct NewAppointmentDef {
    #[serde(serialize_with = "write_datetime")]
    starts_at: DateTime<Utc>,
    #[serde(
        serialize_with = "write_optional_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    ends_at: Option<DateTime<Utc>>,
    patient_id: ClinikoId,
    practitioner_id: ClinikoId,
    appointment_type_id: ClinikoId,
    business_id: ClinikoId,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
}
through_mirror!(to NewAppointment => NewAppointmentDef);

/// `PATCH /individual_appointments/{id}`: only the fields that change.
#[derive(Serialize)]
#[serde(remote = "AppointmentPatch")]
struct AppointmentPatchDef {
    #[serde(
        serialize_with = "write_optional_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    starts_at: Option<DateTime<Utc>>,
    #[serde(
        serialize_with = "write_optional_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    ends_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    practitioner_id: Option<ClinikoId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    appointment_type_id: Option<ClinikoId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    business_id: Option<ClinikoId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patient_arrived: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    did_not_arrive: Option<bool>,
}
through_mirror!(to AppointmentPatch => AppointmentPatchDef);

/// `PATCH /individual_appointments/{id}/cancel`: Cliniko's numeric reason code and the note.
impl ToWire for Cancellation {
    fn to_wire<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("cancellation_reason", &self.reason.code())?;
        if let Some(note) = &self.note {
            map.serialize_entry("cancellation_note", note)?;
        }
        map.end()
    }
}

/// One of `available_times`.
#[derive(Deserialize)]
#[serde(remote = "AvailableTime")]
struct AvailableTimeDef {
    #[serde(deserialize_with = "required_datetime")]
    appointment_start: DateTime<Utc>,
}
through_mirror!(from AvailableTime => AvailableTimeDef);

/// `GET …/next_available_time`: `appointment_start` is empty when nothing is free.
#[derive(Deserialize)]
pub(crate) struct NextAvailableTime {
    #[serde(default, deserialize_with = "datetime")]
    appointment_start: Option<DateTime<Utc>>,
}

impl NextAvailableTime {
    /// The time, if Cliniko has one.
    pub(crate) fn into_time(self) -> Option<AvailableTime> {
        self.appointment_start
            .map(|appointment_start| AvailableTime { appointment_start })
    }
}

/// `GET /individual_appointments/{id}/conflicts`.
#[derive(Deserialize)]
pub(crate) struct Conflicts {
    conflicts: Exist,
}

#[derive(Deserialize)]
struct Exist {
    exist: bool,
}

impl Conflicts {
    /// Whether the appointment overlaps another.
    pub(crate) fn exist(&self) -> bool {
        self.conflicts.exist
    }
}

#[cfg(test)]
mod tests {
    use clinicgate_core::cliniko::CancellationReason;

    use super::super::Wire;
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
            serde_json::to_value(Wire(&new)).unwrap(),
            serde_json::json!({
                "starts_at": "2030-05-21T08:45:00Z",
                "patient_id": "1665207670417663701",
                "practitioner_id": "2", "appointment_type_id": "3", "business_id": "4"
            })
        );
    }

    #[test]
    fn a_patch_sends_only_what_changes() {
        let patch = AppointmentPatch {
            ends_at: Some("2030-05-21T09:15:00Z".parse().unwrap()),
            notes: Some("moved".into()),
            ..AppointmentPatch::default()
        };
        assert_eq!(
            serde_json::to_value(Wire(&patch)).unwrap(),
            serde_json::json!({"ends_at": "2030-05-21T09:15:00Z", "notes": "moved"})
        );
    }

    #[test]
    fn a_cancellation_sends_the_numeric_reason_code() {
        let cancellation = Cancellation {
            reason: CancellationReason::Covid19Related,
            note: Some("isolating".into()),
        };
        assert_eq!(
            serde_json::to_value(Wire(&cancellation)).unwrap(),
            serde_json::json!({"cancellation_reason": 31, "cancellation_note": "isolating"})
        );
        let bare = Cancellation {
            reason: CancellationReason::Other,
            note: None,
        };
        assert_eq!(
            serde_json::to_value(Wire(&bare)).unwrap(),
            serde_json::json!({"cancellation_reason": 50})
        );
    }

    #[test]
    fn an_appointment_reads_its_related_records_from_links() {
        let Wire(appointment): Wire<Appointment> = serde_json::from_str(
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
        assert!(
            serde_json::from_str::<Wire<Appointment>>(r#"{"id": "9", "starts_at": ""}"#).is_err()
        );
    }

    #[test]
    fn free_times_and_an_empty_next_time_are_read() {
        let Wire(time): Wire<AvailableTime> =
            serde_json::from_str(r#"{"appointment_start": "2030-05-21T08:45:00Z"}"#).unwrap();
        assert_eq!(
            time.appointment_start.to_rfc3339(),
            "2030-05-21T08:45:00+00:00"
        );
        let next: NextAvailableTime = serde_json::from_str(r#"{"appointment_start": ""}"#).unwrap();
        assert!(next.into_time().is_none());
        let conflicts: Conflicts =
            serde_json::from_str(r#"{"conflicts": {"exist": true}}"#).unwrap();
        assert!(conflicts.exist());
    }
}
