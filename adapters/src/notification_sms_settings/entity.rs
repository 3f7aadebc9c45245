//! The `notification_sms_settings` table.

use sea_orm::entity::prelude::*;

/// One row of `notification_sms_settings`: a clinic's SMS account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_sms_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub account_sid: String,
    /// The auth token, sealed with the clinic's data key.
    pub auth_token: Vec<u8>,
    pub auth_token_key_version: i32,
    pub from_number: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub staff_phone: Option<String>,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
