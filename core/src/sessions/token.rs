//! The secret a browser holds for its session: 256 random bits, base64url in the cookie, stored
//! server-side only as its SHA-256 digest.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::crypto::hex;
use crate::ports::SessionKey;

/// Random bytes per token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Length of the base64url form of [`TOKEN_BYTES`] without padding.
const ENCODED_LEN: usize = 43;

/// An opaque session token, as carried by the cookie.
pub struct SessionToken(SecretString);

impl SessionToken {
    /// A fresh token from the OS-seeded CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts a cookie value that has the shape of a token (anything else cannot be one, and
    /// is not worth a store lookup).
    pub fn from_cookie(value: &str) -> Option<Self> {
        let well_formed = value.len() == ENCODED_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(SecretString::from(value.to_owned())))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The key the session is stored under: a dump of the store yields no usable cookie.
    pub fn key(&self) -> SessionKey {
        SessionKey::from_digest(hex(&Sha256::digest(self.expose().as_bytes())))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_256_random_bits_and_round_trips_through_the_cookie() {
        let token = SessionToken::generate();
        assert_eq!(token.expose().len(), ENCODED_LEN);
        let again = SessionToken::from_cookie(token.expose()).unwrap();
        assert_eq!(again.key(), token.key());
        assert_ne!(SessionToken::generate().expose(), token.expose());
    }

    #[test]
    fn the_storage_key_is_a_digest_not_the_token() {
        let token = SessionToken::generate();
        let key = token.key();
        assert_eq!(key.as_str().len(), 64);
        assert!(!key.as_str().contains(token.expose()));
    }

    #[test]
    fn values_that_cannot_be_tokens_are_refused() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(21),
        ] {
            assert!(SessionToken::from_cookie(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        assert_eq!(
            format!("{:?}", SessionToken::generate()),
            "SessionToken([REDACTED])"
        );
    }
}
