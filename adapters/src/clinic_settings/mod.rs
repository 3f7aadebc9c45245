//! Clinics' settings stored with sea-orm in `clinic_settings`: one row per clinic that changed
//! any, written whole by an upsert keyed by the clinic.

pub(crate) mod entity;

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::clinic_settings::{ClinicSettings, ClinicSettingsRepository, PartnerIdField};
use clinicgate_core::ids::TenantId;
use clinicgate_core::{Error, Result};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait as _, Set};

use crate::db::db_error;
use crate::db::tenant_scoped::InTenant as _;

/// [`ClinicSettingsRepository`] over the database.
#[derive(Debug, Clone)]
pub struct SeaClinicSettingsRepository {
    db: DatabaseConnection,
}

impl SeaClinicSettingsRepository {
    /// Uses `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ClinicSettingsRepository for SeaClinicSettingsRepository {
    async fn get(&self, tenant: TenantId) -> Result<ClinicSettings> {
        let Some(row) = entity::Entity::find_in_tenant(tenant)
            .one(&self.db)
            .await
            .map_err(db_error)?
        else {
            return Ok(ClinicSettings::default());
        };
        let partner_id_field = row
            .partner_id_field
            .map(|field| {
                PartnerIdField::parse(&field).ok_or_else(|| {
                    Error::internal("clinic_settings row with an unreadable partner_id_field")
                })
            })
            .transpose()?;
        Ok(ClinicSettings {
            mfa_required: row.mfa_required,
            partner_id_field,
        })
    }

    async fn save(&self, tenant: TenantId, settings: ClinicSettings) -> Result<()> {
        let row = entity::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            mfa_required: Set(settings.mfa_required),
            partner_id_field: Set(settings.partner_id_field.map(|f| f.as_str().to_owned())),
            updated_at: Set(Utc::now()),
        };
        entity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entity::Column::TenantId)
                    .update_columns([
                        entity::Column::MfaRequired,
                        entity::Column::PartnerIdField,
                        entity::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
