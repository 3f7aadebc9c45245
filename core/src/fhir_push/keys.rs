//! The key pair ClinicGate makes for a SMART Backend Services destination (ES384, P-384): the
//! private key is sealed with the vault and only ever leaves memory as a signature; the public
//! key is published as a JWKS the destination registers. The `client_assertion` it signs is the
//! RFC 7523 JWT SMART asks for.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p384::elliptic_curve::sec1::ToEncodedPoint as _;
use p384::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// `client_assertion_type` of a JWT assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: SMART asks for at most five minutes.
const ASSERTION_LIFETIME_SECS: i64 = 300;

/// An ES384 private key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct SigningKey {
    secret: p384::SecretKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, [REDACTED])", self.key_id())
    }
}

/// A signed `client_assertion`.
#[derive(Debug)]
pub struct ClientAssertion(pub SecretString);

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: String,
}

impl SigningKey {
    /// A new random key.
    ///
    /// # Errors
    /// `Internal` when no valid scalar comes from the random source (never in practice).
    pub fn generate() -> Result<Self> {
        let mut bytes = [0_u8; 48];
        // A random 384-bit string is a valid scalar unless it is zero or above the group order,
        // which is astronomically rare; a few tries settle it.
        for _ in 0..8 {
            rand::rng().fill_bytes(&mut bytes);
            if let Ok(secret) = p384::SecretKey::from_slice(&bytes) {
                return Ok(Self { secret });
            }
        }
        Err(Error::internal("could not generate a P-384 key"))
    }

    /// The key as it is sealed: PKCS#8 DER in base64.
    ///
    /// # Errors
    /// `Internal` when the key cannot be encoded.
    pub fn to_sealable(&self) -> Result<SecretString> {
        let der = self
            .secret
            .to_pkcs8_der()
            .map_err(|_| Error::internal("a P-384 key could not be encoded"))?;
        Ok(SecretString::from(STANDARD.encode(der.as_bytes())))
    }

    /// Reads a key written by [`Self::to_sealable`].
    ///
    /// # Errors
    /// `Internal` when it is not one.
    pub fn from_sealed(text: &SecretString) -> Result<Self> {
        let der = STANDARD
            .decode(text.expose_secret())
            .map_err(|_| Error::internal("a sealed FHIR signing key is not base64"))?;
        let secret = p384::SecretKey::from_pkcs8_der(&der)
            .map_err(|_| Error::internal("a sealed FHIR signing key is not PKCS#8 P-384"))?;
        Ok(Self { secret })
    }

    /// The public key's coordinates, base64url.
    fn coordinates(&self) -> (String, String) {
        let point = self.secret.public_key().to_encoded_point(false);
        let encode =
            |c: Option<&p384::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
        (encode(point.x()), encode(point.y()))
    }

    /// The key id: the RFC 7638 thumbprint of the public key, so it names this key and no other.
    pub fn key_id(&self) -> String {
        let (x, y) = self.coordinates();
        // The thumbprint hashes the required members in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The public key as a JWK (never the private part).
    pub fn public_jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({
            "kty": "EC", "crv": "P-384", "x": x, "y": y,
            "kid": self.key_id(), "alg": "ES384", "use": "sig",
        })
    }

    /// A `client_assertion` for `client_id` at `token_url`, valid five minutes from `now`, with
    /// a fresh `jti`.
    ///
    /// # Errors
    /// `Internal` when signing fails.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: DateTime<Utc>,
    ) -> Result<ClientAssertion> {
        let der = self
            .secret
            .to_pkcs8_der()
            .map_err(|_| Error::internal("a P-384 key could not be encoded"))?;
        let mut header = Header::new(Algorithm::ES384);
        header.kid = Some(self.key_id());
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: token_url,
            exp: now.timestamp() + ASSERTION_LIFETIME_SECS,
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(der.as_bytes()))
            .map_err(|err| Error::internal(format!("signing a client assertion: {err}")))?;
        Ok(ClientAssertion(SecretString::from(jwt)))
    }
}

/// A JWKS holding `jwk`.
pub fn jwks(jwk: &Value) -> Value {
    json!({"keys": [jwk]})
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    #[test]
    fn a_sealed_key_reads_back_and_signs_assertions_its_public_jwk_verifies() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_sealed(&key.to_sealable().unwrap()).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        let jwk = key.public_jwk();
        assert!(jwk.get("d").is_none(), "no private part: {jwk}");
        let assertion = again
            .assertion("cg-client", "https://ehr.example/token", Utc::now())
            .unwrap();
        let decoding =
            DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap())
                .unwrap();
        let mut validation = Validation::new(Algorithm::ES384);
        validation.set_audience(&["https://ehr.example/token"]);
        let token = jsonwebtoken::decode::<serde_json::Value>(
            assertion.0.expose_secret(),
            &decoding,
            &validation,
        )
        .unwrap();
        assert_eq!(token.claims["iss"], "cg-client");
        assert_eq!(token.claims["sub"], "cg-client");
        assert_eq!(token.header.kid.as_deref(), Some(key.key_id().as_str()));
    }
}
