//! The `staff_mfa` table.

use sea_orm::entity::prelude::*;

/// One row of `staff_mfa`: a staff member's sealed TOTP secret and its state.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_mfa")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub ciphertext: Vec<u8>,
    pub key_version: i32,
    pub confirmed_at: Option<ChronoDateTimeUtc>,
    pub last_step: Option<i64>,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
