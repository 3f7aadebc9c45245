//! A target's deliveries as its owner sees them (newest first, with every attempt), and the two
//! ways to send events again: resend one delivery, or recover every event since a moment. Both
//! only add pending deliveries to the queue; the workers send them like any other.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::queue::{AttemptRecord, Delivery, DeliveryId, DeliveryStatus, OutboundKind, Target};
use crate::Result;
use crate::events::EventType;
use crate::ids::TenantId;

/// The most deliveries one page holds.
pub const MAX_HISTORY_PAGE: u32 = 100;
/// Deliveries per page when the caller does not say.
pub const DEFAULT_HISTORY_PAGE: u32 = 20;
/// The most events one recovery sends again.
pub const MAX_RECOVERED: u64 = 10_000;

/// Which of a target's deliveries to list (all optional, combined with AND).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only deliveries older than this one (the previous page's last).
    pub before: Option<DeliveryId>,
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of events of this type.
    pub event_type: Option<EventType>,
}

/// One delivery with its event's type and its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The delivery.
    pub delivery: Delivery,
    /// Its event's type.
    pub event_type: EventType,
    /// Every attempt so far.
    pub attempts: Vec<AttemptRecord>,
}

/// A page of deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryRecord>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<DeliveryId>,
}

/// What asking to resend a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// A new pending delivery of the same event to the same target, due now.
    Queued(DeliveryId),
    /// The event is past its retention: it cannot be sent again.
    BeyondRetention,
}

/// What a recovery queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// New pending deliveries.
    pub count: u64,
    /// Whether more events matched than one recovery sends ([`MAX_RECOVERED`]): the oldest were
    /// queued; recover again from the last one's time for the rest.
    pub truncated: bool,
}

/// How many of a target's deliveries are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Not delivered yet.
    pub pending: u64,
    /// Delivered.
    pub delivered: u64,
    /// Given up.
    pub failed: u64,
}

impl StatusCounts {
    /// Adds `count` deliveries in `status`.
    pub fn add(&mut self, status: DeliveryStatus, count: u64) {
        let slot = match status {
            DeliveryStatus::Pending => &mut self.pending,
            DeliveryStatus::Delivered => &mut self.delivered,
            DeliveryStatus::Failed => &mut self.failed,
        };
        *slot += count;
    }
}

/// The queue's history of one target, and resending from it.
#[async_trait]
pub trait DeliveryHistory: Send + Sync + std::fmt::Debug {
    /// Up to `limit` of the clinic's deliveries to `target` matching `filter`, newest first
    /// (creation time, then id).
    async fn page(
        &self,
        tenant: TenantId,
        target: Target,
        filter: HistoryFilter,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>>;

    /// Queues the event of the clinic's delivery `delivery` to `target` again, due at `now`;
    /// `None` when there is no such delivery.
    async fn resend(
        &self,
        tenant: TenantId,
        target: Target,
        delivery: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Resend>>;

    /// Queues a delivery to `target`, due at `now`, of every event of the clinic of one of
    /// `event_types` that occurred at or after `since` and is still retained, oldest first, at
    /// most `max`.
    async fn recover(
        &self,
        tenant: TenantId,
        target: Target,
        event_types: &BTreeSet<EventType>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        max: u64,
    ) -> Result<Recovered>;

    /// How many of the clinic's deliveries of `kind` created at or after `since` are in each
    /// state, by target id (targets without any are left out).
    async fn counts_since(
        &self,
        tenant: TenantId,
        kind: OutboundKind,
        since: DateTime<Utc>,
    ) -> Result<HashMap<uuid::Uuid, StatusCounts>>;

    /// When the clinic's oldest pending delivery of `kind` was created; `None` when none is
    /// pending.
    async fn oldest_pending(
        &self,
        tenant: TenantId,
        kind: OutboundKind,
    ) -> Result<Option<DateTime<Utc>>>;
}

/// Up to `limit` (1 to [`MAX_HISTORY_PAGE`]) of the clinic's deliveries to `target` matching
/// `filter`, newest first, each with its attempts, and where the next page starts.
///
/// # Errors
/// `Validation` for a `limit` out of range; the history's errors.
pub async fn history_page(
    history: &dyn DeliveryHistory,
    tenant: TenantId,
    target: Target,
    filter: HistoryFilter,
    limit: u32,
) -> Result<HistoryPage> {
    if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
        return Err(crate::Error::invalid(
            "limit",
            "out_of_range",
            format!("limit is between 1 and {MAX_HISTORY_PAGE}"),
        ));
    }
    // One more than asked says whether another page follows.
    let mut deliveries = history.page(tenant, target, filter, limit + 1).await?;
    let more = deliveries.len() > limit as usize;
    deliveries.truncate(limit as usize);
    Ok(HistoryPage {
        next_before: more
            .then(|| deliveries.last().map(|d| d.delivery.id))
            .flatten(),
        deliveries,
    })
}
