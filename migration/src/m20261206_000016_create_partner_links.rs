//! `partner_links`: which partner id an API client gave a clinic's Cliniko patient. ClinicGate is
//! the database of record for these external identifiers.
//!
//! One row per (clinic, API client, partner id); the primary key is also the claim that makes a
//! partner's create idempotent across instances: the row is inserted *before* Cliniko is called,
//! with no Cliniko id and a `claim_expires_at`, and completed with the Cliniko id afterwards. A
//! second request with the same partner id finds the row (waits for it, or reads the patient).
//! A Cliniko patient has at most one partner id per client (unique index; NULLs, i.e. claims,
//! are distinct on both SQLite and PostgreSQL).

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PartnerLinks {
    Table,
    TenantId,
    ClientId,
    PartnerId,
    ClinikoPatientId,
    ClaimExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PartnerLinks::Table)
                    .col(ColumnDef::new(PartnerLinks::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(PartnerLinks::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PartnerLinks::PartnerId)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PartnerLinks::ClinikoPatientId).string_len(32))
                    .col(at(PartnerLinks::ClaimExpiresAt))
                    .col(at(PartnerLinks::CreatedAt).not_null())
                    .col(at(PartnerLinks::UpdatedAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(PartnerLinks::TenantId)
                            .col(PartnerLinks::ClientId)
                            .col(PartnerLinks::PartnerId),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_partner_links_tenant",
                        PartnerLinks::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_partner_links_cliniko_patient")
                    .table(PartnerLinks::Table)
                    .col(PartnerLinks::TenantId)
                    .col(PartnerLinks::ClientId)
                    .col(PartnerLinks::ClinikoPatientId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PartnerLinks::Table).to_owned())
            .await
    }
}
