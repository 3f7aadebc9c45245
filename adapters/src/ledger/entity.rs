//! The `phi_access_ledger` table (append-only; see the migration).

use sea_orm::entity::prelude::*;

/// One row of `phi_access_ledger`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phi_access_ledger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub actor_kind: String,
    pub actor_id: String,
    pub patient_id: String,
    pub categories: String,
    pub channel: String,
    pub occurred_at: ChronoDateTimeUtc,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
