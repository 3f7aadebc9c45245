//! Secrets carried in links (a calendar feed's URL, a password reset or invite link): 256
//! random bits, base64url after a recognisable prefix, stored only as their SHA-256 digest (like
//! a session token: a dump of the table yields no link that works). An unkeyed digest suffices
//! because the token is random, not a password.

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::crypto::hex;

/// Random bytes per token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Length of the base64url form of [`TOKEN_BYTES`] without padding.
const ENCODED_LEN: usize = 43;

/// What a kind of link token is called.
pub trait LinkTokenKind {
    /// Prefix of every token of the kind, so a leaked one is recognisable by secret scanners
    /// and people, and one kind is never accepted as another.
    const PREFIX: &'static str;
    /// The type's name in `Debug` output.
    const NAME: &'static str;
}

/// A token of kind `K` as it appears in its link.
pub struct LinkToken<K: LinkTokenKind>(SecretString, PhantomData<K>);

impl<K: LinkTokenKind> LinkToken<K> {
    /// A fresh token from the OS-seeded CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(
            SecretString::from(format!("{}{}", K::PREFIX, URL_SAFE_NO_PAD.encode(bytes))),
            PhantomData,
        )
    }

    /// Accepts a presented value that has the shape of a token of this kind; anything else
    /// cannot be one and is not worth a lookup.
    pub fn parse(value: &str) -> Option<Self> {
        let body = value.strip_prefix(K::PREFIX)?;
        let well_formed = body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(SecretString::from(value.to_owned()), PhantomData))
    }

    /// The token, for the one response that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What is stored and looked up: the SHA-256 of the token, lowercase hex.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.expose().as_bytes()))
    }
}

impl<K: LinkTokenKind> fmt::Debug for LinkToken<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}([REDACTED])", K::NAME)
    }
}
