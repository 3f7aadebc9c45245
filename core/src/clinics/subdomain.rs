//! The clinic's subdomain: one DNS label, the key that routes `{subdomain}.{host}` to a tenant.

use std::fmt;

use crate::{Error, FieldError};

/// Names that would collide with ClinicGate's own hosts or confuse users and mail systems.
const RESERVED: &[&str] = &[
    "www",
    "api",
    "app",
    "admin",
    "docs",
    "static",
    "assets",
    "auth",
    "login",
    "mail",
    "status",
    "smtp",
    "imap",
    "pop",
    "ftp",
    "ns1",
    "ns2",
    "cdn",
    "dashboard",
    "support",
    "help",
    "billing",
    "demo-admin",
    "root",
    "system",
    "internal",
    "localhost",
    "fhir",
    "oauth",
    "metrics",
    "health",
];

/// The longest DNS label (RFC 1035).
const MAX_LEN: usize = 63;

/// A validated, lowercase DNS label used as a clinic's subdomain.
///
/// Cliniko's wildcard patient-button URLs match one label of letters, digits and `-`, so this is
/// exactly what a subdomain may contain; anything else could never receive a button click.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Subdomain(String);

impl Subdomain {
    /// Validates and lowercases a requested subdomain, refusing reserved names and labels with
    /// `--` as their third and fourth characters.
    ///
    /// Decision: punycode (`xn--…`) subdomains are not allowed. Browsers show such a label as
    /// Unicode, so `xn--hrbour-2ve` would read as a look-alike of another clinic's "harbour"
    /// (with a Cyrillic "а") — exactly the spoofing a subdomain must not allow — while
    /// ClinicGate has no use for internationalised labels (Cliniko's patient-button URLs match
    /// letters, digits and hyphens). IDNA reserves every label of that shape ("R-LDH") for
    /// encodings, so all of them are refused, not only today's `xn--`. Labels already stored
    /// keep routing (see [`Subdomain::parse_label`]).
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let label = Self::parse_label(raw).map_err(|e| Error::Validation(vec![e]))?;
        if label.0.get(2..4) == Some("--") {
            return Err(Error::invalid(
                "subdomain",
                "reserved_prefix",
                "a subdomain cannot have \"--\" as its third and fourth characters (that form, \
                 like xn--, is reserved for internationalised names); choose another name",
            ));
        }
        if RESERVED.contains(&label.0.as_str()) {
            return Err(Error::invalid(
                "subdomain",
                "reserved",
                format!(
                    "\"{}\" is reserved for ClinicGate itself; choose another name",
                    label.0
                ),
            ));
        }
        Ok(label)
    }

    /// Validates the *shape* of a label seen in a Host header (reserved names are allowed through
    /// so routing can simply not find them).
    pub fn parse_label(raw: &str) -> Result<Self, FieldError> {
        let field = |code, message: &str| FieldError::new("subdomain", code, message);
        if raw.is_empty() {
            return Err(field("required", "enter a subdomain"));
        }
        if raw.len() > MAX_LEN {
            return Err(field("too_long", "a subdomain is at most 63 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(field(
                "invalid_characters",
                "use only letters, digits and hyphens (no dots, spaces or underscores)",
            ));
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return Err(field(
                "hyphen_at_edge",
                "a subdomain cannot start or end with a hyphen",
            ));
        }
        Ok(Self(raw.to_ascii_lowercase()))
    }

    /// The lowercase label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Subdomain({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code_of(raw: &str) -> &'static str {
        match Subdomain::parse(raw) {
            Err(Error::Validation(errors)) => errors[0].code,
            other => panic!("expected a validation error for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_label_is_stored_lowercase() {
        assert_eq!(Subdomain::parse("Clinic-A1").unwrap().as_str(), "clinic-a1");
    }

    #[test]
    fn each_broken_rule_names_its_reason() {
        assert_eq!(code_of(""), "required");
        assert_eq!(code_of(&"a".repeat(64)), "too_long");
        assert_eq!(code_of("fr.eu"), "invalid_characters");
        assert_eq!(code_of("my_clinic"), "invalid_characters");
        assert_eq!(code_of("-clinic"), "hyphen_at_edge");
        assert_eq!(code_of("clinic-"), "hyphen_at_edge");
        assert_eq!(code_of("WWW"), "reserved");
        assert_eq!(code_of("api"), "reserved");
        assert_eq!(code_of("xn--hrbour-2ve"), "reserved_prefix");
        assert_eq!(code_of("XN--80AK6AA92E"), "reserved_prefix");
        assert_eq!(code_of("ab--c"), "reserved_prefix");
    }

    #[test]
    fn double_hyphens_elsewhere_are_fine_and_stored_punycode_labels_still_route() {
        assert!(Subdomain::parse("a--b").is_ok());
        assert!(Subdomain::parse("harbour--physio").is_ok());
        assert!(Subdomain::parse_label("xn--hrbour-2ve").is_ok());
    }

    #[test]
    fn sixty_three_characters_is_the_longest_label() {
        assert!(Subdomain::parse(&"a".repeat(63)).is_ok());
    }

    proptest! {
        #[test]
        fn every_accepted_label_is_a_lowercase_dns_label(raw in "\\PC{0,70}") {
            if let Ok(s) = Subdomain::parse(&raw) {
                let s = s.as_str();
                prop_assert!(!s.is_empty() && s.len() <= 63);
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
                prop_assert!(s.get(2..4) != Some("--"));
            }
        }

        #[test]
        fn well_formed_labels_are_accepted(raw in "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?") {
            let lower = raw.to_ascii_lowercase();
            prop_assume!(!RESERVED.contains(&lower.as_str()));
            prop_assume!(lower.get(2..4) != Some("--"));
            let parsed = Subdomain::parse(&raw).unwrap();
            prop_assert_eq!(parsed.as_str(), lower.as_str());
        }
    }
}
