//! SMS notifications (issue 20): `notification_sms_settings`, at most one row per clinic, the
//! clinic's SMS provider account (Twilio's Messages API shape) and its staff phone number.
//!
//! The auth token is sealed with the clinic's data key (`auth_token`, `auth_token_key_version`),
//! never stored in clear. Either `from_number` or `messaging_service_sid` names the sender.
//! The row goes with its clinic (the foreign key cascades).

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationSmsSettings {
    Table,
    TenantId,
    AccountSid,
    AuthToken,
    AuthTokenKeyVersion,
    FromNumber,
    MessagingServiceSid,
    StaffPhone,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationSmsSettings::Table)
                    .col(
                        ColumnDef::new(NotificationSmsSettings::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NotificationSmsSettings::AccountSid)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationSmsSettings::AuthToken)
                            .blob()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationSmsSettings::AuthTokenKeyVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(NotificationSmsSettings::FromNumber).string_len(32))
                    .col(
                        ColumnDef::new(NotificationSmsSettings::MessagingServiceSid).string_len(64),
                    )
                    .col(ColumnDef::new(NotificationSmsSettings::StaffPhone).string_len(32))
                    .col(at(NotificationSmsSettings::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_notification_sms_settings_tenant",
                        NotificationSmsSettings::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(NotificationSmsSettings::Table)
                    .to_owned(),
            )
            .await
    }
}
