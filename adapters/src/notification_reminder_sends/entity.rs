//! The `notification_reminder_sends` table: each reminder's idempotency key and the delivery
//! that sends it.

use sea_orm::entity::prelude::*;

/// One row of `notification_reminder_sends`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_reminder_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub rule_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub appointment_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub starts_at: ChronoDateTimeUtc,
    pub delivery_id: Uuid,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
