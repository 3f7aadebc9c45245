//! The `poll_phone_keys` table.

use sea_orm::entity::prelude::*;

/// One row of `poll_phone_keys`: one key of one patient.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_phone_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The patient's Cliniko id (digits).
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: String,
    /// The keyed hash (32 bytes).
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_key: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
