//! `clinic_settings`: at most one row per clinic, holding the clinic-wide choices an owner makes
//! about its staff's sign-in and its partners; without a row every setting has its default.
//!
//! - `mfa_required`: staff without two-step login are sent to set it up before anything else.
//! - `partner_id_field`: the Cliniko patient field a partner's own id is also written into when
//!   a partner creates or links a patient (e.g. `old_reference_id`); `NULL` writes none.
//!
//! The row goes with its clinic (the foreign key cascades).

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ClinicSettings {
    Table,
    TenantId,
    MfaRequired,
    PartnerIdField,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClinicSettings::Table)
                    .col(
                        ColumnDef::new(ClinicSettings::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ClinicSettings::MfaRequired)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(ClinicSettings::PartnerIdField)
                            .string_len(64)
                            .null(),
                    )
                    .col(at(ClinicSettings::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key(
                        "fk_clinic_settings_tenant",
                        ClinicSettings::Table,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ClinicSettings::Table).to_owned())
            .await
    }
}
