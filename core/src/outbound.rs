//! URLs users give ClinicGate to call later (webhook endpoints; FHIR servers and partners later):
//! the port that checks one before it is stored. The SSRF guard that implements it, and that
//! guards every later connection too, is the adapters' `outbound` module.

use std::fmt;

use async_trait::async_trait;

use crate::FieldError;

/// Why a URL was refused, in terms the user can act on. Never holds the URL itself: it may carry
/// a secret (a token in its path or query), so it must not reach a log line through this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRefused {
    /// A stable snake_case code (`scheme_not_allowed`, `address_not_allowed`, …).
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Checks a user-given URL before it is stored: its shape (https unless the operator allows
/// http, no credentials, an allowed port) and that its host resolves now to an address the
/// guard permits.
#[async_trait]
pub trait UrlCheck: Send + Sync + fmt::Debug {
    /// The URL as it will be stored (normalised), or why it is refused.
    async fn check(&self, url: &str) -> Result<String, UrlRefused>;
}

/// The longest URL accepted, in bytes (what browsers and most servers accept).
pub const MAX_URL_LEN: usize = 2048;

/// Reads a user-given URL for `field` the one way every kind does (webhook endpoints, partner
/// patient APIs): trimmed, required (`hint` says what to give), at most [`MAX_URL_LEN`] bytes, and
/// accepted by the guard. The URL as it will be stored, or `None` with the reason noted.
pub async fn read_url(
    urls: &dyn UrlCheck,
    field: &'static str,
    hint: &str,
    raw: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        errors.push(FieldError::new(field, "required", hint.to_owned()));
        return None;
    }
    if raw.len() > MAX_URL_LEN {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("use a URL of at most {MAX_URL_LEN} characters"),
        ));
        return None;
    }
    match urls.check(raw).await {
        Ok(url) => Some(url),
        Err(refused) => {
            errors.push(FieldError::new(field, refused.code, refused.message));
            None
        }
    }
}
