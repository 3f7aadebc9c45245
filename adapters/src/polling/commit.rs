//! Committing a poll (or one of ClinicGate's own writes): snapshots, cursors, marks, events and
//! their deliveries in one transaction, or nothing.

use chrono::Utc;
use clinicgate_core::Result;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::TenantId;
use clinicgate_core::polling::{Committed, Expect, Fingerprint, PollCommit};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait as _,
    QueryFilter as _, Set, SqlErr, TransactionTrait as _,
};

use super::{entity, rows, schedule};
use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;
use crate::deliveries::insert_event;
use crate::poll_cursors::entity as cursors;
use crate::poll_marks::entity as marks;
use crate::poll_phone_keys::entity as phone_keys;

/// Why a commit stopped without storing anything.
enum Stop {
    /// A check failed: report it.
    Refused(Committed),
    /// The database failed.
    Failed(clinicgate_core::Error),
}

impl From<DbErr> for Stop {
    #[track_caller]
    fn from(err: DbErr) -> Self {
        // A row inserted meanwhile by the other writer: its revision is newer than ours.
        if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            Self::Refused(Committed::Conflict)
        } else {
            Self::Failed(db_error(err))
        }
    }
}

impl From<clinicgate_core::Error> for Stop {
    fn from(err: clinicgate_core::Error) -> Self {
        Self::Failed(err)
    }
}

pub(super) async fn commit(
    db: &DatabaseConnection,
    tenant: TenantId,
    mut commit: PollCommit,
) -> Result<Committed> {
    // One order for every writer, so two transactions on PostgreSQL never wait on each other's
    // rows in opposite orders.
    commit
        .snapshots
        .sort_by(|(a, _), (b, _)| (a.resource, &a.record_id).cmp(&(b.resource, &b.record_id)));
    commit
        .marks
        .sort_by(|(a, _), (b, _)| (a.kind.as_str(), &a.key).cmp(&(b.kind.as_str(), &b.key)));
    let txn = db.begin().await.map_err(db_error)?;
    match write(&txn, tenant, &commit).await {
        Ok(()) => {
            txn.commit().await.map_err(db_error)?;
            Ok(Committed::Done)
        }
        // Dropping the transaction rolls it back.
        Err(Stop::Refused(why)) => Ok(why),
        Err(Stop::Failed(err)) => Err(err),
    }
}

async fn write(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    commit: &PollCommit,
) -> Result<(), Stop> {
    if let Some(lease) = commit.lease {
        let next = commit.next_poll_at.unwrap_or_else(Utc::now);
        let finished = schedule::finish(tenant, lease, next).exec(txn).await?;
        if finished.rows_affected != 1 {
            return Err(Stop::Refused(Committed::LeaseLost));
        }
    }
    for (snapshot, expect) in &commit.snapshots {
        match *expect {
            Expect::Absent => {
                entity::Entity::insert(rows::snapshot_row(tenant, snapshot, 0)?)
                    .exec_without_returning(txn)
                    .await?;
            }
            Expect::Revision(revision) => {
                let updated = entity::Entity::update_many_in_tenant(tenant)
                    .set(rows::snapshot_row(tenant, snapshot, revision + 1)?)
                    .filter(entity::Column::Resource.eq(snapshot.resource.as_str()))
                    .filter(entity::Column::RecordId.eq(snapshot.record_id.as_str()))
                    .filter(entity::Column::Revision.eq(revision))
                    .exec(txn)
                    .await?;
                if updated.rows_affected != 1 {
                    return Err(Stop::Refused(Committed::Conflict));
                }
            }
        }
    }
    for (snapshot, _) in &commit.snapshots {
        if let Some(keys) = &snapshot.phone_keys {
            write_phone_keys(txn, tenant, &snapshot.record_id, keys).await?;
        }
    }
    for cursor in &commit.cursors {
        let updated = cursors::Entity::update_many_in_tenant(tenant)
            .set(rows::cursor_row(tenant, cursor))
            .filter(cursors::Column::Resource.eq(cursor.resource.as_str()))
            .exec(txn)
            .await?;
        if updated.rows_affected == 0 {
            cursors::Entity::insert(rows::cursor_row(tenant, cursor))
                .exec_without_returning(txn)
                .await?;
        }
    }
    for (mark, expect) in &commit.marks {
        match *expect {
            Expect::Absent => {
                marks::Entity::insert(rows::mark_row(tenant, mark, 0))
                    .exec_without_returning(txn)
                    .await?;
            }
            Expect::Revision(revision) => {
                let updated = marks::Entity::update_many_in_tenant(tenant)
                    .set(rows::mark_row(tenant, mark, revision + 1))
                    .filter(marks::Column::Kind.eq(mark.kind.as_str()))
                    .filter(marks::Column::MarkKey.eq(mark.key.as_str()))
                    .filter(marks::Column::Revision.eq(revision))
                    .exec(txn)
                    .await?;
                if updated.rows_affected != 1 {
                    return Err(Stop::Refused(Committed::Conflict));
                }
            }
        }
    }
    for prepared in &commit.events {
        insert_event(txn, &prepared.event, &prepared.targets).await?;
    }
    Ok(())
}

/// Replaces a patient's phone keys with `keys`.
async fn write_phone_keys(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    patient: &ClinikoId,
    keys: &[Fingerprint],
) -> Result<(), Stop> {
    phone_keys::Entity::delete_many_in_tenant(tenant)
        .filter(phone_keys::Column::RecordId.eq(patient.as_str()))
        .exec(txn)
        .await?;
    if !keys.is_empty() {
        let rows = keys.iter().map(|key| phone_keys::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            record_id: Set(patient.as_str().to_owned()),
            phone_key: Set(key.as_bytes().to_vec()),
        });
        phone_keys::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
