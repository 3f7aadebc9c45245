//! Queue-progress notifications (issue 20), from `doctor.queue_updated`:
//!
//! - `notification_rules.late_after_minutes`: for a `doctor.queue_updated` rule, how many
//!   minutes after their scheduled start the patient being seen may have started before the
//!   waiting patients hear that the doctor is running late; null for other rules;
//! - `notification_queue_sends`: the idempotency key of each queue message, one row per clinic ×
//!   rule × appointment × progress (`place:3`, `late`), naming the delivery that sent it: a
//!   waiting patient hears each place once, and the "running late" message once. No PHI:
//!   Cliniko's appointment id and the place only. Removed with the clinic, and with the delivery
//!   that sent it (so with its event, at the end of the event retention): a queue is one day's,
//!   and a key outliving it would only grow the table.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationRules {
    Table,
    LateAfterMinutes,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum NotificationQueueSends {
    Table,
    TenantId,
    RuleId,
    AppointmentId,
    Progress,
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
                    .add_column(ColumnDef::new(NotificationRules::LateAfterMinutes).integer())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationQueueSends::Table)
                    .col(
                        ColumnDef::new(NotificationQueueSends::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationQueueSends::RuleId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationQueueSends::AppointmentId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationQueueSends::Progress)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationQueueSends::DeliveryId)
                            .uuid()
                            .not_null(),
                    )
                    .col(at(NotificationQueueSends::CreatedAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(NotificationQueueSends::TenantId)
                            .col(NotificationQueueSends::RuleId)
                            .col(NotificationQueueSends::AppointmentId)
                            .col(NotificationQueueSends::Progress),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_notification_queue_sends_tenant",
                        NotificationQueueSends::Table,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_queue_sends_delivery")
                            .from(
                                NotificationQueueSends::Table,
                                NotificationQueueSends::DeliveryId,
                            )
                            .to(Deliveries::Table, Deliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(NotificationQueueSends::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(NotificationRules::Table)
                    .drop_column(NotificationRules::LateAfterMinutes)
                    .to_owned(),
            )
            .await
    }
}
