//! RS384 key pairs for SMART Backend Services destinations (issue 16):
//! `fhir_destinations.key_algorithm` names what the destination's key signs with (`ES384` or
//! `RS384`), null without a key pair. Destinations made before had only ES384 keys, so theirs
//! is filled in.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FhirDestinations {
    Table,
    KeyAlgorithm,
    AuthType,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FhirDestinations::Table)
                    .add_column(ColumnDef::new(FhirDestinations::KeyAlgorithm).string_len(16))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(FhirDestinations::Table)
                    .value(FhirDestinations::KeyAlgorithm, "ES384")
                    .and_where(Expr::col(FhirDestinations::AuthType).eq("smart_backend_services"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(FhirDestinations::Table)
                    .drop_column(FhirDestinations::KeyAlgorithm)
                    .to_owned(),
            )
            .await
    }
}
