//! Notifications (issue 20): what each clinic turned on.
//!
//! - `notification_settings`: at most one row per clinic, the staff address staff
//!   notifications go to;
//! - `notification_rules`: one row per enabled rule (event type × channel × audience), unique per
//!   clinic; its id is the target of the rule's deliveries (`deliveries.kind = 'notification'`),
//!   so a rule turned off finds its pending deliveries gone. Both are removed with their clinic.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationSettings {
    Table,
    TenantId,
    StaffEmail,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotificationRules {
    Table,
    Id,
    TenantId,
    EventType,
    Channel,
    Audience,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationSettings::Table)
                    .col(
                        ColumnDef::new(NotificationSettings::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(NotificationSettings::StaffEmail).string_len(254))
                    .col(at(NotificationSettings::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_notification_settings_tenant",
                        NotificationSettings::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationRules::Table)
                    .col(
                        ColumnDef::new(NotificationRules::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(NotificationRules::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationRules::EventType)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationRules::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationRules::Audience)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(at(NotificationRules::CreatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_notification_rules_tenant",
                        NotificationRules::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_notification_rules_rule")
                    .table(NotificationRules::Table)
                    .col(NotificationRules::TenantId)
                    .col(NotificationRules::EventType)
                    .col(NotificationRules::Channel)
                    .col(NotificationRules::Audience)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationRules::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(NotificationSettings::Table).to_owned())
            .await
    }
}
