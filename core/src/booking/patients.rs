//! Who a booking is for: an existing Cliniko patient by id, or a person matched to an existing
//! patient by e-mail and date of birth, else created. Patient data: `Debug` shows no field.

use std::fmt;

use chrono::NaiveDate;

use crate::cliniko::{
    ClinikoAccount, ClinikoClient, ClinikoId, Filter, Lane, ListQuery, Patience, PatientFields,
    PhoneNumber,
};
use crate::error::FieldError;
use crate::{Error, Result};

/// Patients with one date of birth read when matching: enough for any real clinic, and a bound
/// on what one booking may spend.
const MATCH_CANDIDATES: usize = 200;

/// The longest name, e-mail or phone accepted.
const MAX_FIELD: usize = 255;

/// An e-mail address as far as can be told without sending to it: one `@` with something
/// before it and a dot after it, no spaces, at most [`MAX_FIELD`] bytes.
pub(crate) fn valid_email(email: &str) -> bool {
    email.len() <= MAX_FIELD
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace)
}

/// A phone number as people type them: digits, spaces and `+()-`, at least one digit.
pub(crate) fn valid_phone(phone: &str) -> bool {
    phone.len() <= 32
        && phone.chars().any(|c| c.is_ascii_digit())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +()-".contains(c))
}

/// Someone to book for who may not be a Cliniko patient yet.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPatient {
    first_name: String,
    last_name: String,
    date_of_birth: NaiveDate,
    email: Option<String>,
    phone: Option<String>,
}

impl fmt::Debug for NewPatient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPatient").finish_non_exhaustive()
    }
}

impl NewPatient {
    /// Validates the person: names present, a date of birth not in the future (given `today`),
    /// an e-mail with one `@` and a dot after it, a phone of digits, spaces and `+()-`.
    ///
    /// # Errors
    /// [`Error::Validation`] naming each bad field under `patient.`.
    pub fn new(
        first_name: &str,
        last_name: &str,
        date_of_birth: NaiveDate,
        email: Option<&str>,
        phone: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self> {
        let mut errors = Vec::new();
        let mut text = |field: &str, value: &str| -> String {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > MAX_FIELD {
                errors.push(FieldError::new(
                    format!("patient.{field}"),
                    "invalid",
                    format!("give 1 to {MAX_FIELD} characters"),
                ));
            }
            value.to_owned()
        };
        let first_name = text("first_name", first_name);
        let last_name = text("last_name", last_name);
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        if let Some(email) = email
            && !valid_email(email)
        {
            errors.push(FieldError::new(
                "patient.email",
                "invalid",
                "give an e-mail address such as jane@example.org",
            ));
        }
        let phone = phone.map(str::trim).filter(|p| !p.is_empty());
        if let Some(phone) = phone
            && !valid_phone(phone)
        {
            errors.push(FieldError::new(
                "patient.phone",
                "invalid",
                "give a phone number of digits, spaces and + ( ) -",
            ));
        }
        if date_of_birth > today {
            errors.push(FieldError::new(
                "patient.date_of_birth",
                "in_future",
                "the date of birth cannot be in the future",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(Self {
            first_name,
            last_name,
            date_of_birth,
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
        })
    }

    fn fields(&self) -> PatientFields {
        PatientFields {
            first_name: Some(self.first_name.clone()),
            last_name: Some(self.last_name.clone()),
            date_of_birth: Some(self.date_of_birth),
            email: self.email.clone(),
            phone_numbers: self.phone.clone().map(|number| {
                vec![PhoneNumber {
                    phone_type: Some("Mobile".to_owned()),
                    number: Some(number),
                }]
            }),
            ..PatientFields::default()
        }
    }
}

/// Who to book for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientChoice {
    /// An existing Cliniko patient.
    Existing(ClinikoId),
    /// A person, matched by e-mail and date of birth or created.
    New(NewPatient),
}

/// The Cliniko patient id to book for.
///
/// Matching compares e-mails without regard to case (people type them both ways) among the
/// patients with that date of birth; without an e-mail there is nothing safe to match on, so a
/// patient is created.
pub(super) async fn resolve(
    patience: &Patience,
    cliniko: &dyn ClinikoClient,
    account: &ClinikoAccount,
    choice: &PatientChoice,
) -> Result<ClinikoId> {
    match choice {
        PatientChoice::Existing(id) => match patience
            .call(|| cliniko.patient(account, Lane::Api, id))
            .await
        {
            Ok(patient) if patient.archived_at.is_none() => Ok(patient.id),
            Ok(_) | Err(Error::NotFound { .. }) => Err(Error::invalid(
                "patient_id",
                "unknown",
                "the clinic has no active patient with this id",
            )),
            Err(err) => Err(err),
        },
        PatientChoice::New(person) => {
            if let Some(email) = &person.email {
                let query = ListQuery::new()
                    .filter(Filter::eq("date_of_birth", &person.date_of_birth))
                    .limit(MATCH_CANDIDATES);
                let candidates = patience
                    .call(|| cliniko.patients(account, Lane::Api, &query))
                    .await?;
                if let Some(found) = candidates.into_iter().find(|candidate| {
                    candidate
                        .email
                        .as_deref()
                        .is_some_and(|known| known.trim().eq_ignore_ascii_case(email))
                }) {
                    return Ok(found.id);
                }
            }
            let fields = person.fields();
            let created = patience
                .call(|| cliniko.create_patient(account, Lane::Api, &fields))
                .await?;
            Ok(created.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        "2030-01-01".parse().unwrap()
    }

    #[test]
    fn a_person_needs_names_a_past_birthday_and_well_formed_contacts() {
        let born: NaiveDate = "1990-02-03".parse().unwrap();
        assert!(
            NewPatient::new(
                "Jane",
                "Citizen",
                born,
                Some("jane@example.org"),
                Some("+61 444 444 444"),
                today()
            )
            .is_ok()
        );
        let Err(Error::Validation(errors)) = NewPatient::new(
            " ",
            "Citizen",
            "2031-01-01".parse().unwrap(),
            Some("not-an-email"),
            Some("call me"),
            today(),
        ) else {
            panic!("invalid person accepted");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "patient.first_name",
                "patient.email",
                "patient.phone",
                "patient.date_of_birth"
            ]
        );
        let person = NewPatient::new("Jane", "Citizen", born, None, None, today()).unwrap();
        assert!(!format!("{person:?}").contains("Jane"), "no PHI in Debug");
    }
}
