//! `usage_counters`: what each clinic's API clients did, per minute, for the clinic's dashboard —
//! requests, client errors (4xx), server errors (5xx), 429s, and Cliniko calls by lane. Every
//! instance adds its own counts (aggregated in memory, flushed every few seconds) with an upsert
//! that adds, so a row is the sum over instances. Kept 30 days.
//!
//! One row per (clinic, client, minute); `client_id` is the empty string for Cliniko calls that
//! served no API client (clinicians' pages, background work), because a primary key column
//! cannot be null.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UsageCounters {
    Table,
    TenantId,
    ClientId,
    Minute,
    Requests,
    ClientErrors,
    ServerErrors,
    RateLimited,
    ClinikoInteractive,
    ClinikoApi,
    ClinikoBackground,
}

fn count(column: UsageCounters) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .default(0)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageCounters::Table)
                    .col(ColumnDef::new(UsageCounters::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(UsageCounters::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(at(UsageCounters::Minute).not_null())
                    .col(count(UsageCounters::Requests))
                    .col(count(UsageCounters::ClientErrors))
                    .col(count(UsageCounters::ServerErrors))
                    .col(count(UsageCounters::RateLimited))
                    .col(count(UsageCounters::ClinikoInteractive))
                    .col(count(UsageCounters::ClinikoApi))
                    .col(count(UsageCounters::ClinikoBackground))
                    .primary_key(
                        Index::create()
                            .col(UsageCounters::TenantId)
                            .col(UsageCounters::ClientId)
                            .col(UsageCounters::Minute),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_usage_counters_tenant",
                        UsageCounters::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by age across clinics.
        manager
            .create_index(
                Index::create()
                    .name("ix_usage_counters_minute")
                    .table(UsageCounters::Table)
                    .col(UsageCounters::Minute)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageCounters::Table).to_owned())
            .await
    }
}
