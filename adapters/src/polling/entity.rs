//! The `poll_snapshots` table.

use sea_orm::entity::prelude::*;

/// One row of `poll_snapshots`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_snapshots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `appointments`, `patients` or `hours`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub resource: String,
    /// Cliniko's id (digits).
    #[sea_orm(primary_key, auto_increment = false)]
    pub record_id: String,
    pub source_updated_at: Option<ChronoDateTimeUtc>,
    /// A keyed fingerprint (32 bytes).
    pub fingerprint: Vec<u8>,
    /// The plain state, as JSON (appointments).
    pub state: Option<String>,
    /// The record sealed with the clinic's data key, while it may still be needed.
    pub body: Option<Vec<u8>>,
    pub body_key_version: Option<i32>,
    pub doctor_id: Option<String>,
    /// `YYYY-MM-DD`, clinic-local.
    pub queue_day: Option<String>,
    pub due_at: Option<ChronoDateTimeUtc>,
    pub revision: i64,
    pub seen_at: ChronoDateTimeUtc,
    /// When the row is forgotten (`None`: kept).
    pub expires_at: Option<ChronoDateTimeUtc>,
    /// A patient's phone keys are in `poll_phone_keys`.
    pub phones_indexed: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
