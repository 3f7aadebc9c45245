//! The `[outbound]` settings: the SSRF guard in front of every call to a URL a user gave
//! (webhooks, partner sync, FHIR push). Read and validated with the rest of the configuration
//! (`crate::config`); the guard itself is `clinicgate_adapters::outbound`.

use std::fmt;

use clinicgate_adapters::outbound::{IpNet, OutboundConfig};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{ConfigProblem, Environment};

const ALLOWED_NETWORKS: &str = "CLINICGATE_OUTBOUND__ALLOWED_NETWORKS";
const ALLOW_HTTP: &str = "CLINICGATE_OUTBOUND__ALLOW_HTTP";

/// `[outbound]` as read, before its networks are parsed.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RawOutboundSettings {
    allowed_networks: NetworkEntries,
    allow_http: bool,
}

/// The entries of `allowed_networks`: a TOML list in a file, or one comma-separated string (the
/// only shape an environment variable has).
#[derive(Debug, Clone, Default)]
struct NetworkEntries(Vec<String>);

impl<'de> Deserialize<'de> for NetworkEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;

        impl<'de> Visitor<'de> for Entries {
            type Value = NetworkEntries;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("CIDRs, comma-separated (10.0.0.0/8,fd00::/8) or as a list")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<NetworkEntries, E> {
                Ok(NetworkEntries(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|entry| !entry.is_empty())
                        .map(str::to_owned)
                        .collect(),
                ))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NetworkEntries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    entries.push(entry.trim().to_owned());
                }
                Ok(NetworkEntries(entries))
            }
        }

        deserializer.deserialize_any(Entries)
    }
}

impl RawOutboundSettings {
    /// The validated settings, or every problem with them.
    pub(super) fn validate(self, env: Environment) -> Result<OutboundSettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut allowed_networks = Vec::new();
        let mut invalid = Vec::new();
        for entry in &self.allowed_networks.0 {
            match entry.parse::<IpNet>() {
                // `10.1.2.3/8` means 10.0.0.0/8; keep the network, not the typo'd host.
                Ok(net) => allowed_networks.push(net.trunc()),
                Err(_) => invalid.push(format!("{entry:?}")),
            }
        }
        if !invalid.is_empty() {
            problems.push(ConfigProblem {
                key: ALLOWED_NETWORKS.to_owned(),
                message: format!(
                    "{} not a network in CIDR notation; write address/prefix length, e.g. \
                     10.0.0.0/8 or fd00::/8 (one host: 10.0.0.5/32), separated by commas \
                     (CLINICGATE_OUTBOUND__ALLOWED_NETWORKS=127.0.0.0/8,fd00::/8) or as a TOML \
                     list in the config file",
                    if invalid.len() == 1 {
                        format!("{} is", invalid.join(", "))
                    } else {
                        format!("{} are", invalid.join(", "))
                    }
                ),
            });
        }
        if self.allow_http && env == Environment::Production {
            problems.push(ConfigProblem {
                key: ALLOW_HTTP.to_owned(),
                message: "must be false in production: calls to user-given URLs carry clinic \
                          data and must be encrypted (http:// is for tests and demos)"
                    .to_owned(),
            });
        }
        if problems.is_empty() {
            Ok(OutboundSettings {
                allowed_networks,
                allow_http: self.allow_http,
            })
        } else {
            Err(problems)
        }
    }
}

/// `[outbound]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    /// Networks outbound calls to user-given URLs may reach although they are not public.
    pub allowed_networks: Vec<IpNet>,
    /// Accept `http://` URLs (never in production).
    pub allow_http: bool,
}

impl OutboundSettings {
    /// The outbound client's configuration, with the webhook timeouts (5 s to connect, 15 s in
    /// all); other uses adjust the timeouts on their copy.
    pub fn client_config(&self) -> OutboundConfig {
        OutboundConfig::new(self.allowed_networks.clone(), self.allow_http)
    }
}
