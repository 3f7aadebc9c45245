//! Patients' unsubscribes (issue 20): `notification_opt_outs`, one row per clinic × Cliniko
//! patient id × channel. A patient who followed the unsubscribe link of a message is sent no
//! more messages on that channel while `cleared_at` is null; the clinic can clear an opt-out,
//! which keeps the row with who cleared it and when (a later unsubscribe sets it again). No PHI:
//! Cliniko's patient id only; removed with the clinic.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationOptOuts {
    Table,
    TenantId,
    PatientId,
    Channel,
    OptedOutAt,
    ClearedAt,
    ClearedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(NotificationOptOuts::Table)
                    .col(
                        ColumnDef::new(NotificationOptOuts::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOptOuts::PatientId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOptOuts::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(at(NotificationOptOuts::OptedOutAt).not_null())
                    .col(at(NotificationOptOuts::ClearedAt))
                    .col(ColumnDef::new(NotificationOptOuts::ClearedBy).uuid())
                    .primary_key(
                        Index::create()
                            .col(NotificationOptOuts::TenantId)
                            .col(NotificationOptOuts::PatientId)
                            .col(NotificationOptOuts::Channel),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_notification_opt_outs_tenant",
                        NotificationOptOuts::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationOptOuts::Table).to_owned())
            .await
    }
}
