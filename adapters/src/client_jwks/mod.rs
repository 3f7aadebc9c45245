//! [`ClientJwksRepository`] over the database: one row per API client holding its JWKS or its
//! `jwks_uri` (the registration document as [`KeySource::document`] writes it). A client of
//! another clinic is never found: clinic-side queries start from the clinic, and a row is
//! written only after the client is found in it. [`fetch`] reads `jwks_uri`s behind the guard.

pub(crate) mod entity;
pub mod fetch;

use async_trait::async_trait;
use clinicgate_core::ids::TenantId;
use clinicgate_core::tokens::{ClientId, ClientJwksRepository, ClientKeys, KeySource};
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, Set};

use crate::api_clients::entity as clients;
use crate::db::db_error;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};

/// [`ClientJwksRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaClientJwksRepository {
    db: DatabaseConnection,
}

impl SeaClientJwksRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn jwks_of(row: &entity::Model) -> Result<KeySource> {
    let json = serde_json::from_str(&row.jwks)
        .map_err(|_| Error::internal("a stored client JWKS is not JSON"))?;
    KeySource::from_document(json).map_err(|_| Error::internal("a stored client JWKS is not valid"))
}

fn to_domain(row: &entity::Model) -> Result<ClientKeys> {
    Ok(ClientKeys {
        client_id: ClientId::parse(&row.client_id)
            .ok_or_else(|| Error::internal("a stored client id is malformed"))?,
        source: jwks_of(row)?,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl ClientJwksRepository for SeaClientJwksRepository {
    async fn put_in_tenant(&self, tenant: TenantId, keys: &ClientKeys) -> Result<()> {
        let client = clients::Entity::find_in_tenant(tenant)
            .filter(clients::Column::ClientId.eq(keys.client_id.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?;
        if client.is_none() {
            return Err(Error::NotFound {
                resource: "API client",
            });
        }
        let row = entity::ActiveModel {
            client_id: Set(keys.client_id.as_str().to_owned()),
            tenant_id: Set(tenant.as_uuid()),
            jwks: Set(keys.source.document().to_string()),
            updated_at: Set(keys.updated_at),
        };
        // The client id is the key and belongs to this clinic (checked above), so replacing
        // the row in place cannot touch another clinic's keys.
        entity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entity::Column::ClientId)
                    .update_columns([entity::Column::Jwks, entity::Column::UpdatedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn find_in_tenant(
        &self,
        tenant: TenantId,
        client: &ClientId,
    ) -> Result<Option<ClientKeys>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::ClientId.eq(client.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(to_domain)
            .transpose()
    }

    async fn delete_in_tenant(&self, tenant: TenantId, client: &ClientId) -> Result<bool> {
        let deleted = entity::Entity::delete_many_in_tenant(tenant)
            .filter(entity::Column::ClientId.eq(client.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn for_authentication(&self, client: &ClientId) -> Result<Option<KeySource>> {
        entity::Entity::find_across_tenants(Across::Authentication)
            .filter(entity::Column::ClientId.eq(client.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(jwks_of)
            .transpose()
    }
}
