//! `sso_configs`: at most one row per clinic, its OpenID Connect single sign-on: the identity
//! provider's issuer, the client ClinicGate is registered as there, and whether staff other
//! than owners may still log in with a password.
//!
//! The client secret is sealed with the clinic's data key (`client_secret`,
//! `client_secret_key_version`), never stored in clear. The row goes with its clinic (the
//! foreign key cascades).

use sea_orm_migration::prelude::*;

use crate::columns::{at, tenant_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SsoConfigs {
    Table,
    TenantId,
    ProviderName,
    Issuer,
    ClientId,
    ClientSecret,
    ClientSecretKeyVersion,
    SsoOnly,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SsoConfigs::Table)
                    .col(
                        ColumnDef::new(SsoConfigs::TenantId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SsoConfigs::ProviderName)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SsoConfigs::Issuer).text().not_null())
                    .col(
                        ColumnDef::new(SsoConfigs::ClientId)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SsoConfigs::ClientSecret).blob().not_null())
                    .col(
                        ColumnDef::new(SsoConfigs::ClientSecretKeyVersion)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SsoConfigs::SsoOnly)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(at(SsoConfigs::CreatedAt).not_null())
                    .col(at(SsoConfigs::UpdatedAt).not_null())
                    .foreign_key(&mut tenant_key("fk_sso_configs_tenant", SsoConfigs::Table))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SsoConfigs::Table).to_owned())
            .await
    }
}
