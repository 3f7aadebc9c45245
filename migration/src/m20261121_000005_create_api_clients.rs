//! Each clinic's API clients. Only a keyed hash of each secret is stored (HMAC-SHA256 under the
//! deployment's hashing key), plus the previous secret's hash during a rotation's grace period.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    Id,
    TenantId,
    ClientId,
    Name,
    Scopes,
    SecretHash,
    PreviousSecretHash,
    PreviousSecretExpiresAt,
    RateLimitPerMinute,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Clinics {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiClients::Table)
                    .col(
                        ColumnDef::new(ApiClients::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiClients::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(ApiClients::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiClients::Name).string_len(255).not_null())
                    // Space-separated wire forms (`doctors:read slots:read`).
                    .col(
                        ColumnDef::new(ApiClients::Scopes)
                            .string_len(512)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiClients::SecretHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ApiClients::PreviousSecretHash).string_len(64))
                    .col(
                        ColumnDef::new(ApiClients::PreviousSecretExpiresAt)
                            .timestamp_with_time_zone(),
                    )
                    .col(ColumnDef::new(ApiClients::RateLimitPerMinute).integer())
                    .col(
                        ColumnDef::new(ApiClients::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApiClients::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_clients_tenant")
                            .from(ApiClients::Table, ApiClients::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_api_clients_client_id")
                    .table(ApiClients::Table)
                    .col(ApiClients::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_clients_tenant")
                    .table(ApiClients::Table)
                    .col(ApiClients::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiClients::Table).to_owned())
            .await
    }
}
