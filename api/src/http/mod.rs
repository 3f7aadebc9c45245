//! The HTTP plumbing every route shares: errors as problem+json, request ids, logs and metrics,
//! security headers, extractor limits and the 404/405 fallback.

pub mod client_ip;
pub mod extract;
pub mod fallback;
pub mod host;
pub mod html;
pub mod ledger;
pub mod observe;
pub mod phi;
pub mod problem;
pub mod responses;
pub mod security;
pub mod webhooks;
