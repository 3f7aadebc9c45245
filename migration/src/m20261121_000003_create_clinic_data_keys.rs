//! Each clinic's data key, wrapped by a master key (envelope encryption). The master key's id is
//! stored beside it so a rotation knows which rows still need re-wrapping and readers know which
//! configured key to use.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinicDataKeys {
    Table,
    TenantId,
    MasterKeyId,
    WrappedKey,
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
                    .table(ClinicDataKeys::Table)
                    .col(
                        ColumnDef::new(ClinicDataKeys::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ClinicDataKeys::MasterKeyId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicDataKeys::WrappedKey)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicDataKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinicDataKeys::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_clinic_data_keys_tenant")
                            .from(ClinicDataKeys::Table, ClinicDataKeys::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_clinic_data_keys_master_key")
                    .table(ClinicDataKeys::Table)
                    .col(ClinicDataKeys::MasterKeyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClinicDataKeys::Table).to_owned())
            .await
    }
}
