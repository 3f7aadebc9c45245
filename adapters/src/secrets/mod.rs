//! Clinics' wrapped data keys stored with sea-orm (the vault's [`DataKeyRepository`]).

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::Result;
use clinicgate_core::crypto::MasterKeyId;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::{DataKeyRepository, WrappedDataKey};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QuerySelect as _, Set,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// [`DataKeyRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaDataKeyRepository {
    db: DatabaseConnection,
}

impl SeaDataKeyRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_domain(row: entity::Model) -> (TenantId, WrappedDataKey) {
    (
        TenantId::from_uuid(row.tenant_id),
        WrappedDataKey {
            master_key_id: MasterKeyId::from_stored(row.master_key_id),
            ciphertext: row.wrapped_key,
        },
    )
}

#[async_trait]
impl DataKeyRepository for SeaDataKeyRepository {
    async fn find(&self, tenant: TenantId) -> Result<Option<WrappedDataKey>> {
        Ok(entity::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(|row| to_domain(row).1))
    }

    async fn insert_if_absent(
        &self,
        tenant: TenantId,
        wrapped: WrappedDataKey,
    ) -> Result<WrappedDataKey> {
        let now = Utc::now();
        let row = entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            master_key_id: Set(wrapped.master_key_id.as_str().to_owned()),
            wrapped_key: Set(wrapped.ciphertext.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        // ON CONFLICT DO NOTHING then read back: whichever instance inserted first wins, and
        // every caller ends up using that one key.
        entity::Entity::insert(row)
            .on_conflict_do_nothing_on([entity::Column::TenantId])
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        self.find(tenant).await?.ok_or_else(|| {
            clinicgate_core::Error::internal("a data key vanished right after being stored")
        })
    }

    async fn not_wrapped_by(
        &self,
        master_key_id: &MasterKeyId,
        after: Option<TenantId>,
        limit: u64,
    ) -> Result<Vec<(TenantId, WrappedDataKey)>> {
        Ok(entity::Entity::sweep_after(Across::KeyMaintenance, after)
            .filter(entity::Column::MasterKeyId.ne(master_key_id.as_str()))
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    async fn replace(
        &self,
        tenant: TenantId,
        current: &WrappedDataKey,
        replacement: &WrappedDataKey,
    ) -> Result<bool> {
        // Compare-and-set on the stored bytes: a row someone else changed meanwhile is left alone.
        let result = entity::Entity::update_many_in_tenant(tenant)
            .col_expr(
                entity::Column::MasterKeyId,
                Expr::value(replacement.master_key_id.as_str()),
            )
            .col_expr(
                entity::Column::WrappedKey,
                Expr::value(replacement.ciphertext.clone()),
            )
            .col_expr(entity::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(entity::Column::MasterKeyId.eq(current.master_key_id.as_str()))
            .filter(entity::Column::WrappedKey.eq(current.ciphertext.clone()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected == 1)
    }
}
