//! The `notification_settings` table.

use sea_orm::entity::prelude::*;

/// One row of `notification_settings`: where a clinic's staff notifications go.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub staff_email: Option<String>,
    /// Quiet hours' start, minute of the day (null: no quiet hours).
    pub quiet_start_minute: Option<i32>,
    /// Quiet hours' end, minute of the day.
    pub quiet_end_minute: Option<i32>,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
