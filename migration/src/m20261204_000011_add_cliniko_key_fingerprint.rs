//! One Cliniko key backs at most one clinic. Keys are sealed per clinic, so their ciphertexts
//! cannot be compared; `key_fingerprint` holds an HMAC of the key under a deployment key (never a
//! plain hash), and its unique index is what refuses a second clinic, races included.
//!
//! Rows stored before this migration have no fingerprint (NULL, which a unique index allows any
//! number of times): a migration cannot decrypt them, so the application fills them at start-up.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinikoKeys {
    Table,
    KeyFingerprint,
}

const INDEX: &str = "ux_cliniko_keys_key_fingerprint";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClinikoKeys::Table)
                    .add_column(
                        ColumnDef::new(ClinikoKeys::KeyFingerprint)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ClinikoKeys::Table)
                    .col(ClinikoKeys::KeyFingerprint)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(ClinikoKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ClinikoKeys::Table)
                    .drop_column(ClinikoKeys::KeyFingerprint)
                    .to_owned(),
            )
            .await
    }
}
