//! The event engine's durable queue, in the database because it is the one store every instance
//! shares in every deployment (Redis may speed things up but never holds the only copy):
//! - `events`: what happened in a clinic, its data sealed with the clinic's data key (it is PHI),
//!   kept until `expires_at` (the retention) so deliveries can be resent and recovered.
//! - `deliveries`: one per event and target (a webhook endpoint, a FHIR destination, a partner):
//!   its state, attempts so far, when it is next due, and the lease of the worker holding it.
//! - `delivery_attempts`: every attempt, with its status or error class, latency and the first
//!   KiB of the answer.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    TenantId,
    EventType,
    OccurredAt,
    Data,
    DataKeyVersion,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    TenantId,
    EventId,
    Kind,
    TargetId,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseId,
    LeaseUntil,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum DeliveryAttempts {
    Table,
    Id,
    TenantId,
    DeliveryId,
    AttemptedAt,
    StatusCode,
    ErrorClass,
    LatencyMs,
    ResponseExcerpt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(ColumnDef::new(Events::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Events::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Events::EventType).string_len(64).not_null())
                    .col(at(Events::OccurredAt).not_null())
                    .col(ColumnDef::new(Events::Data).blob().not_null())
                    .col(ColumnDef::new(Events::DataKeyVersion).integer().not_null())
                    .col(at(Events::ExpiresAt).not_null())
                    .foreign_key(&mut tenant_key("fk_events_tenant", Events::Table))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_tenant_occurred")
                    .table(Events::Table)
                    .col(Events::TenantId)
                    .col(Events::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_events_expires_at")
                    .table(Events::Table)
                    .col(Events::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(
                        ColumnDef::new(Deliveries::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Deliveries::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::EventId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Deliveries::TargetId).uuid().not_null())
                    .col(ColumnDef::new(Deliveries::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Deliveries::Attempts).integer().not_null())
                    .col(at(Deliveries::NextAttemptAt).not_null())
                    .col(ColumnDef::new(Deliveries::LeaseId).uuid())
                    .col(at(Deliveries::LeaseUntil))
                    .col(at(Deliveries::CreatedAt).not_null())
                    .col(at(Deliveries::FinishedAt))
                    .foreign_key(&mut tenant_key("fk_deliveries_tenant", Deliveries::Table))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deliveries_event")
                            .from(Deliveries::Table, Deliveries::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // What the workers' claim reads: due pending deliveries, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_deliveries_due")
                    .table(Deliveries::Table)
                    .col(Deliveries::Status)
                    .col(Deliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deliveries_target")
                    .table(Deliveries::Table)
                    .col(Deliveries::TenantId)
                    .col(Deliveries::TargetId)
                    .col(Deliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .col(
                        ColumnDef::new(DeliveryAttempts::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(DeliveryAttempts::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(DeliveryAttempts::DeliveryId)
                            .uuid()
                            .not_null(),
                    )
                    .col(at(DeliveryAttempts::AttemptedAt).not_null())
                    .col(ColumnDef::new(DeliveryAttempts::StatusCode).integer())
                    .col(ColumnDef::new(DeliveryAttempts::ErrorClass).string_len(32))
                    .col(
                        ColumnDef::new(DeliveryAttempts::LatencyMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeliveryAttempts::ResponseExcerpt).string_len(1024))
                    .foreign_key(&mut tenant_key(
                        "fk_delivery_attempts_tenant",
                        DeliveryAttempts::Table,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_delivery_attempts_delivery")
                            .from(DeliveryAttempts::Table, DeliveryAttempts::DeliveryId)
                            .to(Deliveries::Table, Deliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_delivery_attempts_delivery")
                    .table(DeliveryAttempts::Table)
                    .col(DeliveryAttempts::DeliveryId)
                    .col(DeliveryAttempts::AttemptedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            DeliveryAttempts::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Events::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
