//! [`OutboundOidc`]: the OAuth 2.0 side of an OpenID Connect login with the `oauth2` crate — the
//! authorization URL (code flow, S256 PKCE, random `state` and `nonce`) and the code exchange at
//! the provider's token endpoint, sent through the outbound SSRF guard. The token endpoint's
//! answer must carry an `id_token`; the access token is not used and not kept.

use std::time::Duration;

use async_trait::async_trait;
use clinicgate_core::sso::{
    AuthorizationRequest, ClientCredentials, OidcClient, ProviderMetadata, SsoFailure,
};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::outbound::{OutboundClient, send_oauth};

/// How long the code exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a token endpoint's answer read.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// The OpenID Connect field of a token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    id_token: String,
}

impl ExtraTokenFields for IdTokenField {}

type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// An `oauth2` client for one login: authorization and token endpoints set.
type LoginClient = Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The provider's OAuth side through an [`OutboundClient`].
#[derive(Debug, Clone)]
pub struct OutboundOidc {
    outbound: OutboundClient,
}

impl OutboundOidc {
    /// Uses `outbound` (and its guard).
    pub fn new(outbound: OutboundClient) -> Self {
        Self { outbound }
    }
}

fn unusable(what: &str) -> SsoFailure {
    SsoFailure::Provider(format!("the provider's {what} is not a usable URL"))
}

fn client(
    provider: &ProviderMetadata,
    credentials: &ClientCredentials<'_>,
) -> Result<LoginClient, SsoFailure> {
    Ok(Client::new(ClientId::new(credentials.client_id.to_owned()))
        .set_client_secret(ClientSecret::new(
            credentials.client_secret.expose_secret().to_owned(),
        ))
        .set_auth_uri(
            AuthUrl::new(provider.authorization_endpoint.clone())
                .map_err(|_| unusable("authorization endpoint"))?,
        )
        .set_token_uri(
            TokenUrl::new(provider.token_endpoint.clone())
                .map_err(|_| unusable("token endpoint"))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(credentials.redirect_uri.to_owned())
                .map_err(|_| SsoFailure::Provider("the redirect URI is not a URL".to_owned()))?,
        )
        .set_auth_type(if provider.secret_in_body {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        }))
}

#[async_trait]
impl OidcClient for OutboundOidc {
    fn authorization_request(
        &self,
        provider: &ProviderMetadata,
        credentials: &ClientCredentials<'_>,
    ) -> Result<AuthorizationRequest, SsoFailure> {
        let client = client(provider, credentials)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = CsrfToken::new_random_len(32);
        let (url, state) = client
            .authorize_url(|| CsrfToken::new_random_len(32))
            .add_scopes(["openid", "email", "profile"].map(|s| Scope::new(s.to_owned())))
            .add_extra_param("nonce", nonce.secret().clone())
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    async fn exchange_code(
        &self,
        provider: &ProviderMetadata,
        credentials: &ClientCredentials<'_>,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<SecretString, SsoFailure> {
        let client = client(provider, credentials)?;
        let outbound = self.outbound.clone();
        let http = move |request: oauth2::HttpRequest| {
            let outbound = outbound.clone();
            async move { send_oauth(&outbound, request, EXCHANGE_TIMEOUT, MAX_TOKEN_ANSWER).await }
        };
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ))
            .request_async(&http)
            .await;
        match answer {
            Ok(tokens) => Ok(SecretString::from(tokens.extra_fields().id_token.clone())),
            Err(RequestTokenError::ServerResponse(refusal)) => Err(SsoFailure::Denied(format!(
                "token endpoint: {}",
                refusal.error().as_ref()
            ))),
            Err(RequestTokenError::Request(err)) => {
                Err(SsoFailure::Provider(format!("token endpoint: {err}")))
            }
            Err(RequestTokenError::Parse(..)) => Err(SsoFailure::Provider(
                "the token endpoint's answer holds no ID token".to_owned(),
            )),
            Err(RequestTokenError::Other(why)) => {
                Err(SsoFailure::Provider(format!("token endpoint: {why}")))
            }
        }
    }
}
