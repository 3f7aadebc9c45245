//! The Cliniko poller's state over the database ([`PollStore`]), shared by every instance.
//!
//! - The schedule (`poll_clinics`) is claimed like the delivery queue: one
//!   `UPDATE … WHERE tenant_id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …` takes the leases
//!   of due clinics whose lease is free or ran out, so concurrent instances skip each other's
//!   clinics on PostgreSQL, and SQLite's single writer makes the statement atomic.
//! - A commit ([`commit`]) is one transaction: it first releases the poll's lease — only if it
//!   is still the one claimed — then writes snapshots and marks only at the revision they were
//!   read at, the cursors, and the events with their deliveries. Any of those checks failing
//!   rolls everything back.

mod commit;
pub(crate) mod entity;
mod rows;
mod schedule;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use clinicgate_core::Result;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::TenantId;
use clinicgate_core::polling::{
    Committed, Cursor, Fingerprint, Mark, MarkKind, PhoneLookup, PollClaim, PollCommit, PollStore,
    Release, Resource, Snapshot,
};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Select,
};

use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};
use crate::db::{all_to_domain, db_error};
use crate::poll_clinics::entity as clinics;
use crate::poll_cursors::entity as cursors;
use crate::poll_marks::entity as marks;
use crate::poll_phone_keys::entity as phone_keys;

/// Ids asked for per query: far below every backend's limit on bound parameters.
const IDS_PER_QUERY: usize = 500;

/// The rows `select` finds for `keys`, asked for [`IDS_PER_QUERY`] keys at a time.
async fn in_chunks<K, E: EntityTrait, T>(
    db: &DatabaseConnection,
    keys: &[K],
    select: impl Fn(&[K]) -> Select<E>,
    to_domain: fn(E::Model) -> Result<T>,
) -> Result<Vec<T>> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(IDS_PER_QUERY) {
        found.extend(all_to_domain(select(chunk), db, to_domain).await?);
    }
    Ok(found)
}

/// [`PollStore`] over the database.
#[derive(Debug, Clone)]
pub struct SeaPollStore {
    db: DatabaseConnection,
}

impl SeaPollStore {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl PollStore for SeaPollStore {
    async fn schedule(&self, tenants: &[TenantId], now: DateTime<Utc>) -> Result<()> {
        schedule::schedule(&self.db, tenants, now).await
    }

    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<PollClaim>> {
        schedule::claim(&self.db, owner, now, lease_for, limit).await
    }

    async fn release(&self, claim: &PollClaim, release: Release) -> Result<bool> {
        schedule::release(&self.db, claim, release).await
    }

    async fn last_successes(&self) -> Result<Vec<(TenantId, Option<DateTime<Utc>>)>> {
        schedule::last_successes(&self.db).await
    }

    async fn cursors(&self, tenant: TenantId) -> Result<Vec<Cursor>> {
        all_to_domain(
            cursors::Entity::find_in_tenant(tenant),
            &self.db,
            rows::cursor_to_domain,
        )
        .await
    }

    async fn snapshots(
        &self,
        tenant: TenantId,
        resource: Resource,
        ids: &[ClinikoId],
    ) -> Result<Vec<Snapshot>> {
        let select = |chunk: &[ClinikoId]| {
            entity::Entity::find_in_tenant(tenant)
                .filter(entity::Column::Resource.eq(resource.as_str()))
                .filter(entity::Column::RecordId.is_in(chunk.iter().map(ClinikoId::as_str)))
        };
        in_chunks(&self.db, ids, select, rows::snapshot_to_domain).await
    }

    async fn due_snapshots(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Snapshot>> {
        let select = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::DueAt.lte(now))
            .order_by_asc(entity::Column::DueAt)
            .limit(limit);
        all_to_domain(select, &self.db, rows::snapshot_to_domain).await
    }

    async fn queue_members(
        &self,
        tenant: TenantId,
        doctor: &ClinikoId,
        day: NaiveDate,
    ) -> Result<Vec<Snapshot>> {
        let select = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::DoctorId.eq(doctor.as_str()))
            .filter(entity::Column::QueueDay.eq(day.format("%Y-%m-%d").to_string()));
        all_to_domain(select, &self.db, rows::snapshot_to_domain).await
    }

    async fn marks(&self, tenant: TenantId, kind: MarkKind, keys: &[String]) -> Result<Vec<Mark>> {
        let select = |chunk: &[String]| {
            marks::Entity::find_in_tenant(tenant)
                .filter(marks::Column::Kind.eq(kind.as_str()))
                .filter(marks::Column::MarkKey.is_in(chunk.iter().map(String::as_str)))
        };
        in_chunks(&self.db, keys, select, rows::mark_to_domain).await
    }

    async fn due_marks(
        &self,
        tenant: TenantId,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Mark>> {
        let select = marks::Entity::find_in_tenant(tenant)
            .filter(marks::Column::DueAt.lte(now))
            .order_by_asc(marks::Column::DueAt)
            .limit(limit);
        all_to_domain(select, &self.db, rows::mark_to_domain).await
    }

    async fn patients_by_phone(
        &self,
        tenant: TenantId,
        keys: &[Fingerprint],
        fresh_since: DateTime<Utc>,
    ) -> Result<PhoneLookup> {
        let polled = clinics::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?;
        match polled {
            // Not scheduled yet, or scheduled and never polled: a clinic connected moments ago.
            None => return Ok(PhoneLookup::Indexing),
            Some(c) if c.enabled && c.last_success_at.is_none() => {
                return Ok(PhoneLookup::Indexing);
            }
            Some(c) if !c.enabled || c.last_success_at < Some(fresh_since) => {
                return Ok(PhoneLookup::Stale);
            }
            Some(_) => {}
        }
        let patients = cursors::Entity::find_in_tenant(tenant)
            .filter(cursors::Column::Resource.eq(Resource::Patients.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        if !patients.is_some_and(|cursor| cursor.phones_indexed) {
            return Ok(PhoneLookup::Indexing);
        }
        let select = |chunk: &[Fingerprint]| {
            phone_keys::Entity::find_in_tenant(tenant).filter(
                phone_keys::Column::PhoneKey.is_in(chunk.iter().map(|k| k.as_bytes().to_vec())),
            )
        };
        let mut ids: Vec<ClinikoId> = in_chunks(&self.db, keys, select, |row| {
            rows::cliniko_id(&row.record_id)
        })
        .await?;
        ids.sort();
        ids.dedup();
        Ok(PhoneLookup::Ready(ids))
    }

    async fn commit(&self, tenant: TenantId, commit: PollCommit) -> Result<Committed> {
        commit::commit(&self.db, tenant, commit).await
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64> {
        // Rows expire a few at a time (a day's appointments per clinic), so one statement each
        // stays short.
        let snapshots = entity::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(entity::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        let marks = marks::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(marks::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(snapshots.rows_affected + marks.rows_affected)
    }
}
