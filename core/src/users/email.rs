//! A staff member's e-mail address: their login name within one clinic.

use std::fmt;

use crate::FieldError;

/// The longest address SMTP allows (RFC 5321: 254 in a path).
const MAX_LEN: usize = 254;
/// The longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

/// A plausible e-mail address, trimmed and lowercased so logins are case-insensitive.
///
/// Deliberately not a full RFC 5322 parser: ClinicGate never sends mail to it, it only has to be
/// an unambiguous login name that looks like the address the person uses.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates an address as typed (surrounding whitespace ignored).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = |code, message: &str| FieldError::new("email", code, message);
        let email = raw.trim();
        if email.is_empty() {
            return Err(invalid("required", "enter an e-mail address"));
        }
        if email.len() > MAX_LEN {
            return Err(invalid(
                "too_long",
                "an e-mail address is at most 254 characters",
            ));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(invalid(
                "invalid",
                "enter an e-mail address such as name@clinic.com",
            ));
        };
        let domain_ok = domain.contains('.')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && !local.contains('@')
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        if !domain_ok || !local_ok {
            return Err(invalid(
                "invalid",
                "enter an e-mail address such as name@clinic.com",
            ));
        }
        Ok(Self(email.to_lowercase()))
    }

    /// The lowercase address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    // Staff addresses are personal data: debug output (which may reach logs) keeps the domain only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map_or("", |(_, d)| d);
        write!(f, "Email(…@{domain})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Dr.Who@Clinic.COM.au ").unwrap().as_str(),
            "dr.who@clinic.com.au"
        );
    }

    #[test]
    fn malformed_addresses_are_refused_with_a_reason() {
        for (raw, code) in [
            ("", "required"),
            ("no-at-sign", "invalid"),
            ("@clinic.com", "invalid"),
            ("me@localhost", "invalid"),
            ("me@clinic..com", "invalid"),
            ("me@-clinic.com", "invalid"),
            ("a b@clinic.com", "invalid"),
            ("me@clinic_x.com", "invalid"),
        ] {
            assert_eq!(Email::parse(raw).unwrap_err().code, code, "{raw:?}");
        }
        let long = format!("{}@clinic.com", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().code, "too_long");
    }

    #[test]
    fn debug_output_hides_the_local_part() {
        let email = Email::parse("jane.citizen@clinic.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(…@clinic.com)");
    }
}
