use std::collections::BTreeSet;
use std::fmt;

use crate::{Error, FieldError};

/// One permission an API client can hold. The string forms are a public contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Scope {
    /// Read the doctor directory, clinics, specialties and appointment types.
    #[serde(rename = "doctors:read")]
    DoctorsRead,
    /// Search available slots.
    #[serde(rename = "slots:read")]
    SlotsRead,
    /// Read appointments and their status.
    #[serde(rename = "appointments:read")]
    AppointmentsRead,
    /// Book, reschedule and cancel appointments.
    #[serde(rename = "appointments:write")]
    AppointmentsWrite,
    /// Read patients.
    #[serde(rename = "patients:read")]
    PatientsRead,
    /// Create and update patients.
    #[serde(rename = "patients:write")]
    PatientsWrite,
    /// Manage the client's own webhook endpoints (which events of its scopes it is sent).
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Self; 7] = [
        Self::DoctorsRead,
        Self::SlotsRead,
        Self::AppointmentsRead,
        Self::AppointmentsWrite,
        Self::PatientsRead,
        Self::PatientsWrite,
        Self::WebhooksManage,
    ];

    /// The wire form, e.g. `doctors:read`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DoctorsRead => "doctors:read",
            Self::SlotsRead => "slots:read",
            Self::AppointmentsRead => "appointments:read",
            Self::AppointmentsWrite => "appointments:write",
            Self::PatientsRead => "patients:read",
            Self::PatientsWrite => "patients:write",
            Self::WebhooksManage => "webhooks:manage",
        }
    }

    /// What the scope allows, in a few words (shown in the API documentation's sign-in dialog).
    pub const fn description(self) -> &'static str {
        match self {
            Self::DoctorsRead => {
                "Read the doctor directory, clinics, specialties and appointment types"
            }
            Self::SlotsRead => "Search available slots",
            Self::AppointmentsRead => "Read appointments and their status",
            Self::AppointmentsWrite => "Book, reschedule and cancel appointments",
            Self::PatientsRead => "Read patients",
            Self::PatientsWrite => "Create and update patients",
            Self::WebhooksManage => "Manage the client's own webhook endpoints",
        }
    }

    /// Parses the wire form.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes; its text form is space-separated (RFC 6749 §3.3), in a stable order (in
/// JSON, an array of wire forms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-separated list; any unknown scope is a validation error on `field`.
    pub fn parse_list(raw: &str, field: &str) -> Result<Self, Error> {
        Self::parse_words(raw.split(' '), field)
    }

    /// Parses scopes given one per word (a JSON array); empty words are ignored and any unknown
    /// scope is a validation error on `field`.
    pub fn parse_words<'a>(
        words: impl IntoIterator<Item = &'a str>,
        field: &str,
    ) -> Result<Self, Error> {
        let mut set = BTreeSet::new();
        let mut unknown = Vec::new();
        for word in words.into_iter().filter(|w| !w.is_empty()) {
            match Scope::parse(word) {
                Some(scope) => {
                    set.insert(scope);
                }
                None => unknown.push(word),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::Validation(vec![FieldError::new(
                field,
                "unknown_scope",
                format!(
                    "unknown scope(s) {}; known scopes are {}",
                    quote(&unknown),
                    Self::all()
                ),
            )]));
        }
        Ok(Self(set))
    }

    /// Every scope.
    pub fn all() -> Self {
        Self(Scope::ALL.into_iter().collect())
    }

    /// Whether it holds `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes in both sets.
    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        Self(self.0.intersection(&other.0).copied().collect())
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<_> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&words.join(" "))
    }
}

fn quote(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.escape_debug()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_round_trip_in_a_stable_order() {
        let set = ScopeSet::parse_list("slots:read  doctors:read slots:read", "scope").unwrap();
        assert_eq!(set.to_string(), "doctors:read slots:read");
        assert!(set.contains(Scope::SlotsRead));
        assert!(!set.contains(Scope::PatientsRead));
        assert!(set.is_subset(&ScopeSet::all()));
    }

    #[test]
    fn an_unknown_scope_is_named_in_the_error() {
        let Err(Error::Validation(errors)) =
            ScopeSet::parse_list("doctors:read admin:all", "scopes")
        else {
            panic!("expected a validation error")
        };
        assert_eq!(errors[0].field, "scopes");
        assert_eq!(errors[0].code, "unknown_scope");
        assert!(errors[0].message.contains("\"admin:all\""));
    }

    #[test]
    fn scopes_given_as_words_are_parsed_and_intersected() {
        let set = ScopeSet::parse_words(["patients:read", "", "doctors:read"], "scopes").unwrap();
        let other = ScopeSet::parse_list("doctors:read slots:read", "scope").unwrap();
        assert_eq!(set.intersection(&other).to_string(), "doctors:read");
        assert!(ScopeSet::parse_words(["doctors:write"], "scopes").is_err());
    }

    #[test]
    fn scopes_serialise_as_their_wire_form() {
        assert_eq!(
            serde_json::to_string(&Scope::AppointmentsWrite).unwrap(),
            "\"appointments:write\""
        );
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
    }
}
