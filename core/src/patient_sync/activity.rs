//! What a client's patient sync has done, for the clinic's Partners page: its deliveries with
//! every attempt and the partner's answers, "retry now" for one of them, and the patients linked
//! so far. Owners and admins only, like the sync's configuration.

use chrono::Utc;

use super::PatientSyncId;
use super::service::{PatientSyncService, not_found};
use crate::Result;
use crate::delivery::{
    DeliveryId, HistoryFilter, HistoryPage, OutboundKind, Resend, Target, history_page,
};
use crate::partner_links::{PartnerId, PartnerLink};
use crate::tenancy::TenantContext;
use crate::tokens::ClientId;

/// The most links one page holds.
pub const MAX_LINKS_PAGE: u64 = 100;

fn target(id: PatientSyncId) -> Target {
    Target {
        kind: OutboundKind::PatientSync,
        id: id.as_uuid(),
    }
}

impl PatientSyncService {
    /// The id of `client`'s sync, for a manager.
    async fn sync_id(&self, ctx: &TenantContext, client: &ClientId) -> Result<PatientSyncId> {
        ctx.require_manager()?;
        Ok(self
            .syncs
            .find_in_tenant(ctx.tenant_id(), client)
            .await?
            .ok_or_else(not_found)?
            .id)
    }

    /// Up to `limit` of the deliveries to `client`'s sync matching `filter`, newest first, each
    /// with its attempts (the partner's status and the start of its answer).
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` without a sync; `Validation` for a `limit` out
    /// of range.
    pub async fn deliveries(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
        filter: HistoryFilter,
        limit: u32,
    ) -> Result<HistoryPage> {
        let id = self.sync_id(ctx, client).await?;
        history_page(
            self.history.as_ref(),
            ctx.tenant_id(),
            target(id),
            filter,
            limit,
        )
        .await
    }

    /// "Retry now": the event of one of the sync's deliveries queued again, due now.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` without a sync or for a delivery not to it.
    pub async fn retry(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
        delivery: DeliveryId,
    ) -> Result<Resend> {
        let id = self.sync_id(ctx, client).await?;
        let resent = self
            .history
            .resend(ctx.tenant_id(), target(id), delivery, Utc::now())
            .await?
            .ok_or(crate::Error::NotFound {
                resource: "delivery",
            })?;
        if let Resend::Queued(new) = resent {
            tracing::info!(tenant_id = %ctx.tenant_id(), client_id = %client, delivery_id = %new, "queued a patient sync delivery again");
        }
        Ok(resent)
    }

    /// Up to `limit` (1 to [`MAX_LINKS_PAGE`]) of the patients linked to `client`'s partner ids
    /// (through its sync or its own creates), in partner-id order after `after`.
    ///
    /// # Errors
    /// `Forbidden` unless a manager; `NotFound` without a sync; `Validation` for a `limit` out
    /// of range.
    pub async fn links(
        &self,
        ctx: &TenantContext,
        client: &ClientId,
        after: Option<&PartnerId>,
        limit: u64,
    ) -> Result<Vec<PartnerLink>> {
        if !(1..=MAX_LINKS_PAGE).contains(&limit) {
            return Err(crate::Error::invalid(
                "limit",
                "out_of_range",
                format!("limit is between 1 and {MAX_LINKS_PAGE}"),
            ));
        }
        self.sync_id(ctx, client).await?;
        self.links
            .linked(ctx.tenant_id(), client, after, limit)
            .await
    }
}
