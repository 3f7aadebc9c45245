//! Notification reminders (issue 20): a reminder N hours before an appointment.
//!
//! - `notification_rules.hours_before`: how many hours before the appointment a reminder rule
//!   (`event_type = 'appointment.reminder'`) sends; null for the rules of an event;
//! - `notification_reminder_sends`: the idempotency key of each reminder, one row per clinic ×
//!   rule × appointment × start, naming the delivery that sends it. A reminder is scheduled by
//!   every `appointment.created`/`updated` event (its delivery waits in the queue until due), so
//!   several deliveries may come due for one start: the first to write its row sends, the others
//!   are recorded as not sent. No PHI: Cliniko's appointment id and the start only. Removed with
//!   the clinic.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationRules {
    Table,
    HoursBefore,
}

#[derive(DeriveIden)]
enum NotificationReminderSends {
    Table,
    TenantId,
    RuleId,
    AppointmentId,
    StartsAt,
    DeliveryId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(NotificationRules::Table)
                    .add_column(ColumnDef::new(NotificationRules::HoursBefore).integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationReminderSends::Table)
                    .col(
                        ColumnDef::new(NotificationReminderSends::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationReminderSends::RuleId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationReminderSends::AppointmentId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(at(NotificationReminderSends::StartsAt).not_null())
                    .col(
                        ColumnDef::new(NotificationReminderSends::DeliveryId)
                            .uuid()
                            .not_null(),
                    )
                    .col(at(NotificationReminderSends::CreatedAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(NotificationReminderSends::TenantId)
                            .col(NotificationReminderSends::RuleId)
                            .col(NotificationReminderSends::AppointmentId)
                            .col(NotificationReminderSends::StartsAt),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_notification_reminder_sends_tenant",
                        NotificationReminderSends::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(NotificationReminderSends::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(NotificationRules::Table)
                    .drop_column(NotificationRules::HoursBefore)
                    .to_owned(),
            )
            .await
    }
}
