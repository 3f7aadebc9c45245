//! The `notification_queue_sends` table: each queue message's idempotency key and the delivery
//! that sent it.

use sea_orm::entity::prelude::*;

/// One row of `notification_queue_sends`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_queue_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub rule_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub appointment_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub progress: String,
    pub delivery_id: Uuid,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
