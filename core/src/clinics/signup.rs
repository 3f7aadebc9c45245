//! Sign-up: a clinic and its owner come into existence together, or not at all.

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;

use super::{Clinic, ClinicRepository, NewClinic, Subdomain};
use crate::ids::UserId;
use crate::users::{Email, NewUser, Password, Role, User, password};
use crate::{Error, FieldError, Result};

/// The longest clinic name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A clinic's display name: trimmed, 1–200 characters, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ClinicName(String);

impl ClinicName {
    /// Validates a name as typed.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = |code, message: &str| FieldError::new("clinic_name", code, message);
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid("required", "enter the clinic's name"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid(
                "too_long",
                "a clinic name is at most 200 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid(
                "invalid_characters",
                "a clinic name cannot contain line breaks or control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClinicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClinicName({})", self.0)
    }
}

/// A sign-up as submitted.
#[derive(Debug)]
pub struct SignupRequest {
    /// Display name of the clinic.
    pub clinic_name: String,
    /// Requested subdomain.
    pub subdomain: String,
    /// The owner's e-mail.
    pub email: String,
    /// The owner's password.
    pub password: SecretString,
}

/// Creates clinics with their owner.
#[derive(Debug, Clone)]
pub struct SignupService {
    clinics: Arc<dyn ClinicRepository>,
}

impl SignupService {
    /// A service storing into `clinics`.
    pub fn new(clinics: Arc<dyn ClinicRepository>) -> Self {
        Self { clinics }
    }

    /// Validates every field (reporting all problems at once), hashes the password and stores
    /// the clinic and its owner in one transaction.
    ///
    /// # Errors
    /// `Validation` listing each invalid field; `Conflict { code: "subdomain_taken" }`.
    #[tracing::instrument(skip_all)]
    pub async fn sign_up(&self, request: SignupRequest) -> Result<(Clinic, User)> {
        let mut errors = Vec::new();
        let name = ClinicName::parse(&request.clinic_name)
            .map_err(|e| errors.push(e))
            .ok();
        let subdomain = match Subdomain::parse(&request.subdomain) {
            Ok(subdomain) => Some(subdomain),
            Err(Error::Validation(mut field_errors)) => {
                errors.append(&mut field_errors);
                None
            }
            Err(other) => return Err(other),
        };
        let email = Email::parse(&request.email)
            .map_err(|e| errors.push(e))
            .ok();
        let password = Password::parse_new(request.password)
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(name), Some(subdomain), Some(email), Some(password)) =
            (name, subdomain, email, password)
        else {
            return Err(Error::Validation(errors));
        };
        // Cheap pre-check so a taken name does not cost an argon2 hash; the unique index still
        // decides races.
        if self.clinics.find_by_subdomain(&subdomain).await?.is_some() {
            return Err(subdomain_taken(&subdomain));
        }
        let password_hash = password::hash(password).await?;
        let (clinic, owner) = self
            .clinics
            .create_with_owner(
                NewClinic {
                    name: name.as_str().to_owned(),
                    subdomain,
                },
                NewUser {
                    id: UserId::new(),
                    email,
                    role: Role::Owner,
                    password_hash,
                },
            )
            .await?;
        tracing::info!(tenant_id = %clinic.id, "clinic signed up");
        Ok((clinic, owner))
    }
}

/// The conflict every taken subdomain reports, whichever check caught it.
pub fn subdomain_taken(subdomain: &Subdomain) -> Error {
    Error::Conflict {
        code: "subdomain_taken",
        detail: format!("the subdomain \"{subdomain}\" is already taken; choose another"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinic_names_are_trimmed_and_bounded() {
        assert_eq!(
            ClinicName::parse("  Harbour Physio ").unwrap().as_str(),
            "Harbour Physio"
        );
        assert_eq!(ClinicName::parse("   ").unwrap_err().code, "required");
        assert_eq!(
            ClinicName::parse(&"x".repeat(201)).unwrap_err().code,
            "too_long"
        );
        assert!(ClinicName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            ClinicName::parse("Line\nbreak").unwrap_err().code,
            "invalid_characters"
        );
    }
}
