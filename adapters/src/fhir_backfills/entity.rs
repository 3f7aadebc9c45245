//! The `fhir_backfills` table.

use sea_orm::entity::prelude::*;

/// One row of `fhir_backfills`: a FHIR destination's latest "send existing records" run.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fhir_backfills")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub destination_id: Uuid,
    pub tenant_id: Uuid,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// `Patient` or `Appointment`.
    pub phase: String,
    pub next_page: i32,
    pub with_appointments: bool,
    pub window_start: ChronoDateTimeUtc,
    pub window_end: ChronoDateTimeUtc,
    pub patients_queued: i64,
    pub patients_total: Option<i64>,
    pub appointments_queued: i64,
    pub appointments_total: Option<i64>,
    pub last_error: Option<String>,
    pub lease_id: Option<Uuid>,
    pub lease_until: Option<ChronoDateTimeUtc>,
    pub started_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub finished_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
