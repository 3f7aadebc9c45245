//! The `client_jwks` table.

use sea_orm::entity::prelude::*;

/// One row of `client_jwks`: the public keys one API client signs its assertions with.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_jwks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub tenant_id: Uuid,
    /// The registration: a JWKS (public keys only) or `{"jwks_uri": …}`.
    pub jwks: String,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
