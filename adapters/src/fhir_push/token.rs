//! OAuth 2.0 access tokens for FHIR destinations, asked for with the `oauth2` crate over the
//! outbound client (so the token endpoint is behind the same SSRF guard as the FHIR server):
//! client credentials with `client_secret_basic`, or (SMART Backend Services) with a signed
//! `client_assertion`. A token is cached per destination in this instance's memory (never
//! stored: a token is a secret), used until shortly before it expires, and dropped when the
//! destination answers 401 or is reconfigured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clinicgate_core::delivery::{TransportFailure, Verdict, response_excerpt};
use clinicgate_core::fhir_push::{
    ASSERTION_TYPE, DestinationCredential, FhirDestinationId, PushTarget, TokenClient,
};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};

use crate::outbound::{OutboundClient, SendError, send_oauth};

/// The most of a token endpoint's answer read: tokens are small, and a huge answer must not
/// hold memory.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// A token's lifetime when the server does not say (`expires_in` is optional in RFC 6749).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// How long before its expiry a token is replaced, at most (short-lived tokens are replaced
/// half-way through their life).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Why no token could be had, judged like a delivery's answer.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The token endpoint could not be reached.
    Transport(TransportFailure),
    /// It answered, but not with a token.
    Refused {
        /// Its status.
        status: u16,
        /// What to do about it: a 5xx, 408 or 429 is retried, anything else fails.
        verdict: Verdict,
        /// The start of its answer, for the attempt log.
        excerpt: String,
    },
    /// The assertion could not be signed or the request built.
    Internal,
}

struct Cached {
    token: SecretString,
    /// Replace it from then on.
    fresh_until: Instant,
    /// The destination's configuration it was obtained under.
    configured_at: DateTime<Utc>,
}

/// Tokens by destination; cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct TokenCache {
    tokens: Arc<Mutex<HashMap<FhirDestinationId, Cached>>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache([REDACTED])")
    }
}

/// The answer the token endpoint gave last, for judging a failure the `oauth2` crate reports
/// without its status.
#[derive(Default)]
struct LastAnswer(Mutex<Option<(u16, Vec<u8>)>>);

impl TokenCache {
    /// Forgets the token of `id` (the destination refused it).
    pub(crate) fn forget(&self, id: FhirDestinationId) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    fn cached(&self, target: &PushTarget) -> Option<SecretString> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = tokens.get(&target.id)?;
        (cached.configured_at == target.configured_at && Instant::now() < cached.fresh_until)
            .then(|| cached.token.clone())
    }

    /// A token for `target` (`None` when it takes none): the cached one while fresh, else a new
    /// one from its token endpoint.
    pub(crate) async fn token(
        &self,
        outbound: &OutboundClient,
        target: &PushTarget,
        timeout: Duration,
    ) -> Result<Option<SecretString>, TokenError> {
        if matches!(target.credential, DestinationCredential::None) {
            return Ok(None);
        }
        if let Some(token) = self.cached(target) {
            return Ok(Some(token));
        }
        let (token, lifetime) = request_token(outbound, &target.credential, timeout).await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                target.id,
                Cached {
                    token: token.clone(),
                    fresh_until: Instant::now() + lifetime.saturating_sub(margin),
                    configured_at: target.configured_at,
                },
            );
        Ok(Some(token))
    }
}

/// Sends the `oauth2` crate's request through the outbound guard, remembering the answer's
/// status and start in `last`.
async fn send(
    outbound: &OutboundClient,
    request: oauth2::HttpRequest,
    timeout: Duration,
    last: &LastAnswer,
) -> Result<oauth2::HttpResponse, SendError> {
    let answer = send_oauth(outbound, request, timeout, MAX_TOKEN_ANSWER).await?;
    *last.0.lock().unwrap_or_else(PoisonError::into_inner) =
        Some((answer.status().as_u16(), answer.body().clone()));
    Ok(answer)
}

fn scopes(client: &TokenClient) -> Vec<Scope> {
    client
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| Scope::new(s.to_owned()))
        .collect()
}

/// Asks the credential's token endpoint for a token: the token and how long it lives.
async fn request_token(
    outbound: &OutboundClient,
    credential: &DestinationCredential,
    timeout: Duration,
) -> Result<(SecretString, Duration), TokenError> {
    let (client, secret, assertion) = match credential {
        DestinationCredential::None => return Err(TokenError::Internal),
        DestinationCredential::ClientSecret { client, secret } => (client, Some(secret), None),
        DestinationCredential::Smart { client, key } => {
            let assertion = key
                .assertion(&client.client_id, &client.token_url, Utc::now())
                .map_err(|err| {
                    tracing::error!(error = %err, "a SMART client assertion could not be signed");
                    TokenError::Internal
                })?;
            (client, None, Some(assertion))
        }
    };
    let token_url = TokenUrl::new(client.token_url.clone()).map_err(|_| TokenError::Internal)?;
    let mut oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_token_uri(token_url)
        // SMART's assertion goes in the body with the client id; a secret goes in the
        // `Authorization: Basic` header (`client_secret_basic`, what SMART servers support).
        .set_auth_type(if secret.is_some() {
            AuthType::BasicAuth
        } else {
            AuthType::RequestBody
        });
    if let Some(secret) = secret {
        oauth = oauth.set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()));
    }
    let mut request = oauth
        .exchange_client_credentials()
        .add_scopes(scopes(client));
    if let Some(assertion) = &assertion {
        request = request
            .add_extra_param("client_assertion_type", ASSERTION_TYPE)
            .add_extra_param("client_assertion", assertion.0.expose_secret().to_owned());
    }
    let last = Arc::new(LastAnswer::default());
    // The futures own what they use: `oauth2` asks for a client whose futures borrow nothing
    // from the call, so the delivery stays `Send`.
    let http = |req: oauth2::HttpRequest| {
        let (outbound, last) = (outbound.clone(), Arc::clone(&last));
        async move { send(&outbound, req, timeout, &last).await }
    };
    match request.request_async(&http).await {
        Ok(answer) => {
            let lifetime = answer.expires_in().unwrap_or(DEFAULT_LIFETIME);
            Ok((
                SecretString::from(answer.access_token().secret().clone()),
                lifetime,
            ))
        }
        Err(RequestTokenError::Request(err)) => Err(TokenError::Transport(err.failure())),
        Err(_) => {
            let (status, body) = last
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or((0, Vec::new()));
            let verdict = match status {
                408 | 429 | 500..=599 => Verdict::Retry { retry_after: None },
                _ => Verdict::Fail,
            };
            Err(TokenError::Refused {
                status,
                verdict,
                excerpt: format!("token endpoint: {}", response_excerpt(&body)),
            })
        }
    }
}
