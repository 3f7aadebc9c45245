//! OpenID providers' discovery documents and signing keys, fetched through the outbound SSRF
//! guard (the [`JwksFetcher`] that also fetches API clients' keys: a bounded, timed `GET` of a
//! JSON document) and kept in memory for [`CACHE_TTL`]; and the ID token's verification.
//!
//! An ID token is accepted when: its header's algorithm is RS256 or ES256; a key of the
//! provider's JWKS with its `kid` verifies its signature (the JWKS is fetched again once when no
//! cached key has that `kid`: the provider rotated its keys); `iss` is the discovered issuer;
//! `aud` holds the client id (and `azp`, when several audiences are named, is the client id);
//! `exp` is in the future and `iat` not, with [`LEEWAY`] either way; `nonce` is the login's.
//!
//! Caches are per instance: discovery documents and JWKS are public and re-fetchable, so losing
//! a copy costs one fetch, and there is nothing to share between instances.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::login::nonce_matches;
use super::{IdentityClaims, ProviderMetadata, SsoFailure};
use crate::tokens::JwksFetcher;

/// How long a discovery document or JWKS is used before it is fetched again.
pub const CACHE_TTL: Duration = Duration::from_secs(600);

/// Clock skew allowed on `exp` and `iat`, in seconds.
pub const LEEWAY: u64 = 60;

/// The fields of a discovery document ClinicGate uses.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// The claims of an ID token ClinicGate reads (`iss`, `aud`, `exp` are checked by the JWT
/// validation itself).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    aud: Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// A boolean, though some providers send the string `"true"`.
    #[serde(default)]
    email_verified: Value,
    #[serde(default)]
    amr: Vec<String>,
}

struct Cached<T> {
    value: T,
    fetched_at: Instant,
}

type Cache<T> = Mutex<HashMap<String, Cached<T>>>;

/// Discovery documents and keys of the providers clinics use; cheap to clone (shared).
#[derive(Clone)]
pub struct Providers {
    fetcher: Arc<dyn JwksFetcher>,
    documents: Arc<Cache<ProviderMetadata>>,
    keys: Arc<Cache<JwkSet>>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers").finish_non_exhaustive()
    }
}

fn cached<T: Clone>(cache: &Cache<T>, key: &str) -> Option<T> {
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(key)
        .filter(|entry| entry.fetched_at.elapsed() < CACHE_TTL)
        .map(|entry| entry.value.clone())
}

fn keep<T>(cache: &Cache<T>, key: &str, value: T) {
    cache.lock().unwrap_or_else(PoisonError::into_inner).insert(
        key.to_owned(),
        Cached {
            value,
            fetched_at: Instant::now(),
        },
    );
}

impl Providers {
    /// Fetches documents with `fetcher` (the outbound guard's).
    pub fn new(fetcher: Arc<dyn JwksFetcher>) -> Self {
        Self {
            fetcher,
            documents: Arc::default(),
            keys: Arc::default(),
        }
    }

    /// The provider at `issuer` (without a trailing `/`): its discovery document, whose
    /// `issuer` must be the same URL.
    ///
    /// # Errors
    /// `Provider` when the document cannot be fetched or read, or names another issuer.
    pub async fn discover(&self, issuer: &str) -> Result<ProviderMetadata, SsoFailure> {
        let issuer = issuer.trim_end_matches('/');
        if let Some(found) = cached(&self.documents, issuer) {
            return Ok(found);
        }
        let url = format!("{issuer}/.well-known/openid-configuration");
        let document = self
            .fetcher
            .fetch(&url)
            .await
            .map_err(|why| SsoFailure::Provider(format!("discovery: {why}")))?;
        let document: Discovery = serde_json::from_value(document).map_err(|_| {
            SsoFailure::Provider("the discovery document lacks required fields".to_owned())
        })?;
        if document.issuer.trim_end_matches('/') != issuer {
            return Err(SsoFailure::Provider(
                "the discovery document names another issuer".to_owned(),
            ));
        }
        let secret_in_body =
            document
                .token_endpoint_auth_methods_supported
                .is_some_and(|methods| {
                    !methods.iter().any(|m| m == "client_secret_basic")
                        && methods.iter().any(|m| m == "client_secret_post")
                });
        let metadata = ProviderMetadata {
            issuer: document.issuer,
            authorization_endpoint: document.authorization_endpoint,
            token_endpoint: document.token_endpoint,
            jwks_uri: document.jwks_uri,
            secret_in_body,
        };
        keep(&self.documents, issuer, metadata.clone());
        Ok(metadata)
    }

    async fn jwks(&self, uri: &str, fresh: bool) -> Result<JwkSet, SsoFailure> {
        if !fresh && let Some(found) = cached(&self.keys, uri) {
            return Ok(found);
        }
        let document = self
            .fetcher
            .fetch(uri)
            .await
            .map_err(|why| SsoFailure::Provider(format!("signing keys: {why}")))?;
        let set = usable_keys(&document)?;
        keep(&self.keys, uri, set.clone());
        Ok(set)
    }

    /// Verifies `id_token` (see the module docs) and reads the person's claims.
    ///
    /// # Errors
    /// `InvalidToken` naming the failed check; `Provider` when the keys cannot be fetched.
    pub async fn verify_id_token(
        &self,
        provider: &ProviderMetadata,
        client_id: &str,
        id_token: &SecretString,
        nonce: &str,
    ) -> Result<IdentityClaims, SsoFailure> {
        let token = id_token.expose_secret();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| SsoFailure::InvalidToken("malformed"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(SsoFailure::InvalidToken("algorithm"));
        }
        let kid = header.kid.as_deref();
        let mut keys = candidates(
            &self.jwks(&provider.jwks_uri, false).await?,
            header.alg,
            kid,
        );
        if keys.is_empty() {
            keys = candidates(&self.jwks(&provider.jwks_uri, true).await?, header.alg, kid);
        }
        if keys.is_empty() {
            return Err(SsoFailure::InvalidToken("unknown_key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&provider.issuer]);
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY;
        let mut failure = SsoFailure::InvalidToken("signature");
        let mut verified = None;
        for key in &keys {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    verified = Some(data.claims);
                    break;
                }
                Err(err) => failure = SsoFailure::InvalidToken(check_of(err.kind())),
            }
        }
        let claims = verified.ok_or(failure)?;
        let now = Utc::now().timestamp();
        if claims.iat > now.saturating_add_unsigned(LEEWAY) {
            return Err(SsoFailure::InvalidToken("issued_in_the_future"));
        }
        let audiences = claims.aud.as_array().map_or(1, Vec::len);
        if audiences > 1 && claims.azp.as_deref() != Some(client_id) {
            return Err(SsoFailure::InvalidToken("audience"));
        }
        if !nonce_matches(nonce, claims.nonce.as_deref()) {
            return Err(SsoFailure::InvalidToken("nonce"));
        }
        Ok(IdentityClaims {
            subject: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified == Value::Bool(true)
                || claims.email_verified.as_str() == Some("true"),
            amr: claims.amr,
        })
    }
}

/// The check a JWT validation error failed, as a stable word.
fn check_of(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::InvalidIssuer => "issuer",
        ErrorKind::InvalidAudience => "audience",
        ErrorKind::ImmatureSignature => "not_yet_valid",
        ErrorKind::MissingRequiredClaim(_) => "missing_claim",
        ErrorKind::InvalidSignature => "signature",
        _ => "malformed",
    }
}

/// The keys of a JWKS document that can verify RS256 (RSA) or ES256 (EC P-256) signatures;
/// a document without any is unusable.
fn usable_keys(document: &Value) -> Result<JwkSet, SsoFailure> {
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| SsoFailure::Provider("the signing keys are not a JWKS".to_owned()))?;
    let keys: Vec<_> = keys
        .iter()
        .take(crate::tokens::MAX_REMOTE_KEYS)
        .filter_map(|key| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(key.clone()).ok())
        .filter(|key| algorithm_of(&key.algorithm).is_some())
        .filter(|key| {
            key.common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature)
        })
        .collect();
    if keys.is_empty() {
        return Err(SsoFailure::Provider(
            "the provider publishes no RSA or EC P-256 signing key".to_owned(),
        ));
    }
    Ok(JwkSet { keys })
}

/// The one algorithm a key can verify here.
fn algorithm_of(params: &AlgorithmParameters) -> Option<Algorithm> {
    match params {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

/// The keys that may have signed an `alg` token with key id `kid` (every suitable key when the
/// header names none).
fn candidates(set: &JwkSet, alg: Algorithm, kid: Option<&str>) -> Vec<DecodingKey> {
    set.keys
        .iter()
        .filter(|key| kid.is_none_or(|kid| key.common.key_id.as_deref() == Some(kid)))
        .filter(|key| algorithm_of(&key.algorithm) == Some(alg))
        .filter(|key| {
            key.common.key_algorithm.is_none_or(|declared| {
                matches!(
                    (declared, alg),
                    (KeyAlgorithm::RS256, Algorithm::RS256)
                        | (KeyAlgorithm::ES256, Algorithm::ES256)
                )
            })
        })
        .filter_map(|key| DecodingKey::from_jwk(key).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const RSA_KEY: &str = include_str!("../../../api/tests/fixtures/smart/rs384-test-key.pem");

    /// Serves a JWKS with the test key under `old` on the first fetch, under `old` and `new`
    /// after; counts fetches.
    #[derive(Debug, Default)]
    struct Rotating {
        fetches: AtomicUsize,
    }

    fn jwk(kid: &str) -> Value {
        let key = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        serde_json::to_value(jwk).unwrap()
    }

    #[async_trait]
    impl JwksFetcher for Rotating {
        async fn fetch(&self, _url: &str) -> Result<Value, String> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(if n == 0 {
                json!({"keys": [jwk("old")]})
            } else {
                json!({"keys": [jwk("old"), jwk("new")]})
            })
        }
    }

    fn provider() -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://idp.example".to_owned(),
            authorization_endpoint: "https://idp.example/authorize".to_owned(),
            token_endpoint: "https://idp.example/token".to_owned(),
            jwks_uri: "https://idp.example/jwks".to_owned(),
            secret_in_body: false,
        }
    }

    fn token(kid: &str) -> SecretString {
        let now = Utc::now().timestamp();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        let claims = json!({"iss": "https://idp.example", "aud": "client", "sub": "s",
            "iat": now, "exp": now + 300, "nonce": "n", "email": "a@b.example",
            "email_verified": "true", "amr": ["pwd", "mfa"]});
        let key = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
        SecretString::from(jsonwebtoken::encode(&header, &claims, &key).unwrap())
    }

    #[tokio::test]
    async fn a_token_signed_with_a_rotated_in_key_is_verified_after_one_refetch() {
        let fetcher = Arc::new(Rotating::default());
        let providers = Providers::new(fetcher.clone());
        let old = providers
            .verify_id_token(&provider(), "client", &token("old"), "n")
            .await
            .unwrap();
        assert!(old.email_verified, "the string \"true\" counts");
        assert_eq!(old.amr, ["pwd", "mfa"]);
        assert_eq!(fetcher.fetches.load(Ordering::SeqCst), 1);
        providers
            .verify_id_token(&provider(), "client", &token("new"), "n")
            .await
            .unwrap();
        assert_eq!(fetcher.fetches.load(Ordering::SeqCst), 2, "one refetch");
        let ghost = providers
            .verify_id_token(&provider(), "client", &token("ghost"), "n")
            .await;
        assert!(matches!(
            ghost,
            Err(SsoFailure::InvalidToken("unknown_key"))
        ));
        assert_eq!(
            fetcher.fetches.load(Ordering::SeqCst),
            3,
            "once per unknown kid"
        );
        let wrong = providers
            .verify_id_token(&provider(), "another-client", &token("old"), "n")
            .await;
        assert!(matches!(wrong, Err(SsoFailure::InvalidToken("audience"))));
    }

    #[test]
    fn only_rsa_and_p256_signing_keys_are_kept() {
        let set = usable_keys(&json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "EC", "crv": "P-384", "kid": "p384",
             "x": "WV4d0u9yvBNbzadXew7Ui9J0MplhOXO5_4H1lmoTsc_9_ut7V6dZ3VSmPqS73Qwt",
             "y": "zHlzMvJPtBCm0Z9XPgj86D_wuRaEdvD9oaqa5cEyVvyMtDKsN9-wHFq-vOcH-cwW"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
        ]}))
        .unwrap();
        let kids: Vec<_> = set
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        assert_eq!(kids, ["r"]);
        assert_eq!(candidates(&set, Algorithm::RS256, Some("r")).len(), 1);
        assert!(candidates(&set, Algorithm::RS256, Some("other")).is_empty());
        assert!(candidates(&set, Algorithm::ES256, None).is_empty());
        assert!(usable_keys(&json!({"keys": []})).is_err());
    }
}
