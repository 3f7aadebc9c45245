//! Partners' webhook endpoints: where a client wants which of its clinic's events sent.
//!
//! - Removed with their clinic and with their API client (both foreign keys cascade), so a
//!   deleted client is never sent another event.
//! - The signing secret is sealed with the clinic's data key (`secret`, `secret_key_version`);
//!   during a rotation's grace the replaced one is kept beside it until `previous_secret_until`.
//! - `event_types` holds the subscribed types' wire names, space-separated.
//! - `disabled_reason` is null while the endpoint is enabled (`manual` or `failing` otherwise);
//!   `failing_since` is when the current run of failed attempts began.

use sea_orm_migration::prelude::*;

use crate::columns::at;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    TenantId,
    ClientId,
    Url,
    EventTypes,
    Description,
    Secret,
    SecretKeyVersion,
    PreviousSecret,
    PreviousSecretKeyVersion,
    PreviousSecretUntil,
    DisabledReason,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clinics {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    ClientId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(
                        ColumnDef::new(WebhookEndpoints::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(WebhookEndpoints::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(WebhookEndpoints::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::Url)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WebhookEndpoints::EventTypes)
                            .string_len(1024)
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookEndpoints::Description).string_len(2048))
                    .col(ColumnDef::new(WebhookEndpoints::Secret).blob().not_null())
                    .col(
                        ColumnDef::new(WebhookEndpoints::SecretKeyVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(WebhookEndpoints::PreviousSecret).blob())
                    .col(ColumnDef::new(WebhookEndpoints::PreviousSecretKeyVersion).integer())
                    .col(at(WebhookEndpoints::PreviousSecretUntil))
                    .col(ColumnDef::new(WebhookEndpoints::DisabledReason).string_len(16))
                    .col(at(WebhookEndpoints::FailingSince))
                    .col(at(WebhookEndpoints::CreatedAt).not_null())
                    .col(at(WebhookEndpoints::UpdatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoints_tenant")
                            .from(WebhookEndpoints::Table, WebhookEndpoints::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // `api_clients.client_id` has a unique index (`ux_api_clients_client_id`),
                    // which both SQLite and PostgreSQL accept as a foreign key's target.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoints_client")
                            .from(WebhookEndpoints::Table, WebhookEndpoints::ClientId)
                            .to(ApiClients::Table, ApiClients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A client's endpoints, and (by its prefix) a clinic's, which publishing reads per event.
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_endpoints_tenant_client")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::TenantId)
                    .col(WebhookEndpoints::ClientId)
                    .to_owned(),
            )
            .await?;
        // The cascade from `api_clients` looks endpoints up by client alone.
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_endpoints_client")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::ClientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }
}
