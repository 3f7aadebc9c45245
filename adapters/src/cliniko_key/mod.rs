//! Clinics' sealed Cliniko keys stored with sea-orm. The table holds the ciphertext, what the
//! UI shows (shard, last four characters, whose key it is) and the key's keyed fingerprint (unique:
//! one key, one clinic), never the key.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::cliniko::{ClinikoId, Shard};
use clinicgate_core::cliniko_key::{
    ClinikoConnection, ClinikoKeyRepository, KeyFingerprint, KeyOwner, StoredClinikoKey, key_in_use,
};
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _,
    QuerySelect as _, Set, SqlErr,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// [`ClinikoKeyRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaClinikoKeyRepository {
    db: DatabaseConnection,
}

impl SeaClinikoKeyRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A unique violation can only be the fingerprint's: the clinic's own row is upserted.
#[track_caller]
fn save_error(err: DbErr) -> Error {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        key_in_use()
    } else {
        db_error(err)
    }
}

fn to_domain(row: entity::Model) -> Result<StoredClinikoKey> {
    let shard = Shard::parse(&row.shard)
        .ok_or_else(|| Error::internal("a stored Cliniko shard is invalid"))?;
    let id = ClinikoId::parse(&row.cliniko_user_id)
        .ok_or_else(|| Error::internal("a stored Cliniko user id is invalid"))?;
    Ok(StoredClinikoKey {
        connection: ClinikoConnection {
            shard,
            last4: row.last4,
            owner: KeyOwner {
                id,
                name: row.cliniko_user_name,
                role: row.cliniko_user_role,
            },
            verified_at: row.verified_at,
            rejected_at: row.rejected_at,
        },
        sealed: SealedSecret {
            ciphertext: row.ciphertext,
            key_version: row.key_version,
        },
    })
}

#[async_trait]
impl ClinikoKeyRepository for SeaClinikoKeyRepository {
    async fn find_in_tenant(&self, tenant: TenantId) -> Result<Option<StoredClinikoKey>> {
        entity::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn save_in_tenant(
        &self,
        tenant: TenantId,
        key: &StoredClinikoKey,
        fingerprint: &KeyFingerprint,
    ) -> Result<()> {
        let now = Utc::now();
        let connection = &key.connection;
        let row = entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            ciphertext: Set(key.sealed.ciphertext.clone()),
            key_version: Set(key.sealed.key_version),
            shard: Set(connection.shard.as_str().to_owned()),
            last4: Set(connection.last4.clone()),
            cliniko_user_id: Set(connection.owner.id.as_str().to_owned()),
            cliniko_user_name: Set(connection.owner.name.chars().take(255).collect()),
            cliniko_user_role: Set(connection
                .owner
                .role
                .as_ref()
                .map(|role| role.chars().take(64).collect())),
            verified_at: Set(connection.verified_at),
            rejected_at: Set(connection.rejected_at),
            key_fingerprint: Set(Some(fingerprint.as_str().to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
        };
        entity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entity::Column::TenantId)
                    .update_columns([
                        entity::Column::Ciphertext,
                        entity::Column::KeyVersion,
                        entity::Column::Shard,
                        entity::Column::Last4,
                        entity::Column::ClinikoUserId,
                        entity::Column::ClinikoUserName,
                        entity::Column::ClinikoUserRole,
                        entity::Column::VerifiedAt,
                        entity::Column::RejectedAt,
                        entity::Column::KeyFingerprint,
                        entity::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(save_error)?;
        Ok(())
    }

    async fn delete_in_tenant(&self, tenant: TenantId) -> Result<bool> {
        let result = entity::Entity::delete_many_in_tenant(tenant)
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected > 0)
    }

    async fn connected_after(&self, after: Option<TenantId>, limit: u64) -> Result<Vec<TenantId>> {
        Ok(entity::Entity::sweep_after(Across::Polling, after)
            .filter(entity::Column::RejectedAt.is_null())
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| TenantId::from_uuid(row.tenant_id))
            .collect())
    }

    async fn mark_rejected_in_tenant(&self, tenant: TenantId, at: DateTime<Utc>) -> Result<()> {
        entity::Entity::update_many_in_tenant(tenant)
            .col_expr(entity::Column::RejectedAt, Expr::value(at))
            .col_expr(entity::Column::UpdatedAt, Expr::value(Utc::now()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn clear_rejection_in_tenant(
        &self,
        tenant: TenantId,
        seen: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        entity::Entity::update_many_in_tenant(tenant)
            .col_expr(
                entity::Column::RejectedAt,
                Expr::value(None::<DateTime<Utc>>),
            )
            .col_expr(entity::Column::VerifiedAt, Expr::value(at))
            .col_expr(entity::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(entity::Column::RejectedAt.eq(seen))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn tenant_with_fingerprint(
        &self,
        fingerprint: &KeyFingerprint,
    ) -> Result<Option<TenantId>> {
        Ok(entity::Entity::find_across_tenants(Across::KeyUniqueness)
            .filter(entity::Column::KeyFingerprint.eq(fingerprint.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(|row| TenantId::from_uuid(row.tenant_id)))
    }

    async fn without_fingerprint(
        &self,
        after: Option<TenantId>,
        limit: u64,
    ) -> Result<Vec<(TenantId, SealedSecret)>> {
        Ok(entity::Entity::sweep_after(Across::KeyMaintenance, after)
            .filter(entity::Column::KeyFingerprint.is_null())
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| {
                (
                    TenantId::from_uuid(row.tenant_id),
                    SealedSecret {
                        ciphertext: row.ciphertext,
                        key_version: row.key_version,
                    },
                )
            })
            .collect())
    }

    async fn set_fingerprint_in_tenant(
        &self,
        tenant: TenantId,
        fingerprint: &KeyFingerprint,
    ) -> Result<()> {
        entity::Entity::update_many_in_tenant(tenant)
            .col_expr(
                entity::Column::KeyFingerprint,
                Expr::value(fingerprint.as_str()),
            )
            .filter(entity::Column::KeyFingerprint.is_null())
            .exec(&self.db)
            .await
            .map_err(save_error)?;
        Ok(())
    }
}
