//! The rules a user-given URL must follow before ClinicGate stores it or calls it: scheme, no
//! credentials, a host, an allowed port. Where the host points is checked by the address policy
//! (`super::address`), at creation and again on every connection.

use std::net::IpAddr;

use url::{Host, Url};

/// Why a user-given URL is refused. `code()` is stable: the api shows it in 422 bodies and the
/// delivery log records it.
///
/// Neither the variants nor their messages carry the URL: it may hold a secret (a token in the
/// path or query), so it never reaches a log line through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Not an absolute URL.
    #[error("the URL is not a valid absolute URL")]
    InvalidUrl,
    /// Not `https` (or `http`, when the operator allows it).
    #[error("the URL must start with https://")]
    SchemeNotAllowed,
    /// `user:password@` in the URL: credentials belong in headers, never in a stored URL.
    #[error("the URL must not contain a user name or password")]
    CredentialsNotAllowed,
    /// No host name or address.
    #[error("the URL has no host")]
    HostMissing,
    /// A port below 1024 other than 80 and 443: those belong to services (SMTP, SSH, …) that
    /// must not receive ClinicGate's requests.
    #[error("the URL's port is not allowed; use 80, 443 or a port from 1024 up")]
    PortNotAllowed,
    /// Every address of the host is private, loopback, link-local or otherwise not public, and
    /// none is in `outbound.allowed_networks`.
    #[error("the URL's host is not a public address")]
    AddressNotAllowed,
    /// The host name does not resolve (now).
    #[error("the URL's host name does not resolve")]
    Unresolvable,
}

impl UrlRefusal {
    /// A stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::SchemeNotAllowed => "scheme_not_allowed",
            Self::CredentialsNotAllowed => "credentials_not_allowed",
            Self::HostMissing => "host_missing",
            Self::PortNotAllowed => "port_not_allowed",
            Self::AddressNotAllowed => "address_not_allowed",
            Self::Unresolvable => "unresolvable",
        }
    }
}

/// Where a URL points, once its shape is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// An IP literal (`http://127.0.0.1/`): reqwest connects to it without asking the resolver,
    /// so the guard must judge it itself.
    Address(IpAddr),
    /// A host name, judged by the guarded resolver at each new connection.
    Domain(String),
}

/// The shape rules, set by the operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Accept `http://` as well as `https://` (`outbound.allow_http`; tests and demos).
    pub allow_http: bool,
}

impl UrlPolicy {
    /// Checks everything about `url` except where its host resolves.
    pub(crate) fn check(self, url: &Url) -> Result<Target, UrlRefusal> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(UrlRefusal::SchemeNotAllowed),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::CredentialsNotAllowed);
        }
        let target = match url.host() {
            // The url crate has already parsed IPv4 in every WHATWG form (`0x7f.1`, `2130706433`)
            // into an address, so no spelling of 127.0.0.1 reaches the `Domain` arm.
            Some(Host::Ipv4(v4)) => Target::Address(IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => Target::Address(IpAddr::V6(v6)),
            Some(Host::Domain(domain)) if !domain.is_empty() => Target::Domain(domain.to_owned()),
            _ => return Err(UrlRefusal::HostMissing),
        };
        match url.port_or_known_default() {
            Some(80 | 443) => {}
            Some(port) if port >= 1024 => {}
            _ => return Err(UrlRefusal::PortNotAllowed),
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: UrlPolicy, raw: &str) -> Result<Target, UrlRefusal> {
        policy.check(&Url::parse(raw).unwrap())
    }

    #[test]
    fn only_https_is_accepted_unless_the_operator_allows_http() {
        let strict = UrlPolicy::default();
        let lenient = UrlPolicy { allow_http: true };
        assert_eq!(
            check(strict, "https://hooks.example.com/x"),
            Ok(Target::Domain("hooks.example.com".into()))
        );
        assert_eq!(
            check(strict, "http://hooks.example.com/x"),
            Err(UrlRefusal::SchemeNotAllowed)
        );
        assert!(check(lenient, "http://hooks.example.com/x").is_ok());
        for other in [
            "ftp://hooks.example.com/",
            "file:///etc/passwd",
            "gopher://x:70/",
        ] {
            assert_eq!(
                check(lenient, other),
                Err(UrlRefusal::SchemeNotAllowed),
                "{other}"
            );
        }
    }

    #[test]
    fn credentials_and_privileged_ports_are_refused() {
        let policy = UrlPolicy::default();
        assert_eq!(
            check(policy, "https://user:pw@hooks.example.com/"),
            Err(UrlRefusal::CredentialsNotAllowed)
        );
        assert_eq!(
            check(policy, "https://user@hooks.example.com/"),
            Err(UrlRefusal::CredentialsNotAllowed)
        );
        assert_eq!(
            check(policy, "https://hooks.example.com:25/"),
            Err(UrlRefusal::PortNotAllowed)
        );
        assert!(check(policy, "https://hooks.example.com:8443/").is_ok());
        assert!(check(policy, "https://hooks.example.com:443/").is_ok());
    }

    #[test]
    fn ip_literals_in_any_spelling_are_recognised_as_addresses() {
        let policy = UrlPolicy { allow_http: true };
        let loopback = Ok(Target::Address("127.0.0.1".parse().unwrap()));
        for raw in [
            "http://127.0.0.1:8080/",
            "http://0x7f.1:8080/",
            "http://2130706433:8080/",
            "http://0177.0.0.1:8080/",
        ] {
            assert_eq!(check(policy, raw), loopback, "{raw}");
        }
        assert_eq!(
            check(policy, "http://[::ffff:169.254.169.254]:8080/"),
            Ok(Target::Address("::ffff:169.254.169.254".parse().unwrap()))
        );
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(UrlRefusal::SchemeNotAllowed.code(), "scheme_not_allowed");
        assert_eq!(UrlRefusal::AddressNotAllowed.code(), "address_not_allowed");
        assert_eq!(UrlRefusal::Unresolvable.code(), "unresolvable");
    }
}
