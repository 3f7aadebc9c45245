//! Reading what a clinic sends for a client's patient sync. Each reader notes what is wrong in a
//! shared list, so one answer names every invalid field. Messages never repeat a credential.

use secrecy::{ExposeSecret as _, SecretString};

use super::{AuthScheme, PartnerCredential};
use crate::FieldError;

/// The longest token or header value accepted, in bytes.
pub const MAX_CREDENTIAL_LEN: usize = 4096;
/// The longest header name accepted.
pub const MAX_HEADER_NAME_LEN: usize = 100;
/// The longest identifier system accepted, in bytes.
pub const MAX_IDENTIFIER_SYSTEM_LEN: usize = 2048;

/// Headers ClinicGate sets itself or that change how the request is framed or routed: a partner
/// credential may not replace them.
const RESERVED_HEADERS: [&str; 10] = [
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "expect",
    "idempotency-key",
];

/// A credential's secret: 1 to [`MAX_CREDENTIAL_LEN`] bytes of visible ASCII (spaces only when
/// `spaces`), so it fits a header as it is.
fn secret(
    field: &'static str,
    raw: &SecretString,
    spaces: bool,
    errors: &mut Vec<FieldError>,
) -> Option<SecretString> {
    let text = raw.expose_secret();
    let valid = !text.is_empty()
        && text.len() <= MAX_CREDENTIAL_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() || (spaces && b == b' '));
    if valid {
        Some(raw.clone())
    } else {
        errors.push(FieldError::new(
            field,
            "invalid",
            format!(
                "give 1 to {MAX_CREDENTIAL_LEN} visible ASCII characters{}",
                if spaces { "" } else { " (no spaces)" }
            ),
        ));
        None
    }
}

/// A header name: an HTTP token, lower-cased, not one ClinicGate sets itself.
fn header_name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    const FIELD: &str = "auth.name";
    let name = raw.trim().to_ascii_lowercase();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN || !name.bytes().all(token) {
        errors.push(FieldError::new(
            FIELD,
            "invalid",
            format!("give a header name of 1 to {MAX_HEADER_NAME_LEN} letters, digits or - _ ."),
        ));
        return None;
    }
    if RESERVED_HEADERS.contains(&name.as_str()) || name.starts_with("proxy-") {
        errors.push(FieldError::new(
            FIELD,
            "reserved_header",
            "ClinicGate sets this header itself; choose the header the partner reads its key from",
        ));
        return None;
    }
    Some(name)
}

/// The scheme to store in the clear and the credential to seal, or `None` with every problem
/// noted.
pub(super) fn credential(
    raw: &PartnerCredential,
    errors: &mut Vec<FieldError>,
) -> Option<(AuthScheme, PartnerCredential)> {
    match raw {
        PartnerCredential::Bearer(token) => {
            let token = secret("auth.token", token, false, errors)?;
            Some((AuthScheme::Bearer, PartnerCredential::Bearer(token)))
        }
        PartnerCredential::Header { name, value } => {
            let name = header_name(name, errors);
            let value = secret("auth.value", value, true, errors);
            let (name, value) = (name?, value?);
            Some((
                AuthScheme::Header { name: name.clone() },
                PartnerCredential::Header { name, value },
            ))
        }
    }
}

/// The identifier system: 1 to [`MAX_IDENTIFIER_SYSTEM_LEN`] bytes without whitespace or control
/// characters (it is a URI naming the partner's id space).
pub(super) fn identifier_system(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let system = raw.trim();
    let valid = !system.is_empty()
        && system.len() <= MAX_IDENTIFIER_SYSTEM_LEN
        && !system.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Some(system.to_owned())
    } else {
        errors.push(FieldError::new(
            "identifier_system",
            "invalid",
            format!(
                "give the URI that names the partner's patient ids (1 to \
                 {MAX_IDENTIFIER_SYSTEM_LEN} characters, no spaces)"
            ),
        ));
        None
    }
}

/// The credential as the text that is sealed: the bearer token, or the header's value (its name
/// is stored in the clear beside it).
pub(super) fn sealed_text(credential: &PartnerCredential) -> &SecretString {
    match credential {
        PartnerCredential::Bearer(token) => token,
        PartnerCredential::Header { value, .. } => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn a_bearer_token_is_visible_ascii_without_spaces_and_never_echoed() {
        let mut errors = Vec::new();
        let ok = credential(
            &PartnerCredential::Bearer(SecretString::from("tok_123")),
            &mut errors,
        );
        assert!(matches!(ok, Some((AuthScheme::Bearer, _))));
        for bad in ["", "has space", "é"] {
            assert!(
                credential(
                    &PartnerCredential::Bearer(SecretString::from(bad)),
                    &mut errors
                )
                .is_none()
            );
        }
        assert_eq!(errors.len(), 3);
        assert!(errors.iter().all(|e| e.field == "auth.token"));
        assert!(errors.iter().all(|e| !e.message.contains("space\"")));
    }

    #[test]
    fn a_header_credential_needs_a_token_name_that_clinicgate_does_not_set_itself() {
        let mut errors = Vec::new();
        let header = |name: &str, value: &str| PartnerCredential::Header {
            name: name.to_owned(),
            value: SecretString::from(value.to_owned()),
        };
        let ok = credential(&header(" X-Api-Key ", "key with spaces"), &mut errors).unwrap();
        assert_eq!(
            ok.0,
            AuthScheme::Header {
                name: "x-api-key".to_owned()
            }
        );
        assert!(errors.is_empty());
        assert!(credential(&header("Idempotency-Key", "v"), &mut errors).is_none());
        assert!(credential(&header("bad name", ""), &mut errors).is_none());
        assert!(credential(&header("proxy-authorization", "v"), &mut errors).is_none());
        assert_eq!(
            codes(&errors),
            [
                ("auth.name", "reserved_header"),
                ("auth.name", "invalid"),
                ("auth.value", "invalid"),
                ("auth.name", "reserved_header"),
            ]
        );
    }

    #[test]
    fn an_identifier_system_is_a_bounded_uri_without_spaces() {
        let mut errors = Vec::new();
        assert_eq!(
            identifier_system(" https://partner.example/patients ", &mut errors).as_deref(),
            Some("https://partner.example/patients")
        );
        assert!(identifier_system("", &mut errors).is_none());
        assert!(identifier_system("has space", &mut errors).is_none());
        let long = "x".repeat(MAX_IDENTIFIER_SYSTEM_LEN + 1);
        assert!(identifier_system(&long, &mut errors).is_none());
        assert_eq!(errors.len(), 3);
    }
}
