//! [`DeliveryHistory`] over the queue's tables: a target's deliveries with their events' types
//! and attempts, new pending deliveries of events already stored (resend, recovery), and the
//! recent counts per target the clinic's overview shows.
//!
//! Pages are keyset on (`created_at`, `id`), newest first, which the `ix_deliveries_target`
//! index serves; a page costs three queries (deliveries, their events' types, their attempts)
//! whatever its size.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::Result;
use clinicgate_core::delivery::{
    DeliveryHistory, DeliveryId, DeliveryRecord, DeliveryStatus, HistoryFilter, OutboundKind,
    Recovered, Resend, StatusCounts, Target,
};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
    QueryTrait as _, Select, Set, TransactionTrait as _,
};
use uuid::Uuid;

use super::{SeaDeliveryQueue, attempt_to_domain, delivery_to_domain, entity, malformed};
use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;
use crate::delivery_attempts::entity as attempts;
use crate::events::entity as events;

/// Rows one `INSERT` of a recovery writes: far below SQLite's 32 766 bound parameters (12 per
/// row), and small enough that PostgreSQL plans it at once.
const INSERT_CHUNK: usize = 500;

/// The clinic's deliveries to `target`.
fn to_target(tenant: TenantId, target: Target) -> Select<entity::Entity> {
    entity::Entity::find_in_tenant(tenant)
        .filter(entity::Column::Kind.eq(target.kind.as_str()))
        .filter(entity::Column::TargetId.eq(target.id))
}

/// A new pending delivery `id` of `event` to `target`, due at `now`.
fn pending(
    id: DeliveryId,
    tenant: TenantId,
    event: Uuid,
    target: Target,
    now: DateTime<Utc>,
) -> entity::ActiveModel {
    entity::ActiveModel {
        id: Set(id.as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        event_id: Set(event),
        kind: Set(target.kind.as_str().to_owned()),
        target_id: Set(target.id),
        status: Set(DeliveryStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        lease_id: Set(None),
        lease_until: Set(None),
        created_at: Set(now),
        finished_at: Set(None),
    }
}

impl SeaDeliveryQueue {
    /// Where the page before `before` starts: the deliveries created before it, or at the same
    /// moment with a smaller id. `None` when `before` is not one of the target's deliveries
    /// (pruned with its event, or never there): nothing is older.
    async fn older_than(
        &self,
        tenant: TenantId,
        target: Target,
        before: DeliveryId,
    ) -> Result<Option<Condition>> {
        let at: Option<DateTime<Utc>> = to_target(tenant, target)
            .filter(entity::Column::Id.eq(before.as_uuid()))
            .select_only()
            .column(entity::Column::CreatedAt)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(at.map(|at| {
            Condition::any().add(entity::Column::CreatedAt.lt(at)).add(
                Condition::all()
                    .add(entity::Column::CreatedAt.eq(at))
                    .add(entity::Column::Id.lt(before.as_uuid())),
            )
        }))
    }

    /// The types of the clinic's events `ids`.
    async fn event_types(
        &self,
        tenant: TenantId,
        ids: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, EventType>> {
        let rows: Vec<(Uuid, String)> = events::Entity::find_in_tenant(tenant)
            .filter(events::Column::Id.is_in(ids))
            .select_only()
            .column(events::Column::Id)
            .column(events::Column::EventType)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        rows.into_iter()
            .map(|(id, raw)| {
                Ok((
                    id,
                    EventType::parse(&raw).ok_or_else(|| malformed("event type"))?,
                ))
            })
            .collect()
    }
}

#[async_trait]
impl DeliveryHistory for SeaDeliveryQueue {
    async fn page(
        &self,
        tenant: TenantId,
        target: Target,
        filter: HistoryFilter,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>> {
        let mut select = to_target(tenant, target);
        if let Some(before) = filter.before {
            match self.older_than(tenant, target, before).await? {
                Some(older) => select = select.filter(older),
                None => return Ok(Vec::new()),
            }
        }
        if let Some(status) = filter.status {
            select = select.filter(entity::Column::Status.eq(status.as_str()));
        }
        if let Some(event_type) = filter.event_type {
            let of_type = events::Entity::find_in_tenant(tenant)
                .filter(events::Column::EventType.eq(event_type.as_str()))
                .select_only()
                .column(events::Column::Id)
                .into_query();
            select = select.filter(entity::Column::EventId.in_subquery(of_type));
        }
        let rows = select
            .order_by_desc(entity::Column::CreatedAt)
            .order_by_desc(entity::Column::Id)
            .limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let types = self
            .event_types(tenant, rows.iter().map(|row| row.event_id).collect())
            .await?;
        let mut logs: HashMap<Uuid, Vec<_>> = HashMap::new();
        let attempt_rows = attempts::Entity::find_in_tenant(tenant)
            .filter(attempts::Column::DeliveryId.is_in(rows.iter().map(|row| row.id)))
            .order_by_asc(attempts::Column::AttemptedAt)
            .order_by_asc(attempts::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        for row in attempt_rows {
            logs.entry(row.delivery_id)
                .or_default()
                .push(attempt_to_domain(row)?);
        }
        rows.into_iter()
            .map(|row| {
                let event_type = *types
                    .get(&row.event_id)
                    .ok_or_else(|| malformed("delivery without its event"))?;
                let attempts = logs.remove(&row.id).unwrap_or_default();
                Ok(DeliveryRecord {
                    delivery: delivery_to_domain(row)?,
                    event_type,
                    attempts,
                })
            })
            .collect()
    }

    async fn resend(
        &self,
        tenant: TenantId,
        target: Target,
        delivery: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Resend>> {
        let event: Option<Uuid> = to_target(tenant, target)
            .filter(entity::Column::Id.eq(delivery.as_uuid()))
            .select_only()
            .column(entity::Column::EventId)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(db_error)?;
        let Some(event) = event else {
            return Ok(None);
        };
        let expires_at: Option<DateTime<Utc>> = events::Entity::find_in_tenant(tenant)
            .filter(events::Column::Id.eq(event))
            .select_only()
            .column(events::Column::ExpiresAt)
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(db_error)?;
        match expires_at {
            // Deliveries go with their event, so this is a prune between the two reads.
            None => Ok(None),
            // Expired but not pruned yet: its data may be gone any moment, and it was promised
            // only for the retention.
            Some(expires_at) if expires_at <= now => Ok(Some(Resend::BeyondRetention)),
            Some(_) => {
                let id = DeliveryId::new();
                entity::Entity::insert(pending(id, tenant, event, target, now))
                    .exec_without_returning(&self.db)
                    .await
                    .map_err(db_error)?;
                Ok(Some(Resend::Queued(id)))
            }
        }
    }

    async fn recover(
        &self,
        tenant: TenantId,
        target: Target,
        event_types: &BTreeSet<EventType>,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        max: u64,
    ) -> Result<Recovered> {
        if event_types.is_empty() || max == 0 {
            return Ok(Recovered {
                count: 0,
                truncated: false,
            });
        }
        // Only the ids, one more than allowed to know whether the rest was cut off.
        let mut ids: Vec<Uuid> = events::Entity::find_in_tenant(tenant)
            .filter(events::Column::EventType.is_in(event_types.iter().map(|t| t.as_str())))
            .filter(events::Column::OccurredAt.gte(since))
            .filter(events::Column::ExpiresAt.gt(now))
            .select_only()
            .column(events::Column::Id)
            .order_by_asc(events::Column::OccurredAt)
            .order_by_asc(events::Column::Id)
            .limit(max.saturating_add(1))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let truncated = ids.len() as u64 > max;
        ids.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        // One transaction: a recovery is queued whole or not at all, so asking again after a
        // failure never sends an event twice over.
        let txn = self.db.begin().await.map_err(db_error)?;
        for chunk in ids.chunks(INSERT_CHUNK) {
            entity::Entity::insert_many(
                chunk
                    .iter()
                    .map(|event| pending(DeliveryId::new(), tenant, *event, target, now)),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)?;
        Ok(Recovered {
            count: ids.len() as u64,
            truncated,
        })
    }

    async fn counts_since(
        &self,
        tenant: TenantId,
        kind: OutboundKind,
        since: DateTime<Utc>,
    ) -> Result<HashMap<Uuid, StatusCounts>> {
        let rows: Vec<(Uuid, String, i64)> = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Kind.eq(kind.as_str()))
            .filter(entity::Column::CreatedAt.gte(since))
            .select_only()
            .column(entity::Column::TargetId)
            .column(entity::Column::Status)
            .column_as(entity::Column::Id.count(), "count")
            .group_by(entity::Column::TargetId)
            .group_by(entity::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut counts: HashMap<Uuid, StatusCounts> = HashMap::new();
        for (target, status, count) in rows {
            let status =
                DeliveryStatus::parse(&status).ok_or_else(|| malformed("delivery status"))?;
            counts
                .entry(target)
                .or_default()
                .add(status, u64::try_from(count).unwrap_or(0));
        }
        Ok(counts)
    }

    async fn oldest_pending(
        &self,
        tenant: TenantId,
        kind: OutboundKind,
    ) -> Result<Option<DateTime<Utc>>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Kind.eq(kind.as_str()))
            .filter(entity::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .select_only()
            .column_as(entity::Column::CreatedAt.min(), "oldest")
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(&self.db)
            .await
            .map_err(db_error)
            .map(Option::flatten)
    }
}
