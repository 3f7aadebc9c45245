//! The key pair ClinicGate makes for a SMART Backend Services destination: ES384 (P-384, the
//! default) or RS384 (RSA 2048) for servers that only take RSA keys. The private key is sealed
//! with the vault and only ever leaves memory as a signature; the public key is published as a
//! JWKS the destination registers. The `client_assertion` it signs is the RFC 7523 JWT SMART
//! asks for.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p384::elliptic_curve::sec1::ToEncodedPoint as _;
use p384::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::traits::PublicKeyParts as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// `client_assertion_type` of a JWT assertion (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid: SMART asks for at most five minutes.
const ASSERTION_LIFETIME_SECS: i64 = 300;

/// The size of the RSA keys made: SMART asks for at least 2048 bits.
const RSA_BITS: usize = 2048;

/// The algorithm a destination's key pair signs assertions with (the two SMART Backend
/// Services requires servers to support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigningAlgorithm {
    /// ECDSA on P-384 with SHA-384 (the default).
    #[default]
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-384, on an RSA 2048 key.
    Rs384,
}

impl SigningAlgorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Self; 2] = [Self::Es384, Self::Rs384];

    /// The JOSE name (`ES384`, `RS384`), also the stored one.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es384 => "ES384",
            Self::Rs384 => "RS384",
        }
    }

    /// Reads a JOSE name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

#[derive(Clone)]
// Boxed, both: a key travels inside every push target, which stays small.
enum Secret {
    Ec(Box<p384::SecretKey>),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A destination's private key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct SigningKey {
    secret: Secret,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, {}, [REDACTED])",
            self.algorithm().as_str(),
            self.key_id()
        )
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

fn unencodable() -> Error {
    Error::internal("a FHIR signing key could not be encoded")
}

impl SigningKey {
    /// A new random ES384 key.
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
                return Ok(Self {
                    secret: Secret::Ec(Box::new(secret)),
                });
            }
        }
        Err(Error::internal("could not generate a P-384 key"))
    }

    /// A new random key for `algorithm`. An RSA key takes a noticeable moment of CPU to make,
    /// so it is made on the blocking pool.
    ///
    /// # Errors
    /// `Internal` when the key cannot be made.
    pub async fn generate_for(algorithm: SigningAlgorithm) -> Result<Self> {
        match algorithm {
            SigningAlgorithm::Es384 => Self::generate(),
            SigningAlgorithm::Rs384 => {
                crate::crypto::blocking(|| {
                    // The operating system's generator (rsa speaks rand_core 0.6, not `rand`'s).
                    rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
                        .map(|key| Self {
                            secret: Secret::Rsa(Box::new(key)),
                        })
                        .map_err(|_| Error::internal("could not generate an RSA key"))
                })
                .await?
            }
        }
    }

    /// The algorithm this key signs with.
    pub const fn algorithm(&self) -> SigningAlgorithm {
        match self.secret {
            Secret::Ec(_) => SigningAlgorithm::Es384,
            Secret::Rsa(_) => SigningAlgorithm::Rs384,
        }
    }

    /// The private key as PKCS#8 DER (which names its own algorithm).
    fn pkcs8_der(&self) -> Result<Vec<u8>> {
        let der = match &self.secret {
            Secret::Ec(secret) => secret.to_pkcs8_der(),
            Secret::Rsa(secret) => rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(secret.as_ref()),
        };
        Ok(der.map_err(|_| unencodable())?.as_bytes().to_vec())
    }

    /// The key as it is sealed: PKCS#8 DER in base64.
    ///
    /// # Errors
    /// `Internal` when the key cannot be encoded.
    pub fn to_sealable(&self) -> Result<SecretString> {
        Ok(SecretString::from(STANDARD.encode(self.pkcs8_der()?)))
    }

    /// Reads a key of `algorithm` written by [`Self::to_sealable`].
    ///
    /// # Errors
    /// `Internal` when it is not one.
    pub fn from_sealed(algorithm: SigningAlgorithm, text: &SecretString) -> Result<Self> {
        let der = STANDARD
            .decode(text.expose_secret())
            .map_err(|_| Error::internal("a sealed FHIR signing key is not base64"))?;
        let secret = match algorithm {
            SigningAlgorithm::Es384 => p384::SecretKey::from_pkcs8_der(&der)
                .map(|key| Secret::Ec(Box::new(key)))
                .map_err(|_| Error::internal("a sealed FHIR signing key is not PKCS#8 P-384"))?,
            SigningAlgorithm::Rs384 => {
                <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_der(&der)
                    .map(|key| Secret::Rsa(Box::new(key)))
                    .map_err(|_| Error::internal("a sealed FHIR signing key is not PKCS#8 RSA"))?
            }
        };
        Ok(Self { secret })
    }

    /// The public key's JWK members that RFC 7638 hashes, in its lexicographic order.
    fn public_members(&self) -> Vec<(&'static str, String)> {
        match &self.secret {
            Secret::Ec(secret) => {
                let point = secret.public_key().to_encoded_point(false);
                let encode = |c: Option<&p384::FieldBytes>| {
                    c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default()
                };
                vec![
                    ("crv", "P-384".to_owned()),
                    ("kty", "EC".to_owned()),
                    ("x", encode(point.x())),
                    ("y", encode(point.y())),
                ]
            }
            Secret::Rsa(secret) => vec![
                ("e", URL_SAFE_NO_PAD.encode(secret.e().to_bytes_be())),
                ("kty", "RSA".to_owned()),
                ("n", URL_SAFE_NO_PAD.encode(secret.n().to_bytes_be())),
            ],
        }
    }

    /// The key id: the RFC 7638 thumbprint of the public key, so it names this key and no other.
    pub fn key_id(&self) -> String {
        // The thumbprint hashes the required members in lexicographic order, no spaces (the
        // values are base64url or fixed names: nothing to escape).
        let members: Vec<String> = self
            .public_members()
            .iter()
            .map(|(name, value)| format!(r#""{name}":"{value}""#))
            .collect();
        let canonical = format!("{{{}}}", members.join(","));
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The public key as a JWK (never the private part).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = serde_json::Map::new();
        for (name, value) in self.public_members() {
            jwk.insert(name.to_owned(), Value::String(value));
        }
        jwk.insert("kid".to_owned(), json!(self.key_id()));
        jwk.insert("alg".to_owned(), json!(self.algorithm().as_str()));
        jwk.insert("use".to_owned(), json!("sig"));
        Value::Object(jwk)
    }

    /// The key as `jsonwebtoken` signs with it, and the header algorithm.
    fn encoding_key(&self) -> Result<(Algorithm, EncodingKey)> {
        Ok(match &self.secret {
            Secret::Ec(_) => (
                Algorithm::ES384,
                EncodingKey::from_ec_der(&self.pkcs8_der()?),
            ),
            // jsonwebtoken reads RSA keys as PKCS#1.
            Secret::Rsa(secret) => (
                Algorithm::RS384,
                EncodingKey::from_rsa_der(
                    secret.to_pkcs1_der().map_err(|_| unencodable())?.as_bytes(),
                ),
            ),
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
        let (algorithm, key) = self.encoding_key()?;
        let mut header = Header::new(algorithm);
        header.kid = Some(self.key_id());
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: token_url,
            exp: now.timestamp() + ASSERTION_LIFETIME_SECS,
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &key)
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

    /// The claims of `assertion`, verified with `jwk` (as a server would, from the JWKS).
    fn verified(assertion: &ClientAssertion, jwk: &Value) -> jsonwebtoken::TokenData<Value> {
        let text = |name: &str| jwk[name].as_str().unwrap();
        let (decoding, algorithm) = match text("kty") {
            "EC" => (
                DecodingKey::from_ec_components(text("x"), text("y")).unwrap(),
                Algorithm::ES384,
            ),
            _ => (
                DecodingKey::from_rsa_components(text("n"), text("e")).unwrap(),
                Algorithm::RS384,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&["https://ehr.example/token"]);
        jsonwebtoken::decode::<Value>(assertion.0.expose_secret(), &decoding, &validation).unwrap()
    }

    #[tokio::test]
    async fn a_sealed_key_of_either_algorithm_reads_back_and_signs_assertions_its_public_jwk_verifies()
     {
        for algorithm in SigningAlgorithm::ALL {
            let key = SigningKey::generate_for(algorithm).await.unwrap();
            assert_eq!(key.algorithm(), algorithm);
            let again = SigningKey::from_sealed(algorithm, &key.to_sealable().unwrap()).unwrap();
            assert_eq!(again.key_id(), key.key_id());
            let jwk = key.public_jwk();
            assert_eq!(jwk["alg"], algorithm.as_str());
            assert_eq!(jwk["kid"], key.key_id().as_str());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "no private part: {jwk}");
            }
            let assertion = again
                .assertion("cg-client", "https://ehr.example/token", Utc::now())
                .unwrap();
            let token = verified(&assertion, &jwk);
            assert_eq!(token.claims["iss"], "cg-client");
            assert_eq!(token.claims["sub"], "cg-client");
            assert_eq!(format!("{:?}", token.header.alg), algorithm.as_str());
            assert_eq!(token.header.kid.as_deref(), Some(key.key_id().as_str()));
        }
    }

    #[tokio::test]
    async fn an_rsa_key_is_2048_bits_with_the_rfc_7638_thumbprint_as_its_id() {
        let key = SigningKey::generate_for(SigningAlgorithm::Rs384)
            .await
            .unwrap();
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len() * 8, RSA_BITS);
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap(),
            jwk["n"].as_str().unwrap()
        );
        assert_eq!(
            key.key_id(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn a_key_sealed_as_one_algorithm_does_not_read_as_the_other() {
        let sealed = SigningKey::generate().unwrap().to_sealable().unwrap();
        assert!(SigningKey::from_sealed(SigningAlgorithm::Rs384, &sealed).is_err());
    }

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(algorithm.as_str()), Some(algorithm));
        }
        assert_eq!(SigningAlgorithm::parse("HS256"), None);
    }
}
