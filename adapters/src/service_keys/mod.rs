//! The deployment's own keys (client-secret hashing, token signing) stored with sea-orm, sealed
//! by the master key (the [`ServiceKeyRepository`] port).

mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::crypto::MasterKeyId;
use clinicgate_core::secrets::{
    ServiceKeyPurpose, ServiceKeyRepository, StoredServiceKey, WrappedDataKey,
};
use clinicgate_core::{Error, Result};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Set, SqlErr,
};

use crate::db::{all_to_domain, db_error};
use crate::secrets::{WrappedKeyColumns, replace_wrapped_key};

/// [`ServiceKeyRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaServiceKeyRepository {
    db: DatabaseConnection,
}

impl SeaServiceKeyRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_domain(row: entity::Model) -> Result<StoredServiceKey> {
    Ok(StoredServiceKey {
        purpose: ServiceKeyPurpose::parse(&row.purpose).ok_or_else(|| {
            Error::internal(format!(
                "stored service key purpose {:?} is unknown",
                row.purpose
            ))
        })?,
        id: row.id,
        generation: row.generation,
        wrapped: WrappedDataKey {
            master_key_id: MasterKeyId::from_stored(row.master_key_id),
            ciphertext: row.wrapped_key,
        },
        public_key: row.public_key,
        created_at: row.created_at,
    })
}

impl WrappedKeyColumns for entity::Entity {
    const MASTER_KEY_ID: entity::Column = entity::Column::MasterKeyId;
    const WRAPPED_KEY: entity::Column = entity::Column::WrappedKey;
    const UPDATED_AT: entity::Column = entity::Column::UpdatedAt;
}

#[async_trait]
impl ServiceKeyRepository for SeaServiceKeyRepository {
    async fn list(&self, purpose: ServiceKeyPurpose) -> Result<Vec<StoredServiceKey>> {
        let select = entity::Entity::find()
            .filter(entity::Column::Purpose.eq(purpose.as_str()))
            .order_by_asc(entity::Column::Generation);
        all_to_domain(select, &self.db, to_domain).await
    }

    async fn insert(&self, key: &StoredServiceKey) -> Result<bool> {
        let now = Utc::now();
        let row = entity::ActiveModel {
            id: Set(key.id.clone()),
            purpose: Set(key.purpose.as_str().to_owned()),
            generation: Set(key.generation),
            master_key_id: Set(key.wrapped.master_key_id.as_str().to_owned()),
            wrapped_key: Set(key.wrapped.ciphertext.clone()),
            public_key: Set(key.public_key.clone()),
            created_at: Set(key.created_at),
            updated_at: Set(now),
        };
        match entity::Entity::insert(row).exec(&self.db).await {
            Ok(_) => Ok(true),
            // Another instance stored this purpose's generation first.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(err) => Err(db_error(err)),
        }
    }

    async fn delete(&self, id: &str) -> Result<()> {
        entity::Entity::delete_by_id(id.to_owned())
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn not_wrapped_by(
        &self,
        master_key_id: &MasterKeyId,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<StoredServiceKey>> {
        let mut query =
            entity::Entity::find().filter(entity::Column::MasterKeyId.ne(master_key_id.as_str()));
        if let Some(after) = after {
            query = query.filter(entity::Column::Id.gt(after));
        }
        let select = query.order_by_asc(entity::Column::Id).limit(limit);
        all_to_domain(select, &self.db, to_domain).await
    }

    async fn replace(
        &self,
        id: &str,
        current: &WrappedDataKey,
        replacement: &WrappedDataKey,
    ) -> Result<bool> {
        let update = entity::Entity::update_many().filter(entity::Column::Id.eq(id));
        replace_wrapped_key(update, &self.db, current, replacement).await
    }
}
