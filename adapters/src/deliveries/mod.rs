//! The durable delivery queue ([`DeliveryQueue`]) over the database: events, their deliveries and
//! the attempt log, shared by every instance.
//!
//! A claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`: on
//! PostgreSQL concurrent workers skip each other's rows instead of waiting for them, and a row
//! claimed meanwhile is re-checked against the lease condition, so no two live claims hold one
//! delivery. SQLite has no row locks (the clause is left out) and runs one writer at a time,
//! which makes the same statement atomic there.
//!
//! The same struct is the [`DeliveryHistory`](clinicgate_core::delivery::DeliveryHistory) a
//! target's owner reads and resends from (`history`).

pub(crate) mod entity;
mod history;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::delivery::{
    AttemptRecord, AttemptResult, Attempted, Claimed, Delivery, DeliveryId, DeliveryQueue,
    DeliveryStatus, EventId, LeaseId, NOTHING_TO_SEND, Next, OutboundKind, QueueStats, StoredEvent,
    Target, TransportFailure,
};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{
    CaseStatement, Condition, Expr, ExprTrait as _, LockBehavior, LockType, Query,
};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait as _,
    Order, QueryFilter as _, QueryOrder as _, QuerySelect as _, Set, TransactionTrait as _,
    UpdateMany,
};

use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};
use crate::db::{all_to_domain, db_error};
use crate::delivery_attempts::entity as attempts;
use crate::events::entity as events;

/// [`DeliveryQueue`] over the database.
#[derive(Debug, Clone)]
pub struct SeaDeliveryQueue {
    db: DatabaseConnection,
}

impl SeaDeliveryQueue {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored {what} is malformed"))
}

fn event_to_domain(row: events::Model) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: EventId::from_uuid(row.id),
        tenant_id: TenantId::from_uuid(row.tenant_id),
        event_type: EventType::parse(&row.event_type).ok_or_else(|| malformed("event type"))?,
        occurred_at: row.occurred_at,
        data: SealedSecret {
            ciphertext: row.data,
            key_version: row.data_key_version,
        },
        expires_at: row.expires_at,
    })
}

fn delivery_to_domain(row: entity::Model) -> Result<Delivery> {
    Ok(Delivery {
        id: DeliveryId::from_uuid(row.id),
        tenant_id: TenantId::from_uuid(row.tenant_id),
        event_id: EventId::from_uuid(row.event_id),
        target: Target {
            kind: OutboundKind::parse(&row.kind).ok_or_else(|| malformed("delivery kind"))?,
            id: row.target_id,
        },
        status: DeliveryStatus::parse(&row.status).ok_or_else(|| malformed("delivery status"))?,
        attempts: u32::try_from(row.attempts).map_err(|_| malformed("attempt count"))?,
        next_attempt_at: row.next_attempt_at,
        created_at: row.created_at,
        finished_at: row.finished_at,
    })
}

fn attempt_to_domain(row: attempts::Model) -> Result<AttemptRecord> {
    let result = match (row.status_code, row.error_class.as_deref()) {
        (Some(status), None) => AttemptResult::Answered {
            status: u16::try_from(status).map_err(|_| malformed("status code"))?,
            retry_after: None,
        },
        (None, Some(NOTHING_TO_SEND)) => AttemptResult::NothingToSend,
        (None, Some(class)) => AttemptResult::Failed(
            TransportFailure::parse(class).ok_or_else(|| malformed("error class"))?,
        ),
        _ => return Err(malformed("attempt")),
    };
    Ok(AttemptRecord {
        attempted_at: row.attempted_at,
        result,
        latency: Duration::from_millis(u64::try_from(row.latency_ms).unwrap_or(0)),
        response_excerpt: row.response_excerpt,
    })
}

/// Attempt rows per insert statement: well under SQLite's limit of bound parameters.
const ATTEMPT_ROWS_PER_INSERT: usize = 500;

/// The attempt-log row of `attempt` of `delivery`.
fn attempt_row(delivery: &Delivery, attempt: &AttemptRecord) -> attempts::ActiveModel {
    let (status_code, error_class) = attempt.result.parts();
    attempts::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(delivery.tenant_id.as_uuid()),
        delivery_id: Set(delivery.id.as_uuid()),
        attempted_at: Set(attempt.attempted_at),
        status_code: Set(status_code.map(i32::from)),
        error_class: Set(error_class.map(str::to_owned)),
        latency_ms: Set(i64::try_from(attempt.latency.as_millis()).unwrap_or(i64::MAX)),
        response_excerpt: Set(attempt.response_excerpt.clone()),
    }
}

/// What `next` makes of a delivery attempted at `at`: its status, when it is due again (a
/// retry) and when it finished (delivered or given up).
fn settled(
    next: Next,
    at: DateTime<Utc>,
) -> (DeliveryStatus, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match next {
        Next::Delivered => (DeliveryStatus::Delivered, None, Some(at)),
        Next::Failed => (DeliveryStatus::Failed, None, Some(at)),
        Next::RetryAt(due) => (DeliveryStatus::Pending, Some(due), None),
    }
}

/// `update` with the lease released.
fn without_lease(update: UpdateMany<entity::Entity>) -> UpdateMany<entity::Entity> {
    update
        .col_expr(
            entity::Column::LeaseId,
            Expr::value(Option::<uuid::Uuid>::None),
        )
        .col_expr(
            entity::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// The update that settles a claimed delivery as `next` says (at `at`) and releases its lease;
/// it changes nothing unless the claim is still held.
fn settle(claimed: &Claimed, next: Next, at: DateTime<Utc>) -> UpdateMany<entity::Entity> {
    let delivery = &claimed.delivery;
    let (status, next_attempt_at, finished_at) = settled(next, at);
    let update = without_lease(entity::Entity::update_many_in_tenant(delivery.tenant_id))
        .col_expr(entity::Column::Status, Expr::value(status.as_str()))
        .col_expr(entity::Column::FinishedAt, Expr::value(finished_at))
        .filter(entity::Column::Id.eq(delivery.id.as_uuid()))
        .filter(entity::Column::LeaseId.eq(claimed.lease.as_uuid()));
    match next_attempt_at {
        Some(due) => update.col_expr(entity::Column::NextAttemptAt, Expr::value(due)),
        None => update,
    }
}

/// The one update that settles `rows`, attempts of deliveries of clinic `tenant` claimed under
/// `lease`, each as its `next` says, counting the attempt; a row whose claim is no longer held
/// is left alone (and not returned).
fn settle_claim(
    rows: &[&Attempted],
    tenant: TenantId,
    lease: uuid::Uuid,
) -> UpdateMany<entity::Entity> {
    // Each column's new value per row, picked by the row's id (`CASE id WHEN …`): the values
    // differ per attempt, and one statement is what makes the batch cheap.
    let per_row = |column: entity::Column, value: &dyn Fn(&Attempted) -> Option<sea_orm::Value>| {
        let mut case: Option<CaseStatement> = None;
        for a in rows {
            if let Some(value) = value(a) {
                let when = entity::Column::Id.eq(a.claimed.delivery.id.as_uuid());
                case = Some(match case {
                    None => Expr::case(when, Expr::val(value)),
                    Some(case) => case.case(when, Expr::val(value)),
                });
            }
        }
        case.map_or_else(
            || Expr::col(column),
            |case| case.finally(Expr::col(column)).into(),
        )
    };
    let of = |a: &Attempted| settled(a.next, a.attempt.attempted_at);
    let status = |a: &Attempted| Some(of(a).0.as_str().into());
    let next_attempt_at = |a: &Attempted| of(a).1.map(Into::into);
    let finished_at = |a: &Attempted| Some(of(a).2.into());
    without_lease(entity::Entity::update_many_in_tenant(tenant))
        .col_expr(
            entity::Column::Status,
            per_row(entity::Column::Status, &status),
        )
        .col_expr(
            entity::Column::FinishedAt,
            per_row(entity::Column::FinishedAt, &finished_at),
        )
        .col_expr(
            entity::Column::NextAttemptAt,
            per_row(entity::Column::NextAttemptAt, &next_attempt_at),
        )
        .col_expr(
            entity::Column::Attempts,
            Expr::col(entity::Column::Attempts).add(1),
        )
        .filter(entity::Column::Id.is_in(rows.iter().map(|a| a.claimed.delivery.id.as_uuid())))
        .filter(entity::Column::LeaseId.eq(lease))
}

/// Writes `event` and one pending delivery per target, due at once, on `conn`: the caller's
/// transaction, so a source that stores rows of its own with its events (the Cliniko poller's
/// snapshots and cursors) commits them together. The one place these rows are written.
pub(crate) async fn insert_event<C: ConnectionTrait>(
    conn: &C,
    event: &StoredEvent,
    targets: &[Target],
) -> Result<Vec<DeliveryId>> {
    let ids: Vec<DeliveryId> = targets.iter().map(|_| DeliveryId::new()).collect();
    let created_at = Utc::now();
    events::Entity::insert(events::ActiveModel {
        id: Set(event.id.as_uuid()),
        tenant_id: Set(event.tenant_id.as_uuid()),
        event_type: Set(event.event_type.as_str().to_owned()),
        occurred_at: Set(event.occurred_at),
        data: Set(event.data.ciphertext.clone()),
        data_key_version: Set(event.data.key_version),
        expires_at: Set(event.expires_at),
    })
    .exec_without_returning(conn)
    .await
    .map_err(db_error)?;
    if !targets.is_empty() {
        let rows = ids
            .iter()
            .zip(targets)
            .map(|(id, target)| entity::ActiveModel {
                id: Set(id.as_uuid()),
                tenant_id: Set(event.tenant_id.as_uuid()),
                event_id: Set(event.id.as_uuid()),
                kind: Set(target.kind.as_str().to_owned()),
                target_id: Set(target.id),
                status: Set(DeliveryStatus::Pending.as_str().to_owned()),
                attempts: Set(0),
                next_attempt_at: Set(created_at),
                lease_id: Set(None),
                lease_until: Set(None),
                created_at: Set(created_at),
                finished_at: Set(None),
            });
        entity::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await
            .map_err(db_error)?;
    }
    Ok(ids)
}

fn to_chrono(duration: Duration) -> Result<chrono::Duration> {
    chrono::Duration::from_std(duration).map_err(Error::internal)
}

#[async_trait]
impl DeliveryQueue for SeaDeliveryQueue {
    async fn append(&self, event: &StoredEvent, targets: &[Target]) -> Result<Vec<DeliveryId>> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let ids = insert_event(&txn, event, targets).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(ids)
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let lease = LeaseId::new();
        let due = Query::select()
            .column(entity::Column::Id)
            .from(entity::Entity)
            .and_where(entity::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .and_where(entity::Column::NextAttemptAt.lte(now))
            .cond_where(
                Condition::any()
                    .add(entity::Column::LeaseUntil.is_null())
                    .add(entity::Column::LeaseUntil.lte(now)),
            )
            // Held while the clinic has its client (or all integrations) suspended: never
            // claimed, so never attempted nor failed, and due in creation order on resume.
            .cond_where(crate::suspensions::held_by_suspension().not())
            .order_by(entity::Column::NextAttemptAt, Order::Asc)
            .limit(u64::from(limit))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let update = entity::Entity::update_many_across_tenants(Across::Delivery)
            .col_expr(entity::Column::LeaseId, Expr::value(lease.as_uuid()))
            .col_expr(
                entity::Column::LeaseUntil,
                Expr::value(now + to_chrono(lease_for)?),
            )
            .filter(entity::Column::Id.in_subquery(due));
        let claimed = if self.db.get_database_backend() == DatabaseBackend::Postgres {
            // A queue grows by bursts faster than autovacuum re-analyzes it; with statistics from
            // before a burst the planner expects a handful of pending rows and reads and sorts
            // all of them for each claim (16-23 ms from a backlog of 33 000, against 1.5 ms
            // walking the pending index in order; see BENCHMARKS.md). Sorting is what the
            // ordered index makes unnecessary, so this one statement is planned without it.
            let txn = self.db.begin().await.map_err(db_error)?;
            txn.execute_unprepared("SET LOCAL enable_sort = off")
                .await
                .map_err(db_error)?;
            let claimed = update.exec_with_returning(&txn).await.map_err(db_error)?;
            txn.commit().await.map_err(db_error)?;
            claimed
        } else {
            update
                .exec_with_returning(&self.db)
                .await
                .map_err(db_error)?
        };
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let event_ids: Vec<_> = claimed.iter().map(|row| row.event_id).collect();
        let events = all_to_domain(
            events::Entity::find_across_tenants(Across::Delivery)
                .filter(events::Column::Id.is_in(event_ids)),
            &self.db,
            event_to_domain,
        )
        .await?;
        let mut out = Vec::with_capacity(claimed.len());
        for row in claimed {
            let delivery = delivery_to_domain(row)?;
            let event = events
                .iter()
                .find(|event| event.id == delivery.event_id)
                .cloned()
                .ok_or_else(|| malformed("delivery without its event"))?;
            out.push(Claimed {
                delivery,
                event,
                lease,
            });
        }
        out.sort_by_key(|c| (c.delivery.next_attempt_at, c.delivery.id));
        Ok(out)
    }

    async fn record(&self, claimed: &Claimed, attempt: &AttemptRecord, next: Next) -> Result<bool> {
        let attempted = [Attempted {
            claimed: claimed.clone(),
            attempt: attempt.clone(),
            next,
        }];
        Ok(self.record_all(&attempted).await?[0])
    }

    async fn record_all(&self, attempted: &[Attempted]) -> Result<Vec<bool>> {
        // One update per claim (a clinic's deliveries under one lease) rather than one per
        // attempt: a round trip per delivery was most of the database's work for a webhook
        // (see BENCHMARKS.md). Claims are settled in lease order and each update names its rows
        // in id order, so two workers settling overlapping claims (one holding a lease that ran
        // out) lock rows in one order.
        let mut claims: BTreeMap<(uuid::Uuid, uuid::Uuid), Vec<usize>> = BTreeMap::new();
        for (i, a) in attempted.iter().enumerate() {
            let key = (
                a.claimed.lease.as_uuid(),
                a.claimed.delivery.tenant_id.as_uuid(),
            );
            claims.entry(key).or_default().push(i);
        }
        let mut recorded = vec![false; attempted.len()];
        let txn = self.db.begin().await.map_err(db_error)?;
        for ((lease, tenant), mut members) in claims {
            members.sort_by_key(|&i| attempted[i].claimed.delivery.id.as_uuid());
            let rows: Vec<&Attempted> = members.iter().map(|&i| &attempted[i]).collect();
            let settled: HashSet<uuid::Uuid> =
                settle_claim(&rows, TenantId::from_uuid(tenant), lease)
                    .exec_with_returning(&txn)
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .map(|row| row.id)
                    .collect();
            // Missing: the lease ran out and another worker holds the delivery now; its attempt
            // counts.
            for i in members {
                recorded[i] = settled.contains(&attempted[i].claimed.delivery.id.as_uuid());
            }
        }
        let rows: Vec<attempts::ActiveModel> = attempted
            .iter()
            .zip(&recorded)
            .filter(|(_, recorded)| **recorded)
            .map(|(a, _)| attempt_row(&a.claimed.delivery, &a.attempt))
            .collect();
        for chunk in rows.chunks(ATTEMPT_ROWS_PER_INSERT) {
            attempts::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)?;
        Ok(recorded)
    }

    async fn release(&self, claimed: &Claimed, next: Next) -> Result<bool> {
        let released = settle(claimed, next, Utc::now())
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(released.rows_affected == 1)
    }

    async fn prune(&self, now: DateTime<Utc>, limit: u64) -> Result<u64> {
        let expired = Query::select()
            .column(events::Column::Id)
            .from(events::Entity)
            .and_where(events::Column::ExpiresAt.lte(now))
            .limit(limit)
            .to_owned();
        // Deliveries and their attempts go with their event (foreign keys cascade).
        let pruned = events::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(events::Column::Id.in_subquery(expired))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(pruned.rows_affected)
    }

    async fn stats(&self) -> Result<QueueStats> {
        let row: Option<(i64, Option<DateTime<Utc>>)> =
            entity::Entity::find_across_tenants(Across::Delivery)
                .select_only()
                .column_as(entity::Column::Id.count(), "pending")
                .column_as(entity::Column::CreatedAt.min(), "oldest")
                .filter(entity::Column::Status.eq(DeliveryStatus::Pending.as_str()))
                .into_tuple()
                .one(&self.db)
                .await
                .map_err(db_error)?;
        let (pending, oldest_pending) = row.unwrap_or((0, None));
        Ok(QueueStats {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_pending,
        })
    }

    async fn deliveries(
        &self,
        tenant: TenantId,
        target: Target,
        limit: u64,
    ) -> Result<Vec<Delivery>> {
        let select = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Kind.eq(target.kind.as_str()))
            .filter(entity::Column::TargetId.eq(target.id))
            .order_by_desc(entity::Column::CreatedAt)
            .order_by_desc(entity::Column::Id)
            .limit(limit);
        all_to_domain(select, &self.db, delivery_to_domain).await
    }

    async fn attempts(&self, tenant: TenantId, delivery: DeliveryId) -> Result<Vec<AttemptRecord>> {
        let select = attempts::Entity::find_in_tenant(tenant)
            .filter(attempts::Column::DeliveryId.eq(delivery.as_uuid()))
            .order_by_asc(attempts::Column::AttemptedAt)
            .order_by_asc(attempts::Column::Id);
        all_to_domain(select, &self.db, attempt_to_domain).await
    }
}
