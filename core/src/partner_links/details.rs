//! What a partner may say about a patient, checked before anything reaches Cliniko, and turned
//! into Cliniko's fields. Patient data: `Debug` shows no field.

use std::fmt;

use chrono::NaiveDate;

use crate::booking::{valid_email, valid_phone};
use crate::cliniko::{PatientFields, PhoneNumber};
use crate::error::FieldError;
use crate::{Error, Result};

/// The longest name, sex, city, state or address line accepted.
const MAX_TEXT: usize = 255;

/// Cliniko keeps three address lines.
const MAX_ADDRESS_LINES: usize = 3;

/// A postal address as a partner sends it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PostalAddress {
    /// Address lines, at most three.
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
}

/// Demographics and contact a partner sends, not yet checked: [`Self::for_create`] and
/// [`Self::for_update`] check them. `None` leaves a field alone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PatientDetails {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Sex, as the partner records it.
    pub sex: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Mobile phone number.
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<PostalAddress>,
}

impl fmt::Debug for PatientDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientDetails").finish_non_exhaustive()
    }
}

impl fmt::Debug for PostalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostalAddress").finish_non_exhaustive()
    }
}

/// Collects field problems while the details are turned into Cliniko's fields.
struct Check {
    today: NaiveDate,
    errors: Vec<FieldError>,
}

impl Check {
    /// A trimmed text of 1 to [`MAX_TEXT`] characters.
    fn text(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let value = value?.trim().to_owned();
        if value.is_empty() || value.chars().count() > MAX_TEXT {
            self.errors.push(FieldError::new(
                field,
                "invalid",
                format!("give 1 to {MAX_TEXT} characters"),
            ));
        }
        Some(value)
    }

    fn email(&mut self, value: Option<String>) -> Option<String> {
        let value = value?.trim().to_owned();
        if !valid_email(&value) {
            self.errors.push(FieldError::new(
                "email",
                "invalid",
                "give an e-mail address such as jane@example.org",
            ));
        }
        Some(value)
    }

    fn phone(&mut self, value: Option<String>) -> Option<Vec<PhoneNumber>> {
        let value = value?.trim().to_owned();
        if !valid_phone(&value) {
            self.errors.push(FieldError::new(
                "phone",
                "invalid",
                "give a phone number of digits, spaces and + ( ) -",
            ));
        }
        Some(vec![PhoneNumber {
            phone_type: Some("Mobile".to_owned()),
            number: Some(value),
        }])
    }

    fn born(&mut self, value: Option<NaiveDate>) -> Option<NaiveDate> {
        let value = value?;
        if value > self.today {
            self.errors.push(FieldError::new(
                "date_of_birth",
                "in_future",
                "the date of birth cannot be in the future",
            ));
        }
        Some(value)
    }

    fn address(&mut self, address: PostalAddress, fields: &mut PatientFields) {
        if address.lines.len() > MAX_ADDRESS_LINES {
            self.errors.push(FieldError::new(
                "address.lines",
                "too_many",
                format!("give at most {MAX_ADDRESS_LINES} address lines"),
            ));
        }
        let mut lines = address.lines.into_iter();
        fields.address_1 = self.text("address.lines", lines.next());
        fields.address_2 = self.text("address.lines", lines.next());
        fields.address_3 = self.text("address.lines", lines.next());
        fields.city = self.text("address.city", address.city);
        fields.state = self.text("address.state", address.state);
        fields.post_code = self.text("address.post_code", address.post_code);
        fields.country_code = address.country_code.map(|code| {
            let code = code.trim().to_ascii_uppercase();
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
                self.errors.push(FieldError::new(
                    "address.country_code",
                    "invalid",
                    "give a two-letter ISO 3166-1 country code, e.g. AU",
                ));
            }
            code
        });
    }

    fn finish(self, fields: PatientFields) -> Result<PatientFields> {
        if self.errors.is_empty() {
            Ok(fields)
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

impl PatientDetails {
    fn fields(self, check: &mut Check) -> PatientFields {
        let mut fields = PatientFields {
            first_name: check.text("first_name", self.first_name),
            last_name: check.text("last_name", self.last_name),
            date_of_birth: check.born(self.date_of_birth),
            sex: check.text("sex", self.sex),
            email: check.email(self.email),
            phone_numbers: check.phone(self.phone),
            ..PatientFields::default()
        };
        if let Some(address) = self.address {
            check.address(address, &mut fields);
        }
        fields
    }

    /// Cliniko's fields for a new patient: names required, the rest well formed when given;
    /// `today` bounds the date of birth (give a day of slack for time zones).
    ///
    /// # Errors
    /// [`Error::Validation`] naming each bad field.
    pub fn for_create(self, today: NaiveDate) -> Result<PatientFields> {
        let mut check = Check {
            today,
            errors: Vec::new(),
        };
        for (field, given) in [
            ("first_name", self.first_name.is_some()),
            ("last_name", self.last_name.is_some()),
        ] {
            if !given {
                check.errors.push(FieldError::new(
                    field,
                    "required",
                    "give the patient's name",
                ));
            }
        }
        let fields = self.fields(&mut check);
        check.finish(fields)
    }

    /// Cliniko's fields for a change: at least one field, each well formed.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each bad field, or `body` when nothing would change.
    pub fn for_update(self, today: NaiveDate) -> Result<PatientFields> {
        let mut check = Check {
            today,
            errors: Vec::new(),
        };
        if self == Self::default() {
            check.errors.push(FieldError::new(
                "body",
                "nothing_to_change",
                "send at least one of first_name, last_name, date_of_birth, sex, email, phone, address",
            ));
        }
        let fields = self.fields(&mut check);
        check.finish(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        "2030-01-01".parse().unwrap()
    }

    fn fields_of(result: Result<PatientFields>) -> Vec<String> {
        match result {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_patient_needs_names_and_well_formed_details() {
        let fields = PatientDetails {
            first_name: Some(" Alice ".into()),
            last_name: Some("Example".into()),
            date_of_birth: "1980-02-22".parse().ok(),
            sex: Some("Female".into()),
            email: Some("alice@example.org".into()),
            phone: Some("+61 444 444 444".into()),
            address: Some(PostalAddress {
                lines: vec!["1 High Street".into()],
                city: Some("Sydney".into()),
                country_code: Some("au".into()),
                ..PostalAddress::default()
            }),
        }
        .for_create(today())
        .unwrap();
        assert_eq!(fields.first_name.as_deref(), Some("Alice"));
        assert_eq!(fields.address_1.as_deref(), Some("1 High Street"));
        assert_eq!(fields.address_2, None);
        assert_eq!(fields.country_code.as_deref(), Some("AU"));
        assert_eq!(fields.phone_numbers.unwrap().len(), 1);

        let bad = PatientDetails {
            first_name: Some(" ".into()),
            date_of_birth: "2031-01-01".parse().ok(),
            email: Some("nope".into()),
            address: Some(PostalAddress {
                lines: vec!["a".into(), "b".into(), "c".into(), "d".into()],
                country_code: Some("Australia".into()),
                ..PostalAddress::default()
            }),
            ..PatientDetails::default()
        };
        assert_eq!(
            fields_of(bad.for_create(today())),
            [
                "last_name",
                "first_name",
                "date_of_birth",
                "email",
                "address.lines",
                "address.country_code"
            ]
        );
    }

    #[test]
    fn a_change_must_change_something_and_never_blank_a_name() {
        assert_eq!(
            fields_of(PatientDetails::default().for_update(today())),
            ["body"]
        );
        let blank = PatientDetails {
            last_name: Some(String::new()),
            ..PatientDetails::default()
        };
        assert_eq!(fields_of(blank.for_update(today())), ["last_name"]);
        let email = PatientDetails {
            email: Some("new@example.org".into()),
            ..PatientDetails::default()
        }
        .for_update(today())
        .unwrap();
        assert_eq!(email.first_name, None, "untouched fields stay unset");
    }

    #[test]
    fn debug_shows_no_patient_data() {
        let details = PatientDetails {
            first_name: Some("Alice".into()),
            ..PatientDetails::default()
        };
        assert!(!format!("{details:?}").contains("Alice"));
    }
}
