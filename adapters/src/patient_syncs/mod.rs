//! [`PatientSyncRepository`] over the database: one row per (clinic, API client), its
//! credential sealed. A client of another clinic is never found: every query starts from the
//! clinic, and a new row is written only after the client is found in it.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::ids::TenantId;
use clinicgate_core::patient_sync::{
    AuthScheme, PatientSync, PatientSyncId, PatientSyncRepository, StoredSync, SyncDeliveryView,
};
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::tokens::ClientId;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, EntityTrait as _, QueryFilter as _, QuerySelect as _,
    Set, SqlErr,
};

use crate::api_clients::clinic_active;
use crate::api_clients::entity as clients;
use crate::clinics::entity as clinics;
use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`PatientSyncRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaPatientSyncRepository {
    db: DatabaseConnection,
}

impl SeaPatientSyncRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    async fn row(&self, tenant: TenantId, client: &ClientId) -> Result<Option<entity::Model>> {
        entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::ClientId.eq(client.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)
    }

    async fn client_exists(&self, tenant: TenantId, client: &ClientId) -> Result<bool> {
        Ok(clients::Entity::find_in_tenant(tenant)
            .filter(clients::Column::ClientId.eq(client.as_str()))
            .one(&self.db)
            .await
            .map_err(db_error)?
            .is_some())
    }

    /// Overwrites the configuration of `client`'s row, keeping its id; `false` when it has none.
    async fn update(&self, tenant: TenantId, stored: &StoredSync) -> Result<bool> {
        let sync = &stored.sync;
        let updated = entity::Entity::update_many_in_tenant(tenant)
            .col_expr(entity::Column::BaseUrl, Expr::value(sync.base_url.clone()))
            .col_expr(entity::Column::AuthType, Expr::value(sync.auth.kind()))
            .col_expr(
                entity::Column::AuthHeaderName,
                Expr::value(sync.auth.header_name().map(str::to_owned)),
            )
            .col_expr(
                entity::Column::Credential,
                Expr::value(stored.credential.ciphertext.clone()),
            )
            .col_expr(
                entity::Column::CredentialKeyVersion,
                Expr::value(stored.credential.key_version),
            )
            .col_expr(
                entity::Column::IdentifierSystem,
                Expr::value(sync.identifier_system.clone()),
            )
            .col_expr(entity::Column::Enabled, Expr::value(sync.enabled))
            .col_expr(entity::Column::UpdatedAt, Expr::value(sync.updated_at))
            .filter(entity::Column::ClientId.eq(sync.client_id.as_str()))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(updated.rows_affected > 0)
    }
}

fn malformed(what: &str) -> Error {
    Error::internal(format!("a stored patient sync's {what} is malformed"))
}

fn to_domain(row: &entity::Model) -> Result<PatientSync> {
    let auth = match (row.auth_type.as_str(), &row.auth_header_name) {
        ("bearer", None) => AuthScheme::Bearer,
        ("header", Some(name)) => AuthScheme::Header { name: name.clone() },
        _ => return Err(malformed("auth")),
    };
    Ok(PatientSync {
        id: PatientSyncId::from_uuid(row.id),
        client_id: ClientId::parse(&row.client_id).ok_or_else(|| malformed("client id"))?,
        base_url: row.base_url.clone(),
        auth,
        identifier_system: row.identifier_system.clone(),
        enabled: row.enabled,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl PatientSyncRepository for SeaPatientSyncRepository {
    async fn put_in_tenant(&self, tenant: TenantId, stored: StoredSync) -> Result<PatientSync> {
        let client = &stored.sync.client_id;
        if !self.client_exists(tenant, client).await? {
            return Err(Error::NotFound {
                resource: "API client",
            });
        }
        if !self.update(tenant, &stored).await? {
            let sync = &stored.sync;
            let row = entity::ActiveModel {
                id: Set(sync.id.as_uuid()),
                tenant_id: Set(tenant.as_uuid()),
                client_id: Set(client.as_str().to_owned()),
                base_url: Set(sync.base_url.clone()),
                auth_type: Set(sync.auth.kind().to_owned()),
                auth_header_name: Set(sync.auth.header_name().map(str::to_owned)),
                credential: Set(stored.credential.ciphertext.clone()),
                credential_key_version: Set(stored.credential.key_version),
                identifier_system: Set(sync.identifier_system.clone()),
                enabled: Set(sync.enabled),
                created_at: Set(Utc::now()),
                updated_at: Set(sync.updated_at),
            };
            match entity::Entity::insert(row)
                .exec_without_returning(&self.db)
                .await
            {
                Ok(_) => {}
                // A concurrent PUT for the same client inserted first: this one overwrites it,
                // as if it had come second.
                Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    self.update(tenant, &stored).await?;
                }
                // The client was deleted meanwhile.
                Err(err)
                    if matches!(
                        err.sql_err(),
                        Some(SqlErr::ForeignKeyConstraintViolation(_))
                    ) =>
                {
                    return Err(Error::NotFound {
                        resource: "API client",
                    });
                }
                Err(err) => return Err(db_error(err)),
            }
        }
        self.find_in_tenant(tenant, client)
            .await?
            .ok_or(Error::NotFound {
                resource: "API client",
            })
    }

    async fn find_in_tenant(
        &self,
        tenant: TenantId,
        client: &ClientId,
    ) -> Result<Option<PatientSync>> {
        self.row(tenant, client)
            .await?
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

    async fn enabled_in_tenant(&self, tenant: TenantId) -> Result<Vec<PatientSyncId>> {
        let ids: Vec<uuid::Uuid> = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Enabled.eq(true))
            .select_only()
            .column(entity::Column::Id)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(ids.into_iter().map(PatientSyncId::from_uuid).collect())
    }

    async fn delivery_view(
        &self,
        tenant: TenantId,
        id: PatientSyncId,
    ) -> Result<Option<SyncDeliveryView>> {
        let Some(row) = entity::Entity::find_in_tenant(tenant)
            .filter(entity::Column::Id.eq(id.as_uuid()))
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let clinic = clinics::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(Some(SyncDeliveryView {
            stored: StoredSync {
                sync: to_domain(&row)?,
                credential: SealedSecret {
                    ciphertext: row.credential,
                    key_version: row.credential_key_version,
                },
            },
            clinic_active: clinic_active(clinic.as_ref()),
        }))
    }
}
