//! The Cliniko poller's durable state, per clinic (every row goes with its clinic):
//! - `poll_clinics`: the schedule (when a clinic is next due, whether it is polled at all) and
//!   the lease of the instance polling it now (`lease_until` lets another instance take over
//!   when that one died), with the last outcome for the operator;
//! - `poll_cursors`: per resource, the `updated_at` high-water mark reached, when watching began
//!   (records created before that are the baseline) and whether the baseline is complete;
//! - `poll_snapshots`: what diffing needs of each record seen: a keyed fingerprint, a plain state
//!   without patient data, and (only while an arrived appointment may still complete) its body
//!   sealed with the clinic's data key; `revision` makes concurrent writers (a poll and one of
//!   ClinicGate's own writes) detect each other;
//! - `poll_marks`: per doctor, when `doctor.availability_changed` was last sent (coalescing),
//!   and per doctor and day, the fingerprint of the queue last sent.
//!
//! Snapshots of past appointments and marks of past days carry `expires_at`, after which they
//! are forgotten: an old appointment changed later is then taken as it is, silently.

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PollClinics {
    Table,
    TenantId,
    Enabled,
    NextPollAt,
    LeaseId,
    LeaseOwner,
    LeaseUntil,
    LastPolledAt,
    LastSuccessAt,
    LastOutcome,
    Failures,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PollCursors {
    Table,
    TenantId,
    Resource,
    CursorAt,
    WatchingSince,
    BaselineDone,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PollSnapshots {
    Table,
    TenantId,
    Resource,
    RecordId,
    SourceUpdatedAt,
    Fingerprint,
    State,
    Body,
    BodyKeyVersion,
    DoctorId,
    QueueDay,
    DueAt,
    Revision,
    SeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum PollMarks {
    Table,
    TenantId,
    Kind,
    MarkKey,
    Fingerprint,
    EmittedAt,
    HeldSince,
    DueAt,
    Revision,
    UpdatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PollClinics::Table)
                    .col(
                        ColumnDef::new(PollClinics::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PollClinics::Enabled).boolean().not_null())
                    .col(at(PollClinics::NextPollAt).not_null())
                    .col(ColumnDef::new(PollClinics::LeaseId).uuid())
                    .col(ColumnDef::new(PollClinics::LeaseOwner).string_len(64))
                    .col(at(PollClinics::LeaseUntil))
                    .col(at(PollClinics::LastPolledAt))
                    .col(at(PollClinics::LastSuccessAt))
                    .col(ColumnDef::new(PollClinics::LastOutcome).string_len(32))
                    .col(ColumnDef::new(PollClinics::Failures).integer().not_null())
                    .col(at(PollClinics::CreatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_poll_clinics_tenant",
                        PollClinics::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        // What the pollers' claim reads: enabled clinics that are due.
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_clinics_due")
                    .table(PollClinics::Table)
                    .col(PollClinics::Enabled)
                    .col(PollClinics::NextPollAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PollCursors::Table)
                    .col(ColumnDef::new(PollCursors::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(PollCursors::Resource)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(at(PollCursors::CursorAt))
                    .col(at(PollCursors::WatchingSince).not_null())
                    .col(
                        ColumnDef::new(PollCursors::BaselineDone)
                            .boolean()
                            .not_null(),
                    )
                    .col(at(PollCursors::UpdatedAt).not_null())
                    .primary_key(
                        Index::create()
                            .col(PollCursors::TenantId)
                            .col(PollCursors::Resource),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_poll_cursors_tenant",
                        PollCursors::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PollSnapshots::Table)
                    .col(ColumnDef::new(PollSnapshots::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(PollSnapshots::Resource)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PollSnapshots::RecordId)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(at(PollSnapshots::SourceUpdatedAt))
                    .col(ColumnDef::new(PollSnapshots::Fingerprint).blob().not_null())
                    .col(ColumnDef::new(PollSnapshots::State).text())
                    .col(ColumnDef::new(PollSnapshots::Body).blob())
                    .col(ColumnDef::new(PollSnapshots::BodyKeyVersion).integer())
                    .col(ColumnDef::new(PollSnapshots::DoctorId).string_len(20))
                    .col(ColumnDef::new(PollSnapshots::QueueDay).string_len(10))
                    .col(at(PollSnapshots::DueAt))
                    .col(
                        ColumnDef::new(PollSnapshots::Revision)
                            .big_integer()
                            .not_null(),
                    )
                    .col(at(PollSnapshots::SeenAt).not_null())
                    .col(at(PollSnapshots::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(PollSnapshots::TenantId)
                            .col(PollSnapshots::Resource)
                            .col(PollSnapshots::RecordId),
                    )
                    .foreign_key(&mut tenant_key(
                        "fk_poll_snapshots_tenant",
                        PollSnapshots::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        // Arrived appointments whose completion is due.
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_snapshots_due")
                    .table(PollSnapshots::Table)
                    .col(PollSnapshots::TenantId)
                    .col(PollSnapshots::DueAt)
                    .to_owned(),
            )
            .await?;
        // A doctor's queue for a day.
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_snapshots_queue")
                    .table(PollSnapshots::Table)
                    .col(PollSnapshots::TenantId)
                    .col(PollSnapshots::DoctorId)
                    .col(PollSnapshots::QueueDay)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PollMarks::Table)
                    .col(ColumnDef::new(PollMarks::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PollMarks::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(PollMarks::MarkKey).string_len(64).not_null())
                    .col(ColumnDef::new(PollMarks::Fingerprint).blob())
                    .col(at(PollMarks::EmittedAt))
                    .col(at(PollMarks::HeldSince))
                    .col(at(PollMarks::DueAt))
                    .col(ColumnDef::new(PollMarks::Revision).big_integer().not_null())
                    .col(at(PollMarks::UpdatedAt).not_null())
                    .col(at(PollMarks::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(PollMarks::TenantId)
                            .col(PollMarks::Kind)
                            .col(PollMarks::MarkKey),
                    )
                    .foreign_key(&mut tenant_key("fk_poll_marks_tenant", PollMarks::Table))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_marks_due")
                    .table(PollMarks::Table)
                    .col(PollMarks::TenantId)
                    .col(PollMarks::DueAt)
                    .to_owned(),
            )
            .await?;
        // The sweeps that forget what is no longer needed (past appointments, past days' queues).
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_snapshots_expires_at")
                    .table(PollSnapshots::Table)
                    .col(PollSnapshots::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_poll_marks_expires_at")
                    .table(PollMarks::Table)
                    .col(PollMarks::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PollMarks::Table.into_iden(),
            PollSnapshots::Table.into_iden(),
            PollCursors::Table.into_iden(),
            PollClinics::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
