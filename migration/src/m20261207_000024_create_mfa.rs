//! Staff TOTP MFA: `staff_mfa` holds one row per staff member who enrolled — the TOTP secret
//! sealed with the clinic's data key (`ciphertext`, `key_version`), `confirmed_at` once their app
//! produced a valid code (only then is a code required at login), and `last_step`, the last TOTP
//! step accepted, so no code is accepted twice. `staff_mfa_recovery_codes` holds the SHA-256 of
//! each single-use recovery code; `used_at` marks one spent. Rows go with their clinic and with
//! their staff member (foreign keys cascade). `staff_mfa_resets` records each time an owner or
//! admin removed a staff member's MFA (who, whom, when); it goes with the clinic only, so the
//! record outlives the MFA it removed.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StaffMfa {
    Table,
    UserId,
    TenantId,
    Ciphertext,
    KeyVersion,
    ConfirmedAt,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum StaffMfaRecoveryCodes {
    Table,
    UserId,
    TenantId,
    CodeDigest,
    UsedAt,
}

#[derive(DeriveIden)]
enum StaffMfaResets {
    Table,
    Id,
    TenantId,
    UserId,
    ResetBy,
    ResetAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn user_key(name: &str, table: impl IntoIden, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(table)
        .from_col(column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffMfa::Table)
                    .col(
                        ColumnDef::new(StaffMfa::UserId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StaffMfa::TenantId).uuid().not_null())
                    .col(ColumnDef::new(StaffMfa::Ciphertext).binary().not_null())
                    .col(ColumnDef::new(StaffMfa::KeyVersion).integer().not_null())
                    .col(at(StaffMfa::ConfirmedAt).null())
                    .col(ColumnDef::new(StaffMfa::LastStep).big_integer().null())
                    .col(at(StaffMfa::CreatedAt).not_null())
                    .foreign_key(&mut tenant_key("fk_staff_mfa_tenant", StaffMfa::Table))
                    .foreign_key(&mut user_key(
                        "fk_staff_mfa_user",
                        StaffMfa::Table,
                        StaffMfa::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffMfaRecoveryCodes::Table)
                    .col(
                        ColumnDef::new(StaffMfaRecoveryCodes::UserId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffMfaRecoveryCodes::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffMfaRecoveryCodes::CodeDigest)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(at(StaffMfaRecoveryCodes::UsedAt).null())
                    .primary_key(
                        Index::create()
                            .col(StaffMfaRecoveryCodes::UserId)
                            .col(StaffMfaRecoveryCodes::CodeDigest),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_staff_mfa_recovery_codes_tenant",
                        StaffMfaRecoveryCodes::Table,
                    ))
                    .foreign_key(&mut user_key(
                        "fk_staff_mfa_recovery_codes_user",
                        StaffMfaRecoveryCodes::Table,
                        StaffMfaRecoveryCodes::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffMfaResets::Table)
                    .col(
                        ColumnDef::new(StaffMfaResets::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(StaffMfaResets::TenantId).uuid().not_null())
                    .col(ColumnDef::new(StaffMfaResets::UserId).uuid().not_null())
                    .col(ColumnDef::new(StaffMfaResets::ResetBy).uuid().not_null())
                    .col(at(StaffMfaResets::ResetAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_staff_mfa_resets_tenant",
                        StaffMfaResets::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffMfaResets::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StaffMfaRecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(StaffMfa::Table).to_owned())
            .await
    }
}
