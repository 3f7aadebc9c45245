//! The `sso_configs` table.

use sea_orm::entity::prelude::*;

/// One row of `sso_configs`: a clinic's single sign-on.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sso_configs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub provider_name: String,
    pub issuer: String,
    pub client_id: String,
    /// Sealed with the clinic's data key.
    pub client_secret: Vec<u8>,
    pub client_secret_key_version: i32,
    pub sso_only: bool,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
