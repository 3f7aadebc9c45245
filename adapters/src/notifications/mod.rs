//! Clinics' notification settings stored with sea-orm (`notification_rules`, with the staff
//! address in `notification_settings`, the SMS account in `notification_sms_settings`),
//! reminders' and queue messages' idempotency keys (`notification_reminder_sends`,
//! `notification_queue_sends`), the clinic's own templates and its patients' unsubscribes
//! (`custom`), the SMTP mailer (`smtp`) and the SMS provider (`twilio`). Every query starts
//! from [`InTenant`](crate::db::tenant_scoped::InTenant).

mod custom;
pub(crate) mod entity;
pub mod smtp;
pub mod twilio;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::delivery::DeliveryId;
use clinicgate_core::ids::{TenantId, UserId};
use clinicgate_core::notifications::{
    Audience, Channel, ClinicTemplate, NotificationRepository, NotificationRuleId, OptOut,
    QueueKey, QuietHours, ReminderKey, Rule, RuleKey, RuleSpec, SmsFrom, StoredSettings, StoredSms,
    Trigger,
};
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::TryInsertResult;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, Set, TransactionTrait as _,
};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;
use crate::notification_queue_sends::entity as queue_sends;
use crate::notification_reminder_sends::entity as reminder_sends;
use crate::notification_settings::entity as settings;
use crate::notification_sms_settings::entity as sms_settings;

/// [`NotificationRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaNotificationRepository {
    db: DatabaseConnection,
}

impl SeaNotificationRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A stored row that no longer reads as a rule: a bug or tampering, never shown.
fn corrupt(what: &'static str) -> Error {
    Error::internal(format!(
        "a stored notification setting with an unreadable {what}"
    ))
}

fn to_domain(row: entity::Model) -> Result<Rule> {
    Ok(Rule {
        id: NotificationRuleId::from_uuid(row.id),
        key: RuleKey {
            trigger: Trigger::parse(&row.event_type).ok_or_else(|| corrupt("event_type"))?,
            channel: Channel::parse(&row.channel).ok_or_else(|| corrupt("channel"))?,
            audience: Audience::parse(&row.audience).ok_or_else(|| corrupt("audience"))?,
        },
        hours_before: row
            .hours_before
            .map(|hours| u16::try_from(hours).map_err(|_| corrupt("hours_before")))
            .transpose()?,
        late_after_minutes: row
            .late_after_minutes
            .map(|minutes| u16::try_from(minutes).map_err(|_| corrupt("late_after_minutes")))
            .transpose()?,
    })
}

/// The clinic's settings as `conn` sees them.
async fn read(conn: &impl ConnectionTrait, tenant: TenantId) -> Result<StoredSettings> {
    let rules = entity::Entity::find_in_tenant(tenant)
        .order_by_asc(entity::Column::EventType)
        .order_by_asc(entity::Column::Channel)
        .order_by_asc(entity::Column::Audience)
        .all(conn)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(to_domain)
        .collect::<Result<Vec<_>>>()?;
    let row = settings::Entity::find_in_tenant(tenant)
        .one(conn)
        .await
        .map_err(db_error)?;
    let quiet_hours = row
        .as_ref()
        .and_then(|row| Some((row.quiet_start_minute?, row.quiet_end_minute?)))
        .map(|(start, end)| {
            let minute = |m: i32| u16::try_from(m).map_err(|_| corrupt("quiet hours"));
            QuietHours::from_minutes(minute(start)?, minute(end)?)
                .ok_or_else(|| corrupt("quiet hours"))
        })
        .transpose()?;
    Ok(StoredSettings {
        rules,
        staff_email: row.as_ref().and_then(|row| row.staff_email.clone()),
        quiet_hours,
        updated_at: row.map(|row| row.updated_at),
    })
}

#[async_trait]
impl NotificationRepository for SeaNotificationRepository {
    async fn settings(&self, tenant: TenantId) -> Result<StoredSettings> {
        read(&self.db, tenant).await
    }

    async fn save(
        &self,
        tenant: TenantId,
        staff_email: Option<&str>,
        quiet_hours: Option<QuietHours>,
        rules: &[RuleSpec],
    ) -> Result<StoredSettings> {
        let txn = self.db.begin().await.map_err(db_error)?;
        let now = Utc::now();
        // The settings row first: on PostgreSQL its upsert locks the clinic's row, on SQLite the
        // write locks the database, so two saves of one clinic do not interleave their rules.
        settings::Entity::insert(settings::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            staff_email: Set(staff_email.map(str::to_owned)),
            quiet_start_minute: Set(quiet_hours.map(|q| i32::from(q.start_minute()))),
            quiet_end_minute: Set(quiet_hours.map(|q| i32::from(q.end_minute()))),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(settings::Column::TenantId)
                .update_columns([
                    settings::Column::StaffEmail,
                    settings::Column::QuietStartMinute,
                    settings::Column::QuietEndMinute,
                    settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&txn)
        .await
        .map_err(db_error)?;
        let existing = read(&txn, tenant).await?.rules;
        let gone: Vec<_> = existing
            .iter()
            .filter(|rule| !rules.iter().any(|spec| spec.key == rule.key))
            .map(|rule| rule.id.as_uuid())
            .collect();
        if !gone.is_empty() {
            entity::Entity::delete_many_in_tenant(tenant)
                .filter(entity::Column::Id.is_in(gone))
                .exec(&txn)
                .await
                .map_err(db_error)?;
        }
        // A kept rule takes its new hours (its waiting reminders are due by them when they are
        // next looked at).
        for rule in &existing {
            if let Some(spec) = rules.iter().find(|spec| {
                spec.key == rule.key
                    && (spec.hours_before != rule.hours_before
                        || spec.late_after_minutes != rule.late_after_minutes)
            }) {
                entity::Entity::update_many_in_tenant(tenant)
                    .col_expr(
                        entity::Column::HoursBefore,
                        sea_orm::sea_query::Expr::value(spec.hours_before.map(i32::from)),
                    )
                    .col_expr(
                        entity::Column::LateAfterMinutes,
                        sea_orm::sea_query::Expr::value(spec.late_after_minutes.map(i32::from)),
                    )
                    .filter(entity::Column::Id.eq(rule.id.as_uuid()))
                    .exec(&txn)
                    .await
                    .map_err(db_error)?;
            }
        }
        let new: Vec<_> = rules
            .iter()
            .filter(|spec| !existing.iter().any(|rule| rule.key == spec.key))
            .map(|spec| entity::ActiveModel {
                id: Set(NotificationRuleId::new().as_uuid()),
                tenant_id: Set(tenant.as_uuid()),
                event_type: Set(spec.key.trigger.as_str().to_owned()),
                channel: Set(spec.key.channel.as_str().to_owned()),
                audience: Set(spec.key.audience.as_str().to_owned()),
                hours_before: Set(spec.hours_before.map(i32::from)),
                late_after_minutes: Set(spec.late_after_minutes.map(i32::from)),
                created_at: Set(now),
            })
            .collect();
        if !new.is_empty() {
            entity::Entity::insert_many(new)
                .exec_without_returning(&txn)
                .await
                .map_err(db_error)?;
        }
        let saved = read(&txn, tenant).await?;
        txn.commit().await.map_err(db_error)?;
        Ok(saved)
    }

    async fn rule(&self, tenant: TenantId, id: NotificationRuleId) -> Result<Option<Rule>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .map(to_domain)
            .transpose()
    }

    async fn claim_reminder(
        &self,
        tenant: TenantId,
        key: &ReminderKey,
        delivery: DeliveryId,
    ) -> Result<bool> {
        reminder_sends::Entity::insert(reminder_sends::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            rule_id: Set(key.rule.as_uuid()),
            appointment_id: Set(key.appointment_id.clone()),
            starts_at: Set(key.starts_at),
            delivery_id: Set(delivery.as_uuid()),
            created_at: Set(Utc::now()),
        })
        // The primary key is the reminder's key: a second writer's row is not written.
        .on_conflict_do_nothing()
        .exec_without_returning(&self.db)
        .await
        .map_err(db_error)?;
        let holder = reminder_sends::Entity::find_in_tenant(tenant)
            .filter(reminder_sends::Column::RuleId.eq(key.rule.as_uuid()))
            .filter(reminder_sends::Column::AppointmentId.eq(key.appointment_id.as_str()))
            .filter(reminder_sends::Column::StartsAt.eq(key.starts_at))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(holder.is_some_and(|row| row.delivery_id == delivery.as_uuid()))
    }

    async fn templates(&self, tenant: TenantId) -> Result<Vec<ClinicTemplate>> {
        custom::templates(&self.db, tenant).await
    }

    async fn template(
        &self,
        tenant: TenantId,
        trigger: Trigger,
        channel: Channel,
    ) -> Result<Option<ClinicTemplate>> {
        custom::template(&self.db, tenant, trigger, channel).await
    }

    async fn save_template(&self, tenant: TenantId, template: &ClinicTemplate) -> Result<()> {
        custom::save_template(&self.db, tenant, template).await
    }

    async fn delete_template(
        &self,
        tenant: TenantId,
        trigger: Trigger,
        channel: Channel,
    ) -> Result<bool> {
        custom::delete_template(&self.db, tenant, trigger, channel).await
    }

    async fn opt_out(&self, tenant: TenantId, patient: &ClinikoId, channel: Channel) -> Result<()> {
        custom::opt_out(&self.db, tenant, patient, channel).await
    }

    async fn opted_out(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
    ) -> Result<bool> {
        custom::opted_out(&self.db, tenant, patient, channel).await
    }

    async fn opt_outs(&self, tenant: TenantId) -> Result<Vec<OptOut>> {
        custom::opt_outs(&self.db, tenant).await
    }

    async fn clear_opt_out(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
        by: UserId,
    ) -> Result<bool> {
        custom::clear_opt_out(&self.db, tenant, patient, channel, by).await
    }

    async fn sms_settings(&self, tenant: TenantId) -> Result<Option<StoredSms>> {
        let Some(row) = sms_settings::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let from = match (row.from_number, row.messaging_service_sid) {
            (Some(number), None) => SmsFrom::Number(number),
            (None, Some(service)) => SmsFrom::MessagingService(service),
            _ => return Err(corrupt("SMS sender")),
        };
        Ok(Some(StoredSms {
            account_sid: row.account_sid,
            auth_token: SealedSecret {
                ciphertext: row.auth_token,
                key_version: row.auth_token_key_version,
            },
            from,
            staff_phone: row.staff_phone,
            updated_at: row.updated_at,
        }))
    }

    async fn save_sms(&self, tenant: TenantId, sms: &StoredSms) -> Result<()> {
        let (from_number, messaging_service_sid) = match &sms.from {
            SmsFrom::Number(number) => (Some(number.clone()), None),
            SmsFrom::MessagingService(service) => (None, Some(service.clone())),
        };
        sms_settings::Entity::insert(sms_settings::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            account_sid: Set(sms.account_sid.clone()),
            auth_token: Set(sms.auth_token.ciphertext.clone()),
            auth_token_key_version: Set(sms.auth_token.key_version),
            from_number: Set(from_number),
            messaging_service_sid: Set(messaging_service_sid),
            staff_phone: Set(sms.staff_phone.clone()),
            updated_at: Set(sms.updated_at),
        })
        .on_conflict(
            OnConflict::column(sms_settings::Column::TenantId)
                .update_columns([
                    sms_settings::Column::AccountSid,
                    sms_settings::Column::AuthToken,
                    sms_settings::Column::AuthTokenKeyVersion,
                    sms_settings::Column::FromNumber,
                    sms_settings::Column::MessagingServiceSid,
                    sms_settings::Column::StaffPhone,
                    sms_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(&self.db)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn claim_queue(
        &self,
        tenant: TenantId,
        key: &QueueKey,
        delivery: DeliveryId,
    ) -> Result<bool> {
        // The primary key is the message's key: only the first writer's row is written, and
        // the number of rows written says whether this call was it.
        let written = queue_sends::Entity::insert(queue_sends::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            rule_id: Set(key.rule.as_uuid()),
            appointment_id: Set(key.appointment_id.clone()),
            progress: Set(key.progress.clone()),
            delivery_id: Set(delivery.as_uuid()),
            created_at: Set(Utc::now()),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(&self.db)
        .await
        .map_err(db_error)?;
        Ok(matches!(written, TryInsertResult::Inserted(rows) if rows > 0))
    }

    async fn release_queue(&self, tenant: TenantId, key: &QueueKey) -> Result<()> {
        queue_sends::Entity::delete_many_in_tenant(tenant)
            .filter(queue_sends::Column::RuleId.eq(key.rule.as_uuid()))
            .filter(queue_sends::Column::AppointmentId.eq(key.appointment_id.as_str()))
            .filter(queue_sends::Column::Progress.eq(key.progress.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
