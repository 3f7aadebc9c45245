//! Single sign-on with OpenID Connect, per clinic: an owner registers ClinicGate as a client at
//! the clinic's identity provider (Google Workspace, Microsoft Entra ID, any OIDC issuer) and
//! enters the issuer, client id and secret; staff then log in through the provider.
//!
//! - [`SsoConfig`] and its storage port [`SsoConfigRepository`]: the client secret is sealed
//!   with the clinic's data key ([`SecretPurpose::SsoClientSecret`]) and never shown again;
//! - [`provider::Providers`]: discovery and the ID token's verification against the provider's
//!   JWKS (both fetched through the outbound SSRF guard, cached in memory);
//! - [`OidcClient`]: the port for the authorization request with PKCE and the code exchange,
//!   implemented in the adapters with the `oauth2` crate over the outbound guard;
//! - [`login`]: the state a login carries from the redirect to the callback (sealed, in a
//!   cookie of the browser that started it) and the rule that matches an identity to a staff
//!   member;
//! - [`SsoService`]: configuring, and the two steps of a login.
//!
//! [`SecretPurpose::SsoClientSecret`]: crate::secrets::SecretPurpose::SsoClientSecret

pub mod login;
pub mod provider;
mod service;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use login::{SsoIdentity, SsoStart};
pub use provider::Providers;
pub use service::{SsoInput, SsoService};

use crate::ids::TenantId;
use crate::secrets::SealedSecret;

/// A clinic's single sign-on, as shown to its owner (without the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoConfig {
    /// What the login button says: "Sign in with {provider_name}".
    pub provider_name: String,
    /// The provider's issuer URL (as its discovery document states it, without a trailing `/`).
    pub issuer: String,
    /// ClinicGate's client id at the provider.
    pub client_id: String,
    /// Password login is refused to staff other than owners (their break-glass way in).
    pub sso_only: bool,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A clinic's single sign-on as stored: the settings and the sealed client secret.
#[derive(Debug, Clone)]
pub struct StoredSsoConfig {
    /// The settings.
    pub config: SsoConfig,
    /// The client secret, sealed for the clinic.
    pub client_secret: SealedSecret,
}

/// Storage of clinics' single sign-on settings; one per clinic.
#[async_trait]
pub trait SsoConfigRepository: Send + Sync + std::fmt::Debug {
    /// The clinic's settings, if it has any.
    async fn get(&self, tenant: TenantId) -> crate::Result<Option<StoredSsoConfig>>;
    /// Stores the clinic's settings, replacing any.
    async fn save(&self, tenant: TenantId, config: &StoredSsoConfig) -> crate::Result<()>;
    /// Removes the clinic's settings; whether there were any.
    async fn delete(&self, tenant: TenantId) -> crate::Result<bool>;
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The issuer, exactly as the document states it (ID tokens' `iss` must equal it).
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
    /// Whether the token endpoint takes the client secret only in the form body
    /// (`client_secret_post`) rather than HTTP Basic.
    pub secret_in_body: bool,
}

/// What the browser is sent to the provider with, and what the callback must match.
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// The `state` sent (random).
    pub state: String,
    /// The `nonce` sent (random); the ID token must carry it back.
    pub nonce: String,
    /// The PKCE code verifier whose S256 challenge was sent.
    pub pkce_verifier: SecretString,
}

/// The client ClinicGate is at a provider.
#[derive(Debug)]
pub struct ClientCredentials<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The client secret.
    pub client_secret: &'a SecretString,
    /// The registered redirect URI (`https://{clinic}.{host}/login/sso/callback`).
    pub redirect_uri: &'a str,
}

/// What a verified ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityClaims {
    /// The provider's id of the person (`sub`).
    pub subject: String,
    /// Their e-mail address, if the token carries it.
    pub email: Option<String>,
    /// Whether the provider has verified that address.
    pub email_verified: bool,
    /// How they authenticated (`amr`, RFC 8176), e.g. `pwd`, `mfa`, `otp`.
    pub amr: Vec<String>,
}

/// Why a single sign-on step failed; every variant is safe to show (no token or secret in it).
#[derive(Debug, thiserror::Error)]
pub enum SsoFailure {
    /// The clinic has no single sign-on.
    #[error("single sign-on is not set up for this clinic")]
    NotConfigured,
    /// The callback does not belong to a login this browser started (missing or altered
    /// cookie, another `state`, expired).
    #[error("this sign-in did not start in this browser or took too long; start again")]
    BadState,
    /// The provider sent the browser back with an error (the person cancelled, or the provider
    /// refused the client).
    #[error("the identity provider did not sign you in ({0})")]
    Denied(String),
    /// The provider could not be reached or answered something unusable.
    #[error("the identity provider could not be reached or answered unexpectedly: {0}")]
    Provider(String),
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce).
    #[error("the identity provider's answer failed a check ({0}); sign in again")]
    InvalidToken(&'static str),
    /// The provider has not verified the person's e-mail address, or sent none.
    #[error("the identity provider has not verified your e-mail address")]
    EmailUnverified,
    /// No active staff member of this clinic has the address.
    #[error(
        "no active staff account of this clinic has this e-mail address; ask an owner or admin to add you"
    )]
    NoAccount,
    /// The database, the shared store or the vault failed.
    #[error(transparent)]
    Other(#[from] crate::Error),
}

impl SsoFailure {
    /// A stable code for logs and tests.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "sso_not_configured",
            Self::BadState => "sso_state_mismatch",
            Self::Denied(_) => "sso_denied",
            Self::Provider(_) => "sso_provider_failed",
            Self::InvalidToken(_) => "sso_invalid_id_token",
            Self::EmailUnverified => "sso_email_unverified",
            Self::NoAccount => "sso_no_account",
            Self::Other(_) => "internal",
        }
    }
}

/// The port to OpenID providers' OAuth 2.0 side (the `oauth2` crate over the outbound guard, in
/// the adapters): the authorization request and the code exchange. Discovery and the ID
/// token's verification are [`provider::Providers`]'.
#[async_trait]
pub trait OidcClient: Send + Sync + std::fmt::Debug {
    /// A fresh authorization request (code flow, `openid email profile`, S256 PKCE, random
    /// `state` and `nonce`).
    fn authorization_request(
        &self,
        provider: &ProviderMetadata,
        client: &ClientCredentials<'_>,
    ) -> Result<AuthorizationRequest, SsoFailure>;

    /// Exchanges `code` (with its PKCE verifier) for the ID token.
    async fn exchange_code(
        &self,
        provider: &ProviderMetadata,
        client: &ClientCredentials<'_>,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<SecretString, SsoFailure>;
}
