//! Managing webhook endpoints. A partner's API client (with `webhooks:manage`) creates, changes,
//! rotates and deletes its own endpoints; the clinic's staff see every client's endpoints and its
//! owners and admins disable and enable them.
//!
//! A secret is shown once, when it is made (create, rotate), and stored only sealed with the
//! clinic's data key. A rotated secret keeps signing beside the new one for [`ROTATION_GRACE`],
//! so a receiver that has either verifies every message while the partner deploys the new one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::input;
use super::store::{
    EndpointChange, NewWebhookEndpoint, Owner, SealedSecrets, WebhookEndpoint,
    WebhookEndpointRepository,
};
use super::{DeliveryEndpoint, WebhookEndpointId, WebhookSecret};
use crate::delivery::DeliveryHistory;
use crate::outbound::UrlCheck;
use crate::secrets::{SecretPurpose, Vault};
use crate::tenancy::{Actor, TenantContext};
use crate::tokens::{ClientId, Scope, ScopeSet};
use crate::{Error, Result};

/// How long a rotated secret keeps signing beside its successor.
pub const ROTATION_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// An endpoint to create, as requested.
#[derive(Clone)]
pub struct NewEndpointRequest {
    /// Where to POST messages.
    pub url: String,
    /// The event types to send, by name.
    pub event_types: Vec<String>,
    /// The partner's note.
    pub description: Option<String>,
}

impl std::fmt::Debug for NewEndpointRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEndpointRequest")
            .field("event_types", &self.event_types)
            .finish_non_exhaustive()
    }
}

/// A change to an endpoint, as requested; absent fields stay as they are.
#[derive(Clone, Default)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// A new description; `Some(None)` removes it.
    pub description: Option<Option<String>>,
    /// Disable (`false`) or enable (`true`) it.
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for EndpointPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPatch")
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// An endpoint and its new secret, right after creation or rotation: the only time the secret
/// is visible.
#[derive(Debug)]
pub struct EndpointWithSecret {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// Its new secret.
    pub secret: WebhookSecret,
}

/// What a caller needs to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// Read: the owning client, or any staff member of the clinic.
    View,
    /// Pause, resume, resend: the owning client, or the clinic's owners and admins.
    Control,
    /// Create, change, rotate, delete, test, recover: the owning client only.
    Own,
}

/// Whose endpoints `ctx` reaches for `need`.
///
/// # Errors
/// `Forbidden` for a client without `webhooks:manage`, a clinician asking to control, and staff
/// asking for what only the owning client does.
pub(super) fn owner(ctx: &TenantContext, need: Need) -> Result<Owner<'_>> {
    match ctx.actor() {
        Actor::ApiClient { client_id, scopes } if scopes.contains(Scope::WebhooksManage) => {
            Ok(Owner::Client(client_id))
        }
        Actor::ApiClient { .. } => Err(Error::Forbidden(format!(
            "managing webhook endpoints needs the scope {}",
            Scope::WebhooksManage
        ))),
        Actor::CalendarFeed { .. } => Err(Error::Forbidden(
            "a calendar feed does not manage webhook endpoints".to_owned(),
        )),
        Actor::Staff { .. } => match need {
            Need::View => Ok(Owner::Clinic),
            Need::Control => ctx.require_manager().map(|()| Owner::Clinic),
            Need::Own => Err(Error::Forbidden(
                "only the API client that owns a webhook endpoint can do this; the clinic can \
                 disable, enable and resend"
                    .to_owned(),
            )),
        },
    }
}

/// The API client `ctx` acts as, when it may own endpoints.
///
/// # Errors
/// As [`owner`] with [`Need::Own`].
pub(super) fn owning_client(ctx: &TenantContext) -> Result<&ClientId> {
    match owner(ctx, Need::Own)? {
        Owner::Client(client) => Ok(client),
        // `owner` never gives staff `Need::Own`.
        Owner::Clinic => Err(Error::internal("only an API client owns endpoints")),
    }
}

pub(super) fn not_found() -> Error {
    Error::NotFound {
        resource: "webhook endpoint",
    }
}

/// Webhook endpoints of one clinic at a time; also what the delivery machinery asks about them
/// (see `super::delivery`).
#[derive(Debug, Clone)]
pub struct WebhookEndpointService {
    pub(super) endpoints: Arc<dyn WebhookEndpointRepository>,
    pub(super) vault: Vault,
    urls: Arc<dyn UrlCheck>,
    pub(super) history: Arc<dyn DeliveryHistory>,
}

impl WebhookEndpointService {
    /// A service over `endpoints`, sealing secrets with `vault`, checking URLs with `urls` (the
    /// outbound guard) and reading and adding deliveries through `history` (the queue).
    pub fn new(
        endpoints: Arc<dyn WebhookEndpointRepository>,
        vault: Vault,
        urls: Arc<dyn UrlCheck>,
        history: Arc<dyn DeliveryHistory>,
    ) -> Self {
        Self {
            endpoints,
            vault,
            urls,
            history,
        }
    }

    /// The scopes the calling client holds now: what its endpoints may receive, whatever the
    /// token it called with was narrowed to.
    pub(super) async fn client_scopes(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
    ) -> Result<ScopeSet> {
        self.endpoints
            .client_scopes_in_tenant(ctx.tenant_id(), client)
            .await?
            .ok_or(Error::NotFound {
                resource: "API client",
            })
    }

    async fn seal(
        &self,
        ctx: &TenantContext,
        secret: &WebhookSecret,
    ) -> Result<crate::secrets::SealedSecret> {
        self.vault
            .seal(
                ctx.tenant_id(),
                SecretPurpose::WebhookSecret,
                &SecretString::from(secret.expose()),
            )
            .await
    }

    /// Creates an endpoint for the calling client; its secret is in the result and nowhere
    /// else, ever.
    ///
    /// # Errors
    /// `Forbidden` for staff and clients without `webhooks:manage`; `Validation` naming every
    /// invalid field (`url`, `event_types`, `description`).
    pub async fn create(
        &self,
        ctx: &TenantContext,
        request: NewEndpointRequest,
    ) -> Result<EndpointWithSecret> {
        let client = owning_client(ctx)?;
        let scopes = self.client_scopes(ctx, client).await?;
        let mut errors = Vec::new();
        let url = input::url(self.urls.as_ref(), &request.url, &mut errors).await;
        let event_types = input::event_types(&request.event_types, &scopes, &mut errors);
        let description = input::description(request.description.as_deref(), &mut errors);
        let (Some(url), Some(event_types), Some(description)) = (url, event_types, description)
        else {
            return Err(Error::Validation(errors));
        };
        let secret = WebhookSecret::generate();
        let endpoint = self
            .endpoints
            .create_in_tenant(
                ctx.tenant_id(),
                NewWebhookEndpoint {
                    id: WebhookEndpointId::new(),
                    client_id: client.clone(),
                    url,
                    event_types,
                    description,
                    secret: self.seal(ctx, &secret).await?,
                },
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client, endpoint_id = %endpoint.id, "created a webhook endpoint");
        Ok(EndpointWithSecret { endpoint, secret })
    }

    /// The caller's endpoints, oldest first: a client's own, or every client's for staff.
    ///
    /// # Errors
    /// `Forbidden` for a client without `webhooks:manage`.
    pub async fn list(&self, ctx: &TenantContext) -> Result<Vec<WebhookEndpoint>> {
        self.endpoints
            .list_in_tenant(ctx.tenant_id(), owner(ctx, Need::View)?)
            .await
    }

    /// One endpoint the caller may see.
    ///
    /// # Errors
    /// `NotFound` for another client's or clinic's endpoint.
    pub async fn get(&self, ctx: &TenantContext, id: WebhookEndpointId) -> Result<WebhookEndpoint> {
        self.find(ctx, Need::View, id).await
    }

    /// The endpoint `id` if the caller may act on it as `need` says.
    pub(super) async fn find(
        &self,
        ctx: &TenantContext,
        need: Need,
        id: WebhookEndpointId,
    ) -> Result<WebhookEndpoint> {
        self.endpoints
            .find_in_tenant(ctx.tenant_id(), owner(ctx, need)?, id)
            .await?
            .ok_or_else(not_found)
    }

    /// Changes the calling client's endpoint: URL, event types, description, enabled.
    ///
    /// # Errors
    /// `NotFound` for anyone else's endpoint; `Validation` naming every invalid field, or
    /// `nothing_to_change`.
    pub async fn change(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
        patch: EndpointPatch,
    ) -> Result<WebhookEndpoint> {
        let owner = owner(ctx, Need::Own)?;
        let mut errors = Vec::new();
        let url = match &patch.url {
            Some(raw) => input::url(self.urls.as_ref(), raw, &mut errors).await,
            None => None,
        };
        let event_types = match (&patch.event_types, owner) {
            (Some(words), Owner::Client(client)) => {
                let scopes = self.client_scopes(ctx, client).await?;
                input::event_types(words, &scopes, &mut errors)
            }
            _ => None,
        };
        let description = patch
            .description
            .map(|raw| input::description(raw.as_deref(), &mut errors));
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let change = EndpointChange {
            url,
            event_types,
            description: description.flatten(),
            enabled: patch.enabled,
        };
        if change == EndpointChange::default() {
            return Err(Error::invalid(
                "url",
                "nothing_to_change",
                "send a new url, event_types, description or enabled",
            ));
        }
        self.endpoints
            .change_in_tenant(ctx.tenant_id(), owner, id, change)
            .await
    }

    /// Disables (`false`) or enables (`true`) an endpoint: its owning client, or the clinic's
    /// owners and admins. Deliveries to a disabled endpoint wait (nothing is dropped); enabling
    /// forgets its failing streak.
    ///
    /// # Errors
    /// `NotFound` for an endpoint the caller does not reach; `Forbidden` for clinicians.
    pub async fn set_enabled(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
        enabled: bool,
    ) -> Result<WebhookEndpoint> {
        let endpoint = self
            .endpoints
            .change_in_tenant(
                ctx.tenant_id(),
                owner(ctx, Need::Control)?,
                id,
                EndpointChange {
                    enabled: Some(enabled),
                    ..EndpointChange::default()
                },
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), endpoint_id = %id, enabled, "changed whether a webhook endpoint is enabled");
        Ok(endpoint)
    }

    /// Gives the calling client's endpoint a new secret (returned once); the previous one keeps
    /// signing beside it for [`ROTATION_GRACE`].
    ///
    /// # Errors
    /// `NotFound` for anyone else's endpoint.
    pub async fn rotate_secret(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
    ) -> Result<EndpointWithSecret> {
        let owner = owner(ctx, Need::Own)?;
        let secret = WebhookSecret::generate();
        let endpoint = self
            .endpoints
            .rotate_secret_in_tenant(
                ctx.tenant_id(),
                owner,
                id,
                self.seal(ctx, &secret).await?,
                Utc::now() + ROTATION_GRACE,
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), endpoint_id = %id, "rotated a webhook endpoint's secret");
        Ok(EndpointWithSecret { endpoint, secret })
    }

    /// Deletes the calling client's endpoint; its pending deliveries are given up.
    ///
    /// # Errors
    /// `NotFound` for anyone else's endpoint.
    pub async fn delete(&self, ctx: &TenantContext, id: WebhookEndpointId) -> Result<()> {
        if !self
            .endpoints
            .delete_in_tenant(ctx.tenant_id(), owner(ctx, Need::Own)?, id)
            .await?
        {
            return Err(not_found());
        }
        tracing::info!(tenant_id = %ctx.tenant_id(), endpoint_id = %id, "deleted a webhook endpoint");
        Ok(())
    }

    /// Where and with which secrets a test message to the calling client's endpoint goes now,
    /// whether the endpoint is enabled or not.
    ///
    /// # Errors
    /// `NotFound` for anyone else's endpoint.
    pub async fn test_target(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
    ) -> Result<DeliveryEndpoint> {
        self.find(ctx, Need::Own, id).await?;
        let view = self
            .endpoints
            .delivery_view(ctx.tenant_id(), id)
            .await?
            .ok_or_else(not_found)?;
        Ok(DeliveryEndpoint {
            secrets: self
                .open(ctx.tenant_id(), &view.secrets, Utc::now())
                .await?,
            url: view.endpoint.url,
            failing_since: view.endpoint.failing_since,
        })
    }

    /// The secrets that sign now, newest first: the current one, and the previous one while its
    /// grace lasts.
    pub(super) async fn open(
        &self,
        tenant: crate::ids::TenantId,
        secrets: &SealedSecrets,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookSecret>> {
        let live = std::iter::once(&secrets.current).chain(
            secrets
                .previous
                .as_ref()
                .filter(|(_, until)| *until > now)
                .map(|(sealed, _)| sealed),
        );
        let mut opened = Vec::with_capacity(2);
        for sealed in live {
            let text = self
                .vault
                .open(tenant, SecretPurpose::WebhookSecret, sealed)
                .await?;
            opened.push(
                WebhookSecret::parse(text.expose_secret())
                    .map_err(|err| Error::internal(format!("a stored webhook secret: {err}")))?,
            );
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TenantId, UserId};
    use crate::users::Role;

    fn client(scopes: &[Scope]) -> TenantContext {
        TenantContext::for_api_client(
            TenantId::new(),
            ClientId::generate(),
            scopes.iter().copied().collect(),
        )
    }

    fn staff(role: Role) -> TenantContext {
        TenantContext::new(TenantId::new(), UserId::new(), role)
    }

    #[test]
    fn a_client_with_webhooks_manage_reaches_its_own_endpoints_for_everything() {
        let ctx = client(&[Scope::WebhooksManage]);
        for need in [Need::View, Need::Control, Need::Own] {
            assert_eq!(
                owner(&ctx, need).unwrap(),
                Owner::Client(ctx.client_id().unwrap())
            );
        }
        let without = client(&[Scope::AppointmentsRead]);
        assert!(matches!(
            owner(&without, Need::View),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(owning_client(&without), Err(Error::Forbidden(_))));
    }

    #[test]
    fn staff_see_every_endpoint_managers_control_them_and_nobody_on_staff_owns_one() {
        for role in [Role::Owner, Role::Admin, Role::Clinician] {
            assert_eq!(owner(&staff(role), Need::View).unwrap(), Owner::Clinic);
            assert!(matches!(
                owner(&staff(role), Need::Own),
                Err(Error::Forbidden(_))
            ));
        }
        assert_eq!(
            owner(&staff(Role::Admin), Need::Control).unwrap(),
            Owner::Clinic
        );
        assert!(matches!(
            owner(&staff(Role::Clinician), Need::Control),
            Err(Error::Forbidden(_))
        ));
    }
}
