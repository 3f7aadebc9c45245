//! Revoked access tokens stored with sea-orm: the durable record (the [`RevocationRepository`]
//! port) behind the shared revocation set.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::ids::TenantId;
use clinicgate_core::tokens::{ClientId, RevocationRepository, RevokedToken};
use clinicgate_core::{Error, Result};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
    Set,
};

use crate::db::tenant_scoped::{Across, AcrossTenants as _};
use crate::db::{all_to_domain, db_error};

/// [`RevocationRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaRevocationRepository {
    db: DatabaseConnection,
}

impl SeaRevocationRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_domain(row: entity::Model) -> Result<RevokedToken> {
    Ok(RevokedToken {
        client_id: ClientId::parse(&row.client_id)
            .ok_or_else(|| Error::internal("a stored client id is malformed"))?,
        jti: row.jti,
        tenant_id: TenantId::from_uuid(row.tenant_id),
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    })
}

#[async_trait]
impl RevocationRepository for SeaRevocationRepository {
    async fn insert(&self, revoked: &RevokedToken) -> Result<()> {
        let row = entity::ActiveModel {
            jti: Set(revoked.jti.clone()),
            tenant_id: Set(revoked.tenant_id.as_uuid()),
            client_id: Set(revoked.client_id.as_str().to_owned()),
            expires_at: Set(revoked.expires_at),
            revoked_at: Set(revoked.revoked_at),
        };
        // Revoking twice is fine: the first revocation stands.
        entity::Entity::insert(row)
            .on_conflict_do_nothing_on([entity::Column::Jti])
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool> {
        let count = entity::Entity::find_across_tenants(Across::Authentication)
            .filter(entity::Column::Jti.eq(jti))
            .count(&self.db)
            .await
            .map_err(db_error)?;
        Ok(count > 0)
    }

    async fn unexpired(&self, now: DateTime<Utc>) -> Result<Vec<RevokedToken>> {
        let select = entity::Entity::find_across_tenants(Across::Authentication)
            .filter(entity::Column::ExpiresAt.gt(now));
        all_to_domain(select, &self.db, to_domain).await
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let result = entity::Entity::delete_many_across_tenants(Across::Expiry)
            .filter(entity::Column::ExpiresAt.lt(before))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected)
    }
}
