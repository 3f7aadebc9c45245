//! Column and key shapes the event-engine migrations share. The SQL they produce is what each
//! migration produced when it had its own copy.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Clinics {
    Table,
    Id,
}

/// A `timestamp with time zone` column.
pub(crate) fn at(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).timestamp_with_time_zone().to_owned()
}

/// The clinic a row belongs to (its `tenant_id`), removed with it.
pub(crate) fn tenant_key(name: &str, table: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(table)
        .from_col(Alias::new("tenant_id"))
        .to(Clinics::Table, Clinics::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
