//! The deployment's own keys (the client-secret hashing key, the token signing keys), each
//! sealed by the master key. `(purpose, generation)` is unique: it is what stops two instances
//! from creating the same key generation at once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServiceKeys {
    Table,
    Id,
    Purpose,
    Generation,
    MasterKeyId,
    WrappedKey,
    PublicKey,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServiceKeys::Table)
                    .col(
                        ColumnDef::new(ServiceKeys::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ServiceKeys::Purpose)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceKeys::Generation)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceKeys::MasterKeyId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ServiceKeys::WrappedKey).binary().not_null())
                    .col(ColumnDef::new(ServiceKeys::PublicKey).binary())
                    .col(
                        ColumnDef::new(ServiceKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ServiceKeys::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_service_keys_purpose_generation")
                    .table(ServiceKeys::Table)
                    .col(ServiceKeys::Purpose)
                    .col(ServiceKeys::Generation)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_service_keys_master_key")
                    .table(ServiceKeys::Table)
                    .col(ServiceKeys::MasterKeyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ServiceKeys::Table).to_owned())
            .await
    }
}
