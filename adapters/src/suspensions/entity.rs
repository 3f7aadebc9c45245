//! The `suspensions` table: the history of a clinic's kill-switches.

use sea_orm::entity::prelude::*;

/// One row of `suspensions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "suspensions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The client switched; null for the whole clinic.
    pub client_id: Option<String>,
    /// `suspend` or `resume`.
    pub action: String,
    pub actor_user_id: Uuid,
    pub at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
