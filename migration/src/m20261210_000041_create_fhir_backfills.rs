//! `fhir_backfills`: "send existing records" to a FHIR destination (issue 16), one row per
//! destination holding its latest run, so a run survives the instance that started it.
//!
//! - Removed with its destination and with the clinic (both foreign keys cascade).
//! - `state` is `running`, `done` or `failed`; `phase` the resource being read (`Patient`, then
//!   `Appointment`) and `next_page` the next Cliniko page of it, written after every page.
//! - `lease_id` / `lease_until`: the instance running it and until when; a running row whose
//!   lease has lapsed is resumed by any instance (`ix_fhir_backfills_lapsed`).
//! - Counts only: no patient data is stored here.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FhirBackfills {
    Table,
    DestinationId,
    TenantId,
    State,
    Phase,
    NextPage,
    WithAppointments,
    WindowStart,
    WindowEnd,
    PatientsQueued,
    PatientsTotal,
    AppointmentsQueued,
    AppointmentsTotal,
    LastError,
    LeaseId,
    LeaseUntil,
    StartedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum FhirDestinations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FhirBackfills::Table)
                    .col(
                        ColumnDef::new(FhirBackfills::DestinationId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(FhirBackfills::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(FhirBackfills::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(FhirBackfills::Phase)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirBackfills::NextPage).integer().not_null())
                    .col(
                        ColumnDef::new(FhirBackfills::WithAppointments)
                            .boolean()
                            .not_null(),
                    )
                    .col(at(FhirBackfills::WindowStart).not_null())
                    .col(at(FhirBackfills::WindowEnd).not_null())
                    .col(
                        ColumnDef::new(FhirBackfills::PatientsQueued)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirBackfills::PatientsTotal).big_integer())
                    .col(
                        ColumnDef::new(FhirBackfills::AppointmentsQueued)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(FhirBackfills::AppointmentsTotal).big_integer())
                    .col(ColumnDef::new(FhirBackfills::LastError).string_len(64))
                    .col(ColumnDef::new(FhirBackfills::LeaseId).uuid())
                    .col(at(FhirBackfills::LeaseUntil))
                    .col(at(FhirBackfills::StartedAt).not_null())
                    .col(at(FhirBackfills::UpdatedAt).not_null())
                    .col(at(FhirBackfills::FinishedAt))
                    .foreign_key(&mut tenant_key(
                        "fk_fhir_backfills_tenant",
                        FhirBackfills::Table,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_fhir_backfills_destination")
                            .from(FhirBackfills::Table, FhirBackfills::DestinationId)
                            .to(FhirDestinations::Table, FhirDestinations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_fhir_backfills_lapsed")
                    .table(FhirBackfills::Table)
                    .col(FhirBackfills::State)
                    .col(FhirBackfills::LeaseUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_fhir_backfills_tenant")
                    .table(FhirBackfills::Table)
                    .col(FhirBackfills::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FhirBackfills::Table).to_owned())
            .await
    }
}
