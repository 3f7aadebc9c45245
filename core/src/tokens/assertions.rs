//! `private_key_jwt` client authentication (RFC 7523 §2.2, as SMART Backend Services profiles
//! it): the client proves who it is with a short-lived JWT signed by one of the keys it
//! registered ([`super::client_keys`]), instead of sending a secret.
//!
//! An assertion is accepted once: its `jti` is recorded until the assertion expires, in a store
//! every instance shares ([`AssertionJtiRepository`], a unique insert in the database), so a
//! captured assertion cannot be replayed against any instance, even right after a restart.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};

use super::ClientId;
use super::client_keys::{ClientJwksRepository, KeySource};
use super::remote_jwks::{FETCH_FAILED, RemoteJwks};
use crate::{Error, Result};

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The algorithms an assertion may be signed with (SMART Backend Services requires these two).
pub const ASSERTION_ALGORITHMS: [Algorithm; 2] = [Algorithm::ES384, Algorithm::RS384];

/// How far ahead an assertion's `exp` may be (SMART: "no more than five minutes in the future").
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The longest `jti` accepted (the stored column's width).
pub const MAX_JTI_LEN: usize = 255;

/// The record of assertion ids already used.
#[async_trait]
pub trait AssertionJtiRepository: Send + Sync + fmt::Debug {
    /// Records `jti` as used by `client` until `expires_at`; `false` when it already was.
    async fn first_use(
        &self,
        client: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool>;

    /// Forgets ids whose assertions expired before `before`; how many.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// Why an assertion was not accepted. The client is told only `invalid_client`; the reason is
/// logged for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    /// Not acceptable, for the reason given.
    #[error("client assertion refused: {0}")]
    Refused(&'static str),
    /// A store is down.
    #[error(transparent)]
    Failed(#[from] Error),
}

#[derive(Debug, serde::Deserialize)]
struct AssertionClaims {
    exp: i64,
    jti: Option<String>,
}

/// Checks client assertions against the clients' registered keys.
#[derive(Debug, Clone)]
pub struct ClientAssertions {
    keys: Arc<dyn ClientJwksRepository>,
    remote: RemoteJwks,
    jtis: Arc<dyn AssertionJtiRepository>,
    token_url: String,
    leeway: Duration,
}

/// The client an assertion claims to be (its `iss`), unverified: to know whose keys to check it
/// with. `None` for anything that is not a JWT with a string `iss`.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

impl ClientAssertions {
    /// Checks assertions addressed to `token_url` (the token endpoint's exact public URL),
    /// tolerating `leeway` of clock skew, with the keys registered in `keys` or published at
    /// the clients' `jwks_uri`s (through `remote`).
    pub fn new(
        keys: Arc<dyn ClientJwksRepository>,
        remote: RemoteJwks,
        jtis: Arc<dyn AssertionJtiRepository>,
        token_url: String,
        leeway: Duration,
    ) -> Self {
        Self {
            keys,
            remote,
            jtis,
            token_url,
            leeway,
        }
    }

    /// The URL assertions must name as their `aud`.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// Accepts `assertion` as `client` proving itself: signed ES384 or RS384 by one of its keys,
    /// `iss` = `sub` = the client id, `aud` = the token URL, `exp` present, not past and at most
    /// [`MAX_ASSERTION_LIFETIME`] ahead, `nbf` (if any) reached, and a `jti` never seen before.
    ///
    /// # Errors
    /// `Refused` with the reason; `Failed` when a store is down.
    pub async fn verify(
        &self,
        client: &ClientId,
        assertion: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AssertionError> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| AssertionError::Refused("not a JWT"))?;
        if !ASSERTION_ALGORITHMS.contains(&header.alg) {
            return Err(AssertionError::Refused("alg is not ES384 or RS384"));
        }
        let source = self
            .keys
            .for_authentication(client)
            .await?
            .ok_or(AssertionError::Refused("the client has no registered keys"))?;
        let candidates = self
            .candidates(&source, header.alg, header.kid.as_deref())
            .await?;
        if candidates.is_empty() {
            return Err(AssertionError::Refused(
                "no registered key matches kid and alg",
            ));
        }
        let validation = self.validation(header.alg, client);
        // Several keys may share a kid (a rotation in progress): any one of them will do.
        let claims = candidates
            .iter()
            .find_map(|key| {
                jsonwebtoken::decode::<AssertionClaims>(assertion, key, &validation).ok()
            })
            .ok_or(AssertionError::Refused(
                "bad signature, iss, sub, aud, exp or nbf",
            ))?
            .claims;
        let leeway = chrono::Duration::from_std(self.leeway).map_err(Error::internal)?;
        let longest =
            chrono::Duration::from_std(MAX_ASSERTION_LIFETIME).map_err(Error::internal)?;
        let expires_at = DateTime::<Utc>::from_timestamp(claims.exp, 0)
            .ok_or(AssertionError::Refused("exp is out of range"))?;
        if expires_at > now + longest + leeway {
            return Err(AssertionError::Refused(
                "exp is more than five minutes ahead",
            ));
        }
        let jti = claims
            .jti
            .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_LEN)
            .ok_or(AssertionError::Refused("jti is missing or too long"))?;
        // Kept until the assertion could not be accepted anyway, leeway included.
        if !self
            .jtis
            .first_use(client, &jti, expires_at + leeway)
            .await?
        {
            return Err(AssertionError::Refused("jti was already used"));
        }
        Ok(())
    }

    /// The keys that may have signed: from the registered JWKS, or the client's published one
    /// (fetched again, rate-limited, when it lacks the `kid`: the client may have rotated).
    async fn candidates(
        &self,
        source: &KeySource,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Vec<jsonwebtoken::DecodingKey>, AssertionError> {
        let url = match source {
            KeySource::Inline(jwks) => return Ok(jwks.candidates(alg, kid)),
            KeySource::Remote(url) => url,
        };
        let refused = |why: String| {
            tracing::info!(reason = %why, "a client's jwks_uri could not be used");
            AssertionError::Refused(FETCH_FAILED)
        };
        let found = self
            .remote
            .current(url)
            .await
            .map_err(refused)?
            .candidates(alg, kid);
        if !found.is_empty() || kid.is_none() {
            return Ok(found);
        }
        Ok(self
            .remote
            .refetch_for_unknown_kid(url)
            .await
            .map_err(refused)?
            .map(|jwks| jwks.candidates(alg, kid))
            .unwrap_or_default())
    }

    fn validation(&self, alg: Algorithm, client: &ClientId) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&[self.token_url.as_str()]);
        validation.set_issuer(&[client.as_str()]);
        validation.sub = Some(client.as_str().to_owned());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation
    }

    /// Forgets the ids of assertions that have expired.
    ///
    /// # Errors
    /// Storage failures (the next upkeep tries again).
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<u64> {
        self.jtis.prune(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_client_is_read_from_the_payload_without_trusting_it() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"cgcl_abc","sub":"cgcl_abc"}"#);
        assert_eq!(
            claimed_client(&format!("e30.{payload}.sig")).as_deref(),
            Some("cgcl_abc")
        );
        assert_eq!(claimed_client("not-a-jwt"), None);
        let no_iss = URL_SAFE_NO_PAD.encode(br#"{"iss":7}"#);
        assert_eq!(claimed_client(&format!("e30.{no_iss}.sig")), None);
    }
}
