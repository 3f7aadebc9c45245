//! The PHI access ledger: one row per disclosure of a patient's data (who, which patient, what,
//! through which channel, when, from where). Rows are append-only: the application has no code
//! that changes or deletes them, and triggers refuse `UPDATE` and `DELETE` on both engines, so
//! not even a stray SQL statement rewrites history.
//!
//! No `ON DELETE CASCADE` to `clinics`: a clinic's access history must outlive anything done to
//! the clinic row (clinics are suspended, never deleted).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PhiAccessLedger {
    Table,
    Id,
    TenantId,
    ActorKind,
    ActorId,
    PatientId,
    Categories,
    Channel,
    OccurredAt,
    Ip,
    UserAgent,
    RequestId,
}

#[derive(DeriveIden)]
enum Clinics {
    Table,
    Id,
}

/// Triggers that make the table append-only, per engine.
const SQLITE_GUARDS: [&str; 2] = [
    "CREATE TRIGGER phi_access_ledger_no_update BEFORE UPDATE ON phi_access_ledger \
     BEGIN SELECT RAISE(ABORT, 'PHI access ledger entries are immutable'); END",
    "CREATE TRIGGER phi_access_ledger_no_delete BEFORE DELETE ON phi_access_ledger \
     BEGIN SELECT RAISE(ABORT, 'PHI access ledger entries are immutable'); END",
];
const POSTGRES_GUARDS: [&str; 2] = [
    "CREATE FUNCTION phi_access_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'PHI access ledger entries are immutable'; END $$",
    "CREATE TRIGGER phi_access_ledger_immutable BEFORE UPDATE OR DELETE OR TRUNCATE \
     ON phi_access_ledger FOR EACH STATEMENT EXECUTE FUNCTION phi_access_ledger_immutable()",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PhiAccessLedger::Table)
                    // UUIDv7: time-ordered, so the primary key is also the listing order.
                    .col(
                        ColumnDef::new(PhiAccessLedger::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PhiAccessLedger::TenantId).uuid().not_null())
                    // `user` or `api_client`.
                    .col(
                        ColumnDef::new(PhiAccessLedger::ActorKind)
                            .string_len(16)
                            .not_null(),
                    )
                    // A staff member's UUID or an API client's public id.
                    .col(
                        ColumnDef::new(PhiAccessLedger::ActorId)
                            .string_len(64)
                            .not_null(),
                    )
                    // A Cliniko id (int64 as digits: Cliniko ids exceed 2^53).
                    .col(
                        ColumnDef::new(PhiAccessLedger::PatientId)
                            .string_len(20)
                            .not_null(),
                    )
                    // Comma-separated: demographics,contact,alerts,appointments.
                    .col(
                        ColumnDef::new(PhiAccessLedger::Categories)
                            .string_len(64)
                            .not_null(),
                    )
                    // page, json, search, recent, api, fhir.
                    .col(
                        ColumnDef::new(PhiAccessLedger::Channel)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PhiAccessLedger::OccurredAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PhiAccessLedger::Ip).string_len(45))
                    .col(ColumnDef::new(PhiAccessLedger::UserAgent).string_len(512))
                    .col(ColumnDef::new(PhiAccessLedger::RequestId).string_len(128))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_phi_access_ledger_tenant")
                            .from(PhiAccessLedger::Table, PhiAccessLedger::TenantId)
                            .to(Clinics::Table, Clinics::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The three ways owners read the ledger: everything, by patient, by actor — newest first.
        for (name, column) in [
            ("ix_phi_access_ledger_tenant", None),
            (
                "ix_phi_access_ledger_patient",
                Some(PhiAccessLedger::PatientId),
            ),
            ("ix_phi_access_ledger_actor", Some(PhiAccessLedger::ActorId)),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(PhiAccessLedger::Table)
                .col(PhiAccessLedger::TenantId);
            if let Some(column) = column {
                index.col(column);
            }
            index.col(PhiAccessLedger::Id);
            manager.create_index(index.to_owned()).await?;
        }
        let db = manager.get_connection();
        let guards = match db.get_database_backend() {
            DatabaseBackend::Postgres => POSTGRES_GUARDS,
            _ => SQLITE_GUARDS,
        };
        for statement in guards {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PhiAccessLedger::Table).to_owned())
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP FUNCTION IF EXISTS phi_access_ledger_immutable()")
                .await?;
        }
        Ok(())
    }
}
