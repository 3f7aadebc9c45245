//! The `notification_opt_outs` table.

use sea_orm::entity::prelude::*;

/// One row of `notification_opt_outs`: a patient's unsubscribe from one channel.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_opt_outs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Cliniko's id of the patient.
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    pub opted_out_at: ChronoDateTimeUtc,
    /// When the clinic cleared it (null: in force).
    pub cleared_at: Option<ChronoDateTimeUtc>,
    /// The staff member who cleared it.
    pub cleared_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
