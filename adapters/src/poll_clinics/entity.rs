//! The `poll_clinics` table.

use sea_orm::entity::prelude::*;

/// One row of `poll_clinics`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "poll_clinics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Polled at all (false: Cliniko disconnected or the clinic suspended).
    pub enabled: bool,
    pub next_poll_at: ChronoDateTimeUtc,
    /// The claim of the instance polling it, while one does.
    pub lease_id: Option<Uuid>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<ChronoDateTimeUtc>,
    pub last_polled_at: Option<ChronoDateTimeUtc>,
    pub last_success_at: Option<ChronoDateTimeUtc>,
    pub last_outcome: Option<String>,
    pub failures: i32,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
