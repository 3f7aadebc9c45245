//! The `cliniko_keys` table.

use sea_orm::entity::prelude::*;

/// One row of `cliniko_keys`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cliniko_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub ciphertext: Vec<u8>,
    pub key_version: i32,
    pub shard: String,
    pub last4: String,
    pub cliniko_user_id: String,
    pub cliniko_user_name: String,
    pub cliniko_user_role: Option<String>,
    pub verified_at: ChronoDateTimeUtc,
    pub rejected_at: Option<ChronoDateTimeUtc>,
    pub key_fingerprint: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
