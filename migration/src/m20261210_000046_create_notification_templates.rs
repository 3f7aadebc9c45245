//! Clinic-edited notification templates (issue 20): `notification_templates`, one row per clinic
//! × trigger (`appointment.created` … `appointment.reminder`) × channel (`email`; an SMS text
//! fits the same row with channel `sms`, `subject` and `body_html` null). A trigger and channel
//! without a row send the built-in default; deleting the row goes back to it. The sources are
//! templates, not patient data; removed with the clinic.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationTemplates {
    Table,
    TenantId,
    EventType,
    Channel,
    Subject,
    BodyText,
    BodyHtml,
    UpdatedBy,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationTemplates::Table)
                    .col(
                        ColumnDef::new(NotificationTemplates::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationTemplates::EventType)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationTemplates::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(NotificationTemplates::Subject).text())
                    .col(
                        ColumnDef::new(NotificationTemplates::BodyText)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(NotificationTemplates::BodyHtml).text())
                    .col(ColumnDef::new(NotificationTemplates::UpdatedBy).uuid())
                    .col(at(NotificationTemplates::UpdatedAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(NotificationTemplates::TenantId)
                            .col(NotificationTemplates::EventType)
                            .col(NotificationTemplates::Channel),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_notification_templates_tenant",
                        NotificationTemplates::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationTemplates::Table).to_owned())
            .await
    }
}
