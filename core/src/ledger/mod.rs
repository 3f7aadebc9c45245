//! The PHI access ledger: one immutable entry per disclosure of a patient's data — which clinic,
//! who (a staff member or an API client), which patient (Cliniko id), what (categories), through
//! which channel, when, and from where (IP, user agent, request id).
//!
//! Writing the entry is part of serving the data: callers record *before* they hand the data
//! out and do not hand it out when recording fails (see [`LedgerService::record`]). Every
//! channel — pages, the session JSON API, the third-party API, FHIR — records through the same
//! service with its own [`TenantContext`], so the actor comes from authentication, never from
//! the caller. The port has no update or delete: entries cannot be changed through any API.

mod types;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

pub use types::{
    Categories, Category, Channel, EntryId, LedgerActor, LedgerCursor, LedgerEntry, LedgerFilter,
    LedgerPage, RequestMeta,
};

use crate::Result;
use crate::cliniko::ClinikoId;
use crate::ids::TenantId;
use crate::tenancy::TenantContext;

/// The most entries one page (or one export batch) holds.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Storage of the ledger: append and read, nothing else.
#[async_trait]
pub trait LedgerRepository: Send + Sync + std::fmt::Debug {
    /// Appends `entries` (all of `tenant`) atomically: all are stored or none.
    async fn append_in_tenant(&self, tenant: TenantId, entries: &[LedgerEntry]) -> Result<()>;

    /// The clinic's entries matching `filter`, newest first, starting after `filter.before`,
    /// at most `limit`.
    async fn list_in_tenant(
        &self,
        tenant: TenantId,
        filter: &LedgerFilter,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>>;

    /// The patients `actor` opened (page, JSON, API or FHIR reads of one patient) most recently,
    /// newest first, without repeats.
    async fn recent_patients_in_tenant(
        &self,
        tenant: TenantId,
        actor: &LedgerActor,
        limit: u32,
    ) -> Result<Vec<ClinikoId>>;
}

/// Recording and reading the ledger.
#[derive(Debug, Clone)]
pub struct LedgerService {
    entries: Arc<dyn LedgerRepository>,
}

impl LedgerService {
    /// A ledger over `entries`.
    pub fn new(entries: Arc<dyn LedgerRepository>) -> Self {
        Self { entries }
    }

    /// Records that `ctx`'s actor was shown `categories` of each of `patients` through
    /// `channel`. One entry per patient, all stored or none.
    ///
    /// # Errors
    /// Whatever storage reports (`Unavailable`, `Internal`): the caller must then not disclose
    /// the data.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id(), channel = channel.as_str(), entries = patients.len()))]
    pub async fn record(
        &self,
        ctx: &TenantContext,
        channel: Channel,
        categories: Categories,
        patients: &[ClinikoId],
        meta: &RequestMeta,
    ) -> Result<()> {
        if patients.is_empty() {
            return Ok(());
        }
        let actor = LedgerActor::of(ctx);
        let at = Utc::now();
        let meta = meta.bounded();
        let entries: Vec<LedgerEntry> = patients
            .iter()
            .map(|patient| LedgerEntry {
                id: EntryId::new(),
                actor: actor.clone(),
                patient_id: patient.clone(),
                categories,
                channel,
                at,
                ip: meta.ip,
                user_agent: meta.user_agent.clone(),
                request_id: meta.request_id.clone(),
            })
            .collect();
        self.entries
            .append_in_tenant(ctx.tenant_id(), &entries)
            .await
    }

    /// A page of the clinic's ledger, newest first (owners and admins only).
    ///
    /// # Errors
    /// `Forbidden` for clinicians and API clients.
    pub async fn list(
        &self,
        ctx: &TenantContext,
        filter: &LedgerFilter,
        limit: u32,
    ) -> Result<LedgerPage> {
        ctx.require_manager()?;
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        // One more than asked tells whether another page follows without a count query.
        let mut entries = self
            .entries
            .list_in_tenant(ctx.tenant_id(), filter, limit + 1)
            .await?;
        let more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more
            .then(|| entries.last().map(|last| LedgerCursor(last.id)))
            .flatten();
        Ok(LedgerPage { entries, next })
    }

    /// The patients this actor opened most recently (their own history only).
    pub async fn recent_patients(&self, ctx: &TenantContext, limit: u32) -> Result<Vec<ClinikoId>> {
        self.entries
            .recent_patients_in_tenant(ctx.tenant_id(), &LedgerActor::of(ctx), limit)
            .await
    }
}

#[cfg(test)]
mod tests;
