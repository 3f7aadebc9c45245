//! The public API's write safety, in the database because it is the one store every instance
//! shares in every deployment (without Redis the shared cache is per process):
//! - `booking_claims`: one row per (clinic, slot) being booked; the primary key is the lock, so a
//!   second concurrent attempt fails to insert. Rows expire and are replaced or pruned.
//! - `idempotency_records`: per clinic, API client and `Idempotency-Key`, the request's
//!   fingerprint, its state, and once finished its status and sealed body, for 24 hours.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BookingClaims {
    Table,
    TenantId,
    Slot,
    ClaimedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    TenantId,
    ClientId,
    IdempotencyKey,
    Fingerprint,
    State,
    StatusCode,
    ResponseBody,
    ResponseKeyVersion,
    LeaseUntil,
    CreatedAt,
    ExpiresAt,
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
                    .table(BookingClaims::Table)
                    .col(ColumnDef::new(BookingClaims::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(BookingClaims::Slot)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BookingClaims::ClaimedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(BookingClaims::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(BookingClaims::TenantId)
                            .col(BookingClaims::Slot),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_booking_claims_tenant")
                            .from(BookingClaims::Table, BookingClaims::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_booking_claims_expires_at")
                    .table(BookingClaims::Table)
                    .col(BookingClaims::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyRecords::Table)
                    .col(
                        ColumnDef::new(IdempotencyRecords::TenantId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::IdempotencyKey)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::Fingerprint)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(IdempotencyRecords::StatusCode).integer())
                    .col(ColumnDef::new(IdempotencyRecords::ResponseBody).blob())
                    .col(ColumnDef::new(IdempotencyRecords::ResponseKeyVersion).integer())
                    .col(
                        ColumnDef::new(IdempotencyRecords::LeaseUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(IdempotencyRecords::TenantId)
                            .col(IdempotencyRecords::ClientId)
                            .col(IdempotencyRecords::IdempotencyKey),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_records_tenant")
                            .from(IdempotencyRecords::Table, IdempotencyRecords::TenantId)
                            .to(Clinics::Table, Clinics::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_records_expires_at")
                    .table(IdempotencyRecords::Table)
                    .col(IdempotencyRecords::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyRecords::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BookingClaims::Table).to_owned())
            .await
    }
}
