//! One-time password links: a reset link an owner or admin makes for a staff member, or the
//! invite link of a staff member added without a password. The token in the link is never
//! stored: `token_digest` is its SHA-256 (hex), unique, so the link finds its row by the digest
//! of what it presents. `used_at` marks a link spent (single use); `expires_at` ends it unused.
//! Rows go with their clinic and with their staff member (both foreign keys cascade).

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    TenantId,
    UserId,
    Purpose,
    TokenDigest,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PasswordResets::Table)
                    .col(
                        ColumnDef::new(PasswordResets::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PasswordResets::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PasswordResets::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(PasswordResets::Purpose)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PasswordResets::TokenDigest)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PasswordResets::CreatedBy).uuid())
                    .col(at(PasswordResets::CreatedAt).not_null())
                    .col(at(PasswordResets::ExpiresAt).not_null())
                    .col(at(PasswordResets::UsedAt).null())
                    .foreign_key(&mut tenant_key(
                        "fk_password_resets_tenant",
                        PasswordResets::Table,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_resets_user")
                            .from(PasswordResets::Table, PasswordResets::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_password_resets_token_digest")
                    .table(PasswordResets::Table)
                    .col(PasswordResets::TokenDigest)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PasswordResets::Table).to_owned())
            .await
    }
}
