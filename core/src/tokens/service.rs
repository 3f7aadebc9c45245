//! Issuing, authenticating and revoking access tokens. This is where a [`TenantContext`] is born
//! for API requests: [`TokenService::authenticate`] is the only way to get one from a token.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::access::{AccessChecker, Refusal};
use super::assertions::{AssertionError, ClientAssertions};
use super::clients::{ApiClientRepository, ClientCredentials, ClientId};
use super::jwt::{AccessClaims, Issued, TokenError, TokenIssuer};
use super::keys::SigningKeys;
use super::leases::LeasedLimiter;
use super::revocations::RevokedToken;
use super::smart_scopes::RequestedScopes;
use super::verified::VerifiedTokens;
use super::{ClientSecret, ScopeSet, SecretHasher};
use crate::ports::{Quota, RateDecision, RateLimiter};
use crate::sessions::{LoginThrottle, ThrottleKeys};
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// How a client proves who it is at the token endpoint.
#[derive(Debug)]
pub enum ClientProof {
    /// Its secret (`client_secret_basic` or `client_secret_post`).
    Secret(ClientSecret),
    /// A JWT signed by one of its registered keys (`private_key_jwt`, RFC 7523).
    Assertion(String),
}

/// A [`ClientProof`], borrowed: the revocation endpoint checks a secret it does not own.
#[derive(Debug, Clone, Copy)]
enum Proof<'a> {
    Secret(&'a ClientSecret),
    Assertion(&'a str),
}

impl ClientProof {
    fn borrowed(&self) -> Proof<'_> {
        match self {
            Self::Secret(secret) => Proof::Secret(secret),
            Self::Assertion(assertion) => Proof::Assertion(assertion),
        }
    }
}

/// A client-credentials grant request (RFC 6749 §4.4), already authenticated by form.
#[derive(Debug)]
pub struct ClientCredentialsGrant {
    /// The `client_id` as presented.
    pub client_id: String,
    /// The proof as presented.
    pub proof: ClientProof,
    /// The `scope` parameter, if given (space-separated).
    pub scope: Option<String>,
    /// Where the request came from, for throttling failures.
    pub client_ip: IpAddr,
}

/// Why a grant was refused, in RFC 6749 §5.2 terms.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// Unknown client, wrong secret, or a suspended clinic (never saying which).
    #[error("invalid client")]
    InvalidClient,
    /// A requested scope is unknown or not granted to the client.
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// Too many failed authentications for this client or address.
    #[error("too many failed client authentications")]
    Throttled(Duration),
    /// The client authenticated, but its clinic has suspended it (or all of its integrations):
    /// no new token until the clinic resumes it.
    #[error("client suspended by its clinic")]
    Suspended,
    /// Anything else (a store down).
    #[error(transparent)]
    Failed(#[from] Error),
}

/// An issued token and the `scope` to answer with: the scopes as requested, SMART system scopes
/// included, while the token carries the ClinicGate scopes they stand for.
#[derive(Debug)]
pub struct Granted {
    /// The token.
    pub issued: Issued,
    /// The granted scopes as the client named them, space-separated.
    pub scope: String,
}

/// Why a presented token is not accepted; every variant is answered with the same 401.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Not a genuine, current token of ours.
    #[error("invalid token: {0}")]
    Invalid(#[from] TokenError),
    /// Genuine but no longer usable.
    #[error("token refused: {}", .0.as_str())]
    Refused(Refusal),
    /// The stores needed to decide are down (503, fail closed).
    #[error(transparent)]
    Failed(#[from] Error),
}

/// An authenticated API request.
#[derive(Debug, Clone)]
pub struct ApiAccess {
    /// The clinic and the client acting, with the scopes the request may use.
    pub context: TenantContext,
    /// What the token says.
    pub claims: AccessClaims,
    /// The client's rate limit, requests per minute.
    pub rate_limit_per_minute: u32,
}

impl ApiAccess {
    /// The scopes the request may use.
    pub fn scopes(&self) -> ScopeSet {
        match self.context.actor() {
            crate::tenancy::Actor::ApiClient { scopes, .. } => scopes.clone(),
            crate::tenancy::Actor::Staff { .. } | crate::tenancy::Actor::CalendarFeed { .. } => {
                ScopeSet::default()
            }
        }
    }
}

/// Why a revocation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// The bearer token is not a genuine, current token.
    #[error("invalid bearer token")]
    InvalidToken,
    /// The `token` to revoke belongs to another client.
    #[error("the token belongs to another client")]
    NotYours,
    /// A store is down.
    #[error(transparent)]
    Failed(#[from] Error),
}

/// Why a client's own credentials were not accepted (token and revocation endpoints alike).
#[derive(Debug)]
enum ClientAuthError {
    /// Unknown client, wrong secret, or a suspended clinic.
    InvalidClient,
    /// Too many failed authentications for this client or address.
    Throttled(Duration),
    /// A store is down.
    Failed(Error),
}

impl From<Error> for ClientAuthError {
    fn from(err: Error) -> Self {
        Self::Failed(err)
    }
}

impl From<ClientAuthError> for GrantError {
    fn from(err: ClientAuthError) -> Self {
        match err {
            ClientAuthError::InvalidClient => Self::InvalidClient,
            ClientAuthError::Throttled(retry_after) => Self::Throttled(retry_after),
            ClientAuthError::Failed(err) => Self::Failed(err),
        }
    }
}

impl From<ClientAuthError> for ClientRevokeError {
    fn from(err: ClientAuthError) -> Self {
        match err {
            ClientAuthError::InvalidClient => Self::InvalidClient,
            ClientAuthError::Throttled(retry_after) => Self::Throttled(retry_after),
            ClientAuthError::Failed(err) => Self::Failed(err),
        }
    }
}

/// Why a revocation by client credentials was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientRevokeError {
    /// Unknown client, wrong secret, or a suspended clinic (never saying which).
    #[error("invalid client")]
    InvalidClient,
    /// Too many failed client authentications.
    #[error("too many failed client authentications")]
    Throttled(Duration),
    /// The token was issued to another client.
    #[error("the token belongs to another client")]
    NotYours,
    /// A store is down.
    #[error(transparent)]
    Failed(#[from] Error),
}

/// Settings of the token service.
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    /// Requests per window of clients without their own limit.
    pub default_rate_limit_per_minute: u32,
    /// The window clients' limits count over (a minute, unless configured otherwise): no client
    /// is served more than its limit in any window this long.
    pub rate_limit_window: Duration,
}

/// Tokens for API clients.
#[derive(Debug, Clone)]
pub struct TokenService {
    issuer: TokenIssuer,
    keys: Arc<SigningKeys>,
    clients: Arc<dyn ApiClientRepository>,
    hasher: Arc<SecretHasher>,
    access: AccessChecker,
    throttle: LoginThrottle,
    limiter: Arc<dyn RateLimiter>,
    /// The API clients' own limits (leased when the limiter is shared).
    client_limits: Arc<LeasedLimiter>,
    policy: TokenPolicy,
    verified: Arc<VerifiedTokens>,
    /// `private_key_jwt`; without it only secrets authenticate clients.
    assertions: Option<ClientAssertions>,
}

impl TokenService {
    /// Wires the parts.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is a distinct collaborator, wired once at start-up"
    )]
    pub fn new(
        issuer: TokenIssuer,
        keys: Arc<SigningKeys>,
        clients: Arc<dyn ApiClientRepository>,
        hasher: Arc<SecretHasher>,
        access: AccessChecker,
        throttle: LoginThrottle,
        limiter: Arc<dyn RateLimiter>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            issuer,
            keys,
            clients,
            hasher,
            access,
            throttle,
            client_limits: Arc::new(LeasedLimiter::new(limiter.clone(), false)),
            limiter,
            policy,
            verified: Arc::new(VerifiedTokens::default()),
            assertions: None,
        }
    }

    /// Also authenticates clients by `private_key_jwt` assertions.
    #[must_use]
    pub fn with_client_assertions(mut self, assertions: ClientAssertions) -> Self {
        self.assertions = Some(assertions);
        self
    }

    /// The `private_key_jwt` checker, when enabled.
    pub fn client_assertions(&self) -> Option<&ClientAssertions> {
        self.assertions.as_ref()
    }

    /// Leases fast clients' units from the shared limiter (see [`LeasedLimiter`]): for a limiter
    /// every instance reaches over the network.
    #[must_use]
    pub fn with_rate_leases(mut self) -> Self {
        self.client_limits = Arc::new(LeasedLimiter::new(self.limiter.clone(), true));
        self
    }

    /// The issuer (iss, aud, lifetime, leeway).
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<SigningKeys> {
        &self.keys
    }

    /// The periodic upkeep: signing keys (reload, scheduled rotation, clean-up) and expired
    /// revocations.
    ///
    /// # Errors
    /// Storage failures (the next run tries again).
    pub async fn maintain(&self) -> Result<()> {
        self.keys.maintain().await?;
        let pruned = self.access.prune_revocations().await?;
        if pruned > 0 {
            tracing::debug!(pruned, "forgot revocations of expired tokens");
        }
        if let Some(assertions) = &self.assertions {
            let pruned = assertions.prune(Utc::now()).await?;
            if pruned > 0 {
                tracing::debug!(pruned, "forgot the ids of expired client assertions");
            }
        }
        Ok(())
    }

    /// Authenticates an API client by its id and secret (the current one, or the previous one
    /// within its grace period) or a `private_key_jwt` assertion, for the token and revocation
    /// endpoints. Failures are throttled per client and per address, and never say which part
    /// was wrong.
    async fn authenticate_client(
        &self,
        client_id: &str,
        proof: Proof<'_>,
        client_ip: IpAddr,
    ) -> Result<ClientCredentials, ClientAuthError> {
        let keys = ThrottleKeys::api_client(client_id, client_ip);
        let delay = match self.throttle.admit(&keys).await {
            Ok(delay) => delay,
            Err(Error::RateLimited { retry_after }) => {
                return Err(ClientAuthError::Throttled(retry_after));
            }
            Err(other) => return Err(other.into()),
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let credentials = match ClientId::parse(client_id) {
            Some(id) => self.clients.credentials(&id).await?,
            None => None,
        };
        let credentials = match credentials.filter(|c| c.clinic_active) {
            Some(c) => self.proven(&c, proof).await?.then_some(c),
            None => None,
        };
        let Some(credentials) = credentials else {
            self.throttle.failed(&keys).await?;
            return Err(ClientAuthError::InvalidClient);
        };
        self.throttle.succeeded(&keys).await?;
        Ok(credentials)
    }

    /// Whether `proof` proves the client `credentials` describe.
    async fn proven(
        &self,
        credentials: &ClientCredentials,
        proof: Proof<'_>,
    ) -> Result<bool, ClientAuthError> {
        match proof {
            Proof::Secret(secret) => Ok(self.secret_matches(credentials, secret, Utc::now())),
            Proof::Assertion(assertion) => {
                let Some(assertions) = &self.assertions else {
                    return Ok(false);
                };
                match assertions
                    .verify(&credentials.client.client_id, assertion, Utc::now())
                    .await
                {
                    Ok(()) => Ok(true),
                    Err(AssertionError::Refused(why)) => {
                        tracing::info!(client_id = %credentials.client.client_id, why, "refused a client assertion");
                        Ok(false)
                    }
                    Err(AssertionError::Failed(err)) => Err(err.into()),
                }
            }
        }
    }

    /// Authenticates the client and issues a token (RFC 6749 §4.4).
    ///
    /// The requested scopes (ClinicGate's or SMART system scopes, see [`RequestedScopes`]) must
    /// all be the client's; none requested means all of them.
    #[tracing::instrument(skip_all)]
    pub async fn grant(&self, grant: ClientCredentialsGrant) -> Result<Granted, GrantError> {
        let client = self
            .authenticate_client(&grant.client_id, grant.proof.borrowed(), grant.client_ip)
            .await?
            .client;
        // The kill-switch refuses new tokens as well as the ones already issued; the client has
        // proven who it is, so it may be told why.
        let suspended = self
            .clients
            .access(&client.client_id)
            .await?
            .is_some_and(|access| access.suspended);
        if suspended {
            return Err(GrantError::Suspended);
        }
        let requested = match grant
            .scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => RequestedScopes {
                echo: client.scopes.to_string(),
                scopes: client.scopes.clone(),
            },
            Some(raw) => {
                let requested = RequestedScopes::parse(raw).map_err(GrantError::InvalidScope)?;
                if !requested.scopes.is_subset(&client.scopes) {
                    return Err(GrantError::InvalidScope(format!(
                        "this client may request only: {} (or the SMART system scopes they cover)",
                        client.scopes
                    )));
                }
                requested
            }
        };
        let issued = self.issuer.issue(
            self.keys.current().signing_key(),
            client.client_id.as_str(),
            client.tenant_id,
            &requested.scopes,
            Utc::now(),
        )?;
        tracing::info!(tenant_id = %client.tenant_id, client_id = %client.client_id, jti = %issued.claims.jti, "issued an access token");
        Ok(Granted {
            issued,
            scope: requested.echo,
        })
    }

    /// Whether `secret` is the client's current secret, or its previous one within the grace
    /// period after a rotation. Both comparisons run, in constant time each.
    fn secret_matches(
        &self,
        credentials: &ClientCredentials,
        secret: &ClientSecret,
        now: DateTime<Utc>,
    ) -> bool {
        let current = self.hasher.verify(secret, &credentials.secret_hash);
        let previous = credentials
            .previous_secret
            .as_ref()
            .is_some_and(|(hash, until)| self.hasher.verify(secret, hash) && *until > now);
        current || previous
    }

    /// Checks the signature, algorithm, key, issuer, audience and times of `token`, reloading the
    /// keys (rate-limited) when it names a key this instance does not know yet.
    pub async fn verify_genuine(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let keys = self.keys.current();
        if let Some(known) = self
            .verified
            .get(token, keys.ring(), Utc::now(), self.issuer.leeway())
        {
            return known;
        }
        let verified = match self.issuer.verify_with_key(token, keys.ring()) {
            Err(TokenError::UnknownKey) => match self.keys.reload_for_unknown_key().await {
                Ok(true) => self
                    .issuer
                    .verify_with_key(token, self.keys.current().ring()),
                Ok(false) => Err(TokenError::UnknownKey),
                Err(err) => {
                    tracing::warn!(error = %err, "could not reload the signing keys");
                    Err(TokenError::UnknownKey)
                }
            },
            other => other,
        };
        verified.map(|(claims, kid)| {
            self.verified.insert(token, &claims, kid);
            claims
        })
    }

    /// Authenticates an API request's bearer token: genuine, not revoked, client and clinic
    /// still active. The context's scopes are the token's, narrowed to what the client holds now.
    pub async fn authenticate(&self, token: &str) -> Result<ApiAccess, Rejection> {
        let claims = self.verify_genuine(token).await?;
        let client_id = ClientId::parse(&claims.sub).ok_or(TokenError::Malformed)?;
        let access = self
            .access
            .check(&claims, &client_id)
            .await?
            .map_err(Rejection::Refused)?;
        let scopes = claims.scopes().intersection(&access.scopes);
        Ok(ApiAccess {
            context: TenantContext::for_api_client(claims.tid, client_id, scopes)
                .with_cliniko_budget_share(access.cliniko_budget_share),
            rate_limit_per_minute: access
                .rate_limit_per_minute
                .unwrap_or(self.policy.default_rate_limit_per_minute),
            claims,
        })
    }

    /// Counts one request against the client's rate limit, a sliding window shared by every
    /// instance: at most the client's limit in any [`Self::rate_limit_window`].
    ///
    /// # Errors
    /// `Unavailable` when the limiter's store is down: callers refuse the request (fail closed).
    pub async fn admit(&self, access: &ApiAccess) -> Result<RateDecision> {
        self.client_limits
            .acquire(
                &format!("api:client:{}", access.claims.sub),
                Quota {
                    limit: access.rate_limit_per_minute,
                    period: self.policy.rate_limit_window,
                },
            )
            .await
    }

    /// The window clients' limits count over (`RateLimit-Policy`'s `w`).
    pub fn rate_limit_window(&self) -> Duration {
        self.policy.rate_limit_window
    }

    /// Revokes the genuine `bearer` token itself or, RFC 7009-style, `target` when it belongs to
    /// the same client. Revoking twice is fine, and so is a `target` that is not a current token
    /// (there is nothing to revoke). Revocation only removes access, so a bearer that is already
    /// revoked, or whose client was deleted, may still revoke its own client's tokens.
    pub async fn revoke(&self, bearer: &str, target: Option<&str>) -> Result<(), RevokeError> {
        let caller = self
            .verify_genuine(bearer)
            .await
            .map_err(|_| RevokeError::InvalidToken)?;
        let claims = match target {
            None => caller,
            Some(target) => match self.verify_genuine(target).await {
                Ok(claims) if claims.sub == caller.sub && claims.tid == caller.tid => claims,
                Ok(_) => return Err(RevokeError::NotYours),
                Err(_) => return Ok(()),
            },
        };
        Ok(self.record_revocation(&claims).await?)
    }

    /// Revokes `target` for the client that authenticates with its own credentials, as RFC 7009
    /// §2.1 describes: the token must have been issued to that client; one that is not a current
    /// token is ignored (§2.2).
    pub async fn revoke_as_client(
        &self,
        client_id: &str,
        secret: &ClientSecret,
        client_ip: IpAddr,
        target: &str,
    ) -> Result<(), ClientRevokeError> {
        let client = self
            .authenticate_client(client_id, Proof::Secret(secret), client_ip)
            .await?
            .client;
        match self.verify_genuine(target).await {
            Ok(claims)
                if claims.sub == client.client_id.as_str() && claims.tid == client.tenant_id =>
            {
                Ok(self.record_revocation(&claims).await?)
            }
            Ok(_) => Err(ClientRevokeError::NotYours),
            Err(_) => Ok(()),
        }
    }

    /// Records the revocation of the genuine token `claims`, durably and in the shared set.
    async fn record_revocation(&self, claims: &AccessClaims) -> Result<()> {
        let client_id = ClientId::parse(&claims.sub)
            .ok_or_else(|| Error::internal("a verified token has a malformed sub"))?;
        let leeway = chrono::Duration::from_std(self.issuer.leeway()).map_err(Error::internal)?;
        let expires_at = DateTime::<Utc>::from_timestamp(claims.exp, 0)
            .ok_or_else(|| Error::internal("a verified token has an impossible exp"))?
            + leeway;
        self.access
            .revoke(&RevokedToken {
                jti: claims.jti.clone(),
                tenant_id: claims.tid,
                client_id: client_id.clone(),
                expires_at,
                revoked_at: Utc::now(),
            })
            .await?;
        tracing::info!(tenant_id = %claims.tid, client_id = %client_id, jti = %claims.jti, "revoked an access token");
        Ok(())
    }
}
