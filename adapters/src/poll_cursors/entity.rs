//! The `poll_cursors` table.

use sea_orm::entity::prelude::*;

/// One row of `poll_cursors`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `appointments`, `patients` or `hours`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub resource: String,
    pub cursor_at: Option<ChronoDateTimeUtc>,
    pub watching_since: ChronoDateTimeUtc,
    pub baseline_done: bool,
    pub updated_at: ChronoDateTimeUtc,
    /// Patients: every patient Cliniko lists is in the phone index.
    pub phones_indexed: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
