//! Usage counters over the database ([`UsageStore`]): every instance's flush is one upsert per
//! bucket that *adds* to the stored counts (`… ON CONFLICT DO UPDATE SET requests =
//! usage_counters.requests + excluded.requests, …`), the same statement on SQLite and PostgreSQL,
//! so concurrent instances never overwrite each other's counts.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::ids::TenantId;
use clinicgate_core::tokens::ClientId;
use clinicgate_core::usage::{UsageBucket, UsageCounts, UsageStore};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _, Set,
    TransactionTrait as _,
};

use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};
use crate::db::{all_to_domain, db_error};
use entity::Column;

/// Rows per insert statement: 10 values each, well under SQLite's limit of bound parameters.
const ROWS_PER_INSERT: usize = 500;

/// The counted columns, each added to on conflict.
const COUNTS: [Column; 7] = [
    Column::Requests,
    Column::ClientErrors,
    Column::ServerErrors,
    Column::RateLimited,
    Column::ClinikoInteractive,
    Column::ClinikoApi,
    Column::ClinikoBackground,
];

/// [`UsageStore`] over the database.
#[derive(Debug, Clone)]
pub struct SeaUsageStore {
    db: DatabaseConnection,
}

impl SeaUsageStore {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A count as stored (counts of one instance's few seconds never come near `i64::MAX`).
fn stored(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn count(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

fn row(bucket: &UsageBucket) -> entity::ActiveModel {
    let counts = &bucket.counts;
    entity::ActiveModel {
        tenant_id: Set(bucket.tenant_id.as_uuid()),
        client_id: Set(bucket
            .client_id
            .as_ref()
            .map_or_else(String::new, |id| id.as_str().to_owned())),
        minute: Set(bucket.minute),
        requests: Set(stored(counts.requests)),
        client_errors: Set(stored(counts.client_errors)),
        server_errors: Set(stored(counts.server_errors)),
        rate_limited: Set(stored(counts.rate_limited)),
        cliniko_interactive: Set(stored(counts.cliniko_interactive)),
        cliniko_api: Set(stored(counts.cliniko_api)),
        cliniko_background: Set(stored(counts.cliniko_background)),
    }
}

fn to_domain(row: entity::Model) -> Result<UsageBucket> {
    let client_id = match row.client_id.as_str() {
        "" => None,
        raw => Some(
            ClientId::parse(raw)
                .ok_or_else(|| Error::internal("a stored usage client id is malformed"))?,
        ),
    };
    Ok(UsageBucket {
        tenant_id: TenantId::from_uuid(row.tenant_id),
        client_id,
        minute: row.minute,
        counts: UsageCounts {
            requests: count(row.requests),
            client_errors: count(row.client_errors),
            server_errors: count(row.server_errors),
            rate_limited: count(row.rate_limited),
            cliniko_interactive: count(row.cliniko_interactive),
            cliniko_api: count(row.cliniko_api),
            cliniko_background: count(row.cliniko_background),
        },
    })
}

/// `ON CONFLICT (clinic, client, minute) DO UPDATE SET c = usage_counters.c + excluded.c` for
/// every count: the row becomes the sum of what every instance added.
fn add_on_conflict() -> OnConflict {
    let mut upsert = OnConflict::columns([Column::TenantId, Column::ClientId, Column::Minute]);
    for column in COUNTS {
        upsert.value(
            column,
            Expr::col((entity::Entity, column)).add(Expr::col((Alias::new("excluded"), column))),
        );
    }
    upsert
}

#[async_trait]
impl UsageStore for SeaUsageStore {
    async fn add(&self, buckets: &[UsageBucket]) -> Result<()> {
        let txn = self.db.begin().await.map_err(db_error)?;
        for chunk in buckets.chunks(ROWS_PER_INSERT) {
            entity::Entity::insert_many(chunk.iter().map(row))
                .on_conflict(add_on_conflict())
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)
    }

    async fn read(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        client: Option<&ClientId>,
    ) -> Result<Vec<UsageBucket>> {
        let select = entity::Entity::find_in_tenant(tenant)
            .filter(Column::Minute.gte(from))
            .filter(Column::Minute.lt(to))
            .order_by_asc(Column::Minute)
            .order_by_asc(Column::ClientId);
        let select = match client {
            Some(client) => select.filter(Column::ClientId.eq(client.as_str())),
            None => select,
        };
        all_to_domain(select, &self.db, to_domain).await
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let pruned = entity::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(Column::Minute.lt(before))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(pruned.rows_affected)
    }
}
