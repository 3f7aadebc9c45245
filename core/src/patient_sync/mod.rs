//! Outbound partner patient sync: a clinic connects one of its API clients' patient APIs, and
//! the event engine's `patient.created` / `patient.updated` reach it through the shared delivery
//! machinery (outbox, retry schedule, SSRF guard, attempt log) as [`OutboundKind::PatientSync`]
//! deliveries. The wire contract (`POST {base}/patients`, `PATCH {base}/patients/{id}`) is the
//! adapters' sender; the links it learns are stored in `partner_links`.
//!
//! - `input`: reading what the clinic sends (URL through the outbound guard, credential, system);
//! - `service`: [`PatientSyncService`], the clinic's management of a client's sync, the
//!   publisher's [`Subscribers`](crate::events::Subscribers) and the sender's lookup;
//! - `backfill`: [`PatientBackfill`], queueing the clinic's existing patients to a partner.
//!
//! This module knows no HTTP or database: the store is the [`PatientSyncRepository`] port.
//!
//! [`OutboundKind::PatientSync`]: crate::delivery::OutboundKind::PatientSync

mod activity;
mod backfill;
mod input;
mod service;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use activity::MAX_LINKS_PAGE;
pub use backfill::{BackfillReport, BackfillRun, PatientBackfill};
pub use input::{MAX_CREDENTIAL_LEN, MAX_HEADER_NAME_LEN, MAX_IDENTIFIER_SYSTEM_LEN};
pub use service::{PatientSyncService, SyncDelivery, SyncDestination, SyncRequest};

use crate::Result;
use crate::ids::TenantId;
use crate::secrets::SealedSecret;
use crate::tokens::ClientId;

crate::ids::uuid_id!(
    /// One client's patient sync: the target id of its deliveries.
    PatientSyncId
);

/// How ClinicGate authenticates to the partner's patient API, without the secret: what may be
/// shown and stored in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer {token}`.
    Bearer,
    /// `{name}: {value}`, e.g. an API-key header.
    Header {
        /// The header's name (lower case).
        name: String,
    },
}

impl AuthScheme {
    /// The stored name of the scheme.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Header { .. } => "header",
        }
    }

    /// The header's name, for the header scheme.
    pub fn header_name(&self) -> Option<&str> {
        match self {
            Self::Bearer => None,
            Self::Header { name } => Some(name),
        }
    }
}

/// A client's patient sync as stored and shown: never the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSync {
    /// Its id (the deliveries' target).
    pub id: PatientSyncId,
    /// The API client (partner) it belongs to.
    pub client_id: ClientId,
    /// The partner's patient API base URL (`POST {base_url}/patients`).
    pub base_url: String,
    /// How ClinicGate authenticates there.
    pub auth: AuthScheme,
    /// The identifier system of the partner's patient ids (the URI that names its id space).
    pub identifier_system: String,
    /// Whether new and changed patients are sent.
    pub enabled: bool,
    /// When it was last configured.
    pub updated_at: DateTime<Utc>,
}

/// A sync to store: the configuration with its credential sealed.
#[derive(Debug, Clone)]
pub struct StoredSync {
    /// The configuration (its id is kept when one exists for the client).
    pub sync: PatientSync,
    /// The credential, sealed with the clinic's data key for [`SecretPurpose::PatientSyncCredential`].
    ///
    /// [`SecretPurpose::PatientSyncCredential`]: crate::secrets::SecretPurpose::PatientSyncCredential
    pub credential: SealedSecret,
}

/// What the sender needs of a sync: its configuration, sealed credential and whether its clinic
/// may be served now.
#[derive(Debug, Clone)]
pub struct SyncDeliveryView {
    /// The configuration.
    pub stored: StoredSync,
    /// Whether the clinic is active (a suspended clinic's deliveries wait).
    pub clinic_active: bool,
}

/// The credential in the clear, in memory only while a request is built.
#[derive(Clone)]
pub enum PartnerCredential {
    /// A bearer token.
    Bearer(SecretString),
    /// A header's name and value.
    Header {
        /// The header's name (lower case).
        name: String,
        /// Its value.
        value: SecretString,
    },
}

impl fmt::Debug for PartnerCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer([REDACTED])"),
            Self::Header { name, .. } => write!(f, "Header({name}: [REDACTED])"),
        }
    }
}

/// The clinics' patient syncs, shared by every instance (the database).
#[async_trait]
pub trait PatientSyncRepository: Send + Sync + fmt::Debug {
    /// Stores `stored` as its client's sync (replacing the one it has, keeping its id).
    ///
    /// # Errors
    /// `NotFound` when the client is not one of `tenant`'s.
    async fn put_in_tenant(&self, tenant: TenantId, stored: StoredSync) -> Result<PatientSync>;

    /// The sync of `client`, if it has one.
    async fn find_in_tenant(
        &self,
        tenant: TenantId,
        client: &ClientId,
    ) -> Result<Option<PatientSync>>;

    /// Removes the sync of `client`; `false` when it had none.
    async fn delete_in_tenant(&self, tenant: TenantId, client: &ClientId) -> Result<bool>;

    /// The clinic's enabled syncs.
    async fn enabled_in_tenant(&self, tenant: TenantId) -> Result<Vec<PatientSyncId>>;

    /// A sync as the sender needs it, if it still exists.
    async fn delivery_view(
        &self,
        tenant: TenantId,
        id: PatientSyncId,
    ) -> Result<Option<SyncDeliveryView>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_is_never_printed() {
        let bearer = PartnerCredential::Bearer(SecretString::from("tok_very_secret"));
        let header = PartnerCredential::Header {
            name: "x-api-key".to_owned(),
            value: SecretString::from("key_very_secret"),
        };
        let printed = format!("{bearer:?} {header:?}");
        assert!(!printed.contains("very_secret"), "{printed}");
        assert!(printed.contains("x-api-key"));
    }
}
