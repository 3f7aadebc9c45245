//! The `poll_marks` table.

use sea_orm::entity::prelude::*;

/// One row of `poll_marks`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_marks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `availability` or `queue`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    /// A doctor id, or `{doctor}/{YYYY-MM-DD}`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub mark_key: String,
    pub fingerprint: Option<Vec<u8>>,
    pub emitted_at: Option<ChronoDateTimeUtc>,
    pub held_since: Option<ChronoDateTimeUtc>,
    pub due_at: Option<ChronoDateTimeUtc>,
    pub revision: i64,
    pub updated_at: ChronoDateTimeUtc,
    /// When the row is forgotten (`None`: kept).
    pub expires_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
