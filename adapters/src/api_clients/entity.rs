//! The `api_clients` table.

use sea_orm::entity::prelude::*;

/// One row of `api_clients`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub client_id: String,
    pub name: String,
    pub scopes: String,
    pub secret_hash: String,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<ChronoDateTimeUtc>,
    pub rate_limit_per_minute: Option<i32>,
    /// Set while the clinic has suspended the client (its kill-switch).
    pub suspended_at: Option<ChronoDateTimeUtc>,
    /// The most of the clinic's Cliniko budget its calls may use, percent (1–100); null = no cap.
    pub cliniko_budget_share: Option<i32>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "crate::clinics::entity::Entity",
        from = "Column::TenantId",
        to = "crate::clinics::entity::Column::Id"
    )]
    Clinic,
}

impl Related<crate::clinics::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Clinic.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
