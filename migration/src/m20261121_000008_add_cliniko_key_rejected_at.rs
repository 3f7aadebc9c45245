//! When Cliniko refuses a stored key (401: revoked, its user deactivated, or the account moved to
//! another shard), the clinic must reconnect; `rejected_at` records that so the settings page can
//! say so. Cleared whenever a key is (re)connected.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinikoKeys {
    Table,
    RejectedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClinikoKeys::Table)
                    .add_column(
                        ColumnDef::new(ClinikoKeys::RejectedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClinikoKeys::Table)
                    .drop_column(ClinikoKeys::RejectedAt)
                    .to_owned(),
            )
            .await
    }
}
