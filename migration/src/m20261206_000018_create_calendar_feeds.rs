//! Doctors' calendar feeds: a clinic's revocable, per-doctor subscription URLs, and the clinic's
//! one choice about what they show.
//!
//! - `calendar_feeds`: one row per feed. The token in the URL is never stored: `token_digest` is
//!   its SHA-256 (hex), unique, so a fetch finds its feed by the digest of what it presents.
//!   Revoking deletes the row: a revoked feed is indistinguishable from one that never existed.
//!   Removed with their clinic (the foreign key cascades).
//! - `calendar_feed_settings`: at most one row per clinic; without one, feeds show patients'
//!   initials (`patient_names = 'initials'`), the default the clinic must change on purpose.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CalendarFeeds {
    Table,
    Id,
    TenantId,
    DoctorId,
    TokenDigest,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CalendarFeedSettings {
    Table,
    TenantId,
    PatientNames,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CalendarFeeds::Table)
                    .col(
                        ColumnDef::new(CalendarFeeds::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CalendarFeeds::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(CalendarFeeds::DoctorId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CalendarFeeds::TokenDigest)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CalendarFeeds::CreatedBy).uuid())
                    .col(at(CalendarFeeds::CreatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_calendar_feeds_tenant",
                        CalendarFeeds::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_calendar_feeds_token_digest")
                    .table(CalendarFeeds::Table)
                    .col(CalendarFeeds::TokenDigest)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_calendar_feeds_tenant")
                    .table(CalendarFeeds::Table)
                    .col(CalendarFeeds::TenantId)
                    .col(CalendarFeeds::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CalendarFeedSettings::Table)
                    .col(
                        ColumnDef::new(CalendarFeedSettings::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CalendarFeedSettings::PatientNames)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(at(CalendarFeedSettings::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_calendar_feed_settings_tenant",
                        CalendarFeedSettings::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CalendarFeedSettings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CalendarFeeds::Table).to_owned())
            .await
    }
}
