//! Single sign-on in the adapters: clinics' settings stored with sea-orm in `sso_configs` (one
//! row per clinic, written whole by an upsert keyed by the clinic), and [`oidc::OutboundOidc`],
//! the OpenID Connect client over the outbound SSRF guard.

pub(crate) mod entity;
pub mod oidc;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::Result;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::SealedSecret;
use clinicgate_core::sso::{SsoConfig, SsoConfigRepository, StoredSsoConfig};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait as _, Set};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`SsoConfigRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaSsoConfigRepository {
    db: DatabaseConnection,
}

impl SeaSsoConfigRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl SsoConfigRepository for SeaSsoConfigRepository {
    async fn get(&self, tenant: TenantId) -> Result<Option<StoredSsoConfig>> {
        let row = entity::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?;
        Ok(row.map(|row| StoredSsoConfig {
            config: SsoConfig {
                provider_name: row.provider_name,
                issuer: row.issuer,
                client_id: row.client_id,
                sso_only: row.sso_only,
                updated_at: row.updated_at,
            },
            client_secret: SealedSecret {
                ciphertext: row.client_secret,
                key_version: row.client_secret_key_version,
            },
        }))
    }

    async fn save(&self, tenant: TenantId, stored: &StoredSsoConfig) -> Result<()> {
        let config = &stored.config;
        let row = entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            provider_name: Set(config.provider_name.clone()),
            issuer: Set(config.issuer.clone()),
            client_id: Set(config.client_id.clone()),
            client_secret: Set(stored.client_secret.ciphertext.clone()),
            client_secret_key_version: Set(stored.client_secret.key_version),
            sso_only: Set(config.sso_only),
            created_at: Set(Utc::now()),
            updated_at: Set(config.updated_at),
        };
        entity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entity::Column::TenantId)
                    .update_columns([
                        entity::Column::ProviderName,
                        entity::Column::Issuer,
                        entity::Column::ClientId,
                        entity::Column::ClientSecret,
                        entity::Column::ClientSecretKeyVersion,
                        entity::Column::SsoOnly,
                        entity::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete(&self, tenant: TenantId) -> Result<bool> {
        let deleted = entity::Entity::delete_many_in_tenant(tenant)
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(deleted.rows_affected > 0)
    }
}
