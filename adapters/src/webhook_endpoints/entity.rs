//! The `webhook_endpoints` table.

use sea_orm::entity::prelude::*;

/// One row of `webhook_endpoints`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub client_id: String,
    pub url: String,
    /// Wire names, space-separated.
    pub event_types: String,
    pub description: Option<String>,
    /// Sealed with the clinic's data key.
    pub secret: Vec<u8>,
    pub secret_key_version: i32,
    pub previous_secret: Option<Vec<u8>>,
    pub previous_secret_key_version: Option<i32>,
    pub previous_secret_until: Option<ChronoDateTimeUtc>,
    /// `manual` or `failing`; null while enabled.
    pub disabled_reason: Option<String>,
    pub failing_since: Option<ChronoDateTimeUtc>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "crate::api_clients::entity::Entity",
        from = "Column::ClientId",
        to = "crate::api_clients::entity::Column::ClientId"
    )]
    Client,
}

impl Related<crate::api_clients::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Client.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
