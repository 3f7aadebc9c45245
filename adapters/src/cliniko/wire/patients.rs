//! Patients, their phone numbers and medical alerts as Cliniko writes them, and the patient
//! fields sent to create or change one (only those that are set).

use chrono::{DateTime, NaiveDate, Utc};
use clinicgate_core::cliniko::{ClinikoId, MedicalAlert, Patient, PatientFields, PhoneNumber};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{date, datetime, flag, link_id, text, through_mirror};

#[derive(Deserialize)]
#[serde(remote = "Patient")]
struct PatientDef {
    id: ClinikoId,
    #[serde(default, deserialize_with = "text")]
    title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    last_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    preferred_first_name: Option<String>,
    #[serde(default, deserialize_with = "date")]
    date_of_birth: Option<NaiveDate>,
    #[serde(default, deserialize_with = "text")]
    email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    sex: Option<String>,
    #[serde(default, deserialize_with = "text")]
    gender_identity: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pronouns: Option<String>,
    #[serde(default, deserialize_with = "text")]
    address_1: Option<String>,
    #[serde(default, deserialize_with = "text")]
    address_2: Option<String>,
    #[serde(default, deserialize_with = "text")]
    address_3: Option<String>,
    #[serde(default, deserialize_with = "text")]
    city: Option<String>,
    #[serde(default, deserialize_with = "text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "text")]
    post_code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    country: Option<String>,
    #[serde(default, deserialize_with = "text")]
    country_code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    time_zone: Option<String>,
    #[serde(
        rename = "patient_phone_numbers",
        default,
        deserialize_with = "read_phones"
    )]
    phone_numbers: Option<Vec<PhoneNumber>>,
    #[serde(default, deserialize_with = "text")]
    emergency_contact: Option<String>,
    #[serde(default, deserialize_with = "text")]
    occupation: Option<String>,
    #[serde(default, deserialize_with = "text")]
    notes: Option<String>,
    #[serde(default, deserialize_with = "text")]
    medicare: Option<String>,
    #[serde(default, deserialize_with = "text")]
    medicare_reference_number: Option<String>,
    #[serde(default, deserialize_with = "text")]
    old_reference_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    reminder_type: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    accepted_privacy_policy: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    accepted_email_marketing: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    accepted_sms_marketing: Option<bool>,
    #[serde(default, deserialize_with = "datetime")]
    archived_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    deleted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
}
through_mirror!(from Patient => PatientDef);

/// One of `patient_phone_numbers`, read and written (whole, `null`s included).
#[derive(Serialize, Deserialize)]
#[serde(remote = "PhoneNumber")]
struct PhoneNumberDef {
    #[serde(default, deserialize_with = "text")]
    phone_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    number: Option<String>,
}

/// A phone number read inside a list, through [`PhoneNumberDef`].
#[derive(Deserialize)]
struct Phone(#[serde(with = "PhoneNumberDef")] PhoneNumber);

/// `patient_phone_numbers`, which Cliniko may send as `null`.
fn read_phones<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PhoneNumber>>, D::Error> {
    let phones = Option::<Vec<Phone>>::deserialize(d)?;
    Ok(phones.map(|phones| phones.into_iter().map(|Phone(phone)| phone).collect()))
}

/// `patient_phone_numbers` to send (callers skip `None`).
fn write_phones<S: Serializer>(phones: &Option<Vec<PhoneNumber>>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct PhoneRef<'a>(#[serde(with = "PhoneNumberDef")] &'a PhoneNumber);
    match phones {
        Some(phones) => s.collect_seq(phones.iter().map(PhoneRef)),
        None => s.serialize_none(),
    }
}

/// `POST /patients` and `PATCH /patients/{id}`: only the fields that are set.
#[derive(Serialize)]
#[serde(remote = "PatientFields")]
struct PatientFieldsDef {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_of_birth: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address_3: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
    #[serde(
        rename = "patient_phone_numbers",
        skip_serializing_if = "Option::is_none",
        serialize_with = "write_phones"
    )]
    phone_numbers: Option<Vec<PhoneNumber>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_reference_id: Option<String>,
}
through_mirror!(to PatientFields => PatientFieldsDef);

#[derive(Deserialize)]
#[serde(remote = "MedicalAlert")]
struct MedicalAlertDef {
    id: ClinikoId,
    #[serde(default, deserialize_with = "text")]
    name: Option<String>,
    #[serde(rename = "patient", default, deserialize_with = "link_id")]
    patient_id: Option<ClinikoId>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    deleted_at: Option<DateTime<Utc>>,
}
through_mirror!(from MedicalAlert => MedicalAlertDef);

#[cfg(test)]
mod tests {
    use super::super::Wire;
    use super::*;

    const PATIENT: &str = r#"{
        "id": "1000000000000000007", "first_name": "Jane", "last_name": "Citizen",
        "preferred_first_name": "", "date_of_birth": "1984-03-02", "email": "jane@example.org",
        "patient_phone_numbers": [{"phone_type": "Mobile", "number": "61444444444"}],
        "archived_at": "", "deleted_at": null, "medical_alerts": {"links": {"self": "x"}},
        "custom_fields": {"sections": []}, "created_at": "2024-01-01T00:00:00Z"
    }"#;

    #[test]
    fn a_patient_parses_with_empty_dates_and_unknown_fields() {
        let Wire(patient): Wire<Patient> = serde_json::from_str(PATIENT).unwrap();
        assert_eq!(patient.name(), "Jane Citizen");
        assert_eq!(patient.phones()[0].number.as_deref(), Some("61444444444"));
        assert!(patient.archived_at.is_none());
        assert_eq!(patient.date_of_birth.unwrap().to_string(), "1984-03-02");
        let Wire(bare): Wire<Patient> =
            serde_json::from_str(r#"{"id": "8", "patient_phone_numbers": null}"#).unwrap();
        assert!(bare.phone_numbers.is_none() && bare.phones().is_empty());
    }

    #[test]
    fn fields_send_only_what_is_set() {
        let fields = PatientFields {
            first_name: Some("Jane".into()),
            date_of_birth: NaiveDate::from_ymd_opt(1984, 3, 2),
            ..PatientFields::default()
        };
        assert_eq!(
            serde_json::to_value(Wire(&fields)).unwrap(),
            serde_json::json!({"first_name": "Jane", "date_of_birth": "1984-03-02"})
        );
        let phones = PatientFields {
            phone_numbers: Some(vec![PhoneNumber {
                phone_type: Some("Mobile".into()),
                number: None,
            }]),
            ..PatientFields::default()
        };
        assert_eq!(
            serde_json::to_value(Wire(&phones)).unwrap(),
            serde_json::json!({"patient_phone_numbers": [{"phone_type": "Mobile", "number": null}]})
        );
    }

    #[test]
    fn a_medical_alert_names_its_patient_by_link() {
        let Wire(alert): Wire<MedicalAlert> = serde_json::from_str(
            r#"{"id": "3", "name": "Penicillin", "deleted_at": "",
                "patient": {"links": {"self": "https://api.au1.cliniko.com/v1/patients/7"}}}"#,
        )
        .unwrap();
        assert_eq!(alert.patient_id, ClinikoId::parse("7"));
        assert_eq!(alert.name.as_deref(), Some("Penicillin"));
        assert!(alert.deleted_at.is_none());
    }
}
