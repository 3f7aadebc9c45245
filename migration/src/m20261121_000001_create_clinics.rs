//! Clinics: the tenants. Subdomains are stored lowercase and unique, so the unique index is
//! also case-insensitive.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clinics {
    Table,
    Id,
    Name,
    Subdomain,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clinics::Table)
                    .col(ColumnDef::new(Clinics::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Clinics::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Clinics::Subdomain).string_len(63).not_null())
                    .col(
                        ColumnDef::new(Clinics::Status)
                            .string_len(16)
                            .not_null()
                            .default("active"),
                    )
                    .col(
                        ColumnDef::new(Clinics::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Clinics::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_clinics_subdomain")
                    .table(Clinics::Table)
                    .col(Clinics::Subdomain)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Clinics::Table).to_owned())
            .await
    }
}
