//! The OAuth 2.0 side of third-party access, on the root host: the client-credentials token
//! endpoint, introspection, revocation and the JWKS. Tokens, keys and revocation rules live in
//! `clinicgate_core::tokens`; this module is HTTP only.

mod credentials;
mod introspect;
mod key_set;
pub mod oauth;
mod token;

pub use credentials::{Authorization, authorization};
pub use introspect::{
    InactiveOut, IntrospectionOut, RevokeRequest, bearer_token, revoke, validate,
};
pub use key_set::jwks;
pub use token::{TokenRequest, TokenResponse, issue_token};
