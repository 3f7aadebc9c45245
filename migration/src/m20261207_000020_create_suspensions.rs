//! The clinic's controls over its API clients. Kill-switches: a clinic can suspend one client
//! (`api_clients.suspended_at`) or all of its integrations at once
//! (`clinics.integrations_suspended_at`); `suspensions` is the history of every suspend and
//! resume, with who did it. Budget caps: `api_clients.cliniko_budget_share`, the most of the
//! clinic's Cliniko budget (percent) the client's calls may use. Both sit on the rows token
//! validation and the delivery claim already read, so enforcing them costs no extra query.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Suspensions {
    Table,
    Id,
    TenantId,
    ClientId,
    Action,
    ActorUserId,
    At,
}

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    SuspendedAt,
    ClinikoBudgetShare,
}

#[derive(DeriveIden)]
enum Clinics {
    Table,
    IntegrationsSuspendedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE statement.
        manager
            .alter_table(
                Table::alter()
                    .table(ApiClients::Table)
                    .add_column(at(ApiClients::SuspendedAt).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiClients::Table)
                    .add_column(
                        ColumnDef::new(ApiClients::ClinikoBudgetShare)
                            .integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clinics::Table)
                    .add_column(at(Clinics::IntegrationsSuspendedAt).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Suspensions::Table)
                    .col(
                        ColumnDef::new(Suspensions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Suspensions::TenantId).uuid().not_null())
                    // Null: the whole clinic. Kept as text, not a foreign key, so the history
                    // outlives a deleted client.
                    .col(ColumnDef::new(Suspensions::ClientId).string_len(64).null())
                    .col(
                        ColumnDef::new(Suspensions::Action)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Suspensions::ActorUserId).uuid().not_null())
                    .col(at(Suspensions::At).not_null())
                    .foreign_key(&mut tenant_key("fk_suspensions_tenant", Suspensions::Table))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_suspensions_tenant_at")
                    .table(Suspensions::Table)
                    .col(Suspensions::TenantId)
                    .col(Suspensions::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Suspensions::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clinics::Table)
                    .drop_column(Clinics::IntegrationsSuspendedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiClients::Table)
                    .drop_column(ApiClients::SuspendedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiClients::Table)
                    .drop_column(ApiClients::ClinikoBudgetShare)
                    .to_owned(),
            )
            .await
    }
}
