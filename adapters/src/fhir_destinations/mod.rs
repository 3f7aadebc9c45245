//! [`FhirDestinationRepository`] over the database: one row per destination, its secret sealed.
//! Every query starts from the clinic, so another clinic's destination is never found.

pub(crate) mod entity;

use async_trait::async_trait;
use clinicgate_core::fhir_push::{
    DestinationAuth, DestinationView, FhirDestination, FhirDestinationId,
    FhirDestinationRepository, FhirResource, SigningAlgorithm, StoredDestination, TokenClient,
};
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::{Error, Result};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, EntityTrait as _,
    IntoActiveModel as _, QueryFilter as _, QueryOrder as _, Set,
};

use crate::api_clients::clinic_active;
use crate::clinics::entity as clinics;
use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`FhirDestinationRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaFhirDestinationRepository {
    db: DatabaseConnection,
}

impl SeaFhirDestinationRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn row(&self, tenant: TenantId, id: FhirDestinationId) -> Result<Option<entity::Model>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored FHIR destination's {what} is malformed"))
}

fn to_row(tenant: TenantId, stored: &StoredDestination) -> Result<entity::Model> {
    let d = &stored.destination;
    let client = d.auth.token_client();
    let (key_id, key_algorithm, public_jwk) = match &d.auth {
        DestinationAuth::SmartBackend {
            key_id,
            algorithm,
            public_jwk,
            ..
        } => (
            Some(key_id.clone()),
            Some(algorithm.as_str().to_owned()),
            Some(public_jwk.to_string()),
        ),
        _ => (None, None, None),
    };
    Ok(entity::Model {
        id: d.id.as_uuid(),
        tenant_id: tenant.as_uuid(),
        name: d.name.clone(),
        base_url: d.base_url.clone(),
        resources: d
            .resources
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(","),
        enabled: d.enabled,
        auth_type: d.auth.kind().to_owned(),
        token_url: client.map(|c| c.token_url.clone()),
        client_id: client.map(|c| c.client_id.clone()),
        scope: client.and_then(|c| c.scope.clone()),
        key_id,
        key_algorithm,
        public_jwk,
        secret: stored.secret.as_ref().map(|s| s.ciphertext.clone()),
        secret_key_version: stored.secret.as_ref().map(|s| s.key_version),
        created_at: d.created_at,
        updated_at: d.updated_at,
    })
}

fn to_domain(row: &entity::Model) -> Result<FhirDestination> {
    let client = || -> Result<TokenClient> {
        Ok(TokenClient {
            token_url: row
                .token_url
                .clone()
                .ok_or_else(|| malformed("token URL"))?,
            client_id: row
                .client_id
                .clone()
                .ok_or_else(|| malformed("client id"))?,
            scope: row.scope.clone(),
        })
    };
    let auth = match row.auth_type.as_str() {
        "none" => DestinationAuth::None,
        "client_credentials" => DestinationAuth::ClientCredentials(client()?),
        "smart_backend_services" => DestinationAuth::SmartBackend {
            client: client()?,
            algorithm: row
                .key_algorithm
                .as_deref()
                .and_then(SigningAlgorithm::parse)
                .ok_or_else(|| malformed("key algorithm"))?,
            key_id: row.key_id.clone().ok_or_else(|| malformed("key id"))?,
            public_jwk: row
                .public_jwk
                .as_deref()
                .and_then(|jwk| serde_json::from_str(jwk).ok())
                .ok_or_else(|| malformed("public key"))?,
        },
        _ => return Err(malformed("auth")),
    };
    let resources = row
        .resources
        .split(',')
        .map(|r| FhirResource::parse(r).ok_or_else(|| malformed("resources")))
        .collect::<Result<Vec<_>>>()?;
    Ok(FhirDestination {
        id: FhirDestinationId::from_uuid(row.id),
        name: row.name.clone(),
        base_url: row.base_url.clone(),
        auth,
        resources,
        enabled: row.enabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl FhirDestinationRepository for SeaFhirDestinationRepository {
    async fn insert_in_tenant(&self, tenant: TenantId, stored: StoredDestination) -> Result<()> {
        entity::Entity::insert(to_row(tenant, &stored)?.into_active_model())
            .exec_without_returning(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn update_in_tenant(&self, tenant: TenantId, stored: StoredDestination) -> Result<bool> {
        let Some(current) = self.row(tenant, stored.destination.id).await? else {
            return Ok(false);
        };
        let row = to_row(tenant, &stored)?;
        let mut active = current.into_active_model();
        active.name = Set(row.name);
        active.base_url = Set(row.base_url);
        active.resources = Set(row.resources);
        active.enabled = Set(row.enabled);
        active.auth_type = Set(row.auth_type);
        active.token_url = Set(row.token_url);
        active.client_id = Set(row.client_id);
        active.scope = Set(row.scope);
        active.key_id = Set(row.key_id);
        active.key_algorithm = Set(row.key_algorithm);
        active.public_jwk = Set(row.public_jwk);
        active.secret = Set(row.secret);
        active.secret_key_version = Set(row.secret_key_version);
        active.updated_at = Set(row.updated_at);
        active.update(&self.db).await.map_err(db_error)?;
        Ok(true)
    }

    async fn list_in_tenant(&self, tenant: TenantId) -> Result<Vec<FhirDestination>> {
        entity::Entity::find_in_tenant(tenant)
            .order_by_asc(entity::Column::CreatedAt)
            .order_by_asc(entity::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?
            .iter()
            .map(to_domain)
            .collect()
    }

    async fn delete_in_tenant(&self, tenant: TenantId, id: FhirDestinationId) -> Result<bool> {
        let deleted = entity::Entity::delete_many_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn enabled_for(
        &self,
        tenant: TenantId,
        resource: FhirResource,
    ) -> Result<Vec<FhirDestinationId>> {
        // A handful of destinations per clinic: filtering the list in memory keeps the stored
        // list format out of SQL.
        Ok(entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Enabled.eq(true))
            .all(&self.db)
            .await
            .map_err(db_error)?
            .into_iter()
            .filter(|row| row.resources.split(',').any(|r| r == resource.as_str()))
            .map(|row| FhirDestinationId::from_uuid(row.id))
            .collect())
    }

    async fn view_in_tenant(
        &self,
        tenant: TenantId,
        id: FhirDestinationId,
    ) -> Result<Option<DestinationView>> {
        let Some(row) = self.row(tenant, id).await? else {
            return Ok(None);
        };
        let clinic = clinics::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?;
        let secret = match (&row.secret, row.secret_key_version) {
            (Some(ciphertext), Some(key_version)) => Some(SealedSecret {
                ciphertext: ciphertext.clone(),
                key_version,
            }),
            (None, None) => None,
            _ => return Err(malformed("secret")),
        };
        Ok(Some(DestinationView {
            stored: StoredDestination {
                destination: to_domain(&row)?,
                secret,
            },
            clinic_active: clinic_active(clinic.as_ref()),
        }))
    }
}
