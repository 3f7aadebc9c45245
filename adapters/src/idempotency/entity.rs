//! The `idempotency_records` table.

use sea_orm::entity::prelude::*;

/// One row of `idempotency_records`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_records")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    pub fingerprint: String,
    /// `in_progress` or `completed`.
    pub state: String,
    pub status_code: Option<i32>,
    pub response_body: Option<Vec<u8>>,
    pub response_key_version: Option<i32>,
    pub lease_until: ChronoDateTimeUtc,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
