//! The `notification_templates` table.

use sea_orm::entity::prelude::*;

/// One row of `notification_templates`: a clinic's templates for one trigger and channel.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    /// The subject template (e-mail only).
    pub subject: Option<String>,
    pub body_text: String,
    /// The HTML template (e-mail only).
    pub body_html: Option<String>,
    pub updated_by: Option<Uuid>,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
