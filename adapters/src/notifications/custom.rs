//! The clinic-owned rows of notifications beside the settings: its own templates
//! (`notification_templates`) and its patients' unsubscribes (`notification_opt_outs`). The
//! repository's trait methods call these; every query starts from `InTenant`.

use chrono::Utc;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::notifications::{Channel, ClinicTemplate, OptOut, TemplateSources, Trigger};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, Iterable as _, QueryFilter as _,
    QueryOrder as _, Set,
};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;
use crate::notification_opt_outs::entity as opt_outs;
use crate::notification_templates::entity as templates;

/// A stored row that no longer reads: a bug or tampering, never shown.
fn corrupt(what: &'static str) -> Error {
    Error::internal(format!("a stored notification {what} is unreadable"))
}

fn template_of(row: templates::Model) -> Result<ClinicTemplate> {
    Ok(ClinicTemplate {
        trigger: Trigger::parse(&row.event_type).ok_or_else(|| corrupt("template's event"))?,
        channel: Channel::parse(&row.channel).ok_or_else(|| corrupt("template's channel"))?,
        sources: TemplateSources {
            subject: row.subject,
            text: row.body_text,
            html: row.body_html,
        },
        updated_by: row.updated_by.map(UserId::from_uuid),
        updated_at: row.updated_at,
    })
}

pub(super) async fn templates(
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<Vec<ClinicTemplate>> {
    templates::Entity::find_in_tenant(tenant)
        .order_by_asc(templates::Column::EventType)
        .order_by_asc(templates::Column::Channel)
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(template_of)
        .collect()
}

pub(super) async fn template(
    db: &DatabaseConnection,
    tenant: TenantId,
    trigger: Trigger,
    channel: Channel,
) -> Result<Option<ClinicTemplate>> {
    templates::Entity::find_in_tenant(tenant)
        .filter(templates::Column::EventType.eq(trigger.as_str()))
        .filter(templates::Column::Channel.eq(channel.as_str()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(template_of)
        .transpose()
}

pub(super) async fn save_template(
    db: &DatabaseConnection,
    tenant: TenantId,
    template: &ClinicTemplate,
) -> Result<()> {
    templates::Entity::insert(templates::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        event_type: Set(template.trigger.as_str().to_owned()),
        channel: Set(template.channel.as_str().to_owned()),
        subject: Set(template.sources.subject.clone()),
        body_text: Set(template.sources.text.clone()),
        body_html: Set(template.sources.html.clone()),
        updated_by: Set(template.updated_by.map(|id| id.as_uuid())),
        updated_at: Set(template.updated_at),
    })
    .on_conflict(
        // The primary key: the clinic, the trigger and the channel.
        OnConflict::columns(templates::PrimaryKey::iter())
            .update_columns([
                templates::Column::Subject,
                templates::Column::BodyText,
                templates::Column::BodyHtml,
                templates::Column::UpdatedBy,
                templates::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn delete_template(
    db: &DatabaseConnection,
    tenant: TenantId,
    trigger: Trigger,
    channel: Channel,
) -> Result<bool> {
    let deleted = templates::Entity::delete_many_in_tenant(tenant)
        .filter(templates::Column::EventType.eq(trigger.as_str()))
        .filter(templates::Column::Channel.eq(channel.as_str()))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(deleted.rows_affected > 0)
}

pub(super) async fn opt_out(
    db: &DatabaseConnection,
    tenant: TenantId,
    patient: &ClinikoId,
    channel: Channel,
) -> Result<()> {
    let now = Utc::now();
    // A first unsubscribe writes the row; a repeated one changes nothing (its time stays).
    opt_outs::Entity::insert(opt_outs::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        patient_id: Set(patient.as_str().to_owned()),
        channel: Set(channel.as_str().to_owned()),
        opted_out_at: Set(now),
        cleared_at: Set(None),
        cleared_by: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await
    .map_err(db_error)?;
    // An unsubscribe after the clinic cleared the last one is in force again.
    opt_outs::Entity::update_many_in_tenant(tenant)
        .col_expr(opt_outs::Column::OptedOutAt, Expr::value(now))
        .col_expr(
            opt_outs::Column::ClearedAt,
            Expr::value(None::<chrono::DateTime<Utc>>),
        )
        .col_expr(opt_outs::Column::ClearedBy, Expr::value(None::<uuid::Uuid>))
        .filter(opt_outs::Column::PatientId.eq(patient.as_str()))
        .filter(opt_outs::Column::Channel.eq(channel.as_str()))
        .filter(opt_outs::Column::ClearedAt.is_not_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn opted_out(
    db: &DatabaseConnection,
    tenant: TenantId,
    patient: &ClinikoId,
    channel: Channel,
) -> Result<bool> {
    Ok(opt_outs::Entity::find_in_tenant(tenant)
        .filter(opt_outs::Column::PatientId.eq(patient.as_str()))
        .filter(opt_outs::Column::Channel.eq(channel.as_str()))
        .filter(opt_outs::Column::ClearedAt.is_null())
        .one(db)
        .await
        .map_err(db_error)?
        .is_some())
}

pub(super) async fn opt_outs(db: &DatabaseConnection, tenant: TenantId) -> Result<Vec<OptOut>> {
    opt_outs::Entity::find_in_tenant(tenant)
        .order_by_desc(opt_outs::Column::OptedOutAt)
        .order_by_asc(opt_outs::Column::PatientId)
        .all(db)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| {
            Ok(OptOut {
                patient_id: ClinikoId::parse(&row.patient_id)
                    .ok_or_else(|| corrupt("opt-out's patient id"))?,
                channel: Channel::parse(&row.channel)
                    .ok_or_else(|| corrupt("opt-out's channel"))?,
                opted_out_at: row.opted_out_at,
                cleared_at: row.cleared_at,
                cleared_by: row.cleared_by.map(UserId::from_uuid),
            })
        })
        .collect()
}

pub(super) async fn clear_opt_out(
    db: &DatabaseConnection,
    tenant: TenantId,
    patient: &ClinikoId,
    channel: Channel,
    by: UserId,
) -> Result<bool> {
    let cleared = opt_outs::Entity::update_many_in_tenant(tenant)
        .col_expr(opt_outs::Column::ClearedAt, Expr::value(Utc::now()))
        .col_expr(opt_outs::Column::ClearedBy, Expr::value(by.as_uuid()))
        .filter(opt_outs::Column::PatientId.eq(patient.as_str()))
        .filter(opt_outs::Column::Channel.eq(channel.as_str()))
        .filter(opt_outs::Column::ClearedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(cleared.rows_affected > 0)
}
