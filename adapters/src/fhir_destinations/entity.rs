//! The `fhir_destinations` table.

use sea_orm::entity::prelude::*;

/// One row of `fhir_destinations`: one of a clinic's FHIR servers.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fhir_destinations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub base_url: String,
    /// Comma-separated FHIR resource types.
    pub resources: String,
    pub enabled: bool,
    /// `none`, `client_credentials` or `smart_backend_services`.
    pub auth_type: String,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub key_id: Option<String>,
    /// `ES384` or `RS384` (SMART).
    pub key_algorithm: Option<String>,
    /// The public JWK (SMART), as JSON text.
    pub public_jwk: Option<String>,
    /// Sealed with the clinic's data key.
    pub secret: Option<Vec<u8>>,
    pub secret_key_version: Option<i32>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
