//! What the event engine asks of webhook endpoints, answered by [`WebhookEndpointService`]:
//! who hears an event when it is published ([`Subscribers`]), and where a delivery goes when it
//! is sent and what its outcome does to the endpoint ([`DeliveryEndpoints`]).
//!
//! An endpoint hears only events of its clinic whose data its client may read *now*: a client
//! that lost a scope is not sent events already queued for it (they fail without an attempt).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::service::WebhookEndpointService;
use super::{
    DISABLE_AFTER_FAILING_FOR, Deliverable, DeliveryEndpoint, DeliveryEndpoints, WebhookEndpointId,
};
use crate::Result;
use crate::delivery::{OutboundKind, Target};
use crate::events::{EventType, Subscribers};
use crate::ids::TenantId;

#[async_trait]
impl DeliveryEndpoints for WebhookEndpointService {
    async fn deliverable(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        event_type: EventType,
    ) -> Result<Deliverable> {
        let mut one = self.deliverables(tenant, &[(endpoint, event_type)]).await?;
        Ok(one.pop().unwrap_or(Deliverable::Gone))
    }

    async fn deliverables(
        &self,
        tenant: TenantId,
        wanted: &[(WebhookEndpointId, EventType)],
    ) -> Result<Vec<Deliverable>> {
        let mut ids: Vec<WebhookEndpointId> = wanted.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable_by_key(|id| id.as_uuid());
        ids.dedup();
        let views: HashMap<WebhookEndpointId, _> = self
            .endpoints
            .delivery_views(tenant, &ids)
            .await?
            .into_iter()
            .collect();
        // Each endpoint's secrets are opened once, however many of the deliveries go to it.
        let now = Utc::now();
        let mut ready: HashMap<WebhookEndpointId, Arc<DeliveryEndpoint>> = HashMap::new();
        let mut out = Vec::with_capacity(wanted.len());
        for (id, event_type) in wanted {
            let Some(view) = views.get(id) else {
                out.push(Deliverable::Gone);
                continue;
            };
            if !view.client_scopes.contains(event_type.scope()) {
                out.push(Deliverable::Gone);
                continue;
            }
            // Paused, not gone: the deliveries wait and go once the endpoint (or its clinic, or
            // its suspended client) is back. The claim already skips suspended clients'
            // deliveries; this catches one claimed just before the suspension.
            if !view.endpoint.enabled() || !view.clinic_active || view.client_suspended {
                out.push(Deliverable::Held);
                continue;
            }
            let endpoint = match ready.get(id) {
                Some(endpoint) => Arc::clone(endpoint),
                None => {
                    let endpoint = Arc::new(DeliveryEndpoint {
                        secrets: self.open(tenant, &view.secrets, now).await?,
                        url: view.endpoint.url.clone(),
                        failing_since: view.endpoint.failing_since,
                    });
                    ready.insert(*id, Arc::clone(&endpoint));
                    endpoint
                }
            };
            out.push(Deliverable::Send(endpoint));
        }
        Ok(out)
    }

    async fn note_outcome(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        delivered: bool,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        if delivered {
            self.endpoints.note_delivered(tenant, endpoint).await?;
            return Ok(false);
        }
        self.endpoints
            .note_failed(tenant, endpoint, at, at - DISABLE_AFTER_FAILING_FOR)
            .await
    }
}

#[async_trait]
impl Subscribers for WebhookEndpointService {
    async fn targets(&self, tenant: TenantId, event_type: EventType) -> Result<Vec<Target>> {
        let subscriptions = self.endpoints.subscriptions_in_tenant(tenant).await?;
        Ok(subscriptions
            .into_iter()
            .filter(|s| {
                s.event_types.contains(&event_type) && s.client_scopes.contains(event_type.scope())
            })
            .map(|s| Target {
                kind: OutboundKind::Webhook,
                id: s.id.as_uuid(),
            })
            .collect())
    }
}
