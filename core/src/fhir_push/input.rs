//! Reading what a clinic sends for a FHIR destination. Each reader notes what is wrong in a
//! shared list, so one answer names every invalid field. Messages never repeat a secret.

use secrecy::{ExposeSecret as _, SecretString};

use super::FhirResource;
use crate::FieldError;

/// The longest destination name accepted, in characters.
pub const MAX_NAME_LEN: usize = 100;
/// The longest client id or scope list accepted, in bytes.
pub const MAX_CLIENT_TEXT_LEN: usize = 1024;
/// The longest client secret accepted, in bytes.
pub const MAX_SECRET_LEN: usize = 4096;

/// A destination's name: 1 to [`MAX_NAME_LEN`] characters, trimmed.
pub(super) fn name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            "name",
            "invalid",
            format!("give a name of 1 to {MAX_NAME_LEN} characters"),
        ));
        return None;
    }
    Some(name.to_owned())
}

/// A client id or scope list: visible ASCII (spaces between scopes), at most
/// [`MAX_CLIENT_TEXT_LEN`] bytes; `required` says whether it may be empty.
pub(super) fn client_text(
    field: &'static str,
    raw: Option<&str>,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    let text = raw.map(str::trim).filter(|t| !t.is_empty());
    let Some(text) = text else {
        if required {
            errors.push(FieldError::new(field, "required", "give a value"));
            return None;
        }
        return Some(None);
    };
    if text.len() > MAX_CLIENT_TEXT_LEN || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        errors.push(FieldError::new(
            field,
            "invalid",
            format!("give 1 to {MAX_CLIENT_TEXT_LEN} visible ASCII characters"),
        ));
        return None;
    }
    Some(Some(text.to_owned()))
}

/// A client secret: 1 to [`MAX_SECRET_LEN`] bytes of visible ASCII.
pub(super) fn client_secret(
    raw: &SecretString,
    errors: &mut Vec<FieldError>,
) -> Option<SecretString> {
    let text = raw.expose_secret();
    if text.is_empty() || text.len() > MAX_SECRET_LEN || !text.bytes().all(|b| b.is_ascii_graphic())
    {
        errors.push(FieldError::new(
            "auth.client_secret",
            "invalid",
            format!("give 1 to {MAX_SECRET_LEN} visible ASCII characters (no spaces)"),
        ));
        return None;
    }
    Some(raw.clone())
}

/// The resources to push: at least one, each `Patient` or `Appointment`, without repeats.
pub(super) fn resources(raw: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<FhirResource>> {
    let mut parsed = Vec::new();
    for name in raw {
        match FhirResource::parse(name.trim()) {
            Some(resource) if !parsed.contains(&resource) => parsed.push(resource),
            Some(_) => {}
            None => {
                errors.push(FieldError::new(
                    "resources",
                    "unknown_resource",
                    "resources are Patient and Appointment",
                ));
                return None;
            }
        }
    }
    if parsed.is_empty() {
        errors.push(FieldError::new(
            "resources",
            "required",
            "choose at least one of Patient and Appointment",
        ));
        return None;
    }
    parsed.sort();
    Some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_a_non_empty_set_of_known_types() {
        let mut errors = Vec::new();
        let read = |raw: &[&str], errors: &mut Vec<FieldError>| {
            resources(
                &raw.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                errors,
            )
        };
        assert_eq!(
            read(&["Appointment", "Patient", "Patient"], &mut errors),
            Some(vec![FhirResource::Patient, FhirResource::Appointment])
        );
        assert!(errors.is_empty());
        assert_eq!(read(&[], &mut errors), None);
        assert_eq!(read(&["Flag"], &mut errors), None);
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_bad_secret_is_refused_without_being_repeated() {
        let mut errors = Vec::new();
        assert!(client_secret(&SecretString::from("has space"), &mut errors).is_none());
        assert!(!errors[0].message.contains("has space"));
    }
}
