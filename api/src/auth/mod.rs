//! The OAuth 2.0 side of third-party access, on the root host: the client-credentials token
//! endpoint, introspection, revocation, the JWKS and the SMART configuration. Tokens, keys and revocation rules live in
//! `clinicgate_core::tokens`; this module is HTTP only.

mod credentials;
mod introspect;
mod key_set;
pub mod oauth;
mod smart;
mod token;

pub use credentials::{Authorization, authorization};
pub use introspect::{
    InactiveOut, IntrospectionOut, RevokeRequest, bearer_token, revoke, validate,
};
pub use key_set::jwks;
pub use smart::{SmartConfiguration, fhir_smart_configuration, smart_configuration, token_url};
pub use token::{TokenRequest, TokenResponse, issue_token};
