//! The public keys (a JWKS, RFC 7517) an API client signs its `private_key_jwt` assertions with,
//! and the clinic's management of them: registered inline, or as the URL the client publishes
//! them at (`jwks_uri`, fetched through the SSRF guard: [`super::remote_jwks`]). Only keys that
//! can verify the algorithms the token endpoint accepts (ES384 on P-384, RS384 on RSA) are
//! used, and never a private key: a JWKS that carries one was pasted by mistake and is refused,
//! not stored.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::ClientId;
use super::remote_jwks::RemoteJwks;
use crate::ids::TenantId;
use crate::outbound::{UrlCheck, read_url};
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// The most keys a client's JWKS may hold (room for rotation, not a key store).
pub const MAX_CLIENT_KEYS: usize = 10;

/// The most keys read from a client's `jwks_uri` (a published set may hold keys for other
/// uses too; those are skipped, not refused).
pub const MAX_REMOTE_KEYS: usize = 50;

/// The members of a JWK that only a private key has (RFC 7518 §6.2.2, §6.3.2).
const PRIVATE_MEMBERS: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];

/// A client's validated JWKS.
#[derive(Clone)]
pub struct ClientJwks {
    set: JwkSet,
    /// The document as given (private members are refused, so it is public).
    json: Value,
}

impl fmt::Debug for ClientJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientJwks")
            .field("keys", &self.set.keys.len())
            .finish_non_exhaustive()
    }
}

impl ClientJwks {
    /// Reads a JWKS document (`{"keys": [...]}`): 1 to [`MAX_CLIENT_KEYS`] public EC P-384 or
    /// RSA keys, each with a `kid`.
    ///
    /// # Errors
    /// `Validation` on `jwks`, saying what to fix.
    pub fn parse(json: Value) -> Result<Self> {
        let invalid = |message: String| Error::invalid("jwks", "invalid_jwks", message);
        let keys = json
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("give a JWKS: an object with a \"keys\" array".to_owned()))?;
        if keys.is_empty() || keys.len() > MAX_CLIENT_KEYS {
            return Err(invalid(format!(
                "give 1 to {MAX_CLIENT_KEYS} keys; this JWKS has {}",
                keys.len()
            )));
        }
        if keys
            .iter()
            .any(|key| PRIVATE_MEMBERS.iter().any(|m| key.get(m).is_some()))
        {
            return Err(invalid(
                "this JWKS holds a private key: register the public keys only, and replace the leaked key".to_owned(),
            ));
        }
        let set: JwkSet = serde_json::from_value(json.clone())
            .map_err(|err| invalid(format!("not a valid JWKS: {err}")))?;
        for (index, key) in set.keys.iter().enumerate() {
            if key.common.key_id.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(format!("key {index} has no \"kid\"")));
            }
            if algorithm_of(&key.algorithm).is_none() {
                return Err(invalid(format!(
                    "key {index} is neither an EC P-384 key (ES384) nor an RSA key (RS384)"
                )));
            }
        }
        Ok(Self { set, json })
    }

    /// Reads a JWKS fetched from a client's `jwks_uri`: keys this server cannot use (other
    /// curves, other key types, no `kid`) are skipped, since the set may serve other purposes
    /// too; a private key anywhere refuses the whole document.
    ///
    /// # Errors
    /// Why the document is unusable (for the log).
    pub fn parse_remote(json: Value) -> std::result::Result<Self, String> {
        let keys = json
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the document is not a JWKS (no \"keys\" array)")?;
        if keys
            .iter()
            .any(|key| PRIVATE_MEMBERS.iter().any(|m| key.get(m).is_some()))
        {
            return Err("the document holds a private key".to_owned());
        }
        let usable: Vec<jsonwebtoken::jwk::Jwk> = keys
            .iter()
            .take(MAX_REMOTE_KEYS)
            .filter_map(|key| serde_json::from_value::<jsonwebtoken::jwk::Jwk>(key.clone()).ok())
            .filter(|key| {
                key.common
                    .key_id
                    .as_deref()
                    .is_some_and(|kid| !kid.is_empty())
            })
            .filter(|key| algorithm_of(&key.algorithm).is_some())
            .collect();
        if usable.is_empty() {
            return Err("the document holds no EC P-384 or RSA key with a kid".to_owned());
        }
        Ok(Self {
            set: JwkSet { keys: usable },
            json,
        })
    }

    /// The document, to show back.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The keys that may have signed a `alg` JWT with key id `kid` (every suitable key when the
    /// header names none). Several keys may share a `kid`: each is a candidate.
    pub fn candidates(&self, alg: Algorithm, kid: Option<&str>) -> Vec<DecodingKey> {
        self.set
            .keys
            .iter()
            .filter(|key| kid.is_none_or(|kid| key.common.key_id.as_deref() == Some(kid)))
            .filter(|key| algorithm_of(&key.algorithm) == Some(alg))
            .filter(|key| {
                key.common
                    .key_algorithm
                    .is_none_or(|declared| key_algorithm(declared) == Some(alg))
            })
            .filter_map(|key| DecodingKey::from_jwk(key).ok())
            .collect()
    }
}

/// The one signing algorithm a key can verify here.
fn algorithm_of(params: &AlgorithmParameters) -> Option<Algorithm> {
    match params {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
            Some(Algorithm::ES384)
        }
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS384),
        _ => None,
    }
}

/// The algorithm a key's `alg` member restricts it to, when it is one of ours.
fn key_algorithm(declared: KeyAlgorithm) -> Option<Algorithm> {
    match declared {
        KeyAlgorithm::ES384 => Some(Algorithm::ES384),
        KeyAlgorithm::RS384 => Some(Algorithm::RS384),
        _ => None,
    }
}

/// Where a client's keys are: given inline, or published at a URL.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A JWKS registered as it is.
    Inline(ClientJwks),
    /// The client's `jwks_uri` (normalised, accepted by the outbound guard when registered).
    Remote(String),
}

impl KeySource {
    /// The registration as stored and shown: `{"keys": [...]}` or `{"jwks_uri": "..."}`.
    pub fn document(&self) -> Value {
        match self {
            Self::Inline(jwks) => jwks.json().clone(),
            Self::Remote(url) => serde_json::json!({ "jwks_uri": url }),
        }
    }

    /// Reads a stored registration (as [`Self::document`] wrote it).
    ///
    /// # Errors
    /// `Validation` when it is neither form.
    pub fn from_document(json: Value) -> Result<Self> {
        match json.get("jwks_uri").and_then(Value::as_str) {
            Some(url) => Ok(Self::Remote(url.to_owned())),
            None => ClientJwks::parse(json).map(Self::Inline),
        }
    }
}

/// What a clinic registers for a client: its keys, or the URL it publishes them at.
#[derive(Debug, Clone)]
pub enum KeyRegistration {
    /// A JWKS document.
    Jwks(Value),
    /// A `jwks_uri`.
    Uri(String),
}

/// A client's registered keys.
#[derive(Debug, Clone)]
pub struct ClientKeys {
    /// The client.
    pub client_id: ClientId,
    /// Its keys, or where they are.
    pub source: KeySource,
    /// When they were last registered.
    pub updated_at: DateTime<Utc>,
}

/// Storage of clients' keys.
#[async_trait]
pub trait ClientJwksRepository: Send + Sync + fmt::Debug {
    /// Stores `keys` as its client's (replacing any).
    ///
    /// # Errors
    /// `NotFound` when the client is not one of `tenant`'s.
    async fn put_in_tenant(&self, tenant: TenantId, keys: &ClientKeys) -> Result<()>;

    /// The keys of `client`, if it registered some.
    async fn find_in_tenant(
        &self,
        tenant: TenantId,
        client: &ClientId,
    ) -> Result<Option<ClientKeys>>;

    /// Removes the keys of `client`; `false` when it had none.
    async fn delete_in_tenant(&self, tenant: TenantId, client: &ClientId) -> Result<bool>;

    /// The keys of `client` (or where they are), whichever clinic it is in: for authenticating
    /// it, before any tenant is known.
    async fn for_authentication(&self, client: &ClientId) -> Result<Option<KeySource>>;
}

/// A clinic's managers registering their API clients' keys.
#[derive(Debug, Clone)]
pub struct ClientKeysService {
    keys: Arc<dyn ClientJwksRepository>,
    urls: Arc<dyn UrlCheck>,
    remote: RemoteJwks,
}

fn no_keys() -> Error {
    Error::NotFound {
        resource: "client JWKS",
    }
}

impl ClientKeysService {
    /// Uses `keys`; `jwks_uri`s are checked with `urls` and fetched through `remote` (the same
    /// cache assertions are checked with).
    pub fn new(
        keys: Arc<dyn ClientJwksRepository>,
        urls: Arc<dyn UrlCheck>,
        remote: RemoteJwks,
    ) -> Self {
        Self { keys, urls, remote }
    }

    /// Registers (or replaces) `client`'s JWKS or `jwks_uri`. A `jwks_uri` must pass the
    /// outbound guard and serve a usable JWKS now, so a mistake shows at once rather than as
    /// refused assertions later.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `Validation` for an unusable JWKS or URL; `NotFound` when
    /// the client is not this clinic's.
    pub async fn put(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
        registration: KeyRegistration,
    ) -> Result<ClientKeys> {
        ctx.require_manager()?;
        let source = match registration {
            KeyRegistration::Jwks(jwks) => KeySource::Inline(ClientJwks::parse(jwks)?),
            KeyRegistration::Uri(raw) => {
                let mut errors = Vec::new();
                let hint = "give the https URL the client publishes its JWKS at";
                let Some(url) =
                    read_url(self.urls.as_ref(), "jwks_uri", hint, &raw, &mut errors).await
                else {
                    return Err(Error::Validation(errors));
                };
                if let Err(why) = self.remote.fetch(&url).await {
                    return Err(Error::invalid(
                        "jwks_uri",
                        "jwks_unavailable",
                        format!("no usable JWKS could be fetched from this URL: {why}"),
                    ));
                }
                KeySource::Remote(url)
            }
        };
        let keys = ClientKeys {
            client_id: client.clone(),
            source,
            updated_at: Utc::now(),
        };
        self.keys.put_in_tenant(ctx.tenant_id(), &keys).await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client, "registered a client's JWKS");
        Ok(keys)
    }

    /// `client`'s registered keys.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` when it has none or is not this clinic's.
    pub async fn get(&self, ctx: &TenantContext, client: &ClientId) -> Result<ClientKeys> {
        ctx.require_manager()?;
        self.keys
            .find_in_tenant(ctx.tenant_id(), client)
            .await?
            .ok_or_else(no_keys)
    }

    /// Removes `client`'s keys: its assertions are refused from then on.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` when it has none or is not this clinic's.
    pub async fn delete(&self, ctx: &TenantContext, client: &ClientId) -> Result<()> {
        ctx.require_manager()?;
        if !self.keys.delete_in_tenant(ctx.tenant_id(), client).await? {
            return Err(no_keys());
        }
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client, "removed a client's JWKS");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn p384(kid: &str) -> Value {
        // A P-384 public key generated for this test.
        json!({"kty": "EC", "crv": "P-384", "kid": kid,
            "x": "WV4d0u9yvBNbzadXew7Ui9J0MplhOXO5_4H1lmoTsc_9_ut7V6dZ3VSmPqS73Qwt",
            "y": "zHlzMvJPtBCm0Z9XPgj86D_wuRaEdvD9oaqa5cEyVvyMtDKsN9-wHFq-vOcH-cwW"})
    }

    #[test]
    fn a_public_p384_jwks_is_accepted_and_its_keys_found_by_kid() {
        let jwks = ClientJwks::parse(json!({"keys": [p384("a"), p384("a"), p384("b")]})).unwrap();
        assert_eq!(jwks.candidates(Algorithm::ES384, Some("a")).len(), 2);
        assert_eq!(jwks.candidates(Algorithm::ES384, None).len(), 3);
        assert!(jwks.candidates(Algorithm::RS384, Some("a")).is_empty());
        assert!(jwks.candidates(Algorithm::ES384, Some("c")).is_empty());
    }

    #[test]
    fn private_keys_unusable_keys_and_missing_kids_are_refused() {
        let mut private = p384("a");
        private["d"] = json!("secret");
        let mut no_kid = p384("a");
        no_kid.as_object_mut().unwrap().remove("kid");
        let p256 = json!({"kty": "EC", "crv": "P-256", "kid": "x",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        for bad in [
            json!({"keys": [private]}),
            json!({"keys": [no_kid]}),
            json!({"keys": [p256]}),
            json!({"keys": []}),
            json!([p384("a")]),
        ] {
            let Err(Error::Validation(errors)) = ClientJwks::parse(bad.clone()) else {
                panic!("accepted {bad}");
            };
            assert_eq!(errors[0].field, "jwks");
        }
    }
}
