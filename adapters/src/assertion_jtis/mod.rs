//! [`AssertionJtiRepository`] over the database: the ids of `private_key_jwt` assertions already
//! used. The primary key (client, jti) makes "first use wins" a single unique insert, atomic on
//! SQLite and PostgreSQL alike and shared by every instance; Redis is not involved because a
//! Redis restart must not make an assertion usable again.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::Result;
use clinicgate_core::tokens::{AssertionJtiRepository, ClientId};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, Set, TryInsertResult,
};

use crate::db::db_error;

/// [`AssertionJtiRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaAssertionJtiRepository {
    db: DatabaseConnection,
}

impl SeaAssertionJtiRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl AssertionJtiRepository for SeaAssertionJtiRepository {
    async fn first_use(
        &self,
        client: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        let row = entity::ActiveModel {
            client_id: Set(client.as_str().to_owned()),
            jti: Set(jti.to_owned()),
            expires_at: Set(expires_at),
        };
        // A conflicting row is a replay: nothing is inserted.
        let inserted = entity::Entity::insert(row)
            .on_conflict_do_nothing_on([entity::Column::ClientId, entity::Column::Jti])
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(matches!(inserted, TryInsertResult::Inserted(rows) if rows > 0))
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let result = entity::Entity::delete_many()
            .filter(entity::Column::ExpiresAt.lt(before))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected)
    }
}
