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
    ColumnTrait as _, DatabaseConnection, EntityTrait, QueryFilter as _, QuerySelect as _, Set,
    UpdateMany,
};

use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// A table of data keys wrapped by a master key (clinics' data keys, the deployment's own keys),
/// so re-wrapping one is written once, in [`replace_wrapped_key`].
pub(crate) trait WrappedKeyColumns: EntityTrait {
    /// The id of the master key that wrapped the stored key.
    const MASTER_KEY_ID: Self::Column;
    /// The wrapped key's bytes.
    const WRAPPED_KEY: Self::Column;
    /// When the row last changed.
    const UPDATED_AT: Self::Column;
}

impl WrappedKeyColumns for entity::Entity {
    const MASTER_KEY_ID: entity::Column = entity::Column::MasterKeyId;
    const WRAPPED_KEY: entity::Column = entity::Column::WrappedKey;
    const UPDATED_AT: entity::Column = entity::Column::UpdatedAt;
}

/// Replaces the key `update` selects with `replacement` if it still holds `current`; `true` when
/// exactly one row was replaced. Compare-and-set on the stored bytes: a row someone else
/// re-wrapped meanwhile is left alone.
pub(crate) async fn replace_wrapped_key<E: WrappedKeyColumns>(
    update: UpdateMany<E>,
    db: &DatabaseConnection,
    current: &WrappedDataKey,
    replacement: &WrappedDataKey,
) -> Result<bool> {
    let result = update
        .col_expr(
            E::MASTER_KEY_ID,
            Expr::value(replacement.master_key_id.as_str()),
        )
        .col_expr(E::WRAPPED_KEY, Expr::value(replacement.ciphertext.clone()))
        .col_expr(E::UPDATED_AT, Expr::value(Utc::now()))
        .filter(E::MASTER_KEY_ID.eq(current.master_key_id.as_str()))
        .filter(E::WRAPPED_KEY.eq(current.ciphertext.clone()))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(result.rows_affected == 1)
}

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
        let update = entity::Entity::update_many_in_tenant(tenant);
        replace_wrapped_key(update, &self.db, current, replacement).await
    }
}
