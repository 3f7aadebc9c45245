//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, "Signature scheme"): what a
//! receiver checks with any off-the-shelf Standard Webhooks library.
//!
//! A message carries three headers: `webhook-id` (the same on every retry of one message),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`, a space-separated
//! list of `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}` keyed with the secret's
//! bytes. During a secret's rotation grace the list holds one signature per live secret, so a
//! receiver that has either secret verifies the message.
//!
//! Written here rather than taken from the `standardwebhooks` crate: that crate is built for
//! receivers (its signing takes one secret and it pulls `http` 1 and an older `base64`), while the
//! sender needs several secrets, the secrets' storage form and nothing else. The crate verifies
//! what this module signs in the tests below.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};
use sha2::Sha256;

/// Prefix of a webhook secret's text form, as the specification and Svix write it.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a fresh secret: 32 (256 bits), within the specification's 24 to 64.
const SECRET_BYTES: usize = 32;

/// The shortest and longest secrets the specification allows, in bytes.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 24..=64;

/// The three headers of a signed message, by their names.
pub const ID_HEADER: &str = "webhook-id";
/// See [`ID_HEADER`].
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// See [`ID_HEADER`].
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A webhook endpoint's signing secret. Shown to the partner once, stored only encrypted.
pub struct WebhookSecret(SecretBox<[u8]>);

/// Why a secret's text form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`.
    #[error("a webhook secret starts with `whsec_`")]
    Prefix,
    /// The rest is not standard base64.
    #[error("a webhook secret is `whsec_` followed by standard base64")]
    NotBase64,
    /// It decodes to too few or too many bytes.
    #[error("a webhook secret decodes to 24 to 64 bytes, not {0}")]
    Length(usize),
}

impl WebhookSecret {
    /// A fresh random secret (`rand`'s thread RNG is a CSPRNG seeded from the OS).
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretBox::new(bytes.into_boxed_slice()))
    }

    /// Reads the text form (`whsec_` + standard base64), as stored or as shown.
    ///
    /// # Errors
    /// A [`SecretError`] saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !SECRET_LEN.contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Self(SecretBox::new(bytes.into_boxed_slice())))
    }

    /// The text form: for the one response that shows it and for encryption at rest.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0.expose_secret()))
    }

    /// The last four characters of the text form, as the clinic sees a secret it cannot read.
    pub fn last4(&self) -> String {
        let text = self.expose();
        text[text.len().saturating_sub(4)..].to_owned()
    }

    /// `v1,<signature>` of one message under this secret.
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length; the error arm cannot happen, and an empty signature
        // would only fail verification.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

/// The `webhook-signature` header of one message: a signature under each of `secrets` (the
/// current secret first, then any still in their rotation grace), separated by spaces.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a WebhookSecret>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use standardwebhooks::Webhook;

    use super::*;

    fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ID_HEADER, HeaderValue::from_str(id).unwrap());
        headers.insert(
            TIMESTAMP_HEADER,
            HeaderValue::from_str(&timestamp.to_string()).unwrap(),
        );
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(signature).unwrap());
        headers
    }

    #[test]
    fn the_standard_webhooks_library_verifies_a_signed_message() {
        let secret = WebhookSecret::generate();
        let body = br#"{"type":"appointment.created","timestamp":"2026-12-05T10:00:00Z","data":{"id":"1"}}"#;
        let now = chrono::Utc::now().timestamp();
        let signature = signature_header([&secret], "msg_1", now, body);

        let receiver = Webhook::new(&secret.expose()).unwrap();
        receiver
            .verify(body, &headers("msg_1", now, &signature))
            .expect("an off-the-shelf receiver accepts it");
        // Any change to the id, the timestamp or the body breaks it.
        assert!(
            receiver
                .verify(body, &headers("msg_2", now, &signature))
                .is_err()
        );
        assert!(
            receiver
                .verify(body, &headers("msg_1", now - 1, &signature))
                .is_err()
        );
        assert!(
            receiver
                .verify(b"{}", &headers("msg_1", now, &signature))
                .is_err()
        );
    }

    #[test]
    fn during_a_rotation_a_receiver_with_either_secret_verifies_the_message() {
        let current = WebhookSecret::generate();
        let previous = WebhookSecret::generate();
        let body = b"{}";
        let now = chrono::Utc::now().timestamp();
        let signature = signature_header([&current, &previous], "msg_1", now, body);
        assert_eq!(signature.split(' ').count(), 2);
        for secret in [&current, &previous] {
            Webhook::new(&secret.expose())
                .unwrap()
                .verify(body, &headers("msg_1", now, &signature))
                .unwrap();
        }
        let stranger = WebhookSecret::generate();
        assert!(
            Webhook::new(&stranger.expose())
                .unwrap()
                .verify(body, &headers("msg_1", now, &signature))
                .is_err()
        );
    }

    #[test]
    fn the_reference_librarys_own_vector_is_reproduced() {
        // The signing vector of the Rust reference library's test suite.
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            signature_header(
                [&secret],
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn the_text_form_round_trips_and_bad_forms_are_refused() {
        let secret = WebhookSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with(SECRET_PREFIX));
        assert_eq!(WebhookSecret::parse(&text).unwrap().expose(), text);
        assert!(text.ends_with(&secret.last4()));
        assert_eq!(format!("{secret:?}"), "WebhookSecret([REDACTED])");
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").err(),
            Some(SecretError::Prefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").err(),
            Some(SecretError::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_AAAA").err(),
            Some(SecretError::Length(3))
        );
    }
}
