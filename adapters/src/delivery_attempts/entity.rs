//! The `delivery_attempts` table.

use sea_orm::entity::prelude::*;

/// One row of `delivery_attempts`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub delivery_id: Uuid,
    pub attempted_at: ChronoDateTimeUtc,
    /// The receiver's status, when it answered.
    pub status_code: Option<i32>,
    /// How the attempt failed without an answer (`timeout`, `connection`, …).
    pub error_class: Option<String>,
    pub latency_ms: i64,
    pub response_excerpt: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
