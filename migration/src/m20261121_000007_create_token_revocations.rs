//! Revoked access tokens: the durable record behind the shared revocation set. A row is useless
//! once its token has expired and is pruned then.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TokenRevocations {
    Table,
    Jti,
    TenantId,
    ClientId,
    ExpiresAt,
    RevokedAt,
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
                    .table(TokenRevocations::Table)
                    .col(
                        ColumnDef::new(TokenRevocations::Jti)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(TokenRevocations::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(TokenRevocations::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TokenRevocations::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TokenRevocations::RevokedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_revocations_tenant")
                            .from(TokenRevocations::Table, TokenRevocations::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_token_revocations_expires_at")
                    .table(TokenRevocations::Table)
                    .col(TokenRevocations::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TokenRevocations::Table).to_owned())
            .await
    }
}
