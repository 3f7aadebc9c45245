//! [`FhirDestinationService`]: a clinic's owners and admins configure its FHIR destinations; the
//! publisher asks it who hears `patient.*` and `appointment.*` events, and the sender where a
//! delivery goes and with which credential.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::input::{client_secret, client_text, name, resources};
use super::keys::{SigningAlgorithm, SigningKey, jwks};
use super::resource::resource_type_of;
use super::{
    DestinationAuth, DestinationCredential, FhirDestination, FhirDestinationId,
    FhirDestinationRepository, FhirResource, StoredDestination, TokenClient,
};
use crate::delivery::{
    DeliveryHistory, DeliveryId, HistoryFilter, HistoryPage, OutboundKind, Resend, Target,
    history_page,
};
use crate::events::{EventType, Subscribers};
use crate::ids::TenantId;
use crate::outbound::{UrlCheck, read_url};
use crate::secrets::{SealedSecret, SecretPurpose, Vault};
use crate::tenancy::TenantContext;
use crate::{Error, FieldError, Result};

/// How the clinic asks ClinicGate to authenticate (unchecked).
#[derive(Debug, Clone)]
pub enum AuthRequest {
    /// No authentication.
    None,
    /// OAuth 2.0 client credentials with a client secret.
    ClientCredentials {
        /// The token endpoint.
        token_url: String,
        /// ClinicGate's client id there.
        client_id: String,
        /// The secret; `None` keeps the one stored (an update of a destination that has one).
        client_secret: Option<SecretString>,
        /// The scopes to ask for.
        scope: Option<String>,
    },
    /// SMART Backend Services with a key pair ClinicGate makes (kept across updates unless the
    /// algorithm changes).
    SmartBackend {
        /// The token endpoint.
        token_url: String,
        /// ClinicGate's client id there.
        client_id: String,
        /// The scopes to ask for.
        scope: Option<String>,
        /// `ES384` or `RS384`; `None` keeps the stored key's (ES384 for a new destination).
        algorithm: Option<String>,
    },
}

/// A destination as the clinic sends it.
#[derive(Debug, Clone)]
pub struct DestinationRequest {
    /// Its name.
    pub name: String,
    /// The FHIR server's base URL.
    pub base_url: String,
    /// How to authenticate.
    pub auth: AuthRequest,
    /// Which resources to push (`Patient`, `Appointment`).
    pub resources: Vec<String>,
    /// Whether events are pushed.
    pub enabled: bool,
}

/// Where a push goes, with its credential opened.
#[derive(Debug, Clone)]
pub struct PushTarget {
    /// The destination.
    pub id: FhirDestinationId,
    /// The FHIR server's base URL.
    pub base_url: String,
    /// Which resources it takes.
    pub resources: Vec<FhirResource>,
    /// How to authenticate.
    pub credential: DestinationCredential,
    /// When it was last configured: a cached token from before is not used after.
    pub configured_at: DateTime<Utc>,
}

/// What the sender may do with a push delivery now.
#[derive(Debug, Clone)]
pub enum PushDelivery {
    /// Send it there.
    Send(PushTarget),
    /// The destination is switched off or its clinic suspended: the delivery waits.
    Held,
    /// The destination was removed: the delivery fails without an attempt.
    Gone,
}

/// The clinic's FHIR destinations; cheap to clone.
#[derive(Debug, Clone)]
pub struct FhirDestinationService {
    destinations: Arc<dyn FhirDestinationRepository>,
    vault: Vault,
    urls: Arc<dyn UrlCheck>,
    history: Arc<dyn DeliveryHistory>,
}

fn not_found() -> Error {
    Error::NotFound {
        resource: "FHIR destination",
    }
}

fn target(id: FhirDestinationId) -> Target {
    Target {
        kind: OutboundKind::FhirPush,
        id: id.as_uuid(),
    }
}

/// The auth of a request, checked, with the secret to seal (`Some(None)`: keep the stored one).
struct ReadAuth {
    auth: DestinationAuth,
    secret: Option<Option<SecretString>>,
}

impl FhirDestinationService {
    /// A service over `destinations`, sealing secrets with `vault` and checking URLs with `urls`
    /// (the outbound guard, as for webhook endpoints); the clinic sees the deliveries in
    /// `history`.
    pub fn new(
        destinations: Arc<dyn FhirDestinationRepository>,
        vault: Vault,
        urls: Arc<dyn UrlCheck>,
        history: Arc<dyn DeliveryHistory>,
    ) -> Self {
        Self {
            destinations,
            vault,
            urls,
            history,
        }
    }

    async fn token_client(
        &self,
        token_url: &str,
        client_id: &str,
        scope: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Option<TokenClient> {
        let token_url = read_url(
            self.urls.as_ref(),
            "auth.token_url",
            "give the https URL of the server's token endpoint",
            token_url,
            errors,
        )
        .await;
        let client_id = client_text("auth.client_id", Some(client_id), true, errors);
        let scope = client_text("auth.scope", scope, false, errors);
        Some(TokenClient {
            token_url: token_url?,
            client_id: client_id??,
            scope: scope?,
        })
    }

    /// Reads `request`'s auth; `current` is the destination's stored auth on an update.
    async fn read_auth(
        &self,
        request: &AuthRequest,
        current: Option<&DestinationAuth>,
        errors: &mut Vec<FieldError>,
    ) -> Option<ReadAuth> {
        match request {
            AuthRequest::None => Some(ReadAuth {
                auth: DestinationAuth::None,
                secret: None,
            }),
            AuthRequest::ClientCredentials {
                token_url,
                client_id,
                client_secret: secret,
                scope,
            } => {
                let client = self
                    .token_client(token_url, client_id, scope.as_deref(), errors)
                    .await;
                let secret = match secret {
                    Some(raw) => client_secret(raw, errors).map(|s| Some(Some(s))),
                    None if matches!(current, Some(DestinationAuth::ClientCredentials(_))) => {
                        Some(Some(None))
                    }
                    None => {
                        errors.push(FieldError::new(
                            "auth.client_secret",
                            "required",
                            "give the client secret the server issued to ClinicGate",
                        ));
                        None
                    }
                };
                Some(ReadAuth {
                    auth: DestinationAuth::ClientCredentials(client?),
                    secret: secret?,
                })
            }
            AuthRequest::SmartBackend {
                token_url,
                client_id,
                scope,
                algorithm,
            } => {
                let current = match current {
                    Some(DestinationAuth::SmartBackend {
                        algorithm,
                        key_id,
                        public_jwk,
                        ..
                    }) => Some((*algorithm, key_id, public_jwk)),
                    _ => None,
                };
                let algorithm = match algorithm.as_deref().map(str::trim) {
                    None | Some("") => {
                        Some(current.map_or_else(SigningAlgorithm::default, |c| c.0))
                    }
                    Some(raw) => SigningAlgorithm::parse(raw).or_else(|| {
                        errors.push(FieldError::new(
                            "auth.algorithm",
                            "invalid",
                            "the signing algorithm is ES384 or RS384",
                        ));
                        None
                    }),
                };
                let client = self
                    .token_client(token_url, client_id, scope.as_deref(), errors)
                    .await;
                let (client, algorithm) = (client?, algorithm?);
                // The key pair stays across updates (the server has registered its public key)
                // unless the clinic asks for another algorithm, which needs a new one.
                if let Some((stored, key_id, public_jwk)) = current
                    && stored == algorithm
                {
                    return Some(ReadAuth {
                        auth: DestinationAuth::SmartBackend {
                            client,
                            algorithm,
                            key_id: key_id.clone(),
                            public_jwk: public_jwk.clone(),
                        },
                        secret: Some(None),
                    });
                }
                let key = match SigningKey::generate_for(algorithm)
                    .await
                    .and_then(|k| Ok((k.to_sealable()?, k)))
                {
                    Ok(key) => key,
                    Err(err) => {
                        tracing::error!(error = %err, "a SMART key pair could not be made");
                        errors.push(FieldError::new(
                            "auth",
                            "key_generation_failed",
                            "a key pair could not be made; try again",
                        ));
                        return None;
                    }
                };
                let (sealable, key) = key;
                Some(ReadAuth {
                    auth: DestinationAuth::SmartBackend {
                        client,
                        algorithm,
                        key_id: key.key_id(),
                        public_jwk: key.public_jwk(),
                    },
                    secret: Some(Some(sealable)),
                })
            }
        }
    }

    /// The checked destination of `request`, with its secret sealed; `current` is the stored
    /// one on an update.
    async fn read(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
        request: DestinationRequest,
        current: Option<&StoredDestination>,
    ) -> Result<StoredDestination> {
        let mut errors = Vec::new();
        let name = name(&request.name, &mut errors);
        let base_url = read_url(
            self.urls.as_ref(),
            "base_url",
            "give the https base URL of the FHIR server (e.g. https://ehr.example/fhir/r4)",
            &request.base_url,
            &mut errors,
        )
        .await;
        let resources = resources(&request.resources, &mut errors);
        let auth = self
            .read_auth(
                &request.auth,
                current.map(|c| &c.destination.auth),
                &mut errors,
            )
            .await;
        let (Some(name), Some(base_url), Some(resources), Some(auth)) =
            (name, base_url, resources, auth)
        else {
            return Err(Error::Validation(errors));
        };
        let secret = match auth.secret {
            None => None,
            Some(Some(secret)) => Some(
                self.vault
                    .seal(
                        ctx.tenant_id(),
                        SecretPurpose::FhirDestinationCredential,
                        &secret,
                    )
                    .await?,
            ),
            Some(None) => current.and_then(|c| c.secret.clone()),
        };
        let now = Utc::now();
        Ok(StoredDestination {
            destination: FhirDestination {
                id,
                name,
                base_url: base_url.trim_end_matches('/').to_owned(),
                auth: auth.auth,
                resources,
                enabled: request.enabled,
                created_at: current.map_or(now, |c| c.destination.created_at),
                updated_at: now,
            },
            secret,
        })
    }

    /// Adds a destination. Its secret (or, for SMART, the private key ClinicGate makes) is
    /// sealed with the clinic's data key and never shown.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `Validation` naming every invalid field.
    pub async fn create(
        &self,
        ctx: &TenantContext,
        request: DestinationRequest,
    ) -> Result<FhirDestination> {
        ctx.require_manager()?;
        let stored = self
            .read(ctx, FhirDestinationId::new(), request, None)
            .await?;
        let destination = stored.destination.clone();
        self.destinations
            .insert_in_tenant(ctx.tenant_id(), stored)
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), fhir_destination_id = %destination.id, "added a FHIR destination");
        Ok(destination)
    }

    /// Reconfigures a destination (a missing client secret keeps the stored one; a SMART key
    /// pair is kept).
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`; `Validation` naming every invalid field.
    pub async fn update(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
        request: DestinationRequest,
    ) -> Result<FhirDestination> {
        ctx.require_manager()?;
        let current = self.view(ctx.tenant_id(), id).await?.stored;
        let stored = self.read(ctx, id, request, Some(&current)).await?;
        let destination = stored.destination.clone();
        if !self
            .destinations
            .update_in_tenant(ctx.tenant_id(), stored)
            .await?
        {
            return Err(not_found());
        }
        tracing::info!(tenant_id = %ctx.tenant_id(), fhir_destination_id = %id, enabled = destination.enabled, "configured a FHIR destination");
        Ok(destination)
    }

    /// The clinic's destinations, oldest first.
    ///
    /// # Errors
    /// `Forbidden` unless a manager.
    pub async fn list(&self, ctx: &TenantContext) -> Result<Vec<FhirDestination>> {
        ctx.require_manager()?;
        self.destinations.list_in_tenant(ctx.tenant_id()).await
    }

    /// One destination.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`.
    pub async fn get(&self, ctx: &TenantContext, id: FhirDestinationId) -> Result<FhirDestination> {
        ctx.require_manager()?;
        Ok(self.view(ctx.tenant_id(), id).await?.stored.destination)
    }

    /// Removes a destination; deliveries still queued for it fail without an attempt.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`.
    pub async fn delete(&self, ctx: &TenantContext, id: FhirDestinationId) -> Result<()> {
        ctx.require_manager()?;
        if !self
            .destinations
            .delete_in_tenant(ctx.tenant_id(), id)
            .await?
        {
            return Err(not_found());
        }
        tracing::info!(tenant_id = %ctx.tenant_id(), fhir_destination_id = %id, "removed a FHIR destination");
        Ok(())
    }

    /// The public JWKS of a SMART destination of the clinic `tenant` (anyone may read it: the
    /// destination's server fetches it).
    ///
    /// # Errors
    /// `NotFound` for an unknown destination or one without a key pair.
    pub async fn jwks(&self, tenant: TenantId, id: FhirDestinationId) -> Result<serde_json::Value> {
        match self.view(tenant, id).await?.stored.destination.auth {
            DestinationAuth::SmartBackend { public_jwk, .. } => Ok(jwks(&public_jwk)),
            _ => Err(not_found()),
        }
    }

    /// A destination with its credential opened, for "test connection" (whether or not it is
    /// enabled).
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`.
    pub async fn connection(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
    ) -> Result<PushTarget> {
        ctx.require_manager()?;
        let view = self.view(ctx.tenant_id(), id).await?;
        self.opened(ctx.tenant_id(), view.stored).await
    }

    async fn view(
        &self,
        tenant: TenantId,
        id: FhirDestinationId,
    ) -> Result<super::DestinationView> {
        self.destinations
            .view_in_tenant(tenant, id)
            .await?
            .ok_or_else(not_found)
    }

    /// The sealed secret of `stored`, opened.
    async fn open_secret(
        &self,
        tenant: TenantId,
        stored: &StoredDestination,
    ) -> Result<SecretString> {
        let sealed: &SealedSecret = stored
            .secret
            .as_ref()
            .ok_or_else(|| Error::internal("a FHIR destination's secret is missing"))?;
        self.vault
            .open(tenant, SecretPurpose::FhirDestinationCredential, sealed)
            .await
    }

    async fn opened(&self, tenant: TenantId, stored: StoredDestination) -> Result<PushTarget> {
        let credential = match &stored.destination.auth {
            DestinationAuth::None => DestinationCredential::None,
            DestinationAuth::ClientCredentials(client) => DestinationCredential::ClientSecret {
                client: client.clone(),
                secret: self.open_secret(tenant, &stored).await?,
            },
            DestinationAuth::SmartBackend {
                client, algorithm, ..
            } => DestinationCredential::Smart {
                client: client.clone(),
                key: SigningKey::from_sealed(
                    *algorithm,
                    &self.open_secret(tenant, &stored).await?,
                )?,
            },
        };
        let destination = stored.destination;
        Ok(PushTarget {
            id: destination.id,
            base_url: destination.base_url,
            resources: destination.resources,
            credential,
            configured_at: destination.updated_at,
        })
    }

    /// Where a delivery to destination `id` goes now.
    ///
    /// # Errors
    /// `Unavailable` when the destination cannot be read; `Internal` when its secret cannot be
    /// opened.
    pub async fn deliverable(
        &self,
        tenant: TenantId,
        id: FhirDestinationId,
    ) -> Result<PushDelivery> {
        let Some(view) = self.destinations.view_in_tenant(tenant, id).await? else {
            return Ok(PushDelivery::Gone);
        };
        // Paused, not gone: the deliveries wait and go once the destination (or its clinic) is
        // back.
        if !view.stored.destination.enabled || !view.clinic_active {
            return Ok(PushDelivery::Held);
        }
        Ok(PushDelivery::Send(self.opened(tenant, view.stored).await?))
    }

    /// Up to `limit` of the deliveries to destination `id` matching `filter`, newest first, each
    /// with its attempts (the server's status and the start of its answer).
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound`; `Validation` for a `limit` out of range.
    pub async fn deliveries(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
        filter: HistoryFilter,
        limit: u32,
    ) -> Result<HistoryPage> {
        self.get(ctx, id).await?;
        history_page(
            self.history.as_ref(),
            ctx.tenant_id(),
            target(id),
            filter,
            limit,
        )
        .await
    }

    /// "Retry now": the event of one of the destination's deliveries queued again, due now.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` for the destination or a delivery not to it.
    pub async fn retry(
        &self,
        ctx: &TenantContext,
        id: FhirDestinationId,
        delivery: DeliveryId,
    ) -> Result<Resend> {
        self.get(ctx, id).await?;
        let resent = self
            .history
            .resend(ctx.tenant_id(), target(id), delivery, Utc::now())
            .await?
            .ok_or(Error::NotFound {
                resource: "delivery",
            })?;
        tracing::info!(tenant_id = %ctx.tenant_id(), fhir_destination_id = %id, "queued a FHIR push again");
        Ok(resent)
    }
}

#[async_trait]
impl Subscribers for FhirDestinationService {
    async fn targets(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Target>> {
        let Some(resource) = resource_type_of(event_type) else {
            return Ok(Vec::new());
        };
        Ok(self
            .destinations
            .enabled_for(tenant, resource)
            .await?
            .into_iter()
            .map(target)
            .collect())
    }
}
