//! Patients by phone (issue 16, FHIR `Patient?phone=`): `poll_phone_keys` holds, per clinic and
//! Cliniko patient, keyed hashes of the last digits of each of their phone numbers, written by
//! the poller with the patient's snapshot (no number is stored; see
//! `clinicgate_core::polling::phones`). `poll_snapshots.phones_indexed` says a patient's keys
//! are there: snapshots kept from before this migration are not, so the patients' cursors are
//! reset and every clinic's patients are read once more — unchanged ones silently, as their
//! fingerprints are kept — and indexed on the way; `poll_cursors.phones_indexed` turns true when
//! such a read from the start reached the end of the list (until then a phone search says the
//! index is being built). Removed with the clinic.

use sea_orm_migration::prelude::*;

use crate::columns::tenant_key;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PollPhoneKeys {
    Table,
    TenantId,
    RecordId,
    PhoneKey,
}

#[derive(DeriveIden)]
enum PollSnapshots {
    Table,
}

#[derive(DeriveIden)]
enum PollCursors {
    Table,
    Resource,
    CursorAt,
}

/// The flag both tables gain.
#[derive(DeriveIden)]
struct PhonesIndexed;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PollPhoneKeys::Table)
                    .col(ColumnDef::new(PollPhoneKeys::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(PollPhoneKeys::RecordId)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PollPhoneKeys::PhoneKey).blob().not_null())
                    .primary_key(
                        Index::create()
                            .col(PollPhoneKeys::TenantId)
                            .col(PollPhoneKeys::RecordId)
                            .col(PollPhoneKeys::PhoneKey),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_poll_phone_keys_tenant",
                        PollPhoneKeys::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        // What a search reads: a clinic's patients under a key.
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_phone_keys_key")
                    .table(PollPhoneKeys::Table)
                    .col(PollPhoneKeys::TenantId)
                    .col(PollPhoneKeys::PhoneKey)
                    .to_owned(),
            )
            .await?;
        for table in [
            PollSnapshots::Table.into_iden(),
            PollCursors::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(
                            ColumnDef::new(PhonesIndexed)
                                .boolean()
                                .not_null()
                                .default(false),
                        )
                        .to_owned(),
                )
                .await?;
        }
        manager
            .exec_stmt(
                Query::update()
                    .table(PollCursors::Table)
                    // A literal NULL: PostgreSQL refuses a NULL bound as text for a timestamp.
                    .value(PollCursors::CursorAt, Expr::cust("NULL"))
                    .and_where(Expr::col(PollCursors::Resource).eq("patients"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PollCursors::Table.into_iden(),
            PollSnapshots::Table.into_iden(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(PhonesIndexed)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(PollPhoneKeys::Table).to_owned())
            .await
    }
}
