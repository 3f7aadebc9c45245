//! API clients: the partner applications a clinic lets into its data. Each has a public
//! `client_id`, a secret shown once, a set of scopes and an optional rate limit. The storage port
//! is tenant-scoped except for the two lookups by `client_id` that authentication uses — that is
//! where a token's tenant comes from.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;

use super::ScopeSet;
use crate::ids::TenantId;
use crate::{Error, Result};

/// Prefix of every client id, so ids and secrets (`cgsk_`) are told apart at a glance.
pub const CLIENT_ID_PREFIX: &str = "cgcl_";
/// Random bytes in a client id (128 bits: unguessable, though not a secret).
const CLIENT_ID_BYTES: usize = 16;
/// Longest client name.
const MAX_NAME_CHARS: usize = 100;
/// Highest configurable rate limit (requests per minute); far above any partner's need, low
/// enough that the limiter's arithmetic cannot overflow.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 10_000_000;

/// A client's public identifier, `cgcl_` + 22 base64url characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// A fresh random id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; CLIENT_ID_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!(
            "{CLIENT_ID_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Parses a presented id; `None` when it cannot be one of ours (so it is simply not found).
    pub fn parse(raw: &str) -> Option<Self> {
        let body = raw.strip_prefix(CLIENT_ID_PREFIX)?;
        let valid = body.len() == 22
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

/// A client's display name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    /// Validates a name as typed.
    ///
    /// # Errors
    /// A validation error on `name`.
    pub fn parse(raw: &str) -> Result<Self> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::invalid(
                "name",
                "required",
                "give the client a name, e.g. the partner application's",
            ));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid(
                "name",
                "too_long",
                format!("use at most {MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "name",
                "invalid_characters",
                "the name must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// Wraps a stored name.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a per-client rate limit.
///
/// # Errors
/// A validation error on `rate_limit_per_minute`.
pub fn validate_rate_limit(limit: u32) -> Result<u32> {
    if (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&limit) {
        Ok(limit)
    } else {
        Err(Error::invalid(
            "rate_limit_per_minute",
            "out_of_range",
            format!(
                "use 1 to {MAX_RATE_LIMIT_PER_MINUTE} requests per minute, or leave it out for the default"
            ),
        ))
    }
}

/// Checks a client's share of the clinic's Cliniko budget, in percent.
///
/// # Errors
/// A validation error on `cliniko_budget_share`.
pub fn validate_budget_share(percent: u8) -> Result<u8> {
    if (1..=100).contains(&percent) {
        Ok(percent)
    } else {
        Err(Error::invalid(
            "cliniko_budget_share",
            "out_of_range",
            "use 1 to 100 (percent of the clinic's Cliniko budget), or null for no cap",
        ))
    }
}

/// An API client as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    /// Its public id.
    pub client_id: ClientId,
    /// The clinic it belongs to.
    pub tenant_id: TenantId,
    /// Display name.
    pub name: ClientName,
    /// What its tokens may do.
    pub scopes: ScopeSet,
    /// Requests per minute; `None` = the deployment's default.
    pub rate_limit_per_minute: Option<u32>,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// Until when the secret replaced by the last rotation still works.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when the clinic has suspended this client (its own kill-switch; the clinic-wide
    /// one is the clinic's), if it has.
    pub suspended_at: Option<DateTime<Utc>>,
    /// The most of the clinic's Cliniko budget its calls may use, in percent; `None` = no cap
    /// beyond the API lane's.
    pub cliniko_budget_share: Option<u8>,
}

/// A client about to be stored.
#[derive(Debug, Clone)]
pub struct NewApiClient {
    /// Its public id.
    pub client_id: ClientId,
    /// Display name.
    pub name: ClientName,
    /// Scopes.
    pub scopes: ScopeSet,
    /// Requests per minute; `None` = default.
    pub rate_limit_per_minute: Option<u32>,
    /// Keyed hash of its secret.
    pub secret_hash: String,
}

/// A change to a client; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChange {
    /// A new name.
    pub name: Option<ClientName>,
    /// New scopes (apply at once, also to tokens already issued).
    pub scopes: Option<ScopeSet>,
    /// A new limit; `Some(None)` returns to the default.
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// A new cap on its share of the Cliniko budget; `Some(None)` removes the cap.
    pub cliniko_budget_share: Option<Option<u8>>,
}

/// What authenticating a client needs: the stored hashes and whether its clinic is active.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// The client.
    pub client: ApiClient,
    /// Keyed hash of the current secret.
    pub secret_hash: String,
    /// Keyed hash of the secret replaced by the last rotation, and until when it works.
    pub previous_secret: Option<(String, DateTime<Utc>)>,
    /// Whether the clinic may be served.
    pub clinic_active: bool,
}

/// What validating one of a client's tokens needs to know about the client now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientAccess {
    /// The client's clinic.
    pub tenant_id: TenantId,
    /// The scopes it holds now.
    pub scopes: ScopeSet,
    /// Its rate limit; `None` = default.
    pub rate_limit_per_minute: Option<u32>,
    /// Whether the clinic may be served.
    pub clinic_active: bool,
    /// Whether the clinic has suspended this client, or all of its integrations. Defaults to
    /// `false` when a cached state written by an older version lacks it: such entries are
    /// replaced by every suspension, which writes the state read after it.
    #[serde(default)]
    pub suspended: bool,
    /// Its cap on the clinic's Cliniko budget, in percent; `None` = no cap (also when a cached
    /// state written by an older version lacks it, as for `suspended`).
    #[serde(default)]
    pub cliniko_budget_share: Option<u8>,
}

/// Storage of API clients.
#[async_trait]
pub trait ApiClientRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new client of `tenant`.
    async fn create_in_tenant(&self, tenant: TenantId, client: NewApiClient) -> Result<ApiClient>;
    /// The clinic's clients, oldest first.
    async fn list_in_tenant(&self, tenant: TenantId) -> Result<Vec<ApiClient>>;
    /// Changes a client of `tenant`; another clinic's client is `NotFound`.
    async fn change_in_tenant(
        &self,
        tenant: TenantId,
        client_id: &ClientId,
        change: ClientChange,
    ) -> Result<ApiClient>;
    /// Replaces the secret hash of a client of `tenant`, keeping the current one valid until
    /// `previous_valid_until`; another clinic's client is `NotFound`.
    async fn rotate_secret_in_tenant(
        &self,
        tenant: TenantId,
        client_id: &ClientId,
        new_hash: String,
        previous_valid_until: DateTime<Utc>,
    ) -> Result<ApiClient>;
    /// Deletes a client of `tenant`; whether it existed.
    async fn delete_in_tenant(&self, tenant: TenantId, client_id: &ClientId) -> Result<bool>;
    /// The ids of the clinic's clients.
    async fn ids_in_tenant(&self, tenant: TenantId) -> Result<Vec<ClientId>>;
    /// For client authentication (any clinic: the client id is what names the clinic).
    async fn credentials(&self, client_id: &ClientId) -> Result<Option<ClientCredentials>>;
    /// For token validation (any clinic; the caller compares the clinic with the token's).
    async fn access(&self, client_id: &ClientId) -> Result<Option<ClientAccess>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_random_prefixed_and_parse_back() {
        let id = ClientId::generate();
        assert!(id.as_str().starts_with(CLIENT_ID_PREFIX));
        assert_eq!(id.as_str().len(), CLIENT_ID_PREFIX.len() + 22);
        assert_eq!(ClientId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(id, ClientId::generate());
        for bad in [
            "",
            "cgcl_",
            "cgsk_AAAAAAAAAAAAAAAAAAAAAA",
            "cgcl_AAAA",
            "cgcl_AAAAAAAAAAAAAAAAAAAA:A",
        ] {
            assert_eq!(ClientId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            ClientName::parse("  Booking app ").unwrap().as_str(),
            "Booking app"
        );
        assert!(ClientName::parse("   ").is_err());
        assert!(ClientName::parse(&"x".repeat(101)).is_err());
        assert!(ClientName::parse("a\nb").is_err());
    }

    #[test]
    fn budget_shares_are_percentages_from_one_to_a_hundred() {
        assert!(validate_budget_share(0).is_err());
        assert_eq!(validate_budget_share(1).unwrap(), 1);
        assert_eq!(validate_budget_share(100).unwrap(), 100);
        assert!(validate_budget_share(101).is_err());
    }

    #[test]
    fn rate_limits_must_be_positive_and_bounded() {
        assert!(validate_rate_limit(0).is_err());
        assert_eq!(validate_rate_limit(600).unwrap(), 600);
        assert!(validate_rate_limit(MAX_RATE_LIMIT_PER_MINUTE + 1).is_err());
    }
}
