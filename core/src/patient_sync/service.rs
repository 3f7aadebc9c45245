//! [`PatientSyncService`]: a clinic's owners and admins configure each API client's patient
//! sync; the publisher asks it who hears `patient.*` events, and the sender where a delivery goes
//! and with which credential.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::input::{credential, identifier_system, sealed_text};
use super::{
    AuthScheme, PartnerCredential, PatientSync, PatientSyncId, PatientSyncRepository, StoredSync,
};
use crate::delivery::{DeliveryHistory, OutboundKind, Target};
use crate::events::{EventType, Subscribers};
use crate::ids::TenantId;
use crate::outbound::{UrlCheck, read_url};
use crate::partner_links::PartnerLinks;
use crate::secrets::{SealedSecret, SecretPurpose, Vault};
use crate::tenancy::TenantContext;
use crate::tokens::ClientId;
use crate::{Error, Result};

/// A client's patient sync as the clinic sends it (`PUT …/patient-sync`).
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// The partner's patient API base URL.
    pub base_url: String,
    /// How to authenticate there (unchecked); `None` keeps the credential already stored (to
    /// switch the sync on or off, or move it, without typing the secret again).
    pub auth: Option<PartnerCredential>,
    /// The URI naming the partner's patient ids.
    pub identifier_system: String,
    /// Whether patients are sent.
    pub enabled: bool,
}

/// Where a sync delivery goes, with its credential opened.
#[derive(Debug, Clone)]
pub struct SyncDestination {
    /// The client whose links the answers update.
    pub client_id: ClientId,
    /// The partner's patient API base URL.
    pub base_url: String,
    /// The credential to present.
    pub credential: PartnerCredential,
}

/// What the sender may do with a sync delivery now.
#[derive(Debug, Clone)]
pub enum SyncDelivery {
    /// Send it there.
    Send(SyncDestination),
    /// The sync is switched off or its clinic suspended: the delivery waits.
    Held,
    /// The sync (or its client) was removed: the delivery fails without an attempt.
    Gone,
}

/// The clinic's patient syncs; cheap to clone.
#[derive(Debug, Clone)]
pub struct PatientSyncService {
    pub(super) syncs: Arc<dyn PatientSyncRepository>,
    vault: Vault,
    urls: Arc<dyn UrlCheck>,
    pub(super) history: Arc<dyn DeliveryHistory>,
    pub(super) links: Arc<dyn PartnerLinks>,
}

pub(super) fn not_found() -> Error {
    Error::NotFound {
        resource: "patient sync",
    }
}

impl PatientSyncService {
    /// A service over `syncs`, sealing credentials with `vault` and checking URLs with `urls`
    /// (the outbound guard, as for webhook endpoints); the clinic sees the deliveries in
    /// `history` and the links made in `links`.
    pub fn new(
        syncs: Arc<dyn PatientSyncRepository>,
        vault: Vault,
        urls: Arc<dyn UrlCheck>,
        history: Arc<dyn DeliveryHistory>,
        links: Arc<dyn PartnerLinks>,
    ) -> Self {
        Self {
            syncs,
            vault,
            urls,
            history,
            links,
        }
    }

    /// Configures (or reconfigures) `client`'s patient sync. The credential is sealed with the
    /// clinic's data key and never shown again.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `Validation` naming every invalid field; `NotFound` for a
    /// client that is not this clinic's.
    pub async fn put(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
        request: SyncRequest,
    ) -> Result<PatientSync> {
        ctx.require_manager()?;
        let mut errors = Vec::new();
        let base_url = read_url(
            self.urls.as_ref(),
            "base_url",
            "give the https base URL of the partner's patient API",
            &request.base_url,
            &mut errors,
        )
        .await;
        let auth = match &request.auth {
            Some(raw) => credential(raw, &mut errors).map(Some),
            None => Some(None),
        };
        let system = identifier_system(&request.identifier_system, &mut errors);
        let (Some(base_url), Some(auth), Some(identifier_system)) = (base_url, auth, system) else {
            return Err(Error::Validation(errors));
        };
        let (scheme, credential) = match auth {
            Some((scheme, credential)) => {
                let sealed = self
                    .vault
                    .seal(
                        ctx.tenant_id(),
                        SecretPurpose::PatientSyncCredential,
                        sealed_text(&credential),
                    )
                    .await?;
                (scheme, sealed)
            }
            None => self.stored_credential(ctx, client).await?,
        };
        let sync = self
            .syncs
            .put_in_tenant(
                ctx.tenant_id(),
                StoredSync {
                    sync: PatientSync {
                        id: PatientSyncId::new(),
                        client_id: client.clone(),
                        base_url: base_url.trim_end_matches('/').to_owned(),
                        auth: scheme,
                        identifier_system,
                        enabled: request.enabled,
                        updated_at: Utc::now(),
                    },
                    credential,
                },
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client, enabled = sync.enabled, "configured a client's patient sync");
        Ok(sync)
    }

    /// The scheme and sealed credential `client`'s sync has now.
    ///
    /// # Errors
    /// `Validation` on `auth` when it has none: a first configuration must give one.
    async fn stored_credential(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
    ) -> Result<(AuthScheme, SealedSecret)> {
        let required = || {
            Error::invalid(
                "auth",
                "required",
                "give the credential ClinicGate presents to the partner",
            )
        };
        let Some(current) = self.syncs.find_in_tenant(ctx.tenant_id(), client).await? else {
            return Err(required());
        };
        let view = self
            .syncs
            .delivery_view(ctx.tenant_id(), current.id)
            .await?
            .ok_or_else(required)?;
        Ok((view.stored.sync.auth, view.stored.credential))
    }

    /// `client`'s patient sync (never its credential).
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` when it has none or is not this clinic's.
    pub async fn get(&self, ctx: &TenantContext, client: &ClientId) -> Result<PatientSync> {
        ctx.require_manager()?;
        self.syncs
            .find_in_tenant(ctx.tenant_id(), client)
            .await?
            .ok_or_else(not_found)
    }

    /// Removes `client`'s patient sync; deliveries still queued for it fail without an attempt.
    /// The links already made stay: they are the partner's ids, used by its own API too.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` when it has none or is not this clinic's.
    pub async fn delete(&self, ctx: &TenantContext, client: &ClientId) -> Result<()> {
        ctx.require_manager()?;
        if !self.syncs.delete_in_tenant(ctx.tenant_id(), client).await? {
            return Err(not_found());
        }
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client, "removed a client's patient sync");
        Ok(())
    }

    /// Where a delivery to sync `id` goes now.
    ///
    /// # Errors
    /// `Unavailable` when the sync cannot be read; `Internal` when its credential cannot be
    /// opened.
    pub async fn deliverable(&self, tenant: TenantId, id: PatientSyncId) -> Result<SyncDelivery> {
        let Some(view) = self.syncs.delivery_view(tenant, id).await? else {
            return Ok(SyncDelivery::Gone);
        };
        let sync = &view.stored.sync;
        // Paused, not gone: the deliveries wait and go once the sync (or its clinic) is back.
        if !sync.enabled || !view.clinic_active {
            return Ok(SyncDelivery::Held);
        }
        let secret = self
            .vault
            .open(
                tenant,
                SecretPurpose::PatientSyncCredential,
                &view.stored.credential,
            )
            .await?;
        let credential = match &sync.auth {
            AuthScheme::Bearer => PartnerCredential::Bearer(secret),
            AuthScheme::Header { name } => PartnerCredential::Header {
                name: name.clone(),
                value: secret,
            },
        };
        Ok(SyncDelivery::Send(SyncDestination {
            client_id: sync.client_id.clone(),
            base_url: sync.base_url.clone(),
            credential,
        }))
    }
}

#[async_trait]
impl Subscribers for PatientSyncService {
    async fn targets(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Target>> {
        if !matches!(
            event_type,
            EventType::PatientCreated | EventType::PatientUpdated
        ) {
            return Ok(Vec::new());
        }
        Ok(self
            .syncs
            .enabled_in_tenant(tenant)
            .await?
            .into_iter()
            .map(|id| Target {
                kind: OutboundKind::PatientSync,
                id: id.as_uuid(),
            })
            .collect())
    }
}
