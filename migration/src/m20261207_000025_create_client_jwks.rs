//! SMART Backend Services client authentication (`private_key_jwt`):
//!
//! - `client_jwks`: the public keys (a JWKS document) an API client signs its assertions with;
//!   one row per client, removed with the clinic and with the client (both foreign keys cascade).
//!   Public keys are not secrets, so the document is stored in the clear.
//! - `client_assertion_jtis`: every assertion `jti` already used, kept until the assertion
//!   expires. The primary key makes "first use wins" one unique insert that every instance
//!   shares, so a replay is refused even right after a Redis restart.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClientJwks {
    Table,
    ClientId,
    TenantId,
    Jwks,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClientAssertionJtis {
    Table,
    ClientId,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    ClientId,
}

fn client_key(name: &str, table: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(table)
        .from_col(Alias::new("client_id"))
        .to(ApiClients::Table, ApiClients::ClientId)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClientJwks::Table)
                    .col(
                        ColumnDef::new(ClientJwks::ClientId)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ClientJwks::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ClientJwks::Jwks).text().not_null())
                    .col(at(ClientJwks::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key("fk_client_jwks_tenant", ClientJwks::Table))
                    .foreign_key(&mut client_key("fk_client_jwks_client", ClientJwks::Table))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ClientAssertionJtis::Table)
                    .col(
                        ColumnDef::new(ClientAssertionJtis::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClientAssertionJtis::Jti)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(at(ClientAssertionJtis::ExpiresAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(ClientAssertionJtis::ClientId)
                            .col(ClientAssertionJtis::Jti),
                    )
                    .foreign_key(&mut client_key(
                        "fk_client_assertion_jtis_client",
                        ClientAssertionJtis::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_client_assertion_jtis_expires_at")
                    .table(ClientAssertionJtis::Table)
                    .col(ClientAssertionJtis::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClientAssertionJtis::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ClientJwks::Table).to_owned())
            .await
    }
}
