//! The `patient_syncs` table.

use sea_orm::entity::prelude::*;

/// One row of `patient_syncs`: one API client's partner patient API.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patient_syncs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub client_id: String,
    pub base_url: String,
    /// `bearer` or `header`.
    pub auth_type: String,
    /// The header's name, for `header`.
    pub auth_header_name: Option<String>,
    /// Sealed with the clinic's data key.
    pub credential: Vec<u8>,
    pub credential_key_version: i32,
    pub identifier_system: String,
    pub enabled: bool,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
