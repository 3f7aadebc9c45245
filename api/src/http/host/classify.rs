//! Which host a request is for: the public root host, one clinic's host, or anything else.
//!
//! A clinic host is exactly one DNS label of `[A-Za-z0-9-]` in front of the public host; the port
//! is ignored, case does not matter and one trailing dot (a fully-qualified name) is tolerated.
//! Everything else — two labels (`fr.eu.{host}`), underscores, IP addresses, other domains, no
//! Host at all — is [`HostKind::Other`], which only the operator endpoints answer.

use clinicgate_core::clinics::Subdomain;

/// What a Host header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// The public root host: landing page, sign-up, public API, docs.
    Root,
    /// `{label}.{public host}`: a clinic's host, if that clinic exists.
    Tenant(Subdomain),
    /// Anything else.
    Other,
}

/// Classifies `host` (a Host header or URI authority, possibly with a port) against the public
/// host name (lowercase, without port).
pub fn classify(host: Option<&str>, public_host: &str) -> HostKind {
    let Some(name) = host.and_then(strip_port) else {
        return HostKind::Other;
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name == public_host {
        return HostKind::Root;
    }
    let Some(label) = name
        .strip_suffix(public_host)
        .and_then(|rest| rest.strip_suffix('.'))
    else {
        return HostKind::Other;
    };
    // `parse_label` refuses dots, so `fr.eu` (two labels) is not a clinic.
    Subdomain::parse_label(label).map_or(HostKind::Other, HostKind::Tenant)
}

/// The host name without its port; `None` for IPv6 literals (never a clinic or the public host,
/// which is always a name) and for a port that is not a number.
fn strip_port(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        return None;
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Some(name)
        }
        Some(_) => None,
        None => Some(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "clinicgate.example.com";

    fn kind(host: &str) -> HostKind {
        classify(Some(host), PUBLIC)
    }

    fn tenant(label: &str) -> HostKind {
        HostKind::Tenant(Subdomain::parse_label(label).unwrap())
    }

    #[test]
    fn the_public_host_is_the_root_with_any_port_case_or_trailing_dot() {
        for host in [
            "clinicgate.example.com",
            "clinicgate.example.com:8443",
            "ClinicGate.Example.COM",
            "clinicgate.example.com.",
            "clinicgate.example.com.:80",
        ] {
            assert_eq!(kind(host), HostKind::Root, "{host}");
        }
    }

    #[test]
    fn one_label_in_front_of_the_public_host_is_a_clinic() {
        assert_eq!(kind("clinic-a.clinicgate.example.com"), tenant("clinic-a"));
        assert_eq!(
            kind("Clinic-A.ClinicGate.example.com:8080"),
            tenant("clinic-a")
        );
        assert_eq!(kind("clinic-a.clinicgate.example.com."), tenant("clinic-a"));
    }

    #[test]
    fn anything_else_is_no_clinic() {
        for host in [
            "fr.eu.clinicgate.example.com",
            "my_clinic.clinicgate.example.com",
            "-clinic.clinicgate.example.com",
            ".clinicgate.example.com",
            "clinic-aclinicgate.example.com",
            "clinicgate.example.com.evil.com",
            "evil.com",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[::1]",
            "clinic-a.clinicgate.example.com:http",
            "",
        ] {
            assert_eq!(kind(host), HostKind::Other, "{host:?}");
        }
        assert_eq!(classify(None, PUBLIC), HostKind::Other);
    }
}
