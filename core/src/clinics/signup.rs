//! Sign-up: a clinic and its owner come into existence together, or not at all.

use std::sync::Arc;

use secrecy::SecretString;

use super::{Clinic, ClinicName, ClinicRepository, NewClinic, Subdomain};
use crate::ids::UserId;
use crate::users::{Email, NewUser, Password, Role, User, password};
use crate::{Error, Result};

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
                    display_name: None,
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
