//! The `usage_counters` table.

use sea_orm::entity::prelude::*;

/// One row of `usage_counters`: one clinic's client in one minute.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// The API client; empty for Cliniko calls no client caused.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: ChronoDateTimeUtc,
    pub requests: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub rate_limited: i64,
    pub cliniko_interactive: i64,
    pub cliniko_api: i64,
    pub cliniko_background: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
