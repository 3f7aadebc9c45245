//! `fhir_destinations`: a clinic's own FHIR servers, which its patients and appointments are
//! pushed to (FHIR push).
//!
//! - Removed with the clinic (the foreign key cascades); deliveries name a row by `id`.
//! - The auth scheme, token endpoint, client id, scopes and (SMART) the public key are kept in
//!   the clear so they can be shown; the client secret or the private key is sealed with the
//!   clinic's data key (`secret`, `secret_key_version`; null without authentication).
//! - `resources` is a comma-separated list of FHIR resource types (`Patient,Appointment`).

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FhirDestinations {
    Table,
    Id,
    TenantId,
    Name,
    BaseUrl,
    Resources,
    Enabled,
    AuthType,
    TokenUrl,
    ClientId,
    Scope,
    KeyId,
    PublicJwk,
    Secret,
    SecretKeyVersion,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FhirDestinations::Table)
                    .col(
                        ColumnDef::new(FhirDestinations::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(FhirDestinations::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(FhirDestinations::Name)
                            .string_len(400)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FhirDestinations::BaseUrl)
                            .string_len(2048)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FhirDestinations::Resources)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FhirDestinations::Enabled)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FhirDestinations::AuthType)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirDestinations::TokenUrl).string_len(2048))
                    .col(ColumnDef::new(FhirDestinations::ClientId).string_len(1024))
                    .col(ColumnDef::new(FhirDestinations::Scope).string_len(1024))
                    .col(ColumnDef::new(FhirDestinations::KeyId).string_len(100))
                    .col(ColumnDef::new(FhirDestinations::PublicJwk).text())
                    .col(ColumnDef::new(FhirDestinations::Secret).blob())
                    .col(ColumnDef::new(FhirDestinations::SecretKeyVersion).integer())
                    .col(at(FhirDestinations::CreatedAt).not_null())
                    .col(at(FhirDestinations::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_fhir_destinations_tenant",
                        FhirDestinations::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_fhir_destinations_tenant")
                    .table(FhirDestinations::Table)
                    .col(FhirDestinations::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FhirDestinations::Table).to_owned())
            .await
    }
}
