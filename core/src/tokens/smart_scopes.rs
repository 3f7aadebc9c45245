//! SMART on FHIR system scopes (`system/Patient.rs`, v1 `system/Patient.read`, …) as a token
//! request may name them, mapped onto ClinicGate's own [`Scope`]s, which are what tokens carry
//! and every route checks. The mapping is deliberately coarse: ClinicGate's scopes are per data
//! area, so `system/Practitioner.rs` grants `doctors:read`, which also reads Locations.

use super::{Scope, ScopeSet};

/// Every resource type a system scope may name, with the scope reading it and, when the FHIR
/// facade can create or update it, the scope writing it.
const RESOURCES: [(&str, Scope, Option<Scope>); 9] = [
    ("Patient", Scope::PatientsRead, None),
    ("Flag", Scope::PatientsRead, None),
    (
        "Appointment",
        Scope::AppointmentsRead,
        Some(Scope::AppointmentsWrite),
    ),
    ("Practitioner", Scope::DoctorsRead, None),
    ("PractitionerRole", Scope::DoctorsRead, None),
    ("Organization", Scope::DoctorsRead, None),
    ("Location", Scope::DoctorsRead, None),
    ("Schedule", Scope::DoctorsRead, None),
    ("Slot", Scope::SlotsRead, None),
];

/// The SMART system scopes ClinicGate understands, for discovery documents (v2 forms).
pub const SMART_SYSTEM_SCOPES: [&str; 10] = [
    "system/Patient.rs",
    "system/Flag.rs",
    "system/Appointment.rs",
    "system/Appointment.cu",
    "system/Practitioner.rs",
    "system/PractitionerRole.rs",
    "system/Organization.rs",
    "system/Location.rs",
    "system/Schedule.rs",
    "system/Slot.rs",
];

/// A token request's scopes: what the token carries and what the response echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedScopes {
    /// ClinicGate scopes the token carries.
    pub scopes: ScopeSet,
    /// The scopes as requested (SMART ones included), each once, space-separated: the token
    /// response's `scope`.
    pub echo: String,
}

impl RequestedScopes {
    /// Parses a space-separated `scope` parameter holding ClinicGate scopes and SMART system
    /// scopes in any mix.
    ///
    /// # Errors
    /// A message naming the scopes that are neither.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut scopes = Vec::new();
        let mut echo: Vec<&str> = Vec::new();
        let mut unknown = Vec::new();
        for word in raw.split(' ').filter(|w| !w.is_empty()) {
            let mapped = match Scope::parse(word) {
                Some(scope) => Some(vec![scope]),
                None => system_scope(word),
            };
            match mapped {
                Some(mapped) => {
                    scopes.extend(mapped);
                    if !echo.contains(&word) {
                        echo.push(word);
                    }
                }
                None => unknown.push(word),
            }
        }
        if !unknown.is_empty() {
            return Err(format!(
                "unknown scope(s) {}; known scopes are {} and SMART system scopes such as {}",
                unknown.join(", "),
                ScopeSet::all(),
                SMART_SYSTEM_SCOPES.join(" ")
            ));
        }
        Ok(Self {
            scopes: scopes.into_iter().collect(),
            echo: echo.join(" "),
        })
    }
}

/// The ClinicGate scopes a SMART system scope stands for; `None` when it is not one this server
/// can grant (an unknown resource type, or writing one the facade cannot write).
fn system_scope(word: &str) -> Option<Vec<Scope>> {
    let (resource, permissions) = word.strip_prefix("system/")?.split_once('.')?;
    let (reads, writes) = permissions_of(permissions)?;
    if resource == "*" {
        // SMART's "every resource type" grants reads only: writing everything is not something
        // to hand out by accident.
        return (!writes).then(|| RESOURCES.iter().map(|(_, read, _)| *read).collect());
    }
    let (_, read, write) = RESOURCES.iter().find(|(name, ..)| *name == resource)?;
    let mut mapped = Vec::new();
    if reads {
        mapped.push(*read);
    }
    if writes {
        mapped.push((*write)?);
    }
    Some(mapped)
}

/// Whether SMART permissions ask to read (`r`, `s`) and to write (`c`, `u`): v2's ordered
/// subset of `cruds` (deleting is not offered) or v1's `read`, `write`, `*`.
fn permissions_of(permissions: &str) -> Option<(bool, bool)> {
    match permissions {
        "read" => return Some((true, false)),
        "write" => return Some((false, true)),
        "*" => return Some((true, true)),
        "" => return None,
        _ => {}
    }
    let mut rest = "cruds";
    let (mut reads, mut writes) = (false, false);
    for letter in permissions.chars() {
        // Each letter at most once and in `cruds` order, as SMART v2 requires.
        let at = rest.find(letter)?;
        rest = &rest[at + 1..];
        match letter {
            'r' | 's' => reads = true,
            'c' | 'u' => writes = true,
            _ => return None,
        }
    }
    Some((reads, writes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(raw: &str) -> String {
        RequestedScopes::parse(raw).unwrap().scopes.to_string()
    }

    #[test]
    fn system_scopes_map_onto_clinicgate_scopes() {
        assert_eq!(granted("system/Patient.rs"), "patients:read");
        assert_eq!(granted("system/Flag.read"), "patients:read");
        assert_eq!(
            granted("system/Appointment.cu system/Appointment.rs"),
            "appointments:read appointments:write"
        );
        assert_eq!(
            granted("system/Slot.s system/Schedule.r"),
            "doctors:read slots:read"
        );
        assert_eq!(
            granted("system/*.rs"),
            "doctors:read slots:read appointments:read patients:read"
        );
    }

    #[test]
    fn the_echo_keeps_the_requested_words_once_each_in_order() {
        let requested =
            RequestedScopes::parse("system/Patient.rs doctors:read system/Patient.rs").unwrap();
        assert_eq!(requested.echo, "system/Patient.rs doctors:read");
    }

    #[test]
    fn scopes_this_server_cannot_grant_are_refused_by_name() {
        for bad in [
            "system/Observation.rs",
            "system/Patient.cu",
            "system/Patient.sr",
            "system/Patient.rr",
            "system/Appointment.d",
            "system/*.cruds",
            "patient/Patient.rs",
            "system/Patient.",
        ] {
            let err = RequestedScopes::parse(&format!("doctors:read {bad}")).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
