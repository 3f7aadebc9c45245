//! Each clinic's Cliniko API key: only the ciphertext (sealed by the clinic's data key) and what
//! the UI shows about it — shard, last four characters, whose key it is, when it was verified.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinikoKeys {
    Table,
    TenantId,
    Ciphertext,
    KeyVersion,
    Shard,
    Last4,
    ClinikoUserId,
    ClinikoUserName,
    ClinikoUserRole,
    VerifiedAt,
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
                    .table(ClinikoKeys::Table)
                    .col(
                        ColumnDef::new(ClinikoKeys::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ClinikoKeys::Ciphertext).binary().not_null())
                    .col(ColumnDef::new(ClinikoKeys::KeyVersion).integer().not_null())
                    .col(ColumnDef::new(ClinikoKeys::Shard).string_len(8).not_null())
                    .col(ColumnDef::new(ClinikoKeys::Last4).string_len(8).not_null())
                    // Cliniko ids exceed 2^53: kept as text, never as a number.
                    .col(
                        ColumnDef::new(ClinikoKeys::ClinikoUserId)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinikoKeys::ClinikoUserName)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(ClinikoKeys::ClinikoUserRole).string_len(64))
                    .col(
                        ColumnDef::new(ClinikoKeys::VerifiedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinikoKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ClinikoKeys::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_cliniko_keys_tenant")
                            .from(ClinikoKeys::Table, ClinikoKeys::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClinikoKeys::Table).to_owned())
            .await
    }
}
