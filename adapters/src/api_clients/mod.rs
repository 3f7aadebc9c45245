//! API clients stored with sea-orm. Queries start from
//! [`InTenant`](crate::db::tenant_scoped::InTenant); the two lookups by `client_id` alone serve
//! authentication, which is where a token's clinic comes from ([`Across::Authentication`]).

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_core::clinics::ClinicStatus;
use clinicgate_core::ids::TenantId;
use clinicgate_core::tokens::{
    ApiClient, ApiClientRepository, ClientAccess, ClientChange, ClientCredentials, ClientId,
    ClientName, NewApiClient, ScopeSet,
};
use clinicgate_core::{Error, Result};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, DbErr, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Select, Set,
};

use crate::clinics::entity as clinics;
use crate::db::tenant_scoped::{Across, AcrossTenants as _, InTenant as _};
use crate::db::{all_to_domain, db_error};

/// [`ApiClientRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaApiClientRepository {
    db: DatabaseConnection,
}

impl SeaApiClientRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A client by its public id, whichever clinic it belongs to (authentication only).
fn by_client_id(client_id: &ClientId) -> Select<entity::Entity> {
    entity::Entity::find_across_tenants(Across::Authentication)
        .filter(entity::Column::ClientId.eq(client_id.as_str()))
}

fn not_found() -> Error {
    Error::NotFound {
        resource: "API client",
    }
}

/// An update reads the row first; when the client is deleted in between, the update matches no
/// row, and that is the client not being there (404), not a server fault.
fn update_error(err: DbErr) -> Error {
    match err {
        DbErr::RecordNotUpdated => not_found(),
        other => db_error(other),
    }
}

/// A client's stored scopes (also read by the webhook endpoints, which join their client).
pub(crate) fn scopes(stored: &str) -> Result<ScopeSet> {
    ScopeSet::parse_list(stored, "scopes")
        .map_err(|_| Error::internal("a stored API client scope is unknown"))
}

fn rate_limit(stored: Option<i32>) -> Result<Option<u32>> {
    stored
        .map(|limit| {
            u32::try_from(limit).map_err(|_| Error::internal("a stored rate limit is negative"))
        })
        .transpose()
}

fn budget_share(stored: Option<i32>) -> Result<Option<u8>> {
    stored
        .map(|share| {
            u8::try_from(share)
                .map_err(|_| Error::internal("a stored budget share is out of range"))
        })
        .transpose()
}

fn stored_rate_limit(limit: Option<u32>) -> Result<Option<i32>> {
    limit
        .map(|limit| i32::try_from(limit).map_err(Error::internal))
        .transpose()
}

fn to_domain(row: &entity::Model) -> Result<ApiClient> {
    Ok(ApiClient {
        client_id: ClientId::parse(&row.client_id)
            .ok_or_else(|| Error::internal("a stored client id is malformed"))?,
        tenant_id: TenantId::from_uuid(row.tenant_id),
        name: ClientName::from_stored(row.name.clone()),
        scopes: scopes(&row.scopes)?,
        rate_limit_per_minute: rate_limit(row.rate_limit_per_minute)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        previous_secret_expires_at: row.previous_secret_expires_at,
        suspended_at: row.suspended_at,
        cliniko_budget_share: budget_share(row.cliniko_budget_share)?,
    })
}

/// Whether a clinic row read beside a client (or an endpoint) may be served.
pub(crate) fn clinic_active(clinic: Option<&clinics::Model>) -> bool {
    clinic.is_some_and(|c| c.status == ClinicStatus::Active.as_str())
}

/// Whether the clinic suspended a client read with its clinic row, or all of its integrations.
pub(crate) fn suspended(client: &entity::Model, clinic: Option<&clinics::Model>) -> bool {
    client.suspended_at.is_some() || clinic.is_some_and(|c| c.integrations_suspended_at.is_some())
}

impl SeaApiClientRepository {
    async fn one_in_tenant(&self, tenant: TenantId, client_id: &ClientId) -> Result<entity::Model> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::ClientId.eq(client_id.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .ok_or_else(not_found)
    }

    async fn with_clinic(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<(entity::Model, Option<clinics::Model>)>> {
        by_client_id(client_id)
            .find_also_related(clinics::Entity)
            .one(&self.db)
            .await
            .map_err(db_error)
    }
}

#[async_trait]
impl ApiClientRepository for SeaApiClientRepository {
    async fn create_in_tenant(&self, tenant: TenantId, client: NewApiClient) -> Result<ApiClient> {
        let now = Utc::now();
        let row = entity::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(tenant.as_uuid()),
            client_id: Set(client.client_id.as_str().to_owned()),
            name: Set(client.name.as_str().to_owned()),
            scopes: Set(client.scopes.to_string()),
            secret_hash: Set(client.secret_hash),
            previous_secret_hash: Set(None),
            previous_secret_expires_at: Set(None),
            rate_limit_per_minute: Set(stored_rate_limit(client.rate_limit_per_minute)?),
            suspended_at: Set(None),
            cliniko_budget_share: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let row = row.insert(&self.db).await.map_err(db_error)?;
        to_domain(&row)
    }

    async fn list_in_tenant(&self, tenant: TenantId) -> Result<Vec<ApiClient>> {
        let select = entity::Entity::find_in_tenant(tenant)
            .order_by_asc(entity::Column::CreatedAt)
            .order_by_asc(entity::Column::Id);
        all_to_domain(select, &self.db, |row| to_domain(&row)).await
    }

    async fn change_in_tenant(
        &self,
        tenant: TenantId,
        client_id: &ClientId,
        change: ClientChange,
    ) -> Result<ApiClient> {
        let mut row: entity::ActiveModel = self.one_in_tenant(tenant, client_id).await?.into();
        if let Some(name) = change.name {
            row.name = Set(name.as_str().to_owned());
        }
        if let Some(scopes) = change.scopes {
            row.scopes = Set(scopes.to_string());
        }
        if let Some(limit) = change.rate_limit_per_minute {
            row.rate_limit_per_minute = Set(stored_rate_limit(limit)?);
        }
        if let Some(share) = change.cliniko_budget_share {
            row.cliniko_budget_share = Set(share.map(i32::from));
        }
        row.updated_at = Set(Utc::now());
        to_domain(&row.update(&self.db).await.map_err(update_error)?)
    }

    async fn rotate_secret_in_tenant(
        &self,
        tenant: TenantId,
        client_id: &ClientId,
        new_hash: String,
        previous_valid_until: DateTime<Utc>,
    ) -> Result<ApiClient> {
        let current = self.one_in_tenant(tenant, client_id).await?;
        let previous = current.secret_hash.clone();
        let mut row: entity::ActiveModel = current.into();
        row.previous_secret_hash = Set(Some(previous));
        row.previous_secret_expires_at = Set(Some(previous_valid_until));
        row.secret_hash = Set(new_hash);
        row.updated_at = Set(Utc::now());
        to_domain(&row.update(&self.db).await.map_err(update_error)?)
    }

    async fn delete_in_tenant(&self, tenant: TenantId, client_id: &ClientId) -> Result<bool> {
        let result = entity::Entity::delete_many_in_tenant(tenant)
            .filter(entity::Column::ClientId.eq(client_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected > 0)
    }

    async fn ids_in_tenant(&self, tenant: TenantId) -> Result<Vec<ClientId>> {
        let ids: Vec<String> = entity::Entity::find_in_tenant(tenant)
            .select_only()
            .column(entity::Column::ClientId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(ids.iter().filter_map(|id| ClientId::parse(id)).collect())
    }

    async fn credentials(&self, client_id: &ClientId) -> Result<Option<ClientCredentials>> {
        let Some((row, clinic)) = self.with_clinic(client_id).await? else {
            return Ok(None);
        };
        Ok(Some(ClientCredentials {
            client: to_domain(&row)?,
            clinic_active: clinic_active(clinic.as_ref()),
            previous_secret: row.previous_secret_hash.zip(row.previous_secret_expires_at),
            secret_hash: row.secret_hash,
        }))
    }

    async fn access(&self, client_id: &ClientId) -> Result<Option<ClientAccess>> {
        let Some((row, clinic)) = self.with_clinic(client_id).await? else {
            return Ok(None);
        };
        Ok(Some(ClientAccess {
            tenant_id: TenantId::from_uuid(row.tenant_id),
            scopes: scopes(&row.scopes)?,
            rate_limit_per_minute: rate_limit(row.rate_limit_per_minute)?,
            clinic_active: clinic_active(clinic.as_ref()),
            suspended: suspended(&row, clinic.as_ref()),
            cliniko_budget_share: budget_share(row.cliniko_budget_share)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_deleted_between_read_and_update_is_not_found_rather_than_a_server_error() {
        assert!(matches!(
            update_error(DbErr::RecordNotUpdated),
            Error::NotFound {
                resource: "API client"
            }
        ));
    }
}
