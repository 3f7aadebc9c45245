//! The polling schedule: which clinics are polled, when each is next due, and which instance
//! holds each one's lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clinicgate_core::ids::TenantId;
use clinicgate_core::polling::{PollClaim, PollLease, Release};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{
    Condition, Expr, ExprTrait as _, LockBehavior, LockType, OnConflict, Query,
};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, Order, QueryFilter as _, Set,
    UpdateMany,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};
use crate::poll_clinics::entity;

/// Clinics written per statement when filling the schedule.
const SCHEDULE_BATCH: usize = 500;

fn to_chrono(duration: Duration) -> Result<chrono::Duration> {
    chrono::Duration::from_std(duration).map_err(Error::internal)
}

pub(super) async fn schedule(
    db: &DatabaseConnection,
    tenants: &[TenantId],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in tenants.chunks(SCHEDULE_BATCH) {
        let rows = chunk.iter().map(|tenant| entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            enabled: Set(true),
            next_poll_at: Set(now),
            lease_id: Set(None),
            lease_owner: Set(None),
            lease_until: Set(None),
            last_polled_at: Set(None),
            last_success_at: Set(None),
            last_outcome: Set(None),
            failures: Set(0),
            created_at: Set(now),
        });
        // A clinic already scheduled keeps its state; one that was stopped is polled again.
        entity::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(entity::Column::TenantId)
                    .update_column(entity::Column::Enabled)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

pub(super) async fn claim(
    db: &DatabaseConnection,
    owner: &str,
    now: DateTime<Utc>,
    lease_for: Duration,
    limit: u32,
) -> Result<Vec<PollClaim>> {
    let lease = PollLease::new();
    let clinic = entity::Entity::tenant_column(Across::Polling);
    let due = Query::select()
        .column(clinic)
        .from(entity::Entity)
        .and_where(entity::Column::Enabled.eq(true))
        .and_where(entity::Column::NextPollAt.lte(now))
        .cond_where(
            Condition::any()
                .add(entity::Column::LeaseUntil.is_null())
                .add(entity::Column::LeaseUntil.lte(now)),
        )
        .order_by(entity::Column::NextPollAt, Order::Asc)
        .limit(u64::from(limit))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let owner: String = owner.chars().take(64).collect();
    let claimed = entity::Entity::update_many_across_tenants(Across::Polling)
        .col_expr(entity::Column::LeaseId, Expr::value(lease.as_uuid()))
        .col_expr(entity::Column::LeaseOwner, Expr::value(owner))
        .col_expr(
            entity::Column::LeaseUntil,
            Expr::value(now + to_chrono(lease_for)?),
        )
        .filter(clinic.in_subquery(due))
        .exec_with_returning(db)
        .await
        .map_err(db_error)?;
    Ok(claimed
        .into_iter()
        .map(|row| PollClaim {
            tenant_id: TenantId::from_uuid(row.tenant_id),
            lease,
            last_success_at: row.last_success_at,
            failures: u32::try_from(row.failures).unwrap_or(0),
        })
        .collect())
}

pub(super) async fn release(
    db: &DatabaseConnection,
    claim: &PollClaim,
    release: Release,
) -> Result<bool> {
    let failures = if release.failed {
        Expr::col(entity::Column::Failures).add(1)
    } else {
        Expr::value(0)
    };
    let update = end_claim(
        claim.tenant_id,
        claim.lease,
        release.next_poll_at,
        release.outcome,
    )
    .col_expr(entity::Column::Failures, failures)
    .col_expr(entity::Column::Enabled, Expr::value(!release.disable))
    .exec(db)
    .await
    .map_err(db_error)?;
    Ok(update.rows_affected == 1)
}

pub(super) async fn last_successes(
    db: &DatabaseConnection,
) -> Result<Vec<(TenantId, Option<DateTime<Utc>>)>> {
    Ok(entity::Entity::find_across_tenants(Across::Polling)
        .filter(entity::Column::Enabled.eq(true))
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| (TenantId::from_uuid(row.tenant_id), row.last_success_at))
        .collect())
}

/// The update that ends `lease`'s claim of `tenant`, due again at `next_poll_at`, with
/// `outcome`: it changes nothing unless the lease is still the one claimed.
fn end_claim(
    tenant: TenantId,
    lease: PollLease,
    next_poll_at: DateTime<Utc>,
    outcome: &'static str,
) -> UpdateMany<entity::Entity> {
    entity::Entity::update_many_in_tenant(tenant)
        .col_expr(
            entity::Column::LeaseId,
            Expr::value(Option::<uuid::Uuid>::None),
        )
        .col_expr(
            entity::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            entity::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(entity::Column::NextPollAt, Expr::value(next_poll_at))
        .col_expr(entity::Column::LastPolledAt, Expr::value(Utc::now()))
        .col_expr(entity::Column::LastOutcome, Expr::value(outcome))
        .filter(entity::Column::LeaseId.eq(lease.as_uuid()))
}

/// The update that ends a successful poll's claim (in its commit's transaction).
pub(super) fn finish(
    tenant: TenantId,
    lease: PollLease,
    next_poll_at: DateTime<Utc>,
) -> UpdateMany<entity::Entity> {
    end_claim(tenant, lease, next_poll_at, "ok")
        .col_expr(entity::Column::LastSuccessAt, Expr::value(Utc::now()))
        .col_expr(entity::Column::Failures, Expr::value(0))
}
