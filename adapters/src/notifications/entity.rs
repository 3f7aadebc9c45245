//! The `notification_rules` table.

use sea_orm::entity::prelude::*;

/// One row of `notification_rules`: an enabled rule of a clinic.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_type: String,
    pub channel: String,
    pub audience: String,
    /// Hours before the appointment, for a reminder rule.
    pub hours_before: Option<i32>,
    /// Minutes late before "running late" goes, for a queue rule.
    pub late_after_minutes: Option<i32>,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
