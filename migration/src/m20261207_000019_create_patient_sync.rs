//! `patient_syncs`: where each API client's partner patient API is, for outbound patient sync.
//!
//! - One row per (clinic, client) (unique index); removed with the clinic and with the client
//!   (both foreign keys cascade), so a deleted client is never sent another patient.
//! - The credential (bearer token or header value) is sealed with the clinic's data key
//!   (`credential`, `credential_key_version`); the scheme and a header's name are kept in the
//!   clear so they can be shown.
//! - Deliveries name a row by `id` (their target), which a reconfiguration keeps.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PatientSyncs {
    Table,
    Id,
    TenantId,
    ClientId,
    BaseUrl,
    AuthType,
    AuthHeaderName,
    Credential,
    CredentialKeyVersion,
    IdentifierSystem,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiClients {
    Table,
    ClientId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PatientSyncs::Table)
                    .col(
                        ColumnDef::new(PatientSyncs::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PatientSyncs::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(PatientSyncs::ClientId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PatientSyncs::BaseUrl)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PatientSyncs::AuthType)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PatientSyncs::AuthHeaderName).string_len(100))
                    .col(ColumnDef::new(PatientSyncs::Credential).blob().not_null())
                    .col(
                        ColumnDef::new(PatientSyncs::CredentialKeyVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PatientSyncs::IdentifierSystem)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PatientSyncs::Enabled).boolean().not_null())
                    .col(at(PatientSyncs::CreatedAt).not_null())
                    .col(at(PatientSyncs::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_patient_syncs_tenant",
                        PatientSyncs::Table,
                    ))
                    // `api_clients.client_id` has a unique index, which both backends accept as
                    // a foreign key's target.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_patient_syncs_client")
                            .from(PatientSyncs::Table, PatientSyncs::ClientId)
                            .to(ApiClients::Table, ApiClients::ClientId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_patient_syncs_tenant_client")
                    .table(PatientSyncs::Table)
                    .col(PatientSyncs::TenantId)
                    .col(PatientSyncs::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PatientSyncs::Table).to_owned())
            .await
    }
}
