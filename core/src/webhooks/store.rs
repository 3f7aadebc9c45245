//! Storage of webhook endpoints: the endpoint as stored, and the port the database implements.
//!
//! Every method takes the clinic first; those a partner or the clinic reach also take an
//! [`Owner`], so a client's query cannot reach another client's endpoint (404, like another
//! clinic's). The two the delivery machinery asks (`delivery_view`, `subscriptions_in_tenant`)
//! are not a caller's: they read any endpoint of the clinic.

use std::collections::BTreeSet;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DisabledReason, WebhookEndpointId};
use crate::Result;
use crate::events::EventType;
use crate::ids::TenantId;
use crate::secrets::SealedSecret;
use crate::tokens::{ClientId, ClientName, ScopeSet};

/// A webhook endpoint as stored (never its secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// The clinic whose events it receives.
    pub tenant_id: TenantId,
    /// The API client that owns it.
    pub client_id: ClientId,
    /// That client's name, as the clinic knows it.
    pub client_name: ClientName,
    /// Where messages are POSTed (may hold a partner's token: never logged).
    pub url: String,
    /// The event types it is sent.
    pub event_types: BTreeSet<EventType>,
    /// The partner's note about it.
    pub description: Option<String>,
    /// Why it is disabled; `None` while it is enabled.
    pub disabled: Option<DisabledReason>,
    /// Since when every attempt to it has failed; `None` when the last one succeeded.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret replaced by the last rotation still signs messages.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// Whether it receives messages now.
    pub fn enabled(&self) -> bool {
        self.disabled.is_none()
    }
}

impl fmt::Debug for WebhookEndpoint {
    // The URL is left out: it may carry the partner's token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("event_types", &self.event_types)
            .field("disabled", &self.disabled)
            .field("failing_since", &self.failing_since)
            .finish_non_exhaustive()
    }
}

/// Whose endpoints a query reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// One API client's own.
    Client(&'a ClientId),
    /// Every client's (the clinic's staff).
    Clinic,
}

/// An endpoint about to be stored.
pub struct NewWebhookEndpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// Its client.
    pub client_id: ClientId,
    /// Its URL, checked by the outbound guard.
    pub url: String,
    /// Its event types, each allowed by the client's scopes.
    pub event_types: BTreeSet<EventType>,
    /// Its description.
    pub description: Option<String>,
    /// Its signing secret, sealed with the clinic's data key.
    pub secret: SealedSecret,
}

impl fmt::Debug for NewWebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewWebhookEndpoint")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("event_types", &self.event_types)
            .finish_non_exhaustive()
    }
}

/// A change to an endpoint; absent fields stay as they are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EndpointChange {
    /// A new URL, checked by the outbound guard.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<BTreeSet<EventType>>,
    /// A new description; `Some(None)` removes it.
    pub description: Option<Option<String>>,
    /// `Some(false)` disables it (by hand); `Some(true)` enables it again and forgets its
    /// failing streak, so it gets five whole days again.
    pub enabled: Option<bool>,
}

impl fmt::Debug for EndpointChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointChange")
            .field("url", &self.url.as_ref().map(|_| "…"))
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// An endpoint's sealed secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecrets {
    /// The current secret.
    pub current: SealedSecret,
    /// The secret the last rotation replaced, and until when it still signs.
    pub previous: Option<(SealedSecret, DateTime<Utc>)>,
}

/// What deciding about a delivery needs: the endpoint, its secrets, what its client may read
/// now and whether its clinic is served.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// Its secrets.
    pub secrets: SealedSecrets,
    /// The scopes its client holds now.
    pub client_scopes: ScopeSet,
    /// Whether its clinic is active (not suspended).
    pub clinic_active: bool,
    /// Whether the clinic suspended the endpoint's client, or all of its integrations.
    pub client_suspended: bool,
}

/// An enabled endpoint's subscription, as publishing an event needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The endpoint.
    pub id: WebhookEndpointId,
    /// The event types it is sent.
    pub event_types: BTreeSet<EventType>,
    /// The scopes its client holds now.
    pub client_scopes: ScopeSet,
}

/// Storage of webhook endpoints.
#[async_trait]
pub trait WebhookEndpointRepository: Send + Sync + fmt::Debug {
    /// Stores a new endpoint of `tenant`.
    async fn create_in_tenant(
        &self,
        tenant: TenantId,
        endpoint: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint>;

    /// One endpoint of `owner` in `tenant`.
    async fn find_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>>;

    /// Every endpoint of `owner` in `tenant`, oldest first.
    async fn list_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
    ) -> Result<Vec<WebhookEndpoint>>;

    /// Changes an endpoint of `owner`; `NotFound` for anyone else's.
    async fn change_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
        change: EndpointChange,
    ) -> Result<WebhookEndpoint>;

    /// Makes `secret` the endpoint's current secret and keeps the one it replaces signing until
    /// `previous_until`, in one statement; `NotFound` for anyone else's endpoint.
    async fn rotate_secret_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
        secret: SealedSecret,
        previous_until: DateTime<Utc>,
    ) -> Result<WebhookEndpoint>;

    /// Deletes an endpoint of `owner`; whether it existed.
    async fn delete_in_tenant(
        &self,
        tenant: TenantId,
        owner: Owner<'_>,
        id: WebhookEndpointId,
    ) -> Result<bool>;

    /// The clinic's endpoint with what a delivery to it needs; `None` once it is deleted.
    async fn delivery_view(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<DeliveryView>>;

    /// The clinic's endpoints `ids` with what deliveries to them need, in one read (a claimed
    /// batch's endpoints); deleted ones are absent.
    async fn delivery_views(
        &self,
        tenant: TenantId,
        ids: &[WebhookEndpointId],
    ) -> Result<Vec<(WebhookEndpointId, DeliveryView)>>;

    /// The clinic's enabled endpoints and what each is sent.
    async fn subscriptions_in_tenant(&self, tenant: TenantId) -> Result<Vec<Subscription>>;

    /// The scopes a client of the clinic holds now; `None` for an unknown client.
    async fn client_scopes_in_tenant(
        &self,
        tenant: TenantId,
        client: &ClientId,
    ) -> Result<Option<ScopeSet>>;

    /// Ends the endpoint's failing streak (a delivery succeeded).
    async fn note_delivered(&self, tenant: TenantId, id: WebhookEndpointId) -> Result<()>;

    /// Starts the endpoint's failing streak at `at` unless one is running, then disables it
    /// ([`DisabledReason::Failing`]) if it is enabled and has been failing since
    /// `disable_if_failing_since` or earlier. Returns whether this call disabled it.
    async fn note_failed(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        at: DateTime<Utc>,
        disable_if_failing_since: DateTime<Utc>,
    ) -> Result<bool>;
}
