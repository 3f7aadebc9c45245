//! An endpoint's deliveries, for its client and for the clinic: the history (paged, filtered),
//! resending one delivery, and recovering every event since a moment (the client only).

use chrono::{DateTime, TimeDelta, Utc};

use super::WebhookEndpointId;
use super::service::{Need, WebhookEndpointService, owning_client};
use crate::delivery::{
    DeliveryId, HistoryFilter, HistoryPage, MAX_RECOVERED, OutboundKind, Recovered, Resend,
    StatusCounts, Target, history_page,
};
use crate::tenancy::TenantContext;
use crate::webhooks::WebhookEndpoint;
use crate::{Error, Result};

/// How far back an endpoint's "recent" deliveries go.
pub const RECENT: TimeDelta = TimeDelta::hours(24);

/// An endpoint with how its recent deliveries went.
#[derive(Debug, Clone)]
pub struct EndpointActivity {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// Its deliveries created in the last [`RECENT`], by state.
    pub recent: StatusCounts,
}

fn target(id: WebhookEndpointId) -> Target {
    Target {
        kind: OutboundKind::Webhook,
        id: id.as_uuid(),
    }
}

impl WebhookEndpointService {
    /// The caller's endpoints (every client's, for staff), oldest first, each with the counts of
    /// its deliveries of the last [`RECENT`].
    ///
    /// # Errors
    /// `Forbidden` for a client without `webhooks:manage`.
    pub async fn list_with_activity(&self, ctx: &TenantContext) -> Result<Vec<EndpointActivity>> {
        let endpoints = self.list(ctx).await?;
        self.with_activity(ctx, endpoints).await
    }

    /// `endpoints` (read for `ctx`) each with the counts of its deliveries of the last
    /// [`RECENT`].
    ///
    /// # Errors
    /// `Unavailable` when the deliveries cannot be counted.
    pub async fn with_activity(
        &self,
        ctx: &TenantContext,
        endpoints: Vec<WebhookEndpoint>,
    ) -> Result<Vec<EndpointActivity>> {
        let mut counts = self
            .history
            .counts_since(ctx.tenant_id(), OutboundKind::Webhook, Utc::now() - RECENT)
            .await?;
        Ok(endpoints
            .into_iter()
            .map(|endpoint| EndpointActivity {
                recent: counts.remove(&endpoint.id.as_uuid()).unwrap_or_default(),
                endpoint,
            })
            .collect())
    }

    /// Up to `limit` (1 to [`crate::delivery::MAX_HISTORY_PAGE`]) of the endpoint's deliveries matching
    /// `filter`, newest first, each with its attempts.
    ///
    /// # Errors
    /// `NotFound` for an endpoint the caller does not reach; `Validation` for a `limit` out of
    /// range.
    pub async fn deliveries(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
        filter: HistoryFilter,
        limit: u32,
    ) -> Result<HistoryPage> {
        self.find(ctx, Need::View, id).await?;
        history_page(
            self.history.as_ref(),
            ctx.tenant_id(),
            target(id),
            filter,
            limit,
        )
        .await
    }

    /// Sends the event of one of the endpoint's deliveries again (a new delivery, due now): the
    /// owning client, or the clinic's owners and admins.
    ///
    /// # Errors
    /// `NotFound` for an endpoint the caller does not reach, or a delivery not to it;
    /// `Forbidden` for clinicians.
    pub async fn resend(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
        delivery: DeliveryId,
    ) -> Result<Resend> {
        self.find(ctx, Need::Control, id).await?;
        let resent = self
            .history
            .resend(ctx.tenant_id(), target(id), delivery, Utc::now())
            .await?
            .ok_or(Error::NotFound {
                resource: "delivery",
            })?;
        if let Resend::Queued(new) = resent {
            tracing::info!(tenant_id = %ctx.tenant_id(), endpoint_id = %id, delivery_id = %new, "queued a webhook delivery again");
        }
        Ok(resent)
    }

    /// Queues every retained event of the clinic since `since` that the calling client's
    /// endpoint is sent (and its client may still read), oldest first, at most
    /// [`MAX_RECOVERED`].
    ///
    /// # Errors
    /// `NotFound` for anyone else's endpoint.
    pub async fn recover(
        &self,
        ctx: &TenantContext,
        id: WebhookEndpointId,
        since: DateTime<Utc>,
    ) -> Result<Recovered> {
        let client = owning_client(ctx)?;
        let endpoint = self.find(ctx, Need::Own, id).await?;
        let scopes = self.client_scopes(ctx, client).await?;
        let readable = endpoint
            .event_types
            .into_iter()
            .filter(|t| scopes.contains(t.scope()))
            .collect();
        let recovered = self
            .history
            .recover(
                ctx.tenant_id(),
                target(id),
                &readable,
                since,
                Utc::now(),
                MAX_RECOVERED,
            )
            .await?;
        tracing::info!(tenant_id = %ctx.tenant_id(), endpoint_id = %id, count = recovered.count, truncated = recovered.truncated, "recovered webhook events");
        Ok(recovered)
    }
}
