//! The SSRF guard: the one way ClinicGate calls a URL that a *user* gave (webhook endpoints,
//! partner sync, FHIR push, partners' JWKS), so a clinic cannot make ClinicGate reach its own
//! network, the cloud metadata service or loopback.
//!
//! - `address`: which IP addresses are public, and the operator's exceptions
//!   (`outbound.allowed_networks`);
//! - `url_policy`: scheme, credentials, host and port rules, checked when a URL is stored and
//!   again when it is called;
//! - `resolver`: the system resolver, and the guard around it that drops refused addresses at
//!   every new connection (so DNS rebinding is refused too);
//! - `client`: [`OutboundClient`], which puts these together over reqwest;
//! - `send_error`: how a send failed, for the delivery machinery's retry decisions.
//!
//! Calls to Cliniko do not go through here: ClinicGate, not a user, chooses Cliniko's hosts.

mod address;
mod client;
mod oauth_http;
mod resolver;
mod send_error;
mod url_policy;

pub use address::{AddressPolicy, is_globally_routable};
pub use client::{Exchanged, OutboundClient, OutboundConfig};
pub use ipnet::IpNet;
pub use oauth_http::send_oauth;
pub use resolver::SystemResolver;
pub use send_error::SendError;
pub use url_policy::{UrlPolicy, UrlRefusal};
