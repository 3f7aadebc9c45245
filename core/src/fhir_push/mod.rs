//! Push to external FHIR servers (the two-way half of FHIR): a clinic configures FHIR
//! destinations, and the event engine's `patient.*` and `appointment.*` events reach each enabled
//! one as a conditional update of the FHIR resource (`PUT {base}/Patient?identifier=…`), through
//! the shared delivery machinery (outbox, retry schedule, SSRF guard, attempt log) as
//! [`OutboundKind::FhirPush`] deliveries.
//!
//! - `backfill`: "send existing records", a durable run queueing the clinic's current
//!   patients (and appointments in a window) to one destination;
//! - `input`: reading what the clinic sends (URL through the outbound guard, auth, resources);
//! - `keys`: the key pair (ES384 or RS384) ClinicGate makes for SMART Backend Services, its
//!   public JWK and the signed `client_assertion`;
//! - `resource`: the event's data as the FHIR resource pushed (the facade's own mapping);
//! - `service`: [`FhirDestinationService`], the clinic's management of its destinations, the
//!   publisher's [`Subscribers`](crate::events::Subscribers) and the sender's lookup.
//!
//! This module knows no HTTP or database: the store is the [`FhirDestinationRepository`] port;
//! the wire side (token requests, the `PUT`) is the adapters' sender.
//!
//! [`OutboundKind::FhirPush`]: crate::delivery::OutboundKind::FhirPush

mod backfill;
mod input;
mod keys;
mod resource;
mod service;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use backfill::{
    BackfillState, FhirBackfill, FhirBackfillRepository, FhirBackfillService, WINDOW_AHEAD_DAYS,
    WINDOW_PAST_DAYS,
};
pub use input::{MAX_CLIENT_TEXT_LEN, MAX_NAME_LEN, MAX_SECRET_LEN};
pub use keys::{ASSERTION_TYPE, ClientAssertion, SigningAlgorithm, SigningKey, jwks};
pub use resource::{PushResource, resource_of};
pub use service::{
    AuthRequest, DestinationRequest, FhirDestinationService, PushDelivery, PushTarget,
};

use crate::Result;
use crate::ids::TenantId;
use crate::secrets::SealedSecret;

crate::ids::uuid_id!(
    /// One clinic's FHIR destination: the target id of its deliveries.
    FhirDestinationId
);

/// A FHIR resource type ClinicGate can push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FhirResource {
    /// Cliniko patients (`patient.*` events).
    Patient,
    /// Cliniko appointments (`appointment.*` events).
    Appointment,
}

impl FhirResource {
    /// Every type, in a stable order.
    pub const ALL: [Self; 2] = [Self::Patient, Self::Appointment];

    /// The FHIR resource type's name (also the stored name).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "Patient",
            Self::Appointment => "Appointment",
        }
    }

    /// Reads a resource type's name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// How ClinicGate authenticates to a destination, without any secret: what may be shown and
/// stored in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationAuth {
    /// No authentication (a server on a trusted network).
    None,
    /// OAuth 2.0 client credentials with a client secret (`client_secret_basic`).
    ClientCredentials(TokenClient),
    /// SMART Backend Services: a `client_assertion` signed with the key pair ClinicGate made for
    /// this destination, whose public key it publishes.
    SmartBackend {
        /// Where and as whom tokens are asked for.
        client: TokenClient,
        /// What the key signs with.
        algorithm: SigningAlgorithm,
        /// The key's id (`kid`) in the published JWKS.
        key_id: String,
        /// The public key as a JWK (the published JWKS's only key).
        public_jwk: serde_json::Value,
    },
}

impl DestinationAuth {
    /// The stored name of the scheme.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientCredentials(_) => "client_credentials",
            Self::SmartBackend { .. } => "smart_backend_services",
        }
    }

    /// The token endpoint and client, when the scheme uses tokens.
    pub const fn token_client(&self) -> Option<&TokenClient> {
        match self {
            Self::None => None,
            Self::ClientCredentials(client) | Self::SmartBackend { client, .. } => Some(client),
        }
    }
}

/// Where a destination's OAuth tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClient {
    /// The token endpoint (checked by the outbound guard, like the base URL).
    pub token_url: String,
    /// ClinicGate's client id at that server.
    pub client_id: String,
    /// The scopes to ask for (space-separated), if the server wants any.
    pub scope: Option<String>,
}

/// A clinic's FHIR destination as stored and shown: never a secret or private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FhirDestination {
    /// Its id (the deliveries' target).
    pub id: FhirDestinationId,
    /// The clinic's name for it.
    pub name: String,
    /// The FHIR server's base URL (`PUT {base_url}/Patient?identifier=…`).
    pub base_url: String,
    /// How ClinicGate authenticates there.
    pub auth: DestinationAuth,
    /// Which resources are pushed (never empty).
    pub resources: Vec<FhirResource>,
    /// Whether events are pushed.
    pub enabled: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last configured.
    pub updated_at: DateTime<Utc>,
}

/// A destination to store: its configuration with its secret sealed.
#[derive(Debug, Clone)]
pub struct StoredDestination {
    /// The configuration.
    pub destination: FhirDestination,
    /// The client secret (client credentials) or the private key (SMART, PKCS#8 DER in
    /// base64), sealed with the clinic's data key for
    /// [`SecretPurpose::FhirDestinationCredential`]; `None` without authentication.
    ///
    /// [`SecretPurpose::FhirDestinationCredential`]: crate::secrets::SecretPurpose::FhirDestinationCredential
    pub secret: Option<SealedSecret>,
}

/// What the sender needs of a destination: its configuration, sealed secret and whether its
/// clinic may be served now.
#[derive(Debug, Clone)]
pub struct DestinationView {
    /// The configuration.
    pub stored: StoredDestination,
    /// Whether the clinic is active (a suspended clinic's deliveries wait).
    pub clinic_active: bool,
}

/// A destination's credential in the clear, in memory only while a token is asked for.
#[derive(Clone)]
pub enum DestinationCredential {
    /// No authentication.
    None,
    /// A client secret.
    ClientSecret {
        /// Where and as whom.
        client: TokenClient,
        /// The secret.
        secret: SecretString,
    },
    /// SMART Backend Services.
    Smart {
        /// Where and as whom.
        client: TokenClient,
        /// The key that signs assertions.
        key: SigningKey,
    },
}

impl fmt::Debug for DestinationCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ClientSecret { client, .. } => {
                write!(f, "ClientSecret({}, [REDACTED])", client.client_id)
            }
            Self::Smart { client, key } => write!(f, "Smart({}, {key:?})", client.client_id),
        }
    }
}

/// The clinics' FHIR destinations, shared by every instance (the database).
#[async_trait]
pub trait FhirDestinationRepository: Send + Sync + fmt::Debug {
    /// Stores a new destination.
    async fn insert_in_tenant(&self, tenant: TenantId, stored: StoredDestination) -> Result<()>;

    /// Overwrites destination `stored.destination.id`; `false` when the clinic has none so.
    async fn update_in_tenant(&self, tenant: TenantId, stored: StoredDestination) -> Result<bool>;

    /// The clinic's destinations, oldest first.
    async fn list_in_tenant(&self, tenant: TenantId) -> Result<Vec<FhirDestination>>;

    /// Removes a destination; `false` when the clinic has none so.
    async fn delete_in_tenant(&self, tenant: TenantId, id: FhirDestinationId) -> Result<bool>;

    /// The clinic's enabled destinations that push `resource`.
    async fn enabled_for(
        &self,
        tenant: TenantId,
        resource: FhirResource,
    ) -> Result<Vec<FhirDestinationId>>;

    /// A destination with its sealed secret, if the clinic has it.
    async fn view_in_tenant(
        &self,
        tenant: TenantId,
        id: FhirDestinationId,
    ) -> Result<Option<DestinationView>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_credential_is_never_printed() {
        let client = TokenClient {
            token_url: "https://ehr.example/token".to_owned(),
            client_id: "cg".to_owned(),
            scope: None,
        };
        let secret = DestinationCredential::ClientSecret {
            client: client.clone(),
            secret: SecretString::from("very_secret_value"),
        };
        let smart = DestinationCredential::Smart {
            client,
            key: SigningKey::generate().unwrap(),
        };
        let printed = format!("{secret:?} {smart:?}");
        assert!(!printed.contains("very_secret"), "{printed}");
        assert!(!printed.contains("PRIVATE"), "{printed}");
        assert!(printed.contains("cg"));
    }

    #[test]
    fn resource_names_round_trip() {
        for resource in FhirResource::ALL {
            assert_eq!(FhirResource::parse(resource.as_str()), Some(resource));
        }
        assert_eq!(FhirResource::parse("Flag"), None);
    }
}
